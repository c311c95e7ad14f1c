"""BBBC006: real labels + real 16-bit TIFFs (renamed into the official layout), generated z-stacks."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from PIL import Image

from conftest import realdata_path
from fixtures.bbbc006 import EMPTY_FIELD, PLATE, write_bbbc006
from fixtures.records import assert_label_map, image_pixels, records_of
from nuclei_collection import MissingDataError
from nuclei_collection_builders.sources.bbbc006 import BBBC006

REAL_FIELD = re.compile(r"mcf-z-stacks-03212011_(?P<well>[a-p]\d{2})_s(?P<site>\d)_w(?P<rest>.+)\.(tif|png)$")


@pytest.fixture(scope="module")
def real_tree(tmp_path_factory):
    """The real sample under official names, as symlinks (read in place, nothing copied).

    The sample's images are plane-00 TIFFs named ``00_<official stem>.tif``; its label PNGs
    carry a channel/UUID part the official labels do not have (see realdata/README.md).
    """
    data = realdata_path("bbbc006")
    root = tmp_path_factory.mktemp("bbbc006_real")
    (root / "BBBC006_v1_images_z_00").mkdir()
    (root / "BBBC006_v1_labels").mkdir()
    for path in sorted((data / "images").glob("00_*.tif")):
        (root / "BBBC006_v1_images_z_00" / path.name.removeprefix("00_")).symlink_to(path)
    for path in sorted((data / "labels").glob("*.png")):
        match = REAL_FIELD.search(path.name)
        (root / "BBBC006_v1_labels" / f"{PLATE}_{match['well']}_s{match['site']}.png").symlink_to(path)
    return root


def test_real_sample_is_pixel_exact(real_tree):
    records, report = records_of("BBBC006", real_tree, z=0)
    assert [r["image_id"] for r in records] == [f"{PLATE}_{f}_z00" for f in ("i05_s2", "i07_s2", "i16_s2")]
    # Two real label images have no image in the sample: counted skips, not errors.
    assert sorted(item for item, _ in report.skipped) == [f"{PLATE}_i01_s1_z00", f"{PLATE}_i18_s2_z00"]
    assert [len(r["objects"]) for r in records] == [116, 29, 163]
    for record in records:
        field = record["image_id"].removeprefix(PLATE + "_").removesuffix("_z00")
        label = np.asarray(Image.open(real_tree / "BBBC006_v1_labels" / f"{PLATE}_{field}.png"))
        assert_label_map(record, label)
        (tif,) = (real_tree / "BBBC006_v1_images_z_00").glob(f"*_{field}_w1*.tif")
        upstream = np.asarray(Image.open(tif))
        stored = image_pixels(record)
        assert stored.dtype == np.uint16 and np.array_equal(stored, upstream)  # 16-bit kept
        meta = record["metadata"]
        assert meta["z_plane"] == 0 and meta["stain"] == "Hoechst" and meta["license"] == "CC0-1.0"
        assert meta["upstream_path"] == f"BBBC006_v1_images_z_00/{tif.name}"


def test_real_tree_without_the_default_plane_names_it(real_tree):
    with pytest.raises(MissingDataError, match="BBBC006_v1_images_z_16 is missing.*present: BBBC006_v1_images_z_00"):
        records_of("BBBC006", real_tree)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return write_bbbc006(tmp_path_factory.mktemp("bbbc006_gen") / "BBBC006")


def test_default_plane_16_pairs_by_well_site_channel(generated):
    records, report = records_of("BBBC006", generated.root.parent)  # found below data_dir/BBBC006
    assert [r["image_id"] for r in records] == [
        f"{PLATE}_{w}_s{s}_z16" for w, s in (("a01", 1), ("a01", 2), ("p22", 1))
    ]
    assert not report.skipped
    for record in records:
        well, site = record["image_id"].split("_")[-3], int(record["image_id"].split("_")[-2][1:])
        assert_label_map(record, generated.labels[(well, site)])
        assert np.array_equal(image_pixels(record), generated.images[(well, site, 16)])
        (actin,) = record["metadata"]["other_channels"]
        assert actin["path"].startswith(f"BBBC006_v1_images_z_16/{PLATE}_{well}_s{site}_w2")
    empty = records[-1]
    # counted once, by the pipeline (the reader adds no second note of its own)
    assert empty["objects"] == [] and report.counts() == {"empty ground truth": 1}
    assert [note for note in report.notes if empty["image_id"] in note] == [
        f"empty ground truth: {empty['image_id']}: fully annotated image without any object (kept)"
    ]
    assert f"{EMPTY_FIELD[0]}_s{EMPTY_FIELD[1]}" in empty["image_id"]


def test_all_planes_one_record_per_plane(generated):
    records, report = records_of("BBBC006", generated.root, z="all")
    assert [r["metadata"]["z_plane"] for r in records] == [15, 15, 15, 16, 16, 16, 17, 17]
    well, site, z = generated.missing_w1
    assert report.skipped == [
        (f"{PLATE}_{well}_s{site}_z{z}", f"no w1 (Hoechst) image for this field in BBBC006_v1_images_z_{z}/")
    ]
    for record in records:
        well, site = record["image_id"].split("_")[-3], int(record["image_id"].split("_")[-2][1:])
        z = record["metadata"]["z_plane"]
        assert np.array_equal(image_pixels(record), generated.images[(well, site, z)])
        assert_label_map(record, generated.labels[(well, site)])  # one label image for every plane
    single, _ = records_of("BBBC006", generated.root, z=15)
    assert [r["image_id"] for r in single] == [r["image_id"] for r in records[:3]]


@pytest.mark.parametrize("bad", ["x", -1, 1.5, True, "16a"])
def test_bad_plane_option(bad):
    with pytest.raises(ValueError, match="option z"):
        BBBC006(z=bad)


def test_downloads_follow_the_plane_option():
    assert [d.filename for d in BBBC006().downloads] == ["BBBC006_v1_labels.zip", "BBBC006_v1_images_z_16.zip"]
    assert BBBC006(z="16").downloads == BBBC006().downloads
    everything = BBBC006(z="all").downloads
    assert len(everything) == 35 and everything[-1].url.endswith("/BBBC006/BBBC006_v1_images_z_33.zip")
    assert everything[0].sha256 == "2d3ec4e5a3ec0bb94820c9bcd6f102821862f526df2552ff9065a75b1c5e33ac"


def test_label_not_named_like_a_field_is_counted(tmp_path, caplog):
    write_bbbc006(tmp_path / "BBBC006", planes=(16,))
    labels = tmp_path / "BBBC006" / "BBBC006_v1_labels"
    stray = next(labels.glob("*.png"))
    stray.rename(labels / "copy of labels.png")
    with caplog.at_level(logging.INFO, logger="nuclei_collection"):
        records, report = records_of("BBBC006", tmp_path)
    # Skips are warned about once, in the end-of-split summary of whoever writes the export,
    # not per item as well (the reader and the pipeline log none of them at warning level).
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    skipped = dict(report.skipped)
    assert "copy of labels" in skipped and "BBBC006_v1_labels/copy of labels.png" in skipped["copy of labels"]
    # the field that lost its label is a counted skip as well
    field = stray.stem
    assert skipped[f"{field}_z16"] == "no label image in BBBC006_v1_labels/ for this field"
