"""BBBC020 on a generated tree in the official layout (spaces, typo folder, corrupt file)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from fixtures.bbbc020 import CORRUPT, FIELDS, write_bbbc020
from fixtures.records import image_pixels, records_of
from nuclei_collection import BadInputError, MissingDataError, decode_masks
from nuclei_collection_builders.sources.bbbc020 import BBBC020


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("bbbc020")
    return root, write_bbbc020(root)


def test_masks_in_numeric_order_pixel_exact(tree):
    root, expected = tree
    records, report = records_of("BBBC020", root)
    assert [r["image_id"] for r in records] == ["jw-15min 5_c5", "jw-1h 2_c5", "jw-Kontrolle1_c5"]
    assert report.skipped == [
        ("jw-30min 1_c5", "no nucleus masks upstream (unannotated field; option unannotated=keep)")
    ]
    for record in records:
        field = record["image_id"].removesuffix("_c5")
        masks = expected[field]
        decoded = decode_masks(record["objects"])
        assert len(decoded) == len(masks)
        for obj, mask, got in zip(record["objects"], masks, decoded):
            assert np.array_equal(got, mask), (field, obj["id"])  # id k = k-th mask file by number
            assert obj["area"] == int(mask.sum())
        image = np.asarray(Image.open(root / "BBBC020_v1_images" / field / f"{field}_c5.TIF"))
        assert np.array_equal(image_pixels(record), image)
        meta = record["metadata"]
        assert meta["upstream_path"] == f"BBBC020_v1_images/{field}/{field}_c5.TIF"
        assert meta["stain"] == "DAPI" and meta["license"] == "CC-BY-3.0"
        assert [c["path"] for c in meta["other_channels"]] == [
            f"BBBC020_v1_images/{field}/{field}_c1.TIF",
            f"BBBC020_v1_images/{field}/{field}_(c1+c5).TIF",
        ]
    overlaps = sum(int(decode_masks(r["objects"]).sum(axis=0).max() > 1) for r in records)
    assert overlaps > 0  # overlapping nuclei stay separate objects


def test_known_corrupt_mask_is_a_counted_skip_and_makes_the_field_partial(tree):
    root, expected = tree
    records, report = records_of("BBBC020", root)
    field, number = CORRUPT
    (record,) = [r for r in records if r["image_id"] == f"{field}_c5"]
    assert len(record["objects"]) == FIELDS[field] - 1 == len(expected[field])
    assert record["metadata"]["annotation"] == "partial"
    assert [n for n in report.notes if "corrupt" in n] == [
        f"{field}_c5: known corrupt upstream mask skipped: {field}_c5_{number}.TIF "
        "(not a readable image (unknown format or not an image at all))"
    ]
    assert {r["metadata"]["annotation"] for r in records if r is not record} == {"complete"}


def test_unannotated_fields_can_be_kept(tree):
    root, _ = tree
    records, report = records_of("BBBC020", root, unannotated="keep")
    (kept,) = [r for r in records if r["image_id"] == "jw-30min 1_c5"]
    assert kept["objects"] == [] and kept["metadata"]["annotation"] == "none"
    assert len(records) == 4 and not report.skipped
    with pytest.raises(ValueError, match="unannotated"):
        BBBC020(unannotated="maybe")


def test_other_unreadable_masks_are_errors(tmp_path):
    write_bbbc020(tmp_path, seed=1)
    bad = tmp_path / "BBC020_v1_outlines_nuclei" / "jw-1h 2_c5_3.TIF"
    bad.write_bytes(bad.read_bytes()[:300])  # truncated: not in the list of known-corrupt files
    with pytest.raises(BadInputError, match="jw-1h 2_c5_3.TIF"):
        records_of("BBBC020", tmp_path)


def test_missing_mask_folder_names_the_upstream_spelling(tmp_path):
    (tmp_path / "BBBC020_v1_images" / "jw-1h 1").mkdir(parents=True)
    with pytest.raises(MissingDataError, match="BBC020_v1_outlines_nuclei/ is missing"):
        records_of("BBBC020", tmp_path)


def test_masks_of_a_field_without_image_folder_are_counted_not_dropped(tmp_path):
    write_bbbc020(tmp_path, seed=2)
    shutil.rmtree(tmp_path / "BBBC020_v1_images" / "jw-1h 2")  # masks stay, image folder gone
    (tmp_path / "BBC020_v1_outlines_nuclei" / "notes.txt").write_text("not a mask")
    records, report = records_of("BBBC020", tmp_path)
    assert "jw-1h 2_c5" not in {r["image_id"] for r in records}
    skipped = dict(report.skipped)
    assert skipped["jw-1h 2_c5"] == (
        "no image folder BBBC020_v1_images/jw-1h 2/; its 12 nucleus mask file(s) "
        "BBC020_v1_outlines_nuclei/jw-1h 2_c5_<n>.TIF are not used"
    )
    assert "not a nucleus mask" in skipped["BBC020_v1_outlines_nuclei/notes.txt"]
    assert "jw-30min 1_c5" in skipped  # the unannotated field, as before
