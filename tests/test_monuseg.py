"""MoNuSeg reader: real samples (count, rasterisation vs scikit-image), generated tree, errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import polygon as skimage_polygon

from conftest import realdata_path
from fixtures.histology import write_monuseg
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, MissingDataError, decode_masks
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.monuseg import organ_of, parse_aperio_xml

#: Agreement with skimage.draw.polygon (even-odd, pixel centres on integer coordinates):
#: our rule (closed, non-zero winding) may only ADD pixels (boundary centres skimage misses,
#: winding-2 areas of self-intersecting outlines), never drop any; at most this many per
#: nucleus, at most this share of all foreground pixels, and most nuclei identical.
MAX_EXTRA_PIXELS_PER_OBJECT = 8
MAX_DISAGREEMENT = 0.001
MIN_IDENTICAL_SHARE = 0.95


def skimage_reference(polygon, height, width):
    mask = np.zeros((height, width), bool)
    mask[skimage_polygon(polygon[:, 1], polygon[:, 0], (height, width))] = True
    return mask


@pytest.fixture(scope="module")
def real_records():
    data = realdata_path("monuseg")
    prepared = prepare("nucleisegmentationbenchmark", data)
    return data, {split: list(iter_split(prepared.source, items)) for split, items in prepared.splits.items()}


def xml_of(data, record):
    return data / record["metadata"]["upstream_path"].replace("Tissue Images", "Annotations").replace(".tif", ".xml")


def test_real_object_count_equals_region_count(real_records):
    data, splits = real_records
    assert [len(r["objects"]) for r in splits["train"]] == [359]
    assert [len(r["objects"]) for r in splits["test"]] == [249]
    for record in splits["train"] + splits["test"]:
        mpp, polygons = parse_aperio_xml(xml_of(data, record))
        assert len(record["objects"]) == len(polygons)
        assert record["metadata"]["mpp"] == pytest.approx(mpp)
        assert [o["id"] for o in record["objects"]] == list(range(1, len(polygons) + 1))


def test_real_metadata(real_records):
    _, splits = real_records
    train, test = splits["train"][0]["metadata"], splits["test"][0]["metadata"]
    assert (train["organ"], train["mpp"], train["collection"]) == ("kidney", pytest.approx(0.252), "kumar2017")
    assert (test["organ"], test["mpp"], test["collection"]) == ("brain", pytest.approx(0.2525), "monuseg2018_test")
    assert train["patient_id"] == "TCGA-B0-5710" and train["slide_id"] == "TCGA-B0-5710-01Z-00-DX1"
    assert train["license"] == "CC-BY-NC-SA-4.0" and train["annotation"] == "complete"


def test_real_rasterisation_agrees_with_skimage(real_records):
    data, splits = real_records
    for record in splits["train"] + splits["test"]:
        _, polygons = parse_aperio_xml(xml_of(data, record))
        identical = extra_total = union_total = 0
        coverage = np.zeros((record["height"], record["width"]), np.int32)
        for obj, polygon in zip(record["objects"], polygons):
            mask = decode_masks([obj])[0]  # one at a time: a full stack would be 359 MB
            coverage += mask
            reference = skimage_reference(polygon, record["height"], record["width"])
            assert not (reference & ~mask).any()  # never drops a pixel skimage has
            extra = int((mask & ~reference).sum())
            assert extra <= MAX_EXTRA_PIXELS_PER_OBJECT
            identical += extra == 0
            extra_total += extra
            union_total += int(mask.sum())
        assert extra_total / union_total <= MAX_DISAGREEMENT
        assert identical / len(polygons) >= MIN_IDENTICAL_SHARE
        # overlaps are kept: some pixels belong to two nuclei
        assert coverage.max() >= 2


def test_generated_tree_builds_and_loads(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    polygons = write_monuseg(raw)
    loaded = build_and_load("nucleisegmentationbenchmark", raw, tmp_path, monkeypatch)
    assert [r["image_id"] for r in loaded["train"]] == ["TCGA-B0-5698-01Z-00-DX1", "TCGA-ZZ-0000-01Z-00-DX1"]
    assert [r["image_id"] for r in loaded["test"]] == ["TCGA-HT-8564-01Z-00-DX1"]
    for record in loaded["train"] + loaded["test"]:
        expected = polygons[record["image_id"]]
        assert len(record["objects"]) == len(expected)
        stack = decode_masks(record["objects"])
        for mask, polygon in zip(stack, expected):
            reference = skimage_reference(polygon, record["height"], record["width"])
            assert not (reference & ~mask).any()
        assert (stack[0] & stack[len(expected) - 5]).any()  # the overlapping pair overlaps
    assert [r["metadata"]["collection"] for r in loaded["train"]] == ["kumar2017", "monuseg2018_extra"]
    assert loaded["train"][1]["metadata"]["organ"] is None  # unknown site code: null, not a guess


def test_classic_subset_and_missing_xml(tmp_path):
    write_monuseg(tmp_path)
    classic = prepare("nucleisegmentationbenchmark", tmp_path, options={"subset": "classic"})
    assert [i.image_id for i in classic.splits["train"]] == ["TCGA-B0-5698-01Z-00-DX1"]
    (tmp_path / "MoNuSeg 2018 Training Data" / "Annotations" / "TCGA-ZZ-0000-01Z-00-DX1.xml").unlink()
    prepared = prepare("nucleisegmentationbenchmark", tmp_path)
    report = SplitReport()
    records = list(iter_split(prepared.source, prepared.splits["train"], report))
    assert len(records) == 1 and report.skipped[0][0] == "TCGA-ZZ-0000-01Z-00-DX1"


def test_bad_xml_names_the_file(tmp_path):
    write_monuseg(tmp_path)
    bad = tmp_path / "MoNuSegTestData" / "TCGA-HT-8564-01Z-00-DX1.xml"
    bad.write_text('<Annotations><Annotation><Regions><Region><Vertices><Vertex X="a" Y="1"/>')
    prepared = prepare("nucleisegmentationbenchmark", tmp_path)
    with pytest.raises(BadInputError, match="TCGA-HT-8564-01Z-00-DX1.xml.*not well-formed"):
        list(iter_split(prepared.source, prepared.splits["test"]))
    bad.write_text(
        '<Annotations><Annotation><Regions><Region Id="7"><Vertices><Vertex X="a" Y="1"/></Vertices></Region></Regions></Annotation></Annotations>'
    )
    with pytest.raises(BadInputError, match="Annotation 1, Region Id=7 has a vertex without numeric"):
        list(iter_split(prepared.source, prepared.splits["test"]))
    bad.write_text('<!DOCTYPE x [<!ENTITY a "aaaa">]><Annotations>&a;</Annotations>')
    with pytest.raises(BadInputError, match="unsafe XML"):
        list(iter_split(prepared.source, prepared.splits["test"]))


def test_manual_download_instructions(tmp_path):
    with pytest.raises(MissingDataError, match="Google Drive") as error:
        prepare("nucleisegmentationbenchmark", cache_dir=tmp_path)
    assert "MoNuSegTestData.zip" in str(error.value) and "--data-dir" in str(error.value)


def test_organ_from_tcga_site_code():
    assert organ_of("TCGA-18-5592-01Z-00-DX1") == "lung"  # MoNuSeg's list says liver; TCGA says LUSC
    assert organ_of("TCGA-A7-A13E-01Z-00-DX1") == "breast"
    assert organ_of("TCGA-XX-0000") is None and organ_of("image1") is None


@pytest.mark.parametrize(
    "document",
    [
        # external entity (XXE): would read a local file
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><Annotations>&x;</Annotations>',
        # billion laughs: exponential entity expansion
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Annotations>&c;</Annotations>',
    ],
)
def test_xml_entity_attacks_are_refused(tmp_path, document):
    from nuclei_collection_builders.sources.monuseg import parse_aperio_xml

    path = tmp_path / "TCGA-XX-0000-01Z-00-DX1.xml"
    path.write_text(document)
    with pytest.raises(BadInputError, match="unsafe XML") as error:
        parse_aperio_xml(path)
    assert path.name in str(error.value)


def test_annotation_without_image_is_a_counted_skip_by_name(tmp_path):
    write_monuseg(tmp_path)
    tiff = sorted((tmp_path / "MoNuSegTestData").glob("*.tif"))[0]
    tiff.unlink()
    prepared = prepare("nucleisegmentationbenchmark", tmp_path)
    report = SplitReport()
    records = list(iter_split(prepared.source, prepared.splits["test"], report))
    assert tiff.stem not in {record["image_id"] for record in records}
    assert report.skipped == [(tiff.stem, f"annotation MoNuSegTestData/{tiff.stem}.xml has no TIFF image (no record made)")]
