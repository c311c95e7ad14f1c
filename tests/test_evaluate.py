"""The evaluation driver (nuclei_collection.evaluate): ground truth of a config against predictions.

Every prediction format scores the ground truth itself exactly 1.0 on generated fixtures
(DSB2018 with overlapping nuclei, TNBC, MoNuSeg with overlapping polygons, PanNuke folds,
BCSS class-code masks); perturbed predictions give exactly what the metric functions give on
the same pairs (computed here through the per-metric functions, not the driver's matching);
and the conventions (missing / unknown / mis-sized predictions, partial and unannotated
images, empty images) are checked one by one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from PIL import Image
from scipy import ndimage

from fixtures.bcss import code_mask, rgb_for_mask, write_png
from fixtures.histology import write_janowczyk, write_monuseg, write_tnbc
from fixtures.pannuke import write_fold
from nuclei_collection import BadInputError, NucleiCollectionError, build, decode_masks, decode_objects, evaluate
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.evaluation import metrics
from nuclei_collection_builders.evaluation.predictions import LabelMapFolder
from nuclei_collection_builders.exporters.coco import export_coco
from nuclei_collection_builders.pipeline import iter_split
from nuclei_collection_builders.rle import encode_label_map
from nuclei_collection_builders.sources import config_classes, prepare

DSB = "nuclei_stage1_train"
TNBC = "TNBC_NucleiSegmentation"
MONUSEG = "nucleisegmentationbenchmark"
#: The configs' declared classes (index = category / class code), from the registry.
PANNUKE_CLASSES = tuple(c.name for c in config_classes("PanNuke_fold1"))
BCSS_CLASSES = tuple(c.name for c in config_classes("BCSS"))
#: AP of an area range without any nucleus of that size is undefined (NaN), not a score.
AREA_RANGES = {"coco_AP_small", "coco_AP_medium", "coco_AP_large"}
#: Per-class counts of the clean PanNuke fold: patch 1 has no nucleus (empty truth).
PANNUKE_COUNTS = [(2, 1, 0, 1, 3), (0, 0, 0, 0, 0), (1, 0, 2, 0, 0), (0, 3, 1, 1, 0), (3, 0, 0, 0, 1), (1, 1, 1, 1, 1)]
BCSS_ROIS = (  # (ROI name, codes): two train sites, one test site (OL)
    ("TCGA-A1-A0SK-DX1_xmin10_ymin20_MPP-0.2500", (1, 2, 3)),
    ("TCGA-A2-A0D2-DX1_xmin5_ymin6_MPP-0.2500", (2, 9, 4)),
    ("TCGA-OL-A5RW-DX1_xmin3_ymin4_MPP-0.2500", (1, 20)),
)


# --------------------------------------------------------------------------- helpers


def split_records(config: str, data_dir: Path, split: str | None = None) -> list[dict]:
    prepared = prepare(config, data_dir)
    items = prepared.splits[split] if split else next(iter(prepared.splits.values()))
    return list(iter_split(prepared.source, items))


def label_map(record: dict) -> np.ndarray:
    return decode_objects(record["objects"], record["height"], record["width"])


def write_label_folder(folder: Path, maps: dict[str, np.ndarray], formats: tuple[str, ...] = ("png16",)) -> Path:
    """One file per image, cycling through ``formats``: png16, png8, tif, npy."""
    for k, (image_id, values) in enumerate(sorted(maps.items())):
        kind = formats[k % len(formats)]
        target = folder / image_id
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "png16":
            Image.fromarray(values.astype(np.uint16)).save(target.with_name(target.name + ".png"))
        elif kind == "png8":
            Image.fromarray(values.astype(np.uint8)).save(target.with_name(target.name + ".png"))
        elif kind == "tif":
            Image.fromarray(values.astype(np.int32)).save(target.with_name(target.name + ".tif"))
        else:
            np.save(target.with_name(target.name + ".npy"), values.astype(np.int32), allow_pickle=False)
    return folder


def write_bcss(data_dir: Path) -> dict[str, np.ndarray]:
    """A BCSS Drive-layout tree of small generated ROIs; the code table is written from the
    config's declared classes (label<TAB>GT_code), so no real file is needed. Returns the masks."""
    (data_dir / "meta").mkdir(parents=True)
    rows = "".join(f"{name}\t{code}\n" for code, name in enumerate(BCSS_CLASSES))
    (data_dir / "meta" / "gtruth_codes.tsv").write_text("label\tGT_code\n" + rows)
    masks = {}
    for seed, (stem, codes) in enumerate(BCSS_ROIS):
        mask = code_mask(90, 120, codes, dont_care=(30, 40), seed=seed)
        write_png(data_dir / "masks" / f"{stem}.png", mask)
        write_png(data_dir / "rgbs_colorNormalized" / f"{stem}.png", rgb_for_mask(mask, seed))
        masks[stem] = mask
    return masks


def assert_all_one(result) -> None:
    """Every figure is exactly 1.0 (AP of an area range without nuclei of that size: undefined)."""
    undefined = {k for k, v in result.summary.items() if math.isnan(v)}
    assert undefined <= AREA_RANGES, undefined
    assert all(v == 1.0 for k, v in result.summary.items() if k not in undefined), result.summary
    for column in result.per_image.columns:
        if column in ("pq", "dq", "sq", "aji", "aji_plus", "dsb2018", "f1", "dice", "bpq", "mpq", "mean_dice"):
            values = result.per_image[column].dropna()
            assert len(values) and (values == 1.0).all(), column


def expected_instance(pairs: list[tuple[list, object]], empty_score: float | None = None) -> dict[str, float]:
    """Split means of the per-image metrics, each metric through its own public function."""
    functions = {
        "pq": metrics.pq,
        "aji": metrics.aji,
        "aji_plus": metrics.aji_plus,
        "dsb2018": metrics.dsb2018,
        "f1": metrics.f1,
        "dice": metrics.dice,
    }
    means = {name: metrics.MeanOverImages(empty_score) for name in functions}
    for truth, pred in pairs:
        for name, function in functions.items():
            means[name].add(function(truth, pred))
    expected = {name: mean.mean for name, mean in means.items()}
    expected.update({f"coco_{k}": v for k, v in metrics.coco_ap(pairs).items() if k != "max_dets"})
    return expected


def assert_same(got: float, want: float) -> None:
    assert (math.isnan(got) and math.isnan(want)) or got == want, (got, want)


def assert_same_rows(table, rows: list[dict]) -> None:
    """A DataFrame equals a list of row dicts exactly (NaN equal to NaN)."""
    assert list(table.columns) == list(rows[0])
    assert len(table) == len(rows)
    for got, want in zip(table.to_dict("records"), rows):
        for key, value in want.items():
            if isinstance(value, float):
                assert_same(float(got[key]), value)
            else:
                assert got[key] == value, (key, got[key], value)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def dsb_raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dsb")
    write_dsb2018_stage1_train(root / "stage1_train", n_images=5, seed=3)  # odd images hold an overlapping pair
    return root


@pytest.fixture(scope="module")
def tnbc_raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tnbc")
    write_tnbc(root, counts=(3, 2))
    return root


@pytest.fixture(scope="module")
def tnbc_truth(tnbc_raw) -> dict[str, np.ndarray]:
    return {record["image_id"]: label_map(record) for record in split_records(TNBC, tnbc_raw)}


@pytest.fixture(scope="module")
def monuseg_raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("monuseg")
    write_monuseg(root)
    return root


@pytest.fixture(scope="module")
def monuseg_export(monuseg_raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("monuseg_out") / "export"
    build(MONUSEG, data_dir=monuseg_raw, out=out)
    return out


@pytest.fixture(scope="module")
def pannuke_clean(tmp_path_factory) -> tuple[Path, Path]:
    """(raw root, masks.npy) of a fold without upstream anomalies; patch 1 has no nucleus."""
    root = tmp_path_factory.mktemp("pannuke_clean")
    _, _, masks = write_fold(root, 1, len(PANNUKE_COUNTS), seed=1, class_counts=PANNUKE_COUNTS)
    return root, masks


@pytest.fixture(scope="module")
def bcss_raw(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("bcss")
    return root, write_bcss(root)


# --------------------------------------------------------------------------- identity: every format gives 1.0


def test_dsb_truth_as_object_predictions_scores_one(dsb_raw):
    records = split_records(DSB, dsb_raw)
    overlapping = [r for r in records if (decode_masks(r["objects"]).sum(axis=0) > 1).any()]
    assert overlapping, "the fixture must hold overlapping nuclei"
    result = evaluate(DSB, {r["image_id"]: r["objects"] for r in records}, data_dir=dsb_raw, progress=False)
    assert result.metrics == ("dsb2018", "pq", "aji", "dice", "f1")  # DSB2018's declared SourceInfo.metrics
    assert_all_one(result)
    every = evaluate(DSB, {r["image_id"]: r["objects"] for r in records}, data_dir=dsb_raw, progress=False,
                     metrics="pq,aji,aji_plus,dsb2018,f1,dice,coco_ap")  # fmt: skip
    assert_all_one(every)
    assert result.counts["n_images"] == len(records) == len(result.per_image)
    assert list(result.per_image["image_id"]) == [r["image_id"] for r in records]


def test_label_map_folder_in_every_file_format_scores_one(tnbc_raw, tnbc_truth, tmp_path):
    folder = write_label_folder(tmp_path / "pred", tnbc_truth, formats=("png16", "png8", "tif", "npy"))
    suffixes = sorted(p.suffix for p in folder.iterdir())
    assert suffixes == [".npy", ".png", ".png", ".png", ".tif"]
    result = evaluate(TNBC, folder, data_dir=tnbc_raw, progress=False)
    assert_all_one(result)
    assert result.settings["prediction_format"] == "label-map folder"


def test_coco_export_numbers_and_string_ids_score_one(dsb_raw, tmp_path):
    """Detectron2-style results on our COCO export's image numbers, mapped through its JSON."""
    exported = export_coco(DSB, tmp_path / "coco", data_dir=dsb_raw)
    coco = json.loads(exported.json_path.read_text())
    results = [
        {"image_id": a["image_id"], "segmentation": a["segmentation"], "score": 0.9, "category_id": a["category_id"]}
        for a in coco["annotations"]
    ]
    by_number = tmp_path / "coco_instances_results.json"
    by_number.write_text(json.dumps(results))
    assert_all_one(evaluate(DSB, by_number, data_dir=dsb_raw, coco_images=exported.json_path, progress=False))
    # the export's own annotations JSON (images list inside) as predictions
    assert_all_one(evaluate(DSB, exported.json_path, data_dir=dsb_raw, progress=False))
    # string image ids need no mapping
    names = {image["id"]: image["file_name"][: -len(".png")] for image in coco["images"]}
    by_name = tmp_path / "by_name.json"
    by_name.write_text(json.dumps([dict(r, image_id=names[r["image_id"]]) for r in results]))
    assert_all_one(evaluate(DSB, by_name, data_dir=dsb_raw, progress=False))
    with pytest.raises(BadInputError, match="COCO image number"):
        evaluate(DSB, by_number, data_dir=dsb_raw, progress=False)


def test_parquet_export_as_truth_and_as_predictions_scores_one(monuseg_raw, monuseg_export):
    """MoNuSeg's overlapping polygons: the export read back is its own perfect prediction."""
    from_export = evaluate(MONUSEG, monuseg_export, export=monuseg_export, split="train", progress=False)
    assert_all_one(from_export)
    from_raw = evaluate(MONUSEG, monuseg_export, data_dir=monuseg_raw, split="train", progress=False)
    assert_all_one(from_raw)
    assert from_export.settings["prediction_format"] == "parquet export"
    assert from_export.per_image.equals(from_raw.per_image)


def test_pannuke_masks_npy_scores_one_with_tissue_and_class_tables(pannuke_clean):
    root, masks = pannuke_clean
    result = evaluate("PanNuke_fold1", masks, data_dir=root, progress=False)
    assert result.metrics == ("bpq", "mpq", "mpq_plus", "pq", "aji", "dice")  # PanNuke's declared metrics
    assert_all_one(result)
    assert set(result.per_tissue["tissue"]) == set(result.per_image["tissue"])
    assert list(result.per_class["name"]) == list(PANNUKE_CLASSES)
    assert list(result.per_class["category"]) == [0, 1, 2, 3, 4]
    assert (result.per_class["pq_plus"] == 1.0).all()
    assert result.counts["n_empty_both"] == 1 and result.counts["n_images_empty_truth"] == 1


def test_semantic_code_maps_score_one_and_code_zero_is_ignored(bcss_raw, tmp_path):
    root, masks = bcss_raw
    train = {stem: mask for stem, mask in masks.items() if "-OL-" not in stem}
    folder = write_label_folder(tmp_path / "pred", train, formats=("png8", "npy"))
    result = evaluate("BCSS", folder, data_dir=root, split="train", progress=False)
    assert result.kind == "semantic" and result.metrics == ("dice", "iou")
    assert_all_one(result)
    present = result.per_class[result.per_class["true_pixels"] > 0]
    assert set(present["code"]) == {1, 2, 3, 4, 9}
    assert 0 not in set(result.per_class["code"])
    # predicting anything on don't-care pixels changes nothing
    noisy = {stem: np.where(mask == 0, 7, mask).astype(np.uint8) for stem, mask in train.items()}
    again = evaluate("BCSS", noisy, data_dir=root, split="train", progress=False)
    assert again.summary == result.summary


# --------------------------------------------------------------------------- perturbed: the metric functions' values


def perturbed(values: np.ndarray, seed: int) -> np.ndarray:
    """Shift, drop one nucleus, merge two, add a false positive."""
    rng = np.random.default_rng(seed)
    out = np.roll(values, int(rng.integers(1, 4)), axis=1)
    labels = [v for v in np.unique(out) if v]
    if len(labels) >= 3:
        out[out == labels[0]] = 0
        out[out == labels[2]] = labels[1]
    out[2:8, 2:8] = out.max() + 1
    return out


def test_perturbed_label_maps_give_the_metric_functions_values(tnbc_raw, tnbc_truth, tmp_path):
    records = split_records(TNBC, tnbc_raw)
    predicted = {image_id: perturbed(values, k) for k, (image_id, values) in enumerate(sorted(tnbc_truth.items()))}
    folder = write_label_folder(tmp_path / "pred", predicted, formats=("png16", "tif", "npy"))
    result = evaluate(
        TNBC, folder, data_dir=tnbc_raw, metrics="pq,aji,aji_plus,dsb2018,f1,dice,coco_ap", progress=False
    )
    pairs = [(r["objects"], predicted[r["image_id"]]) for r in records]
    expected = expected_instance(pairs)
    for name, value in expected.items():
        assert_same(result.summary[name], value)
    assert result.summary["pq"] < 1.0
    for row, (truth, pred) in zip(result.per_image.itertuples(), pairs):
        assert_same(row.aji, metrics.aji(truth, pred).aji)
        assert_same(row.sq, metrics.pq(truth, pred).sq)


def test_perturbed_pannuke_masks_give_the_protocol_values(pannuke_clean, tmp_path):
    root, masks = pannuke_clean
    truth_masks = np.load(masks, mmap_mode="r", allow_pickle=False)
    changed = np.array(truth_masks)  # small fold: a copy to perturb
    changed[0, ..., 0][changed[0, ..., 0] == changed[0, ..., 0].max()] = 0  # drop a neoplastic nucleus
    changed[2, ..., 4] = changed[2, ..., 2]  # connective nuclei predicted epithelial
    changed[2, ..., 2] = 0
    changed[4, ..., 1] = np.roll(changed[4, ..., 0], 3, axis=0) * (changed[4, ..., 1] == 0)  # shifted copies
    prediction = tmp_path / "masks.npy"
    np.save(prediction, changed, allow_pickle=False)
    result = evaluate("PanNuke_fold1", prediction, data_dir=root, progress=False)
    # expected: objects per channel encoded directly, scored by pannuke_image + the aggregator
    aggregator = metrics.PanNukeAggregator(range(5), PANNUKE_CLASSES)
    images = []
    records = split_records("PanNuke_fold1", root)
    for k, record in enumerate(records):
        pred = []
        for channel in range(5):
            for obj in encode_label_map(changed[k, ..., channel].astype(np.int32)):
                pred.append(dict(obj, id=len(pred) + 1, category=channel))  # channel c = PanNuke class c
        stats = metrics.pannuke_image(record["objects"], pred, range(5))
        images.append(stats)
        aggregator.add_stats(stats, record["metadata"]["tissue"], record["image_id"])
    expected = aggregator.result()
    assert (result.summary["bpq"], result.summary["mpq"]) == (expected.bpq, expected.mpq)
    assert result.summary["mpq_plus"] == metrics.mpq_plus(images)[0] == expected.mpq_plus
    assert result.summary["mpq"] < 1.0
    assert_same_rows(result.per_tissue, expected.per_tissue)
    assert_same_rows(result.per_class, expected.per_class)


def test_perturbed_semantic_codes_give_the_accumulator_values(bcss_raw):
    root, masks = bcss_raw
    predicted = {}
    for k, (stem, mask) in enumerate(sorted(masks.items())):
        pred = np.roll(mask, 5 + k, axis=1)
        pred[:10] = 21
        predicted[stem] = pred
    result = evaluate("BCSS", predicted, data_dir=root, split="train", progress=False, missing="error")
    train = [s for s in sorted(masks) if "-OL-" not in s]
    expected = metrics.SemanticAccumulator(len(BCSS_CLASSES), ignore=0)
    for stem in train:
        expected.add(masks[stem], predicted[stem])
    scores = expected.result()
    assert result.summary == {"dice": scores.mean_dice, "iou": scores.mean_iou}
    assert result.counts["n_pred_other_split"] == 1  # the OL ROI belongs to the test split
    table = result.per_class.set_index("code")
    assert list(table["name"]) == list(BCSS_CLASSES[1:])
    for code in range(1, len(BCSS_CLASSES)):
        assert_same(table.loc[code, "dice"], float(scores.dice[code]))
        assert_same(table.loc[code, "iou"], float(scores.iou[code]))


# --------------------------------------------------------------------------- errors


def test_missing_prediction_is_an_error_unless_scored_empty(tnbc_raw, tnbc_truth, tmp_path):
    first, *rest = sorted(tnbc_truth)
    folder = write_label_folder(tmp_path / "pred", {i: tnbc_truth[i] for i in rest})
    with pytest.raises(BadInputError, match=f"no prediction for image '{first}'") as error:
        evaluate(TNBC, folder, data_dir=tnbc_raw, progress=False)
    assert str(folder) in str(error.value)
    result = evaluate(TNBC, folder, data_dir=tnbc_raw, missing="empty", progress=False)
    assert result.counts["n_missing_scored_empty"] == 1
    row = result.per_image.set_index("image_id").loc[first]
    assert (row["pq"], row["f1"], row["n_pred"], bool(row["missing"])) == (0.0, 0.0, 0, True)
    assert math.isnan(row["precision"])  # no prediction: precision undefined, left out


def test_prediction_for_an_unknown_image_is_an_error_naming_it(tnbc_raw, tnbc_truth, tmp_path):
    maps = dict(tnbc_truth)
    maps["99_9"] = next(iter(tnbc_truth.values()))
    folder = write_label_folder(tmp_path / "pred", maps)
    with pytest.raises(BadInputError, match="'99_9'"):
        evaluate(TNBC, folder, data_dir=tnbc_raw, progress=False)


def test_size_mismatch_is_an_error_naming_the_image_and_file(tnbc_raw, tnbc_truth, tmp_path):
    maps = dict(tnbc_truth)
    wrong = sorted(maps)[1]
    maps[wrong] = maps[wrong][:-3]
    folder = write_label_folder(tmp_path / "pred", maps)
    with pytest.raises(
        BadInputError, match=f"image '{wrong}': prediction is 128x125 .* ground truth is 128x128"
    ) as error:
        evaluate(TNBC, folder, data_dir=tnbc_raw, progress=False)
    assert f"{wrong}.png" in str(error.value)


def test_unreadable_prediction_files_are_named(tnbc_raw, tnbc_truth, tmp_path):
    image_id = sorted(tnbc_truth)[0]
    cases = {
        "rgb.png": lambda p: Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(p),
        "float.npy": lambda p: np.save(p, np.full((128, 128), 0.5), allow_pickle=False),
        "object.npy": lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True),
        "html.png": lambda p: p.write_text("<html>not found</html>"),
    }
    for name, write in cases.items():
        folder = write_label_folder(tmp_path / name.replace(".", "_"), tnbc_truth)
        for old in folder.glob(f"{image_id}.*"):
            old.unlink()
        target = folder / f"{image_id}{Path(name).suffix}"
        write(target)
        with pytest.raises(BadInputError) as error:
            evaluate(TNBC, folder, data_dir=tnbc_raw, progress=False)
        assert str(target) in str(error.value), name


def test_coco_and_pannuke_errors_name_the_entry(dsb_raw, pannuke_clean, tmp_path):
    record = split_records(DSB, dsb_raw)[0]
    bad_size = mask_utils.encode(np.asfortranarray(np.ones((10, 10), np.uint8)))
    results = [
        {"image_id": record["image_id"], "segmentation": {"size": [10, 10], "counts": bad_size["counts"].decode()}}
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(BadInputError, match=r"entry 0.*prediction is 10x10"):
        evaluate(DSB, path, data_dir=dsb_raw, missing="empty", progress=False)
    root, masks = pannuke_clean
    short = tmp_path / "short.npy"
    np.save(short, np.load(masks, allow_pickle=False)[:4], allow_pickle=False)
    with pytest.raises(BadInputError, match="holds 4 patches"):
        evaluate("PanNuke_fold1", short, data_dir=root, progress=False)
    wrong_shape = tmp_path / "wrong.npy"
    np.save(wrong_shape, np.zeros((6, 256, 256), np.int32), allow_pickle=False)
    with pytest.raises(BadInputError, match=r"expected PanNuke masks \(N, H, W, 6\)"):
        evaluate("PanNuke_fold1", wrong_shape, data_dir=root, progress=False)


def test_class_metrics_need_classes_and_the_classes_file_supplies_them(pannuke_clean, tmp_path):
    root, _ = pannuke_clean
    records = split_records("PanNuke_fold1", root)
    folder = tmp_path / "pred"
    maps = {}
    for record in records:
        maps[record["image_id"]] = label_map(record)
    write_label_folder(folder, maps)
    with pytest.raises(BadInputError, match="mpq / mpq_plus need a class"):
        evaluate("PanNuke_fold1", folder, data_dir=root, progress=False)
    assert evaluate("PanNuke_fold1", folder, data_dir=root, metrics="pq,bpq", progress=False).summary["bpq"] == 1.0
    for record in records:  # labels are object ids; classes by name and by index
        classes = {str(obj["id"]): PANNUKE_CLASSES[obj["category"]] for obj in record["objects"]}
        if record["objects"]:
            classes[str(record["objects"][0]["id"])] = record["objects"][0]["category"]
        (folder / f"{record['image_id']}.classes.json").write_text(json.dumps(classes))
    result = evaluate("PanNuke_fold1", folder, data_dir=root, metrics="bpq,mpq,mpq_plus", progress=False)
    assert (result.summary["bpq"], result.summary["mpq"], result.summary["mpq_plus"]) == (1.0, 1.0, 1.0)


def test_label_folder_ids_with_slashes_are_subfolders(tmp_path):
    Image.fromarray(np.eye(4, dtype=np.uint8)).save(tmp_path / "top.png")
    (tmp_path / "slide_1").mkdir()
    np.save(tmp_path / "slide_1" / "tile_0.npy", np.eye(4, dtype=np.int64) * 3, allow_pickle=False)
    (tmp_path / "notes.txt").write_text("ignored")
    reader = LabelMapFolder(tmp_path, "instance")
    assert reader.known_ids() == {"top", "slide_1/tile_0"}
    prediction = reader.take(0, "slide_1/tile_0", 4, 4)
    assert [obj["area"] for obj in prediction.objects] == [4]
    assert reader.leftover(1) == ["top"]


# --------------------------------------------------------------------------- conventions


def test_partial_annotation_refuses_pixel_metrics_and_restricts_detection(tmp_path):
    """f1_annotated: predictions sharing no pixel with an annotated nucleus are left out."""
    write_janowczyk(tmp_path / "raw" / "nuclei")
    config = "nuclei_partial_annotations"
    records = split_records(config, tmp_path / "raw")
    assert {r["metadata"]["annotation"] for r in records} == {"partial"}
    predictions, expected = {}, []
    for record in records:
        masks = decode_masks(record["objects"])
        union = masks.any(axis=0)
        pred = list(masks[1:])
        first = masks[0]
        columns = np.flatnonzero(first.any(axis=0))
        left = first.copy()
        left[:, columns[len(columns) // 2] :] = False
        pred += [left, first & ~left]  # the first nucleus split in two
        ys, xs = np.nonzero(~ndimage.binary_dilation(union, iterations=4))
        far = np.zeros_like(first)
        far[ys[0] : ys[0] + 2, xs[0]] = True  # an unlabelled "nucleus" touching no annotation
        pred.append(far)
        predictions[record["image_id"]] = np.stack(pred)
        touching = [m for m in pred if (m & union).any()]  # brute force over full masks
        expected.append(metrics.f1(record["objects"], encode_masks_list(touching)))
    objects = {image_id: encode_masks_list(list(stack)) for image_id, stack in predictions.items()}
    result = evaluate(config, objects, data_dir=tmp_path / "raw", progress=False)
    assert result.metrics == ("f1_annotated",)
    mean = metrics.MeanOverImages()
    for detection in expected:
        mean.add(detection)
    assert result.summary["f1_annotated"] == mean.mean < 1.0
    assert list(result.per_image["n_pred_annotated"]) == [len(o) - 1 for o in objects.values()]
    with pytest.raises(NucleiCollectionError, match="annotation=partial.*pq, aji"):
        evaluate(config, objects, data_dir=tmp_path / "raw", metrics="pq,aji", progress=False)


def encode_masks_list(masks: list[np.ndarray]) -> list[dict]:
    """Schema objects of full masks, encoded by pycocotools (independent of our codec)."""
    objects = []
    for k, mask in enumerate(masks):
        encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        objects.append(
            {"id": k + 1, "segmentation": {"size": list(encoded["size"]), "counts": encoded["counts"].decode()}}
        )
    return objects


def test_unannotated_images_are_skipped_and_counted(tmp_path):
    """PanNuke's entirely void patches (annotation=none) are not scored; their predictions are accepted."""
    _, _, masks = write_fold(tmp_path, 1, 4, seed=2)  # patch 3 is void (upstream anomaly kept by the fixture)
    records = split_records("PanNuke_fold1", tmp_path)
    assert [r["metadata"]["annotation"] for r in records] == ["complete"] * 3 + ["none"]
    result = evaluate("PanNuke_fold1", masks, data_dir=tmp_path, progress=False)
    assert result.counts["n_skipped_unannotated"] == 1 and result.counts["n_images"] == 3
    assert result.skipped == [("fold1_0003", "annotation=none (no labels)")]
    assert "fold1_0003" not in set(result.per_image["image_id"])
    assert result.summary["pq"] == 1.0 and result.summary["bpq"] == 1.0
    everything = {r["image_id"]: r["objects"] for r in records}  # includes the void patch: not "unknown"
    assert evaluate("PanNuke_fold1", everything, data_dir=tmp_path, metrics="pq", progress=False).summary["pq"] == 1.0


def test_empty_images_excluded_counted_or_scored(pannuke_clean):
    root, masks = pannuke_clean
    records = split_records("PanNuke_fold1", root)
    empty_id = records[1]["image_id"]
    assert not records[1]["objects"]
    base = evaluate("PanNuke_fold1", masks, data_dir=root, metrics="pq,aji", progress=False)
    assert base.counts["n_empty_both"] == 1 and base.counts["n_scored_pq"] == len(records) - 1
    assert math.isnan(base.per_image.set_index("image_id").loc[empty_id, "pq"])
    scored = evaluate("PanNuke_fold1", masks, data_dir=root, metrics="pq,aji", empty_score=1.0, progress=False)
    assert scored.per_image.set_index("image_id").loc[empty_id, "pq"] == 1.0
    assert scored.counts["n_scored_pq"] == len(records)
    # empty truth with a prediction: 0, counted
    predictions = {r["image_id"]: r["objects"] for r in records}
    predictions[empty_id] = records[0]["objects"]
    with_pred = evaluate("PanNuke_fold1", predictions, data_dir=root, metrics="pq,aji", progress=False)
    row = with_pred.per_image.set_index("image_id").loc[empty_id]
    assert (row["pq"], row["aji"]) == (0.0, 0.0)
    assert with_pred.counts["n_empty_truth_with_pred"] == 1
    expected = metrics.MeanOverImages()
    for r in records:
        expected.add(metrics.pq(r["objects"], predictions[r["image_id"]]))
    assert with_pred.summary["pq"] == expected.mean


def test_predictions_of_other_splits_are_ignored_and_counted(monuseg_raw):
    everything = {}
    for split in ("train", "test"):
        everything.update({r["image_id"]: r["objects"] for r in split_records(MONUSEG, monuseg_raw, split)})
    result = evaluate(MONUSEG, everything, data_dir=monuseg_raw, split="test", progress=False)
    assert result.counts["n_pred_other_split"] == 2 and result.counts["n_images"] == 1
    assert_all_one(result)
    with pytest.raises(NucleiCollectionError, match="has splits test, train|has splits train, test"):
        evaluate(MONUSEG, everything, data_dir=monuseg_raw, progress=False)


def test_score_threshold_drops_low_scores_except_for_ap(dsb_raw, tmp_path):
    records = split_records(DSB, dsb_raw)
    predictions = {}
    for record in records:
        weak = [dict(obj, score=0.1) for obj in records[0]["objects"][:2]] if record is records[0] else []
        predictions[record["image_id"]] = [dict(obj, score=0.9) for obj in record["objects"]] + [
            dict(obj, id=100 + k) for k, obj in enumerate(weak)
        ]
    chosen = "pq,coco_ap"
    kept = evaluate(DSB, predictions, data_dir=dsb_raw, score_threshold=0.5, metrics=chosen, progress=False)
    assert kept.counts["n_pred_below_score_threshold"] == 2
    assert kept.summary["pq"] == 1.0
    everything = evaluate(DSB, predictions, data_dir=dsb_raw, metrics=chosen, progress=False)
    assert everything.summary["pq"] < 1.0
    assert kept.summary["coco_AP"] == everything.summary["coco_AP"] == 1.0  # low scores rank last
