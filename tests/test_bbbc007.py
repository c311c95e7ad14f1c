"""BBBC007 on a generated tree in the official layout (no real sample is available)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures.bbbc007 import FIELDS, RGB_DNA, SPECIAL, UNOUTLINED, write_bbbc007
from fixtures.records import assert_same_objects, image_pixels, records_of
from nuclei_collection_builders.sources.bbbc007 import BBBC007


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("bbbc007")
    return root, write_bbbc007(root)


def test_filled_outlines_equal_the_drawn_nuclei(tree):
    root, expected = tree
    records, report = records_of("BBBC007", root)
    assert sorted(r["image_id"] for r in records) == sorted(expected)
    for record in records:
        assert_same_objects(record, expected[record["image_id"]])
    skipped_id = f"{UNOUTLINED[0]}_{UNOUTLINED[1].removesuffix('.tif')}"
    assert [item for item, _ in report.skipped] == [skipped_id]
    assert sum(len(r["objects"]) for r in records) == sum(map(len, expected.values()))


def test_touching_nested_border_and_stray_cases(tree):
    root, expected = tree
    records, _ = records_of("BBBC007", root)
    (special,) = [r for r in records if r["image_id"] == f"A9_{SPECIAL.removesuffix('.tif')}"]
    # The last three expected masks are the two touching rectangles and the nested one; the
    # border-cut nucleus (open at the edge) and the stray stroke give no object.
    *_, left, right, outer = expected[special["image_id"]]
    assert_same_objects(special, expected[special["image_id"]])
    assert (left | right).sum() == left.sum() + right.sum()
    assert outer.sum() == 25 * 30  # filled completely, inner outline included


def test_images_pairs_and_metadata(tree):
    root, _ = tree
    records, _ = records_of("BBBC007", root)
    by_id = {r["image_id"]: r for r in records}
    for folder, dna, actin in FIELDS:
        record = by_id[f"{folder}_{dna.removesuffix('.tif')}"]
        upstream = np.asarray(Image.open(root / "BBBC007_v1_images" / folder / dna))
        assert np.array_equal(image_pixels(record), upstream)  # as stored (RGB stays RGB)
        assert record["metadata"]["upstream_path"] == f"BBBC007_v1_images/{folder}/{dna}"
        assert record["metadata"]["other_channels"] == [
            {"name": "actin", "path": f"BBBC007_v1_images/{folder}/{actin}"}
        ]
        assert record["metadata"]["license"] == "CC0-1.0" and record["metadata"]["annotation"] == "complete"
    assert image_pixels(by_id[f"f113_{RGB_DNA.removesuffix('.tif')}"]).ndim == 3


def test_dna_actin_naming_forms(tmp_path):
    names = ["A9 p10d.tif", "A9 p10f.tif", "x_D_1UL.tif", "x_F_2UL.tif", "y_A02f00d0.tif", "y_A02f00d1.tif", "z.tif"]
    folder = tmp_path / "BBBC007_v1_images" / "f"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")
    items = BBBC007().list_items(tmp_path)["train"]
    pairs = [(Path(i.files["image"]).name, Path(i.files["actin"]).name if i.files["actin"] else None) for i in items]
    assert pairs == [
        ("A9 p10d.tif", "A9 p10f.tif"),
        ("x_D_1UL.tif", "x_F_2UL.tif"),
        ("y_A02f00d0.tif", "y_A02f00d1.tif"),
    ]


def test_inverted_outline_polarity_is_detected(tmp_path):
    root = tmp_path / "raw"
    expected = write_bbbc007(root, seed=3)
    folder, dna, _ = FIELDS[0]
    outline = root / "BBBC007_v1_outlines" / folder / dna
    Image.fromarray(~np.asarray(Image.open(outline))).save(outline)
    records, report = records_of("BBBC007", root)
    (record,) = [r for r in records if r["image_id"] == f"{folder}_{dna.removesuffix('.tif')}"]
    assert_same_objects(record, expected[record["image_id"]])
    assert any("polarity inverted" in note for note in report.notes)


def test_outline_without_its_dna_image_is_counted_cell_outlines_are_not(tmp_path):
    write_bbbc007(tmp_path, seed=4)
    folder, dna, _ = FIELDS[0]
    (tmp_path / "BBBC007_v1_images" / folder / dna).unlink()
    records, report = records_of("BBBC007", tmp_path)
    stem = dna.removesuffix(".tif")
    assert f"{folder}_{stem}" not in {r["image_id"] for r in records}
    skipped = dict(report.skipped)
    assert skipped.pop(f"{folder}_{stem}") == f"annotation BBBC007_v1_outlines/{folder}/{dna} has no image (no record made)"
    # left: only the DNA image without an outline file (as in the intact tree); the actin
    # images' cell outlines are never counted as nucleus annotations
    unoutlined = f"{UNOUTLINED[0]}_{UNOUTLINED[1].removesuffix('.tif')}"
    assert list(skipped) == [unoutlined]
