"""Bad input through the shared pipeline (DSB2018 layout): clear errors or counted skips.

Source-specific cases (CSV RLE, XML, .npy, ...) live next to each reader's tests.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from nuclei_collection import BadInputError, build, encode_masks
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train


@pytest.fixture
def raw(tmp_path):
    root = tmp_path / "raw"
    ids = write_dsb2018_stage1_train(root, n_images=3, seed=11)
    return root, ids


def first_mask(root, image_id):
    return sorted((root / image_id / "masks").glob("*.png"))[0]


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_image_png_names_the_file(raw, tmp_path):
    root, ids = raw
    image = root / ids[1] / "images" / f"{ids[1]}.png"
    truncate(image)
    with pytest.raises(BadInputError) as error:
        build("nuclei_stage1_train", data_dir=root, out=tmp_path / "out")
    assert str(image) in str(error.value) and "cannot decode" in str(error.value)
    assert not (tmp_path / "out" / "nuclei_stage1_train").exists()


def test_truncated_and_empty_mask_files_name_the_file(raw, tmp_path):
    root, ids = raw
    mask = first_mask(root, ids[0])
    truncate(mask, 0.6)
    with pytest.raises(BadInputError, match=mask.name):
        build("nuclei_stage1_train", data_dir=root, out=tmp_path / "out")
    mask.write_bytes(b"")  # a zero-byte file
    with pytest.raises(BadInputError, match=mask.name):
        build("nuclei_stage1_train", data_dir=root, out=tmp_path / "out")


def test_html_page_saved_as_png_is_named(raw, tmp_path):
    root, ids = raw
    mask = first_mask(root, ids[2])
    mask.write_text("<!DOCTYPE html><html><body>404</body></html>")
    with pytest.raises(BadInputError, match="not a readable image"):
        build("nuclei_stage1_train", data_dir=root, out=tmp_path / "out")


def test_all_zero_mask_is_a_counted_skip(raw, tmp_path):
    root, ids = raw
    mask = first_mask(root, ids[0])
    n_masks = len(list((root / ids[0] / "masks").glob("*.png")))
    Image.fromarray(np.zeros(np.array(Image.open(mask)).shape, np.uint8)).save(mask)
    (report,) = build("nuclei_stage1_train", data_dir=root, out=tmp_path / "out")
    assert report.splits["train"]["notes"] == 1
    table = pq.read_table(next((tmp_path / "out" / "nuclei_stage1_train").glob("*.parquet")))
    row = table.to_pylist()[[r["image_id"] for r in table.to_pylist()].index(ids[0])]
    assert len(row["objects"]) == n_masks - 1


def test_image_without_masks_is_a_counted_skip(raw, tmp_path):
    root, ids = raw
    shutil.rmtree(root / ids[0] / "masks")
    (report,) = build("nuclei_stage1_train", data_dir=root, out=tmp_path / "out")
    assert report.splits["train"]["records"] == 2
    assert [s[0] for s in report.splits["train"]["skipped"]] == [ids[0]]


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that stores raw bytes in names")
def test_non_utf8_and_space_names_are_stored_readably(tmp_path):
    root = tmp_path / "raw with spaces"
    (image_id,) = write_dsb2018_stage1_train(root, n_images=1, seed=12)
    odd = os.fsdecode(b"nucleus \xff\xfe")  # not valid UTF-8
    (root / image_id).rename(root / odd)
    (root / odd / "images" / f"{image_id}.png").rename(root / odd / "images" / f"{odd}.png")
    (report,) = build("nuclei_stage1_train", data_dir=root, out=tmp_path / "out")
    assert report.splits["train"]["records"] == 1
    row = pq.read_table(next((tmp_path / "out" / "nuclei_stage1_train").glob("*.parquet"))).to_pylist()[0]
    assert row["image_id"] == "nucleus \\xff\\xfe"
    assert row["metadata"]["upstream_path"] == "nucleus \\xff\\xfe/images/nucleus \\xff\\xfe.png"


def test_all_zero_ground_truth_is_kept_and_counted(tmp_path):
    from fixtures.histology import write_tnbc
    from nuclei_collection_builders.pipeline import EMPTY_GROUND_TRUTH

    raw = tmp_path / "raw"
    write_tnbc(raw, counts=(2,))
    gt = sorted((raw / "TNBC_NucleiSegmentation").glob("GT_*/*.png"))[0]
    Image.fromarray(np.zeros(np.array(Image.open(gt)).shape[:2], np.uint8)).save(gt)
    (report,) = build("TNBC_NucleiSegmentation", data_dir=raw, out=tmp_path / "out")
    stats = report.splits["train"]
    assert stats["records"] == 2 and stats["counts"] == {EMPTY_GROUND_TRUTH: 1}
    assert f"{EMPTY_GROUND_TRUTH} 1" in (tmp_path / "out" / "README.md").read_text()


def test_duplicate_object_ids_name_the_file():
    from nuclei_collection_builders.base import Sample
    from nuclei_collection_builders.schema import to_record

    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    (obj,) = encode_masks(mask[None])
    sample = Sample(
        image_id="x",
        image=np.zeros((4, 4), np.uint8),
        objects=[obj, dict(obj)],
        metadata={"upstream_path": "folder/x.png"},
    )
    with pytest.raises(BadInputError, match=r"folder/x.png: object id\(s\) \[1\] occur more than once"):
        to_record(sample)


def test_pillow_warning_becomes_part_of_our_error_not_a_console_line(tmp_path):
    """A truncated TIFF whose directory is cut: Pillow warns "Corrupt EXIF data", then fails."""
    from nuclei_collection_builders.raster import read_image

    path = tmp_path / "cut.tif"
    Image.fromarray((np.arange(120 * 160) % 4096).astype(np.uint16).reshape(120, 160)).save(path, compression="tiff_lzw")
    truncate(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(BadInputError, match="Corrupt EXIF data") as error:
            read_image(path)
    assert str(path) in str(error.value)
    assert [str(w.message) for w in caught] == []
