"""Lizard reader on generated trees in the Kaggle and Warwick layouts: pixel-exact instances,
classes through the `id` lookup, info.csv folds, metadata, build + load_dataset (local and
streaming), and every bad input as an error naming the file (or a counted skip)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image

from fixtures.lizard import CLASS_NAMES, info_csv, write_lizard
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
from nuclei_collection import BadInputError, MissingDataError
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.lizard import Lizard

LIZARD_CLASSES = Lizard.info.class_names


def test_lizard_kaggle_layout_builds_loads_and_is_pixel_exact(tmp_path, monkeypatch):
    truth = write_lizard(tmp_path / "raw", layout="kaggle")
    loaded = build_and_load("Lizard", tmp_path / "raw", tmp_path, monkeypatch)
    # Folds from info.csv, items in info.csv order; nothing from the Overlay folder.
    assert {split: [r["image_id"] for r in records] for split, records in loaded.items()} == {
        "fold1": ["crag_2", "glas_1"],
        "fold2": ["dpath_1"],
        "fold3": ["consep_1", "pannuke_1"],
    }
    for records in loaded.values():
        for record in records:
            expected = truth[record["image_id"]]
            assert_instances(record["objects"], expected.label_map, expected.categories, LIZARD_CLASSES)
            assert np.array_equal(np.asarray(record["image"]), expected.image)
            metadata = record["metadata"]
            assert metadata["source"] == "Lizard"
            assert metadata["collection"] == expected.collection
            assert metadata["upstream_path"] == expected.upstream_path
            assert (metadata["organ"], metadata["stain"], metadata["modality"]) == ("colon", "H&E", "histology")
            assert (metadata["magnification"], metadata["mpp"]) == (20.0, None)
            assert (metadata["license"], metadata["annotation"]) == ("CC-BY-NC-SA-4.0", "complete")
    used = {name for r in truth.values() for name in r.categories.values()}
    assert used == set(CLASS_NAMES)  # every class code went through the lookup
    report = (tmp_path / "nuclei_collection" / ".nuclei_collection" / "Lizard.json").read_text()
    assert '"lizard ids renumbered": 1' in report and '"lizard id without pixels": 1' in report
    card = (tmp_path / "nuclei_collection" / "README.md").read_text()
    assert "CC-BY-NC-SA-4.0 **(non-commercial)**" in card
    assert "`CoNSeP`" in card  # the declared overlap is shown


def test_lizard_png_bytes_are_stored_verbatim(tmp_path):
    truth = write_lizard(tmp_path, layout="kaggle")
    prepared = prepare("Lizard", tmp_path)
    records, _ = split_records(prepared, "fold3")
    record = records["consep_1"]
    assert record["image"]["bytes"] == truth["consep_1"].image_path.read_bytes()
    assert np.array_equal(np.array(Image.open(io.BytesIO(record["image"]["bytes"]))), truth["consep_1"].image)


def test_lizard_warwick_layout_below_an_extra_top_folder(tmp_path):
    truth = write_lizard(tmp_path / "unzipped", layout="warwick", seed=3)
    prepared = prepare("Lizard", tmp_path)  # the layout sits one folder down
    assert prepared.name == "Lizard"
    assert {split: [i.image_id for i in items] for split, items in prepared.splits.items()} == {
        "fold1": ["crag_2", "glas_1"],
        "fold2": ["dpath_1"],
        "fold3": ["consep_1", "pannuke_1"],
    }
    records, _ = split_records(prepared, "fold1")
    assert records["glas_1"]["metadata"]["upstream_path"] == "Lizard_Images2/glas_1.png"
    for name, record in records.items():
        assert_instances(record["objects"], truth[name].label_map, truth[name].categories, LIZARD_CLASSES)


def test_the_class_lookup_goes_through_id(tmp_path):
    truth = write_lizard(tmp_path)
    arrays = load_mat(truth["glas_1"].mat_path)
    ids, classes = arrays["id"].ravel().astype(int), arrays["class"].ravel().astype(int)
    assert list(ids) != sorted(ids)  # the fixture's rows are shuffled: class[v - 1] would be wrong
    naive = {v: CLASS_NAMES[classes[v - 1] - 1] for v in sorted(ids)}
    assert naive != truth["glas_1"].categories
    records, _ = split_records(prepare("Lizard", tmp_path), "fold1")
    assert_instances(records["glas_1"]["objects"], truth["glas_1"].label_map, truth["glas_1"].categories, LIZARD_CLASSES)
    # crag_2's ids have gaps: renumbered 1..N in id order, classes follow their nuclei.
    assert truth["crag_2"].notes == {"lizard ids renumbered": 1}
    assert_instances(records["crag_2"]["objects"], truth["crag_2"].label_map, truth["crag_2"].categories, LIZARD_CLASSES)


def _damage(kind, truth):
    path = truth["crag_2"].mat_path
    arrays = load_mat(path)
    if kind == "truncated":
        truncate(path)
    elif kind == "header only":
        truncate(path, 128)
    elif kind == "missing key":
        rewrite_mat(path, **{"class": None})
    elif kind == "length mismatch":
        rewrite_mat(path, **{"class": arrays["class"][:-1]})
    elif kind == "size mismatch":
        rewrite_mat(path, inst_map=arrays["inst_map"][:-3])
    elif kind == "v7.3":
        write_v73_header(path)
    elif kind == "lfs pointer":
        write_lfs_pointer(path)
    elif kind == "html":
        path.write_text("<!DOCTYPE html><html><body>Sign in</body></html>")
    elif kind == "class code":
        rewrite_mat(path, **{"class": np.full_like(arrays["class"], 7)})
    elif kind == "value without id":
        rewrite_mat(path, id=arrays["id"][1:], **{"class": arrays["class"][1:]})
    elif kind == "repeated id":
        ids = arrays["id"].copy()
        ids[1] = ids[0]
        rewrite_mat(path, id=ids)
    elif kind == "not integer":
        rewrite_mat(path, inst_map=arrays["inst_map"] + 0.5)
    elif kind == "matrix id":
        rewrite_mat(path, id=np.tile(arrays["id"], (1, 2)))
    return path


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("truncated", "unreadable or truncated MAT file"),
        ("header only", "missing key(s) ['inst_map', 'id', 'class']"),
        ("missing key", "missing key(s) ['class']"),
        ("length mismatch", "'id' has 9 entries but 'class' has 8"),
        ("size mismatch", "'inst_map' size 64x69 != image size 64x72"),
        ("v7.3", "MATLAB v7.3 (HDF5) file"),
        ("lfs pointer", "Git LFS pointer"),
        ("html", "HTML/XML text, not a MAT file"),
        ("class code", "not one of the codes 1..6"),
        ("value without id", "have no row in 'id'"),
        ("repeated id", "'id' repeats"),
        ("not integer", "'inst_map' holds non-integer values"),
        ("matrix id", "'id' must be a vector"),
    ],
)
def test_bad_label_files_are_errors_naming_the_file(tmp_path, kind, reason):
    truth = write_lizard(tmp_path)
    path = _damage(kind, truth)
    prepared = prepare("Lizard", tmp_path)
    with pytest.raises(BadInputError) as error:
        prepared.source.read(item_of(prepared, "crag_2"))
    assert error.value.path == str(path)
    assert reason in error.value.reason


def test_bad_image_is_an_error_naming_it(tmp_path):
    truth = write_lizard(tmp_path)
    truncate(truth["dpath_1"].image_path)
    prepared = prepare("Lizard", tmp_path)
    with pytest.raises(BadInputError) as error:
        prepared.source.read(item_of(prepared, "dpath_1"))
    assert error.value.path == str(truth["dpath_1"].image_path)


def test_missing_and_unlisted_files_are_counted_skips(tmp_path):
    truth = write_lizard(tmp_path)
    truth["crag_2"].image_path.unlink()
    truth["dpath_1"].mat_path.unlink()
    extra = truth["glas_1"].image_path.with_name("glas_99.png")
    shutil.copy(truth["glas_1"].image_path, extra)
    prepared = prepare("Lizard", tmp_path)
    records, report = split_records(prepared, "fold1")
    assert list(records) == ["glas_1"]
    assert report.skipped == [
        ("crag_2", "no image crag_2.png in any Lizard_Images folder"),
        ("glas_99", "glas_99 is not listed in Lizard_Labels/info.csv (no fold)"),
    ]
    records, report = split_records(prepared, "fold2")
    assert records == {} and report.skipped == [("dpath_1", "no label file Labels/dpath_1.mat")]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Filename,Source,Split\nconsep_1,test_14,4\n", "line 2: Split '4' is not a fold number 1, 2 or 3"),
        ("Filename,Source,Split\nconsep_1,a,1\nconsep_1,b,2\n", "line 3: 'consep_1' is listed twice"),
        ("Name,Fold\nconsep_1,1\n", "expected the header Filename,Source,Split"),
    ],
)
def test_a_malformed_info_csv_is_an_error_naming_it(tmp_path, text, reason):
    write_lizard(tmp_path)
    csv_path = info_csv(tmp_path)
    csv_path.write_text(text)
    with pytest.raises(BadInputError) as error:
        prepare("Lizard", tmp_path)
    assert error.value.path == str(csv_path) and reason in error.value.reason


def test_the_same_image_in_two_folders_is_an_error(tmp_path):
    truth = write_lizard(tmp_path)
    copy = truth["consep_1"].image_path.parents[2] / "lizard_images2" / "Lizard_Images2" / "consep_1.png"
    shutil.copy(truth["consep_1"].image_path, copy)
    with pytest.raises(BadInputError, match="consep_1.png is also in"):
        prepare("Lizard", tmp_path)


def test_no_layout_says_where_to_get_the_data(tmp_path):
    (tmp_path / "Lizard_Images1").mkdir()  # images alone are not a Lizard tree
    with pytest.raises(MissingDataError, match="aadimator/lizard-dataset"):
        prepare("Lizard", tmp_path)


def test_mat_files_are_the_scipy_v5_kind(tmp_path):
    # The fixture writes what upstream ships: MAT 5.0 headers from scipy (Platform: posix).
    truth = write_lizard(tmp_path)
    head = truth["consep_1"].mat_path.read_bytes()[:40]
    assert head.startswith(b"MATLAB 5.0 MAT-file Platform: posix")
    arrays = scipy.io.loadmat(truth["consep_1"].mat_path)
    assert arrays["id"].shape[1] == 1 and arrays["class"].shape == arrays["id"].shape
    assert arrays["inst_map"].dtype == np.int32
    assert column([1, 2], np.int32).shape == (2, 1)
