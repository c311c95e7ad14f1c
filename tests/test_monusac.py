"""MoNuSAC reader: generated tree in the challenge layout, pixel-exact polygons, classes by name,
ambiguous regions as iscrowd, the two patients in both splits, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_util

from fixtures.monusac import TEST_DIR, TRAIN_DIR, write_monusac
from fixtures.records import image_pixels
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, MissingDataError, decode_masks
from nuclei_collection_builders.formats.aperio import parse_aperio
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.sources import config_classes, prepare

#: this config's ClassLabel names (categories are per config: index = position)
CLASS_NAMES = [c.name for c in config_classes("MoNuSAC")]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("monusac")
    return root, write_monusac(root)


def records_of(root, split):
    prepared = prepare("MoNuSAC", root)
    report = SplitReport()
    return list(iter_split(prepared.source, prepared.splits[split], report)), report


def test_pixel_exact_classes_and_crowd(tree):
    root, truth = tree
    for split in ("train", "test"):
        records, _ = records_of(root, split)
        for record in records:
            sub = truth[record["image_id"]]
            objects = record["objects"]
            assert [o["id"] for o in objects] == list(range(1, len(sub.shapes) + 1))  # one object per Region
            stack = decode_masks(objects)
            for obj, decoded, shape in zip(objects, stack, sub.shapes):
                assert np.array_equal(decoded, shape.mask)
                expected = mask_util.encode(np.asfortranarray(shape.mask.astype(np.uint8)))
                assert obj["segmentation"]["counts"] == expected["counts"].decode()
                assert CLASS_NAMES[obj["category"]] == shape.label.lower()
                assert obj["iscrowd"] == (shape.label == "Ambiguous")
            # overlapping polygons stay separate objects: some pixels belong to two of them
            assert (stack.sum(axis=0) >= 2).any()


def test_splits_skips_and_metadata(tree):
    root, _ = tree
    train, _ = records_of(root, "train")
    test, report = records_of(root, "test")
    assert [r["image_id"] for r in train] == [  # natural order of the sub-image numbers
        "TCGA-55-1594-01Z-00-DX1_1",
        "TCGA-55-1594-01Z-00-DX1_2",
        "TCGA-55-1594-01Z-00-DX1_10",
        "TCGA-MP-A4T7-01Z-00-DX1_001",
    ]
    assert [r["image_id"] for r in test] == ["TCGA-2Z-A9JG-01Z-00-DX1_1", "TCGA-A2-A0ES-01Z-00-DX1_1"]
    # the .svs-only sub-image is a counted skip naming the file
    assert [(i, "TCGA-2Z-A9JG-01Z-00-DX1_2.svs (no .tif)" in reason) for i, reason in report.skipped] == [
        ("TCGA-2Z-A9JG-01Z-00-DX1_2", True)
    ]
    by_id = {r["image_id"]: r["metadata"] for r in train + test}
    flagged = {i for i, m in by_id.items() if m["collection"] == "patient_in_both_splits"}
    assert flagged == {"TCGA-MP-A4T7-01Z-00-DX1_001", "TCGA-A2-A0ES-01Z-00-DX1_1"}
    meta = by_id["TCGA-2Z-A9JG-01Z-00-DX1_1"]
    assert (meta["organ"], meta["patient_id"], meta["slide_id"]) == ("kidney", "TCGA-2Z-A9JG", "TCGA-2Z-A9JG-01Z-00-DX1")
    assert (meta["mpp"], meta["magnification"], meta["stain"]) == (pytest.approx(0.2521), 40.0, "H&E")
    assert meta["license"] == "CC-BY-NC-SA-4.0" and meta["annotation"] == "complete"
    assert meta["upstream_path"] == f"{TEST_DIR}/TCGA-2Z-A9JG-01Z-00-DX1/TCGA-2Z-A9JG-01Z-00-DX1_1.tif"
    assert by_id["TCGA-MP-A4T7-01Z-00-DX1_001"]["organ"] == "lung"


def test_rgba_alpha_dropped_and_rgb_kept(tree):
    root, truth = tree
    train, _ = records_of(root, "train")
    for record in train:  # RGBA (constant alpha) and plain RGB tifs both become the same RGB pixels
        assert np.array_equal(image_pixels(record), truth[record["image_id"]].rgb)


def test_builds_and_loads(tree, tmp_path, monkeypatch):
    root, truth = tree
    loaded = build_and_load("MoNuSAC", root, tmp_path, monkeypatch)
    assert {split: len(records) for split, records in loaded.items()} == {"train": 4, "test": 2}
    record = loaded["test"][0]
    crowd = [o for o in record["objects"] if o["iscrowd"]]
    assert len(crowd) == 2 and {CLASS_NAMES[o["category"]] for o in crowd} == {"ambiguous"}


def test_class_names_are_case_and_space_tolerant(tmp_path):
    write_monusac(tmp_path)
    xml = tmp_path / TRAIN_DIR / "TCGA-55-1594-01Z-00-DX1" / "TCGA-55-1594-01Z-00-DX1_1.xml"
    xml.write_text(xml.read_text().replace('Name="Epithelial"', 'Name="  EPITHELIAL "'))
    records, _ = records_of(tmp_path, "train")
    assert CLASS_NAMES[records[0]["objects"][0]["category"]] == "epithelial"


def test_unknown_class_name_names_file_and_name(tmp_path):
    write_monusac(tmp_path)
    xml = tmp_path / TRAIN_DIR / "TCGA-55-1594-01Z-00-DX1" / "TCGA-55-1594-01Z-00-DX1_1.xml"
    xml.write_text(xml.read_text().replace('Name="Lymphocyte"', 'Name="Mitosis"'))
    with pytest.raises(BadInputError, match=r"TCGA-55-1594-01Z-00-DX1_1\.xml.*unknown class name 'Mitosis'"):
        records_of(tmp_path, "train")


def test_annotation_without_attribute_is_an_error(tmp_path):
    write_monusac(tmp_path)
    xml = tmp_path / TEST_DIR / "TCGA-A2-A0ES-01Z-00-DX1" / "TCGA-A2-A0ES-01Z-00-DX1_1.xml"
    text = xml.read_text()
    start = text.index("<Attributes><Attribute")
    xml.write_text(text[:start] + text[text.index("</Attributes>", start) + len("</Attributes>") :])
    with pytest.raises(BadInputError, match="unknown class name None"):
        records_of(tmp_path, "test")


@pytest.mark.parametrize("suffix", [".xml", ".tif"])
def test_truncated_files_are_errors_naming_them(tmp_path, suffix):
    write_monusac(tmp_path)
    path = tmp_path / TEST_DIR / "TCGA-A2-A0ES-01Z-00-DX1" / f"TCGA-A2-A0ES-01Z-00-DX1_1{suffix}"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(BadInputError, match=f"TCGA-A2-A0ES-01Z-00-DX1_1\\{suffix}"):
        records_of(tmp_path, "test")


def test_missing_xml_is_a_counted_skip_and_orphan_xml_too(tmp_path):
    write_monusac(tmp_path)
    slide = tmp_path / TRAIN_DIR / "TCGA-55-1594-01Z-00-DX1"
    (slide / "TCGA-55-1594-01Z-00-DX1_2.xml").unlink()
    (slide / "TCGA-55-1594-01Z-00-DX1_10.tif").unlink()
    (slide / "TCGA-55-1594-01Z-00-DX1_10.svs").unlink()
    records, report = records_of(tmp_path, "train")
    assert len(records) == 2
    assert dict(report.skipped).keys() == {"TCGA-55-1594-01Z-00-DX1_2", "TCGA-55-1594-01Z-00-DX1_10"}
    assert "has no image" in dict(report.skipped)["TCGA-55-1594-01Z-00-DX1_10"]


def test_one_split_folder_without_top_folder_and_manual_download(tmp_path):
    write_monusac(tmp_path / "unzipped")
    prepared = prepare("MoNuSAC", tmp_path)  # the folders sit one level down
    assert set(prepared.splits) == {"train", "test"}
    with pytest.raises(MissingDataError, match="Google Drive") as error:
        prepare("MoNuSAC", cache_dir=tmp_path / "cache")
    assert "1lxMZaAPSpEHLSxGA9KKMt_r-4S8dwLhq" in str(error.value) and "--data-dir" in str(error.value)


def test_parse_aperio_keeps_class_per_region(tree):
    root, truth = tree
    sub = truth["TCGA-2Z-A9JG-01Z-00-DX1_1"]
    mpp, regions = parse_aperio(root / TEST_DIR / sub.slide / f"{sub.stem}.xml")
    assert mpp == pytest.approx(0.2521)
    assert [r.label for r in regions] == [shape.label for shape in sub.shapes]
    assert all(np.array_equal(r.vertices, shape.vertices) for r, shape in zip(regions, sub.shapes))
