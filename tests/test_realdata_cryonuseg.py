"""CryoNuSeg on the real sample ../shared/realdata/cryonuseg (issue 19, issue 20 item 2).

The sample is the upstream Kaggle tree (torch-em folder names) for four tissues
(AdrenalGland_01, Mediastinum_01, Skin_01, Testes_01): the H&E TIFFs, each of the three
annotation sets' ``label masks modify`` (uint16 PackBits, upstream ids with gaps) and one
summed ``label masks`` file that must never be read. The reader runs on it in place.

References are computed here, independently of the reader: label images and image pixels
are read with tifffile (the reader reads them with Pillow), each nucleus is ``label == id``
of that array (ids kept, gaps included), RLE strings come from ``pycocotools.mask.encode``,
and the pixel size is 1 / XResolution of the tissue TIFF read with tifffile.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from pycocotools import mask as mask_util

from conftest import realdata_path
from fixtures.records import image_pixels, records_of
from fixtures.roundtrip import build_and_load
from nuclei_collection import decode_masks, decode_objects
from nuclei_collection_builders.sources.cryonuseg import ANNOTATORS, TIFF_MPP_NOTE, WSI

TISSUES = ("Human_AdrenalGland_01", "Human_Mediastinum_01", "Human_Skin_01", "Human_Testes_01")
LABELS = "label masks modify"


@pytest.fixture(scope="module")
def real():
    return realdata_path("cryonuseg")


@pytest.fixture(scope="module", params=sorted(ANNOTATORS))
def annotated(request, real):
    annotator = request.param
    records, report = records_of("CryoNuSeg", real, annotator=annotator)
    return annotator, records, report


def upstream_labels(real, annotator, stem):
    label = real / ANNOTATORS[annotator][0] / LABELS / f"{stem}.tif"
    with tifffile.TiffFile(label) as tiff:
        assert tiff.pages[0].compression == 32773  # PackBits, as upstream
        return tiff.pages[0].asarray()


def tiff_mpp(path):
    """Microns per pixel from an ImageJ TIFF's XResolution (pixels per micron)."""
    with tifffile.TiffFile(path) as tiff:
        assert tiff.imagej_metadata["unit"] in ("\\u00B5m", "µm", "micron")
        numerator, denominator = tiff.pages[0].tags["XResolution"].value
    return denominator / numerator


def test_every_annotator_pixel_exact_with_upstream_ids(real, annotated):
    annotator, records, report = annotated
    assert [r["image_id"] for r in records] == list(TISSUES) and not report.skipped
    gaps = 0
    for record in records:
        labels = upstream_labels(real, annotator, record["image_id"])
        assert labels.dtype == np.uint16 and labels.shape == (record["height"], record["width"]) == (512, 512)
        ids = [int(v) for v in np.unique(labels) if v]
        assert [o["id"] for o in record["objects"]] == ids  # the upstream ids, not renumbered
        gaps += ids != list(range(1, len(ids) + 1))
        assert np.array_equal(decode_objects(record["objects"], 512, 512), labels.astype(np.int32))
        for obj, mask in zip(record["objects"], decode_masks(record["objects"])):
            expected = labels == obj["id"]
            assert np.array_equal(mask, expected)
            encoded = mask_util.encode(np.asfortranarray(expected.astype(np.uint8)))
            assert obj["segmentation"]["counts"] == encoded["counts"].decode()
            assert obj["area"] == int(expected.sum()) and not obj["iscrowd"]
        assert record["metadata"]["collection"] == ANNOTATORS[annotator][0].split("/")[-1]
    assert gaps >= 1  # the sample has id gaps in every annotation set (checked: each has some)


def test_the_three_annotation_sets_differ_and_the_summed_masks_are_not_read(real, annotated):
    annotator, records, _ = annotated
    adrenal = next(r for r in records if r["image_id"] == "Human_AdrenalGland_01")
    painted = decode_objects(adrenal["objects"], 512, 512)
    for other in ANNOTATORS:
        if other != annotator:
            assert not np.array_equal(painted, upstream_labels(real, other, "Human_AdrenalGland_01"))
    summed = tifffile.imread(real / "Annotator 1 (biologist)" / "label masks" / "Human_AdrenalGland_01.tif")
    assert not np.array_equal(painted, summed)  # overlap pixels hold sums of ids there


def test_images_stored_losslessly(real):
    records, _ = records_of("CryoNuSeg", real)
    for record in records:
        upstream = tifffile.imread(real / "tissue images" / f"{record['image_id']}.tif")
        assert upstream.shape == (512, 512, 3)
        assert np.array_equal(image_pixels(record), upstream)


def test_mpp_from_sheet_and_from_the_tiff_tag_where_the_sheet_is_empty(real):
    records, report = records_of("CryoNuSeg", real)
    meta = {r["image_id"]: r["metadata"] for r in records}
    for stem in TISSUES:
        tag = tiff_mpp(real / "tissue images" / f"{stem}.tif")
        sheet = WSI[stem][2]
        if sheet is not None:  # the sheet's value is kept, and the tag agrees with it
            assert meta[stem]["mpp"] == pytest.approx(sheet, abs=1e-6) and tag == pytest.approx(sheet, rel=1e-5)
    # Human_Testes_01: the sheet gives none; the TIFF tag says 0.2525 um/px
    assert WSI["Human_Testes_01"][2] is None
    assert meta["Human_Testes_01"]["mpp"] == pytest.approx(0.2525, abs=1e-6)
    assert meta["Human_Testes_01"]["mpp"] == pytest.approx(tiff_mpp(real / "tissue images" / "Human_Testes_01.tif"), rel=1e-6)
    # which source gave the value is counted in the build report, naming the image
    assert report.counts() == {TIFF_MPP_NOTE: 1}
    assert [note for note in report.notes if note.startswith(TIFF_MPP_NOTE)] == [
        f"{TIFF_MPP_NOTE}: Human_Testes_01: 0.2525 um/px (Selected_WSIs.xlsx gives none)"
    ]


def test_build_report_records_where_the_mpp_came_from(real, tmp_path, monkeypatch):
    """A real build: the parquet export loads back (local and streaming agree), and its build
    report counts the one pixel size taken from a TIFF tag."""
    loaded = build_and_load("CryoNuSeg", real, tmp_path, monkeypatch)
    assert [r["image_id"] for r in loaded["train"]] == list(TISSUES)
    testes = loaded["train"][-1]
    assert testes["metadata"]["mpp"] == pytest.approx(0.2525, abs=1e-6)
    labels = upstream_labels(real, "1", "Human_Testes_01")
    assert np.array_equal(decode_objects(testes["objects"], 512, 512), labels.astype(np.int32))
    report = json.loads((tmp_path / "nuclei_collection" / ".nuclei_collection" / "CryoNuSeg.json").read_text())
    assert report["splits"]["train"]["counts"] == {TIFF_MPP_NOTE: 1}
