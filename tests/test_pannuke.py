"""PanNuke reader: generated folds in both upstream layouts (pixel-exact against the
(channel, id) rule), anomalies counted, fold identification by length on a full-size
sparse fold with the real types.npy, bad values refused."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pytest

from conftest import realdata_path
from fixtures.pannuke import NpyLayout, fold_paths, write_fold, write_npy_item, write_sparse_full_fold
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, MissingDataError, build, decode_masks
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.pannuke import CLASS_CHANNELS, NpyArray


def expected_objects(masks_path, index):
    """(category, pixel mask) per (channel, id) pair, in channel then id order: the rule."""
    ids = np.load(masks_path, mmap_mode="r", allow_pickle=False)[index]
    expected = []
    for channel, category in enumerate(CLASS_CHANNELS):
        plane = np.asarray(ids[..., channel]).astype(np.int64)
        for value in np.unique(plane[plane > 0]):
            expected.append((category, plane == value))
    return expected


def assert_pixel_exact(record, masks_path, index):
    expected = expected_objects(masks_path, index)
    assert len(record["objects"]) == len(expected)
    stack = decode_masks(record["objects"]) if expected else []
    for obj, mask, (category, reference) in zip(record["objects"], stack, expected):
        assert CLASS_CHANNELS[obj["category"]] == category  # index = PanNuke channel
        assert np.array_equal(mask, reference)
        assert obj["area"] == int(reference.sum())


@pytest.fixture(scope="module")
def mixed_layout(tmp_path_factory):
    """Fold 1 Warwick, fold 2 Kaggle 'Part 2', fold 3 Kaggle under the Kaggle slug name."""
    root = tmp_path_factory.mktemp("pannuke")
    write_fold(root, 1, 9, "warwick", seed=1)
    write_fold(root, 2, 5, "kaggle", seed=2)
    write_fold(root, 3, 4, "kaggle", seed=3, folder="cancer-instance-segmentation-and-classification-3")
    return root


def test_protocol_config_builds_loads_and_is_pixel_exact(mixed_layout, tmp_path, monkeypatch):
    loaded = build_and_load("PanNuke", mixed_layout, tmp_path, monkeypatch)
    assert {split: len(records) for split, records in loaded.items()} == {"train": 9, "validation": 5, "test": 4}
    for split, fold, layout, folder in (
        ("train", 1, "warwick", None),
        ("validation", 2, "kaggle", None),
        ("test", 3, "kaggle", "cancer-instance-segmentation-and-classification-3"),
    ):
        images_path, types_path, masks_path = fold_paths(mixed_layout, fold, layout, folder)
        images = np.load(images_path, mmap_mode="r", allow_pickle=False)
        types = np.load(types_path, allow_pickle=False)
        for index, record in enumerate(loaded[split]):
            assert record["image_id"] == f"fold{fold}_{index:04d}"
            assert np.array_equal(np.asarray(record["image"]), np.asarray(images[index]).astype(np.uint8))
            assert_pixel_exact(record, masks_path, index)
            assert record["metadata"]["tissue"] == types[index]
            assert record["metadata"]["collection"] == f"fold{fold}"
    void = [r for r in loaded["train"] if not r["objects"]]
    assert [r["metadata"]["annotation"] for r in void] == ["none"]  # patch 3: neither nuclei nor background


def test_single_fold_configs_and_anomaly_notes(mixed_layout, tmp_path, caplog):
    for fold in (1, 2, 3):
        prepared = prepare(f"PanNuke_fold{fold}", mixed_layout)
        assert list(prepared.splits) == ["train"]
        assert {i.attrs["fold"] for i in prepared.splits["train"]} == {fold}
    prepared = prepare("PanNuke_fold1", mixed_layout)
    report = SplitReport()
    list(iter_split(prepared.source, prepared.splits["train"], report))
    kinds = report.counts()
    # every generated patch with nuclei has a two-component id, a shared id, overlap and void pixels
    assert kinds["pannuke id with several components"] == 8
    assert kinds["pannuke pixels in several classes"] == 8
    assert kinds["pannuke void pixels"] == 8
    assert kinds["pannuke void image"] == 1
    assert kinds["pannuke id in several classes"] >= 8  # at least the 3x3 patch's id in each patch
    with caplog.at_level(logging.WARNING, logger="nuclei_collection"):
        (built,) = build("PanNuke_fold1", data_dir=mixed_layout, out=tmp_path / "out")
    assert built.splits["train"]["counts"] == kinds
    assert any("pannuke id with several components x 8" in m for m in caplog.messages)
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "pannuke void image 1" in readme


def test_fold_is_identified_by_length_not_name(tmp_path):
    real_types = realdata_path("pannuke", "fold1", "types.npy")
    # A Kaggle "Part 3" folder that holds the 2656 patches of fold 1 (sparse full-size files).
    images_path, _, masks_path = write_sparse_full_fold(
        tmp_path, 1, 2656, "kaggle", "Part 3", real_types, filled={0: 11, 2655: 12}
    )
    prepared = prepare("PanNuke_fold1", tmp_path)
    items = prepared.splits["train"]
    assert len(items) == 2656 and items[-1].image_id == "fold1_2655"
    real = np.load(real_types, allow_pickle=False)
    assert [i.attrs["tissue"] for i in items] == real.tolist()
    records = list(iter_split(prepared.source, [items[0], items[1], items[-1]]))
    assert_pixel_exact(records[0], masks_path, 0)
    assert_pixel_exact(records[2], masks_path, 2655)
    assert records[1]["objects"] == [] and records[1]["metadata"]["annotation"] == "none"
    assert records[2]["metadata"]["tissue"] == real[-1]
    with pytest.raises(MissingDataError, match=r"fold\(s\) \[3\] not found; found \[1\]"):
        prepare("PanNuke_fold3", tmp_path)


def test_class_counts_reproduce_the_published_per_image_counts(tmp_path):
    """Patches generated with CellViT's real per-class counts of fold 1 give those counts back."""
    rows = list(csv.DictReader(realdata_path("pannuke", "cellvit_meta", "fold0", "cell_count.csv").open()))
    by_index = {int(r["Image"].split("_")[1].split(".")[0]): r for r in rows}
    names = ("Neoplastic", "Inflammatory", "Connective", "Dead", "Epithelial")
    counts = [tuple(int(by_index[i][n]) for n in names) for i in range(6)]
    write_fold(tmp_path, 1, 6, "warwick", class_counts=counts)
    prepared = prepare("PanNuke_fold1", tmp_path)
    for index, record in enumerate(iter_split(prepared.source, prepared.splits["train"])):
        per_class = [sum(CLASS_CHANNELS[o["category"]] == c for o in record["objects"]) for c in CLASS_CHANNELS]
        assert tuple(per_class) == counts[index]


def test_non_integral_image_values_are_refused(tmp_path):
    images_path, _, _ = write_fold(tmp_path, 2, 3, "warwick")
    layout = NpyLayout(images_path, NpyArray.open(images_path).offset, (256, 256, 3), np.dtype("<f8"))
    write_npy_item(layout, 1, np.full((256, 256, 3), 12.5))
    prepared = prepare("PanNuke_fold2", tmp_path)
    items = prepared.splits["train"]
    assert len(list(iter_split(prepared.source, items[:1]))) == 1
    with pytest.raises(BadInputError, match=r"images.npy: image 1: values are not integers in 0..255 \(e.g. \[12.5"):
        list(iter_split(prepared.source, items[1:2]))


def test_pickled_and_truncated_arrays_are_clear_errors(tmp_path):
    _, types_path, masks_path = write_fold(tmp_path, 1, 2, "warwick")
    np.save(types_path, np.array(["Breast", None], dtype=object), allow_pickle=True)
    with pytest.raises(BadInputError, match="types.npy: not a readable .npy array.*allow_pickle=False"):
        prepare("PanNuke_fold1", tmp_path)
    np.save(types_path, np.array(["Breast", "Colon"]))
    with open(masks_path, "r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(BadInputError, match="masks.npy"):
        prepare("PanNuke_fold1", tmp_path)


def test_unknown_length_and_unnamed_folder_is_an_error(tmp_path):
    write_fold(tmp_path, 1, 2, "kaggle", folder="my copy")
    with pytest.raises(BadInputError, match="not an official fold size"):
        prepare("PanNuke_fold1", tmp_path)


def test_downloads_follow_the_config():
    from nuclei_collection_builders.sources import get_spec

    assert [d.filename for d in get_spec("PanNuke_fold2").make_source().downloads] == ["fold_2.zip"]
    assert [d.filename for d in get_spec("PanNuke").make_source().downloads] == [
        "fold_1.zip",
        "fold_2.zip",
        "fold_3.zip",
    ]


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_fold_configs_build_and_load(mixed_layout, tmp_path, monkeypatch, fold):
    loaded = build_and_load(f"PanNuke_fold{fold}", mixed_layout, tmp_path, monkeypatch)
    assert list(loaded) == ["train"]
    assert len(loaded["train"]) == {1: 9, 2: 5, 3: 4}[fold]
    assert {r["metadata"]["collection"] for r in loaded["train"]} == {f"fold{fold}"}


def test_warwick_fold_zip_download_path(http_server, tmp_path, monkeypatch):
    import hashlib
    import zipfile

    from nuclei_collection_builders.base import Download
    from nuclei_collection_builders.sources import pannuke

    base_url, served = http_server
    write_fold(tmp_path / "raw", 2, 3, "warwick", seed=8)
    with zipfile.ZipFile(served / "fold_2.zip", "w") as archive:
        for path in sorted((tmp_path / "raw").rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(tmp_path / "raw").as_posix())  # "Fold 2/..." as upstream
    sha = hashlib.sha256((served / "fold_2.zip").read_bytes()).hexdigest()
    monkeypatch.setitem(pannuke.FOLD_DOWNLOADS, 2, Download(base_url + "fold_2.zip", "fold_2.zip", sha))
    (report,) = build("PanNuke_fold2", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["train"]["records"] == 3
