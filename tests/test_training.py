"""Training recipe: streaming -> split_dataset_by_node -> DataLoader workers; all_nuclei mix."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from datasets import load_dataset
from datasets.distributed import split_dataset_by_node

from nuclei_collection import build, decode_masks
from nuclei_collection_builders.app.training import (
    all_nuclei,
    collate_instances,
    combinable_configs,
    decode_instances,
    instance_loader,
)
from nuclei_collection_builders.base import NucleiCollectionError
from nuclei_collection_builders.exporters.build import load_reports
from nuclei_collection_builders.schema import CATEGORIES
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
    assert decoded["labels"].tolist() == [CATEGORIES.index("nucleus")] * n
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


def test_combinable_configs_leave_out_a_declared_overlap_only_when_its_partner_is_there():
    reports = {
        "CoNSeP": {"source": {"kind": "instance"}, "splits": {"train": {}}},
        "Lizard": {"source": {"kind": "instance"}, "splits": {"train": {}}, "overlaps": ["CoNSeP", "PanNuke"]},
    }
    assert combinable_configs(reports, "train") == ["CoNSeP"]
    del reports["CoNSeP"]
    assert combinable_configs(reports, "train") == ["Lizard"]
