"""Class-aware metrics take their classes from the config (issue 19, items 4 and 5).

For every registered instance config whose source declares cell types (PanNuke, CoNSeP,
Lizard, MoNuSAC, ... and any new one: the list comes from the registry) and that has a
fixture writer, the truth scored against itself gives mPQ = mPQ+ = 1 over exactly the
config's non-crowd classes, and a prediction with shuffled classes gives the brute-force
reference's PanNuke-protocol figures (tests/metrics_reference.py). Classes may be given as
names or as indexes into the config's class list, in every prediction format. Configs with
only ``nucleus`` (and ``ambiguous``) refuse ``mpq`` with a clear error. Default metric sets
are the sources' declared ``SourceInfo.metrics``, each a metric the driver computes.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from metrics_reference import Reference, pannuke_split
from test_evaluate import split_records

from fixtures import raw_writer
from nuclei_collection import NucleiCollectionError, evaluate
from nuclei_collection_builders.evaluation import driver
from nuclei_collection_builders.exporters.coco import export_coco
from nuclei_collection_builders.sources import CONFIG_SPECS, SOURCES, config_classes

PROJECT = Path(__file__).resolve().parents[1]


def class_aware_configs() -> list[str]:
    """Instance configs declaring cell types, one per source (its first config with a fixture writer)."""
    chosen, seen = [], set()
    for name, spec in CONFIG_SPECS.items():
        info = spec.info
        if info.kind != "instance" or id(info) in seen or spec.subset_of:
            continue
        classes = config_classes(name) if not spec.source.classes_need_data else ()
        if not driver.class_aware([c.name for c in classes], [c.crowd for c in classes]):
            continue
        if raw_writer(name) is None:
            continue
        seen.add(id(info))
        chosen.append(name)
    return chosen


CLASS_AWARE = class_aware_configs()


def test_the_class_aware_sources_of_the_issue_are_covered():
    assert {"PanNuke", "CoNSeP", "Lizard", "MoNuSAC"} <= set(CLASS_AWARE), CLASS_AWARE


@pytest.fixture(scope="module", params=CLASS_AWARE)
def classed(request, tmp_path_factory):
    config = request.param
    root = tmp_path_factory.mktemp(config.replace("/", "_"))
    raw_writer(config)(root)
    records = [r for r in split_records(config, root) if (r["metadata"] or {}).get("annotation") != "none"]
    if any((r["metadata"] or {}).get("annotation") == "partial" for r in records):
        pytest.skip(f"{config}: partially annotated; only f1_annotated applies (tested in test_evaluate.py)")
    return config, root, records


def shuffled_classes(records: list[dict], n_classes: int, seed: int) -> dict[str, list[dict]]:
    """The truth objects with one in three non-crowd classes changed (crowd truth left out)."""
    rng = np.random.default_rng(seed)
    out = {}
    for record in records:
        objects = []
        for obj in record["objects"]:
            if obj["iscrowd"]:
                continue
            category = obj["category"]
            if rng.random() < 1 / 3:
                category = int(rng.integers(0, n_classes))
            objects.append(dict(obj, category=category))
        out[record["image_id"]] = objects
    return out


def test_truth_scores_one_over_the_config_classes(classed):
    config, root, records = classed
    classes = config_classes(config)
    scored = [c.name for c in classes if not c.crowd]
    predictions = {r["image_id"]: [o for o in r["objects"] if not o["iscrowd"]] for r in records}
    split = next(iter(CONFIG_SPECS[config].splits))
    result = evaluate(config, predictions, data_dir=root, split=split, metrics="bpq,mpq,mpq_plus,pq", progress=False)
    assert result.summary["mpq"] == result.summary["mpq_plus"] == result.summary["bpq"] == 1.0
    assert list(result.per_class["name"]) == scored
    present = {classes[o["category"]].name for r in records for o in r["objects"] if not o["iscrowd"]}
    table = result.per_class.set_index("name")
    for name in scored:  # classes absent from the split: PQ undefined, not 0
        assert (table.loc[name, "pq_plus"] == 1.0) if name in present else math.isnan(table.loc[name, "pq_plus"])


def test_shuffled_classes_give_the_reference_protocol_values(classed):
    config, root, records = classed
    classes = config_classes(config)
    scored = [k for k, c in enumerate(classes) if not c.crowd]
    predictions = shuffled_classes(records, len(classes), seed=3)
    predictions = {i: [dict(o, category=o["category"] if o["category"] in scored else scored[0]) for o in objs]
                   for i, objs in predictions.items()}  # fmt: skip
    split = next(iter(CONFIG_SPECS[config].splits))
    result = evaluate(config, predictions, data_dir=root, split=split, metrics="bpq,mpq,mpq_plus", progress=False)
    images = []
    for record in records:
        shape = (record["height"], record["width"])
        stats = Reference(record["objects"], predictions[record["image_id"]], shape).pannuke(scored)
        images.append((stats, (record["metadata"] or {}).get("tissue") or "unknown"))
    want = pannuke_split(images, scored)
    for name in ("bpq", "mpq", "mpq_plus"):
        got = result.summary[name]
        assert (math.isnan(got) and math.isnan(want[name])) or abs(got - want[name]) <= 1e-12, (name, got, want)


def test_class_names_and_indexes_are_the_same_prediction(classed, tmp_path):
    config, root, records = classed
    names = [c.name for c in config_classes(config)]
    by_index = shuffled_classes(records, len(names), seed=5)
    scored = {k for k, c in enumerate(config_classes(config)) if not c.crowd}
    by_index = {i: [o for o in objs if o["category"] in scored] for i, objs in by_index.items()}
    by_name = {i: [dict(o, category=names[o["category"]]) for o in objs] for i, objs in by_index.items()}
    split = next(iter(CONFIG_SPECS[config].splits))
    kwargs = {"data_dir": root, "split": split, "metrics": "mpq,mpq_plus", "progress": False}
    assert evaluate(config, by_index, **kwargs).summary == evaluate(config, by_name, **kwargs).summary
    # a name the config does not declare is an error naming the config's classes
    broken = {i: [dict(o, category="no such class") for o in objs] for i, objs in by_name.items()}
    with pytest.raises(NucleiCollectionError, match="unknown class name 'no such class'"):
        evaluate(config, broken, **kwargs)


def test_coco_results_category_id_is_the_config_class_index_plus_one(classed, tmp_path):
    """Our COCO export (category_id = class index + 1) read back as predictions scores mPQ 1."""
    config, root, records = classed
    split = next(iter(CONFIG_SPECS[config].splits))
    exported = export_coco(config, tmp_path / "coco", data_dir=root)
    coco = json.loads(exported.json_path.read_text())
    results = [dict(a, score=1.0) for a in coco["annotations"] if not a["iscrowd"]]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    result = evaluate(
        config, path, data_dir=root, split=split, coco_images=exported.json_path, metrics="mpq,mpq_plus",
        missing="empty", progress=False,
    )  # fmt: skip
    assert any(not o["iscrowd"] for r in records for o in r["objects"]), "the fixture must hold nuclei"
    assert result.summary["mpq_plus"] == 1.0


def test_consep_grouped_classes_come_from_the_option(tmp_path):
    config = "CoNSeP"
    raw_writer(config)(tmp_path)
    grouped = [c.name for c in config_classes(config, {"classes": "grouped"})]
    original = [c.name for c in config_classes(config)]
    assert grouped != original
    from nuclei_collection_builders.pipeline import iter_split
    from nuclei_collection_builders.sources import prepare

    prepared = prepare(config, tmp_path, {"classes": "grouped"})
    records = list(iter_split(prepared.source, prepared.splits["train"]))
    predictions = {r["image_id"]: r["objects"] for r in records}
    result = evaluate(
        config, predictions, data_dir=tmp_path, split="train", options={"classes": "grouped"},
        metrics="mpq,mpq_plus", progress=False,
    )  # fmt: skip
    assert list(result.per_class["name"]) == grouped and result.summary["mpq"] == 1.0


def test_export_predictions_carry_classes_over_by_name(tmp_path):
    """A prediction export with another class list (CoNSeP grouped) scored against CoNSeP's 8
    classes: a class both lists name keeps its meaning, one the truth's config lacks becomes None."""
    from nuclei_collection import build
    from nuclei_collection_builders.evaluation.predictions import ExportPredictions

    raw_writer("CoNSeP")(tmp_path / "raw")
    build("CoNSeP", data_dir=tmp_path / "raw", out=tmp_path / "export", options={"classes": "grouped"})
    grouped = [c.name for c in config_classes("CoNSeP", {"classes": "grouped"})]
    original = [c.name for c in config_classes("CoNSeP")]
    reader = ExportPredictions(tmp_path / "export", "instance", "CoNSeP", "train", "CoNSeP_grouped", original)
    grouped_records = {r["image_id"]: r for r in split_records_with(tmp_path / "raw", {"classes": "grouped"})}
    kept = dropped = 0
    for image_id, record in grouped_records.items():
        prediction = reader.take(0, image_id, record["height"], record["width"])
        assert len(prediction.objects) == len(record["objects"])
        for exported, read in zip(record["objects"], prediction.objects):
            name = grouped[exported["category"]]
            assert read["category"] == (original.index(name) if name in original else None), name
            kept += name in original
            dropped += name not in original
    assert kept and dropped  # both paths: e.g. "inflammatory" in both lists, "epithelial" only grouped


def split_records_with(root: Path, options: dict) -> list[dict]:
    from nuclei_collection_builders.pipeline import iter_split
    from nuclei_collection_builders.sources import prepare

    prepared = prepare("CoNSeP", root, options)
    return list(iter_split(prepared.source, prepared.splits["train"]))


def test_mpq_on_a_config_without_classes_is_a_clear_error(tmp_path):
    config = "TNBC_NucleiSegmentation"
    raw_writer(config)(tmp_path)
    records = split_records(config, tmp_path)
    predictions = {r["image_id"]: r["objects"] for r in records}
    for metric in ("mpq", "mpq_plus"):
        with pytest.raises(NucleiCollectionError, match=f"{metric} need object classes.*only nucleus"):
            evaluate(config, predictions, data_dir=tmp_path, metrics=metric, progress=False)
    # bPQ is class-agnostic: allowed, one group of images without tissue
    assert evaluate(config, predictions, data_dir=tmp_path, metrics="bpq", progress=False).summary["bpq"] == 1.0


def test_nucleus_and_ambiguous_only_is_not_class_aware():
    assert not driver.class_aware(["nucleus", "ambiguous"], [False, True])
    assert not driver.class_aware(["nucleus"], [False])
    assert driver.class_aware(["epithelial", "lymphocyte", "ambiguous"], [False, False, True])


# --------------------------------------------------------------------------- declared defaults


def test_every_declared_metric_is_one_the_driver_computes():
    for info in SOURCES:
        driver.check_declared_metrics(info)  # raises on an unknown name
        known = driver.SEMANTIC_METRICS if info.kind == "semantic" else driver.INSTANCE_METRICS
        assert set(info.metrics) <= set(known), info.name


def test_an_unknown_declared_metric_is_an_error_naming_the_source():
    from dataclasses import replace

    info = replace(SOURCES[0], metrics=("pq", "mAP"))
    with pytest.raises(NucleiCollectionError, match=rf"{re.escape(SOURCES[0].name)}.*mAP.*for an instance source"):
        driver.check_declared_metrics(info)


def test_default_metrics_are_the_declared_ones(tmp_path):
    config = "TNBC_NucleiSegmentation"
    raw_writer(config)(tmp_path)
    records = split_records(config, tmp_path)
    result = evaluate(config, {r["image_id"]: r["objects"] for r in records}, data_dir=tmp_path, progress=False)
    assert result.metrics == CONFIG_SPECS[config].info.metrics


def test_unknown_metric_message_uses_the_right_article(tmp_path):
    config = "TNBC_NucleiSegmentation"
    raw_writer(config)(tmp_path)
    records = split_records(config, tmp_path)
    with pytest.raises(NucleiCollectionError, match="for an instance config"):
        evaluate(config, {r["image_id"]: r["objects"] for r in records}, data_dir=tmp_path, metrics="nope",
                 progress=False)  # fmt: skip


def test_evaluation_imports_no_reader_module():
    """The driver and the prediction readers use the registry, never a reader module."""
    for path in sorted((PROJECT / "builders" / "evaluation").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sources."):
                pytest.fail(f"{path.name} imports the reader module {node.module}")
            if isinstance(node, ast.ImportFrom) and node.module == "sources":
                names = {alias.name for alias in node.names}
                assert names <= {"SOURCES", "get_spec", "prepare", "config_classes", "CONFIG_SPECS"}, names
