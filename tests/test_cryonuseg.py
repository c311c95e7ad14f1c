"""CryoNuSeg reader: the three annotation sets (option annotator, default annotator 1), doubly
nested folders, 'label masks modify' with upstream ids, slide metadata from the authors' sheet."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
from pycocotools import mask as mask_util

from fixtures.cryonuseg import ANNOTATOR_DIRS, BIOINFORMATICIAN, write_cryonuseg
from fixtures.records import image_pixels, records_of
from nuclei_collection import BadInputError, MissingDataError, decode_objects
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.cryonuseg import MPP_DISAGREEMENT_NOTE, TIFF_MPP_NOTE, tiff_mpp


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cryonuseg")
    return root, write_cryonuseg(root)


@pytest.mark.parametrize("annotator", ["1", "1-round2", "2"])
def test_each_annotator_pixel_exact(tree, annotator):
    root, truth = tree
    records, report = records_of("CryoNuSeg", root, annotator=annotator)
    assert [r["image_id"] for r in records] == list(truth[annotator]) and not report.skipped
    for record in records:
        expected = truth[annotator][record["image_id"]]
        assert [o["id"] for o in record["objects"]] == [int(v) for v in np.unique(expected) if v]
        assert np.array_equal(decode_objects(record["objects"], record["height"], record["width"]), expected)
        for obj in record["objects"]:
            encoded = mask_util.encode(np.asfortranarray((expected == obj["id"]).astype(np.uint8)))
            assert obj["segmentation"]["counts"] == encoded["counts"].decode()
        assert not any(o["iscrowd"] for o in record["objects"])
        assert record["metadata"]["collection"] == ANNOTATOR_DIRS[annotator].split("/")[-1]
    # the three annotation sets really are different labels of the same images
    assert not np.array_equal(truth["1"]["Human_Larynx_02"], truth[annotator]["Human_Larynx_02"]) or annotator == "1"


def test_default_is_annotator_1_and_other_annotators_export_under_their_own_name(tree):
    root, _ = tree
    assert prepare("CryoNuSeg", root).name == "CryoNuSeg"
    assert prepare("CryoNuSeg", root, {"annotator": "2"}).name == "CryoNuSeg_annotator_2"
    assert prepare("CryoNuSeg", root, {"annotator": "1-round2"}).name == "CryoNuSeg_annotator_1_round2"
    with pytest.raises(ValueError, match="annotator must be one of"):
        prepare("CryoNuSeg", root, {"annotator": "3"})


def test_metadata_from_the_authors_sheet(tree):
    root, _ = tree
    records, _ = records_of("CryoNuSeg", root)
    meta = {r["image_id"]: r["metadata"] for r in records}
    adrenal = meta["Human_AdrenalGland_01"]
    assert (adrenal["organ"], adrenal["patient_id"], adrenal["mpp"], adrenal["magnification"]) == (
        "adrenal gland",
        "TCGA-TT-A6YO",
        pytest.approx(0.2485),
        40.0,
    )
    assert adrenal["slide_id"] == "31a0bdbe-f277-4c51-af05-ede0a8603026"
    assert meta["Human_Testes_01"]["mpp"] is None  # the sheet gives none: null, never a guess
    assert meta["Human_Larynx_02"]["upstream_path"] == "tissue images/Human_Larynx_02.tif"
    assert adrenal["license"] == "not stated upstream" and adrenal["stain"] == "H&E"
    # the RGBA tif (constant alpha) is stored as RGB
    assert image_pixels(records[1]).shape == (64, 64, 3)


def test_singly_nested_and_flat_layouts(tmp_path):
    truth = write_cryonuseg(tmp_path)
    nested = tmp_path / BIOINFORMATICIAN
    shutil.move(nested / BIOINFORMATICIAN, tmp_path / "tmp")
    shutil.rmtree(nested)
    shutil.move(tmp_path / "tmp", nested)  # "Annotator 2 (...)/label masks modify" nested once
    records, _ = records_of("CryoNuSeg", tmp_path, annotator="2")
    assert np.array_equal(decode_objects(records[0]["objects"], 64, 64), truth["2"]["Human_AdrenalGland_01"])
    # an older Kaggle version: 'label masks modify' beside 'tissue images', no annotator folders
    flat = tmp_path / "flat"
    shutil.copytree(tmp_path / "tissue images", flat / "tissue images")
    shutil.copytree(tmp_path / "Annotator 1 (biologist)" / "label masks modify", flat / "label masks modify")
    records, _ = records_of("CryoNuSeg", flat)
    assert records[0]["metadata"]["collection"] is None
    assert np.array_equal(decode_objects(records[0]["objects"], 64, 64), truth["1"]["Human_AdrenalGland_01"])


def test_missing_annotator_folder_and_manual_instructions(tmp_path):
    write_cryonuseg(tmp_path)
    shutil.rmtree(tmp_path / BIOINFORMATICIAN)
    with pytest.raises(MissingDataError, match=r"annotator=2"):
        prepare("CryoNuSeg", tmp_path, {"annotator": "2"})
    with pytest.raises(MissingDataError, match="kaggle.com/datasets/ipateam/segmentation-of-nuclei"):
        prepare("CryoNuSeg", cache_dir=tmp_path / "cache")


def test_bad_label_masks(tmp_path):
    write_cryonuseg(tmp_path)
    label = tmp_path / "Annotator 1 (biologist)" / "label masks modify" / "Human_Larynx_02.tif"
    label.write_bytes(label.read_bytes()[:100])
    with pytest.raises(BadInputError, match=r"Human_Larynx_02\.tif"):
        records_of("CryoNuSeg", tmp_path)
    label.unlink()  # image without label mask: counted skip
    records, report = records_of("CryoNuSeg", tmp_path)
    assert len(records) == 2 and [i for i, _ in report.skipped] == ["Human_Larynx_02"]


def calibrated_tiff(path, pixels, mpp, **calibration):
    """An RGB TIFF as ImageJ saves a calibrated image (``unit=`` in the description), or as given."""
    if not calibration:
        calibration = {"imagej": True, "resolution": (1 / mpp, 1 / mpp), "metadata": {"unit": "\\u00B5m"}}
    tifffile.imwrite(path, pixels, photometric="rgb", **calibration)


def test_tiff_resolution_tag_rules(tmp_path):
    pixels = np.zeros((8, 8, 3), np.uint8)
    calibrated_tiff(tmp_path / "imagej.tif", pixels, 0.2525)
    assert tiff_mpp(tmp_path / "imagej.tif") == 0.2525  # 1 / 3.960396..., rounded to 6 digits
    calibrated_tiff(tmp_path / "cm.tif", pixels, None, resolution=(40000, 40000), resolutionunit="CENTIMETER")
    assert tiff_mpp(tmp_path / "cm.tif") == 0.25
    # inches (72 dpi: many writers' default, the label masks' value) and no unit at all say nothing
    calibrated_tiff(tmp_path / "inch.tif", pixels, None, resolution=(72, 72), resolutionunit="INCH")
    calibrated_tiff(tmp_path / "none.tif", pixels, None, resolution=(4, 4), resolutionunit="NONE")
    assert tiff_mpp(tmp_path / "inch.tif") is None and tiff_mpp(tmp_path / "none.tif") is None
    (tmp_path / "html.tif").write_text("<!DOCTYPE html><html>404</html>")
    with pytest.raises(BadInputError, match=r"html\.tif: cannot read the TIFF resolution tags"):
        tiff_mpp(tmp_path / "html.tif")


def test_mpp_from_the_tag_only_where_the_sheet_is_empty_and_counted(tmp_path):
    write_cryonuseg(tmp_path)
    images = tmp_path / "tissue images"
    for stem, mpp in (("Human_Testes_01", 0.2525), ("Human_AdrenalGland_01", 0.3), ("Human_Larynx_02", 0.2468)):
        pixels = tifffile.imread(images / f"{stem}.tif")[..., :3]
        calibrated_tiff(images / f"{stem}.tif", pixels, mpp)
    records, report = records_of("CryoNuSeg", tmp_path)
    meta = {r["image_id"]: r["metadata"] for r in records}
    assert meta["Human_Testes_01"]["mpp"] == pytest.approx(0.2525)  # the sheet has none: the tag's value
    assert meta["Human_AdrenalGland_01"]["mpp"] == pytest.approx(0.2485)  # the sheet wins over a wrong tag ...
    assert meta["Human_Larynx_02"]["mpp"] == pytest.approx(0.2468)
    assert report.counts() == {TIFF_MPP_NOTE: 1, MPP_DISAGREEMENT_NOTE: 1}  # ... and the disagreement is counted
    assert f"{MPP_DISAGREEMENT_NOTE}: Human_AdrenalGland_01: sheet 0.2485, TIFF tag 0.3 um/px (the sheet's value is kept)" in report.notes
