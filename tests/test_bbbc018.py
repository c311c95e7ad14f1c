"""BBBC018 on a generated tree in the official layout (Cellomics DIBs; no real sample is available)."""

from __future__ import annotations

import pytest

from fixtures.bbbc018 import FIELDS, NO_OUTLINES, PAINTED, write_bbbc018
from fixtures.records import assert_same_objects, image_pixels, records_of
from nuclei_collection_builders.sources.bbbc018 import BBBC018


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("bbbc018")
    return root, write_bbbc018(root)


def test_dib_images_and_filled_outlines(tree):
    root, truth = tree
    records, report = records_of("BBBC018", root)
    assert [r["image_id"] for r in records] == [f for f in FIELDS if f != NO_OUTLINES]
    assert report.skipped == [
        (NO_OUTLINES, f"no outline file BBBC018_v1_outlines/{NO_OUTLINES}-nuclei.png (known for 10779)")
    ]
    for record in records:
        masks, dna = truth[record["image_id"]]
        assert_same_objects(record, masks)
        pixels = image_pixels(record)
        assert pixels.dtype.itemsize == 2 and (pixels == dna).all()  # 16-bit DNA, file row order
        meta = record["metadata"]
        assert (
            meta["stain"] == "Hoechst 33342"
            and meta["upstream_path"] == f"BBBC018_v1_images/{record['image_id']}-DNA.DIB"
        )
        assert [c["name"] for c in meta["other_channels"]] == ["actin", "pH3"]


def test_painted_annotation_keeps_only_white(tree):
    root, truth = tree
    records, report = records_of("BBBC018", root)
    (painted,) = [r for r in records if r["image_id"] == PAINTED]
    assert_same_objects(painted, truth[PAINTED][0])
    assert [n for n in report.notes if "pure white" in n] and all(PAINTED in n for n in report.notes)


def test_flip_option_turns_outlines_upside_down(tree):
    root, truth = tree
    records, _ = records_of("BBBC018", root, flip_outlines="true")
    record = records[0]
    flipped = [mask[::-1] for mask in truth[record["image_id"]][0]]
    assert_same_objects(record, flipped)


@pytest.mark.parametrize("value", ["maybe", 2, None])
def test_flip_option_must_be_boolean(value):
    with pytest.raises(ValueError, match="flip_outlines"):
        BBBC018(flip_outlines=value)


def test_outlines_of_a_field_without_any_image_are_counted(tmp_path):
    write_bbbc018(tmp_path, seed=3)
    for channel in ("DNA", "actin", "pH3"):
        (tmp_path / "BBBC018_v1_images" / f"20585-{channel}.DIB").unlink()
    records, report = records_of("BBBC018", tmp_path)
    assert "20585" not in {r["image_id"] for r in records}
    assert ("20585", "outline BBBC018_v1_outlines/20585-nuclei.png has no image BBBC018_v1_images/20585-*.DIB") in (
        report.skipped
    )
    # cell outlines are not nucleus annotations: never counted
    assert not [s for s in report.skipped if "cells" in s[1]]
