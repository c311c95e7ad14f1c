"""CoNSeP reader on generated trees: pixel-exact instances, classes from inst_type (original
and grouped), the type_map cross-check, Train/Test, metadata, build + load_dataset (local
and streaming), layout tolerance and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import load_dataset

from fixtures.consep import write_consep
from fixtures.matlabels import (
    assert_instances,
    column,
    load_mat,
    rewrite_mat,
    truncate,
    write_lfs_pointer,
    write_v73_header,
)
from fixtures.records import item_of, split_records
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, build
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.consep import CoNSeP

CONSEP_CLASSES = CoNSeP.info.class_names
GROUPED_CLASSES = CoNSeP(classes="grouped").class_names()


def test_consep_builds_loads_and_is_pixel_exact(tmp_path, monkeypatch):
    truth = write_consep(tmp_path / "raw")
    loaded = build_and_load("CoNSeP", tmp_path / "raw", tmp_path, monkeypatch)
    # Official split, natural order (train_2 before train_10), no Overlay / README read.
    assert {s: [r["image_id"] for r in records] for s, records in loaded.items()} == {
        "train": ["train_1", "train_2", "train_10"],
        "test": ["test_1", "test_2"],
    }
    for records in loaded.values():
        for record in records:
            expected = truth[record["image_id"]]
            assert_instances(record["objects"], expected.label_map, expected.original, CONSEP_CLASSES)
            assert np.array_equal(np.asarray(record["image"]), expected.image)
            metadata = record["metadata"]
            assert (metadata["source"], metadata["organ"], metadata["tissue"]) == (
                "CoNSeP",
                "colon",
                "colorectal adenocarcinoma",
            )
            assert (metadata["magnification"], metadata["mpp"], metadata["license"]) == (40.0, None, "Apache-2.0")
            assert metadata["upstream_path"] == expected.upstream_path
    assert loaded["train"][1]["image"].mode == "RGB"  # train_2: RGBA with alpha 255 -> RGB
    assert loaded["test"][0]["image"].mode == "RGBA"  # test_1: a real alpha is kept
    assert loaded["test"][1]["objects"] == []  # a tile without nuclei stays a record
    assert {name for t in truth.values() for name in t.original.values()} >= {
        "other",
        "inflammatory",
        "healthy epithelial",
        "dysplastic/malignant epithelial",
        "fibroblast",
        "muscle",
        "endothelial",
        "nucleus",
    }
    report = (tmp_path / "nuclei_collection" / ".nuclei_collection" / "CoNSeP.json").read_text()
    for kind in (
        '"consep type_map disagrees with inst_type": 1',
        '"consep instance without class": 1',
        '"consep ids renumbered": 1',
        '"consep inst_type rows without pixels": 6',
        '"alpha kept": 1',
    ):
        assert kind in report


def test_grouped_classes_are_exported_under_their_own_name(tmp_path, monkeypatch):
    truth = write_consep(tmp_path / "raw")
    out = tmp_path / "nuclei_collection"
    (original,) = build("CoNSeP", data_dir=tmp_path / "raw", out=out)
    (grouped,) = build("CoNSeP", data_dir=tmp_path / "raw", out=out, options={"classes": "grouped"})
    assert (original.name, grouped.name) == ("CoNSeP", "CoNSeP_grouped")
    monkeypatch.chdir(tmp_path)
    for split in ("train", "test"):
        local = load_dataset("nuclei_collection", "CoNSeP_grouped", split=split)
        streamed = list(load_dataset("nuclei_collection", "CoNSeP_grouped", split=split, streaming=True))
        assert [r["objects"] for r in local] == [r["objects"] for r in streamed]
        for record in local:
            expected = truth[record["image_id"]]
            assert_instances(record["objects"], expected.label_map, expected.grouped, GROUPED_CLASSES)
    # The 7-class export is still there, untouched.
    seven = load_dataset("nuclei_collection", "CoNSeP", split="train")
    assert_instances(seven[0]["objects"], truth["train_1"].label_map, truth["train_1"].original, CONSEP_CLASSES)


def test_unknown_classes_option_is_refused():
    from nuclei_collection_builders.sources.consep import CoNSeP

    with pytest.raises(ValueError, match=r"option classes must be one of \('original', 'grouped'\)"):
        CoNSeP(classes="spindle")


def test_lower_case_split_folders_without_top_folder(tmp_path):
    truth = write_consep(tmp_path, top="", split_dirs=("train", "test"), seed=5)
    prepared = prepare("CoNSeP", tmp_path)
    records, _ = split_records(prepared, "train")
    assert list(records) == ["train_1", "train_2", "train_10"]
    for name, record in records.items():
        assert_instances(record["objects"], truth[name].label_map, truth[name].original, CONSEP_CLASSES)
        assert record["metadata"]["upstream_path"] == f"train/Images/{name}.png"


def test_inst_type_indexes_by_instance_id(tmp_path):
    # train_2's ids have gaps (1, 2, 4, ...): inst_type row v - 1 is the class of id v.
    from fixtures.consep import ORIGINAL

    truth = write_consep(tmp_path)
    arrays = load_mat(truth["train_2"].mat_path)
    inst_map, inst_type = arrays["inst_map"].astype(int), arrays["inst_type"].ravel().astype(int)
    present = [int(v) for v in np.unique(inst_map) if v]
    assert present != list(range(1, len(present) + 1))
    by_id = {k: ORIGINAL[inst_type[v - 1] - 1] for k, v in enumerate(present, start=1)}
    by_rank = {k: ORIGINAL[inst_type[k - 1] - 1] for k in range(1, len(present) + 1)}
    assert by_id != by_rank  # the fixture tells the two readings apart
    records, report = split_records(prepare("CoNSeP", tmp_path), "train")
    assert_instances(records["train_2"]["objects"], truth["train_2"].label_map, by_id, CONSEP_CLASSES)
    assert report.counts()["consep inst_type rows without pixels"] == len(inst_type) - len(present)


def _damage(kind, path):
    arrays = load_mat(path)
    if kind == "truncated":
        truncate(path)
    elif kind == "missing inst_type":
        rewrite_mat(path, inst_type=None)
    elif kind == "missing type_map":
        rewrite_mat(path, type_map=None)
    elif kind == "short inst_type":
        rewrite_mat(path, inst_type=arrays["inst_type"][:-2])
    elif kind == "type_map size":
        rewrite_mat(path, type_map=arrays["type_map"][:, :-1])
    elif kind == "class 9":
        rewrite_mat(path, inst_type=column([9] * len(arrays["inst_type"]), np.int32))
    elif kind == "negative":
        rewrite_mat(path, inst_map=arrays["inst_map"] - 1)
    elif kind == "v7.3":
        write_v73_header(path)
    elif kind == "lfs pointer":
        write_lfs_pointer(path)
    elif kind == "empty":
        path.write_bytes(b"")


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("truncated", "unreadable or truncated MAT file"),
        ("missing inst_type", "missing key(s) ['inst_type']"),
        ("missing type_map", "missing key(s) ['type_map']"),
        ("short inst_type", "'inst_type' has 8 rows but inst_map's largest id is 10"),
        ("type_map size", "'type_map' size 71x64 != image size 72x64"),
        ("class 9", "'inst_type' holds 9: the classes are 1..7"),
        ("negative", "'inst_map' holds negative values"),
        ("v7.3", "MATLAB v7.3 (HDF5) file"),
        ("lfs pointer", "Git LFS pointer"),
        ("empty", "empty file (0 bytes)"),
    ],
)
def test_bad_label_files_are_errors_naming_the_file(tmp_path, kind, reason):
    truth = write_consep(tmp_path)
    path = truth["train_1"].mat_path
    _damage(kind, path)
    prepared = prepare("CoNSeP", tmp_path)
    with pytest.raises(BadInputError) as error:
        prepared.source.read(item_of(prepared, "train_1"))
    assert error.value.path == str(path)
    assert reason in error.value.reason


def test_missing_label_is_a_counted_skip_and_old_npy_labels_an_error(tmp_path):
    truth = write_consep(tmp_path)
    truth["test_1"].mat_path.unlink()
    records, report = split_records(prepare("CoNSeP", tmp_path), "test")
    assert list(records) == ["test_2"]
    assert report.skipped == [("test_1", "no label file test_1.mat for test_1.png")]
    old = truth["test_1"].mat_path.with_suffix(".npy")
    np.save(old, np.zeros((56, 80, 2), np.int32))
    prepared = prepare("CoNSeP", tmp_path)
    with pytest.raises(BadInputError, match="pre-2020 CoNSeP .npy label") as error:
        prepared.source.read(item_of(prepared, "test_1"))
    assert error.value.path == str(old)
