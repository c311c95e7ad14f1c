"""Training recipe: streaming -> split_dataset_by_node -> DataLoader workers; all_nuclei mix."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from datasets import load_dataset
from datasets.distributed import split_dataset_by_node

from fixtures.bbbc039 import write_bbbc039
from fixtures.consep import write_consep
from fixtures.lizard import write_lizard
from nuclei_collection import build, decode_masks
from nuclei_collection_builders.app.training import (
    all_nuclei,
    collate_instances,
    combinable_configs,
    decode_instances,
    instance_loader,
    mix_splits,
)
from nuclei_collection_builders.base import NucleiCollectionError
from nuclei_collection_builders.exporters.build import load_reports
from nuclei_collection_builders.views.taxonomy import TAXONOMIES

CONFIGS = ["nuclei_stage1_train", "nuclei_stage_1_local_train_split", "nuclei_stage_1_local_val_split"]
TORCH_REASON = "torch is optional: pip install 'nuclei-collection[train]' (torch==2.13.0) to run the DataLoader tests"


@pytest.fixture(autouse=True)
def _short_thread_shutdown_pause(monkeypatch):
    """datasets pauses 5 s at the end of every shuffled/interleaved parquet pass (per process)
    so pyarrow's reader threads can wind down; with 12 tiny records that pause would be
    the whole test. Forked DataLoader workers inherit the shorter pause."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0.2)


@pytest.fixture(scope="module")
def exports(synthetic_dsb, tmp_path_factory):
    """The same configs exported with 4 shards per split (divides 2 nodes) and 3 (does not)."""
    root = tmp_path_factory.mktemp("training")
    for shards in (4, 3):
        build(CONFIGS, data_dir=synthetic_dsb, out=root / f"shards{shards}", num_shards=shards)
    return root


def ids_of(export, config, split="train"):
    return load_dataset(str(export), config, split=split)["image_id"]


def test_decode_instances_matches_the_rle(exports):
    record = load_dataset(str(exports / "shards4"), "nuclei_stage1_train", split="train")[1]
    decoded = decode_instances(record)
    n = len(record["objects"])
    assert decoded["image"].shape == (record["height"], record["width"], 4) and decoded["image"].dtype == np.uint8
    assert np.array_equal(decoded["masks"], decode_masks(record["objects"]))
    x, y, w, h = record["objects"][0]["bbox"]
    assert decoded["boxes"].shape == (n, 4) and np.allclose(decoded["boxes"][0], [x, y, x + w, y + h])
    ys, xs = np.nonzero(decoded["masks"][0])
    assert decoded["boxes"][0].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert decoded["labels"].tolist() == [0] * n  # the DSB configs declare one class: nucleus
    assert decoded["area"].tolist() == decoded["masks"].sum(axis=(1, 2)).tolist()


def tagged_collate(batch):
    """collate_instances, plus which DataLoader worker decoded the batch."""
    from torch.utils.data import get_worker_info

    return get_worker_info().id, collate_instances(batch)


def stream_ids(make_stream, world_size=2, num_workers=2):
    """rank -> image_ids seen by that node's workers; nodes simulated one after the other."""
    from torch.utils.data import DataLoader

    seen = {}
    for rank in range(world_size):
        seen[rank] = []
        node = split_dataset_by_node(make_stream(), rank=rank, world_size=world_size)
        workers = set()
        for worker, batch in DataLoader(node, batch_size=2, num_workers=num_workers, collate_fn=tagged_collate):
            workers.add(worker)
            for image, target in zip(batch["image"], batch["target"]):
                # masks were decoded in the worker, lazily, from the RLE strings
                assert target["masks"].shape[1:] == image.shape[1:]
                assert target["masks"].shape[0] == len(target["labels"]) > 0
            seen[rank] += batch["image_id"]
        assert workers == set(range(num_workers)), f"node {rank}: only workers {workers} got data"
    return seen


@pytest.mark.parametrize("shards", [4, 3])
def test_two_nodes_two_workers_lose_and_repeat_nothing(exports, shards):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    torch.manual_seed(0)
    export = exports / f"shards{shards}"
    expected = ids_of(export, "nuclei_stage1_train")

    def make_stream():
        stream = load_dataset(str(export), "nuclei_stage1_train", split="train", streaming=True)
        return stream.shuffle(seed=3, buffer_size=4)  # same seed on every node

    per_node = stream_ids(make_stream)
    seen = per_node[0] + per_node[1]
    assert len(seen) == len(expected) == 12
    assert Counter(seen) == Counter(expected)
    assert per_node[0] and per_node[1]
    # the packaged loader hands a node the same records
    node = split_dataset_by_node(make_stream(), rank=1, world_size=2)
    via_loader = [i for batch in instance_loader(node, batch_size=3, num_workers=2) for i in batch["image_id"]]
    assert Counter(via_loader) == Counter(per_node[1])


def test_all_nuclei_across_nodes_and_workers(exports):
    pytest.importorskip("torch", reason=TORCH_REASON)
    export = exports / "shards4"
    configs = ["nuclei_stage1_train", "nuclei_stage_1_local_train_split"]  # overlap on purpose: count both
    expected = Counter(ids_of(export, configs[0])) + Counter(ids_of(export, configs[1]))
    per_node = stream_ids(lambda: all_nuclei(export, "train", configs=configs, seed=1))
    seen = per_node[0] + per_node[1]
    assert Counter(seen) == expected and len(seen) == 12 + 9


def test_all_nuclei_defaults_and_mix(exports):
    export = exports / "shards4"
    reports = load_reports(export)
    # subsets of a config that is present are left out: no image twice per epoch
    assert combinable_configs(reports, "train") == ["nuclei_stage1_train"]
    assert combinable_configs(reports, "validation") == ["nuclei_stage_1_local_val_split"]
    without_parent = {k: v for k, v in reports.items() if k != "nuclei_stage1_train"}
    assert combinable_configs(without_parent, "train") == ["nuclei_stage_1_local_train_split"]

    configs = ["nuclei_stage1_train", "nuclei_stage_1_local_train_split"]
    order = [r["image_id"] for r in all_nuclei(export, configs=configs, seed=5)]
    assert order == [r["image_id"] for r in all_nuclei(export, configs=configs, seed=5)]  # seeded
    assert order != [r["image_id"] for r in all_nuclei(export, configs=configs, seed=6)]
    assert Counter(order) == Counter(ids_of(export, configs[0])) + Counter(ids_of(export, configs[1]))
    # alternating (no probabilities) and first_exhausted stop when the smaller config runs out
    short = list(all_nuclei(export, configs=configs, probabilities=None, stopping_strategy="first_exhausted"))
    assert len(short) == 2 * 9
    # not streaming: a map-style Dataset with the same records
    assert sorted(all_nuclei(export, configs=configs, streaming=False)["image_id"]) == sorted(order)


def test_all_nuclei_taxonomy_and_errors(exports):
    export = exports / "shards4"
    mixed = all_nuclei(export, configs=["nuclei_stage1_train", "nuclei_stage_1_local_train_split"], taxonomy="pannuke")
    record = next(iter(mixed))
    # DSB nuclei carry no type: "unclassified" in the shared PanNuke taxonomy
    assert {obj["category"] for obj in record["objects"]} == {TAXONOMIES["pannuke"].index("unclassified")}
    assert mixed.features["objects"].feature["category"].names == list(TAXONOMIES["pannuke"])
    with pytest.raises(ValueError, match="unknown taxonomy"):
        all_nuclei(export, taxonomy="mitosis")
    with pytest.raises(NucleiCollectionError, match="no split 'test'"):
        all_nuclei(export, "test", configs=["nuclei_stage1_train"])
    with pytest.raises(ValueError, match="probabilities must be 2"):
        all_nuclei(export, configs=["nuclei_stage1_train", "nuclei_stage_1_local_train_split"], probabilities=[1.0])


def test_combinable_configs_leave_out_configs_that_reuse_images():
    def report(kind="instance", splits=("train",), **extra):
        return {"source": {"kind": kind}, "splits": {s: {} for s in splits}, **extra}

    reports = {
        "PanNuke": report(splits=("train", "validation", "test")),
        "PanNuke_fold1": report(subset_of="PanNuke"),
        "nuclei_stage1_train": report(),
        "nuclei_stage1_train_csv_labels": report(subset_of="nuclei_stage1_train"),
        "nuclei_stage1_train_tiles256": report(view={"of": "nuclei_stage1_train"}),
        "2009_ISBI_2DNuclei_tiles512": report(view={"of": "2009_ISBI_2DNuclei"}),  # parent not exported
        "BCSS": report(kind="semantic"),
        "nuclei_stage_1_test": report(splits=("test",)),
    }
    assert combinable_configs(reports, "train") == ["2009_ISBI_2DNuclei_tiles512", "PanNuke", "nuclei_stage1_train"]
    del reports["PanNuke"]
    assert "PanNuke_fold1" in combinable_configs(reports, "train")


def sized(splits, kind="instance", **extra):
    """A build report with (records, nuclei) per split, as exporters.build writes them."""
    return {"source": {"kind": kind}, "splits": {s: {"records": r, "objects": n} for s, (r, n) in splits.items()}, **extra}


def test_of_two_configs_sharing_tissue_the_larger_is_kept_whichever_declares_it():
    reports = {
        "CoNSeP": sized({"train": (27, 15_000), "test": (14, 9_000)}),
        "Lizard": sized({"fold1": (80, 160_000), "fold2": (80, 170_000), "fold3": (78, 160_000)}, overlaps=["CoNSeP"]),
        "BBBC039": sized({"train": (100, 11_800)}, overlaps=["nuclei_stage1_train"]),
        "nuclei_stage1_train": sized({"train": (670, 29_000)}),
    }
    # Lizard has no 'train' split: without folds it is not in the mix, so CoNSeP stays
    assert combinable_configs(reports, "train") == ["CoNSeP", "nuclei_stage1_train"]
    # with its folds it joins, and being larger it pushes CoNSeP out (not the other way round)
    assert combinable_configs(reports, "train", folds={"Lizard": ["fold1", "fold2"]}) == ["Lizard", "nuclei_stage1_train"]
    # the sizes of the splits the mix takes decide: one small fold loses against CoNSeP's train
    reports["Lizard"]["splits"]["fold3"] = {"records": 3, "objects": 900}
    assert combinable_configs(reports, "train", folds={"Lizard": "fold3"}) == ["CoNSeP", "nuclei_stage1_train"]
    # symmetric: the same result when the other side declares the overlap
    swapped = {**reports, "BBBC039": sized({"train": (100, 11_800)}), "CoNSeP": {**reports["CoNSeP"], "overlaps": ["Lizard"]}}
    swapped["Lizard"] = {k: v for k, v in reports["Lizard"].items() if k != "overlaps"}
    swapped["nuclei_stage1_train"] = {**reports["nuclei_stage1_train"], "overlaps": ["BBBC039"]}
    for folds in ({"Lizard": ["fold1", "fold2"]}, {"Lizard": "fold3"}, None):
        assert combinable_configs(swapped, "train", folds=folds) == combinable_configs(reports, "train", folds=folds)
    # a larger BBBC039 would win over DSB2018: size decides, not who declares
    reports["BBBC039"]["splits"]["train"] = {"records": 100, "objects": 40_000}
    assert combinable_configs(reports, "train") == ["BBBC039", "CoNSeP"]
    # nuclei first, records only on a tie: a tiled view with many records does not outweigh more nuclei
    tiles = {"CoNSeP_tiles256": sized({"train": (400, 15_500)}, view={"of": "CoNSeP"}), "Lizard": reports["Lizard"]}
    assert combinable_configs(tiles, "train", folds={"Lizard": ["fold1"]}) == ["Lizard"]
    tiles["Lizard"] = sized({"fold1": (80, 15_500)}, overlaps=["CoNSeP"])
    assert combinable_configs(tiles, "train", folds={"Lizard": ["fold1"]}) == ["CoNSeP_tiles256"]


def test_overlap_reaches_folds_and_views_of_the_declared_config():
    reports = {
        "Lizard": sized({"fold1": (80, 160_000)}, overlaps=["CoNSeP", "PanNuke"]),
        "PanNuke_fold1": sized({"train": (2656, 60_000)}, subset_of="PanNuke"),
        "CoNSeP_tiles256": sized({"train": (400, 15_000)}, view={"of": "CoNSeP"}),
        "MoNuSAC": sized({"train": (209, 30_000)}),
    }
    assert combinable_configs(reports, "train", folds={"Lizard": "fold1"}) == ["Lizard", "MoNuSAC"]
    # a larger PanNuke fold pushes Lizard out; the CoNSeP view then has no partner left and joins
    reports["PanNuke_fold1"]["splits"]["train"]["objects"] = 900_000
    assert combinable_configs(reports, "train", folds={"Lizard": "fold1"}) == ["CoNSeP_tiles256", "MoNuSAC", "PanNuke_fold1"]
    # nothing is left out when no partner shares tissue
    assert combinable_configs({"MoNuSAC": reports["MoNuSAC"]}, "train") == ["MoNuSAC"]


def test_folds_select_splits_and_name_what_is_wrong():
    reports = {
        "PanNuke": sized({"train": (2656, 60_000), "validation": (2523, 60_000), "test": (2722, 70_000)}),
        "PanNuke_fold3": sized({"train": (2722, 70_000)}, subset_of="PanNuke"),
        "Lizard": sized({"fold1": (80, 1), "fold2": (80, 1)}),
        "BCSS": sized({"train": (100, 0)}, kind="semantic"),
    }
    assert mix_splits(reports, "train", {"PanNuke": ["train", "validation"], "Lizard": "fold2"}) == {
        "PanNuke": ("train", "validation"),
        "PanNuke_fold3": ("train",),
        "Lizard": ("fold2",),
    }
    # a config mapped to no split is left out (PanNuke's test fold, when only the folds are exported)
    without_parent = {k: v for k, v in reports.items() if k != "PanNuke"}
    assert combinable_configs(without_parent, "train", folds={"PanNuke_fold3": []}) == []
    assert combinable_configs(without_parent, "train") == ["PanNuke_fold3"]
    with pytest.raises(NucleiCollectionError, match=r"'Lizard' has no split\(s\) \['fold3'\]; it has \['fold1', 'fold2'\]"):
        mix_splits(reports, "train", {"Lizard": ["fold1", "fold3"]})
    with pytest.raises(NucleiCollectionError, match=r"folds names config\(s\) \['CoNSeP'\]"):
        mix_splits(reports, "train", {"CoNSeP": "train"})
    with pytest.raises(NucleiCollectionError, match="'BCSS' is a semantic config"):
        mix_splits(reports, "train", {"BCSS": "train"})


@pytest.fixture(scope="module")
def collection(synthetic_dsb, tmp_path_factory):
    """One export with configs of different classes, splits and declared overlaps (generated raw trees)."""
    root = tmp_path_factory.mktemp("collection")
    write_bbbc039(root / "raw_bbbc039")
    write_lizard(root / "raw_lizard")
    write_consep(root / "raw_consep")
    out = root / "out"
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=out)
    for config, raw in (("BBBC039", "raw_bbbc039"), ("Lizard", "raw_lizard"), ("CoNSeP", "raw_consep")):
        build(config, data_dir=root / raw, out=out)
    return out


def nuclei_of(reports, config, splits):
    return sum(reports[config]["splits"][s]["objects"] for s in splits)


def test_built_collection_keeps_the_larger_of_overlapping_configs(collection):
    reports = load_reports(collection)
    # the premises, read from the build reports of the generated exports
    assert nuclei_of(reports, "nuclei_stage1_train", ["train"]) > nuclei_of(reports, "BBBC039", ["train"])
    all_folds = ["fold1", "fold2", "fold3"]
    assert nuclei_of(reports, "Lizard", all_folds) > nuclei_of(reports, "CoNSeP", ["train"]) > nuclei_of(reports, "Lizard", ["fold2"])
    assert combinable_configs(reports, "train") == ["CoNSeP", "nuclei_stage1_train"]  # BBBC039 in DSB2018: DSB kept
    assert combinable_configs(reports, "train", folds={"Lizard": all_folds}) == ["Lizard", "nuclei_stage1_train"]
    assert combinable_configs(reports, "train", folds={"Lizard": "fold2"}) == ["CoNSeP", "nuclei_stage1_train"]
    # where DSB2018 has no such split, BBBC039 has no partner in the mix and joins
    assert combinable_configs(reports, "test") == ["BBBC039", "CoNSeP"]


def test_fold_configs_join_a_harmonised_mix(collection):
    folds = {"Lizard": ["fold1", "fold2"]}
    mixed = all_nuclei(collection, "train", folds=folds, taxonomy="binary", seed=2)
    assert mixed.features["objects"].feature["category"].names == list(TAXONOMIES["binary"])
    seen = Counter(r["image_id"] for r in mixed)
    expected = Counter(ids_of(collection, "nuclei_stage1_train"))
    for fold in folds["Lizard"]:
        expected += Counter(ids_of(collection, "Lizard", fold))
    assert seen == expected  # every record of the chosen folds once, CoNSeP and BBBC039 left out
    # Lizard fold records keep their nuclei (now all 'nucleus'); the fold3 records are not there
    assert not set(ids_of(collection, "Lizard", "fold3")) & set(seen)


def test_different_class_labels_need_a_taxonomy_same_ones_do_not(collection):
    with pytest.raises(NucleiCollectionError, match=r'different category ClassLabels.*taxonomy="binary".*taxonomy="pannuke"') as error:
        all_nuclei(collection, configs=["nuclei_stage1_train", "Lizard"], folds={"Lizard": "fold1"})
    assert "Lizard: neutrophil, epithelial" in str(error.value) and "nuclei_stage1_train: nucleus" in str(error.value)
    with pytest.raises(NucleiCollectionError, match="different category ClassLabels"):
        all_nuclei(collection, "test", configs=["BBBC039", "CoNSeP"])
    # identical ClassLabels (both 'nucleus' only) interleave as they are
    same = all_nuclei(collection, configs=["nuclei_stage1_train", "BBBC039"], seed=0)
    assert same.features["objects"].feature["category"].names == ["nucleus"]
    assert Counter(r["image_id"] for r in same) == Counter(ids_of(collection, "nuclei_stage1_train")) + Counter(
        ids_of(collection, "BBBC039")
    )
    with pytest.raises(NucleiCollectionError, match=r"\['Lizard'\] have no split 'train' \(pass folds="):
        all_nuclei(collection, configs=["Lizard"], taxonomy="binary")
    with pytest.raises(NucleiCollectionError, match=r"\['PanNuke'\] are not in the collection"):
        all_nuclei(collection, configs=["PanNuke"])
    # explicit configs take folds too; a config mapped to no split is left out of them as well
    only_folds = all_nuclei(collection, configs=["Lizard", "BBBC039"], folds={"Lizard": ["fold3"], "BBBC039": []}, taxonomy="binary")
    assert Counter(r["image_id"] for r in only_folds) == Counter(ids_of(collection, "Lizard", "fold3"))
