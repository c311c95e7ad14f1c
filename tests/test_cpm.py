"""CPM-15 / CPM-17 readers on generated trees: pixel-exact instances, splits, metadata,
build + load_dataset (local and streaming), layout tolerance (the whole Drive folder
unpacked in one place, doubly nested folders) and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.cpm import write_cpm15, write_cpm17
from fixtures.matlabels import assert_instances, load_mat, rewrite_mat, truncate, write_lfs_pointer
from fixtures.records import split_records
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, MissingDataError
from nuclei_collection_builders.sources import prepare


def check_metadata(record, source, collection, upstream_path):
    metadata = record["metadata"]
    assert (metadata["source"], metadata["collection"], metadata["upstream_path"]) == (
        source,
        collection,
        upstream_path,
    )
    assert (metadata["stain"], metadata["modality"], metadata["annotation"]) == ("H&E", "histology", "complete")
    # 20x and 40x tiles with no per-image list, types per image unpublished: null, never guessed.
    assert metadata["magnification"] is metadata["mpp"] is metadata["organ"] is None
    assert metadata["license"] == "not stated upstream"


def test_cpm15_builds_loads_and_is_pixel_exact(tmp_path, monkeypatch):
    truth = write_cpm15(tmp_path / "raw")
    loaded = build_and_load("CPM15", tmp_path / "raw", tmp_path, monkeypatch)
    assert list(loaded) == ["train"]  # CPM-15 has no test split
    assert [r["image_id"] for r in loaded["train"]] == ["image_00", "image_01", "image_02"]
    for record in loaded["train"]:
        expected = truth[record["image_id"]]
        assert_instances(record["objects"], expected.label_map, "nucleus")
        assert np.array_equal(np.asarray(record["image"]), expected.image)
        check_metadata(record, "CPM-15", "cpm15", expected.upstream_path)
    report = (tmp_path / "nuclei_collection" / ".nuclei_collection" / "CPM15.json").read_text()
    assert '"cpm ids renumbered": 1' in report


def test_cpm17_builds_loads_and_is_pixel_exact(tmp_path, monkeypatch):
    truth = write_cpm17(tmp_path / "raw")
    loaded = build_and_load("CPM17", tmp_path / "raw", tmp_path, monkeypatch)
    assert {s: [r["image_id"] for r in records] for s, records in loaded.items()} == {
        "train": ["train_image_00", "train_image_01", "train_image_02"],
        "test": ["test_image_00", "test_image_01"],
    }
    for records in loaded.values():
        for record in records:
            expected = truth[record["image_id"]]
            assert_instances(record["objects"], expected.label_map, "nucleus")
            check_metadata(record, "CPM-17", "cpm17", expected.upstream_path)


def test_the_whole_drive_folder_unpacked_in_one_place(tmp_path):
    # cpm15/, doubly nested cpm17/cpm17/ and a Kumar-like folder (train/, test_same/) side by side.
    cpm15 = write_cpm15(tmp_path)
    cpm17 = write_cpm17(tmp_path / "cpm17", top="cpm17")
    (tmp_path / "kumar" / "train" / "Images").mkdir(parents=True)
    (tmp_path / "kumar" / "test_same" / "Images").mkdir(parents=True)
    records, _ = split_records(prepare("CPM15", tmp_path), "train")
    assert list(records) == list(cpm15)
    prepared = prepare("CPM17", tmp_path)
    assert prepared.splits["train"][0].attrs["root"] == str(tmp_path / "cpm17" / "cpm17")
    records, _ = split_records(prepared, "test")
    for name, record in records.items():
        assert_instances(record["objects"], cpm17[name].label_map, "nucleus")


def test_cpm17_without_its_top_folder(tmp_path):
    truth = write_cpm17(tmp_path, top="")
    records, _ = split_records(prepare("CPM17", tmp_path), "train")
    assert list(records) == [k for k in truth if k.startswith("train_")]


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("truncated", "unreadable or truncated MAT file"),
        ("no inst_map", "missing key(s) ['inst_map'] (keys present: ['instance_map'])"),
        ("negative", "'inst_map' holds negative values"),
        ("size", "'inst_map' size 64x63 != image size 64x64"),
        ("3-D", "'inst_map' must be a 2-D map"),
        ("lfs pointer", "Git LFS pointer"),
        ("not a mat", "not a MATLAB 5 MAT file"),
    ],
)
def test_bad_label_files_are_errors_naming_the_file(tmp_path, kind, reason):
    truth = write_cpm15(tmp_path)
    path = truth["image_00"].mat_path
    inst_map = load_mat(path)["inst_map"]
    if kind == "truncated":
        truncate(path)
    elif kind == "no inst_map":  # the key of torch-em's Kaggle CoNSeP re-tiling, not of CPM
        rewrite_mat(path, inst_map=None, instance_map=inst_map)
    elif kind == "negative":
        rewrite_mat(path, inst_map=inst_map - 5)
    elif kind == "size":
        rewrite_mat(path, inst_map=inst_map[1:])
    elif kind == "3-D":
        rewrite_mat(path, inst_map=np.dstack([inst_map, inst_map]))
    elif kind == "lfs pointer":
        write_lfs_pointer(path)
    elif kind == "not a mat":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    prepared = prepare("CPM15", tmp_path)
    with pytest.raises(BadInputError) as error:
        prepared.source.read(prepared.splits["train"][0])
    assert error.value.path == str(path)
    assert reason in error.value.reason


def test_missing_label_or_image_is_a_counted_skip(tmp_path):
    truth = write_cpm17(tmp_path)
    truth["test_image_01"].mat_path.unlink()
    records, report = split_records(prepare("CPM17", tmp_path), "test")
    assert list(records) == ["test_image_00"]
    assert report.skipped == [("test_image_01", "no label file image_01.mat for image_01.png")]
    truth["test_image_00"].image_path.unlink()  # a .mat left without its image is counted too
    records, report = split_records(prepare("CPM17", tmp_path), "test")
    assert records == {}
    assert report.skipped == [
        ("test_image_00", "no image image_00.png for Labels/image_00.mat"),
        ("test_image_01", "no label file image_01.mat for image_01.png"),
    ]


def test_no_layout_gives_the_manual_steps(tmp_path):
    (tmp_path / "Images").mkdir()
    with pytest.raises(MissingDataError, match="1l55cv3DuY-f7-JotDN7N5nbNnjbLWchK") as error:
        prepare("CPM17", tmp_path)
    assert '"cpm17"' in str(error.value)
