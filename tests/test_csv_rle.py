"""Kaggle CSV RLE -> COCO RLE: exact against pycocotools and a naive decoder; bad rows named."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import array_shapes, arrays

from fixtures.dsb2018 import decode_kaggle_rle
from nuclei_collection import BadInputError, decode_masks
from nuclei_collection_builders.app.synthetic import ellipse_masks
from nuclei_collection_builders.csv_rle import (
    RleRow,
    encode_kaggle_rle,
    index_csv,
    objects_from_rows,
    parse_runs,
    read_rows,
)


def random_masks(seed, height, width, n=8):
    rng = np.random.default_rng(seed)
    masks = list(ellipse_masks(rng, height, width, n, overlap_pairs=1))
    # Edge cases COCO/Kaggle conversions get wrong: first pixel, last pixel, a full column,
    # runs wrapping from one column into the next.
    corners = np.zeros((height, width), bool)
    corners[0, 0] = corners[-1, -1] = True
    column = np.zeros((height, width), bool)
    column[:, width // 2] = True
    wrap = np.zeros((height, width), bool)
    wrap[height - 3 :, 1] = wrap[:4, 2] = True
    return np.stack([*masks, corners, column, wrap])


@pytest.mark.parametrize("height,width,seed", [(40, 30, 0), (31, 57, 1), (1, 9, 2), (64, 64, 3)])
def test_rows_become_pycocotools_identical_objects(height, width, seed, tmp_path):
    masks = random_masks(seed, height, width) if height > 1 else np.eye(1, 9, 3, dtype=bool)[None]
    rows = [RleRow("img", line, encode_kaggle_rle(m), height, width) for line, m in enumerate(masks, 2)]
    objects, notes = objects_from_rows(rows, height, width, tmp_path / "x.csv")
    assert notes == [] and len(objects) == len(masks)
    assert np.array_equal(decode_masks(objects), masks)
    for obj, row, mask in zip(objects, rows, masks):
        assert np.array_equal(decode_kaggle_rle(row.encoded_pixels, height, width), mask)  # naive oracle
        reference = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert obj["segmentation"] == {"size": [height, width], "counts": reference["counts"].decode()}
        assert obj["area"] == int(mask_util.area(reference)) == int(mask.sum())
        assert obj["bbox"] == mask_util.toBbox(reference).tolist()


def test_touching_runs_are_merged_to_canonical_counts(tmp_path):
    mask = np.zeros((6, 4), bool)
    mask[1:5, 1] = True
    split = RleRow("img", 2, "8 2 10 2")  # the same 4 pixels as two touching runs
    canonical = RleRow("img", 3, encode_kaggle_rle(mask))
    assert canonical.encoded_pixels == "8 4"
    (a,), _ = objects_from_rows([split], 6, 4, tmp_path / "x.csv")
    (b,), _ = objects_from_rows([canonical], 6, 4, tmp_path / "x.csv")
    assert a["segmentation"] == b["segmentation"]


@pytest.mark.parametrize(
    "encoded,reason",
    [
        ("1 2 3", "odd number of values"),
        ("0 3", "pixel numbers start at 1"),
        ("5 0", "lengths must be positive"),
        ("20 6", "beyond the 5x4 image"),
        ("10 2 3 2", "not sorted or overlap"),
        ("3 4 5 2", "not sorted or overlap"),
        ("3 x", "not a non-negative integer"),
        ("3 -2", "not a non-negative integer"),
        ("99999999999999999999 1", "too large"),
    ],
)
def test_bad_rows_name_file_line_and_image(encoded, reason, tmp_path):
    row = RleRow("abc123", 17, encoded)
    with pytest.raises(BadInputError, match=reason) as error:
        parse_runs(row, 5, 4, tmp_path / "labels.csv")
    message = str(error.value)
    assert "labels.csv" in message and "line 17" in message and "abc123" in message


def test_height_width_must_match_the_image(tmp_path):
    row = RleRow("abc", 4, "1 1", height=10, width=20)
    with pytest.raises(BadInputError, match="line 4, image abc: Height 10, Width 20 but the image is 20 high"):
        objects_from_rows([row], 20, 10, tmp_path / "s.csv")


def test_empty_encoded_pixels_give_a_note_not_an_object(tmp_path):
    objects, notes = objects_from_rows([RleRow("a", 2, ""), RleRow("a", 3, "1 2")], 3, 3, tmp_path / "s.csv")
    assert len(objects) == 1 and objects[0]["id"] == 1
    assert notes == ["s.csv line 2: empty EncodedPixels, no object"]


def test_index_streams_offsets_of_non_adjacent_rows(tmp_path):
    path = tmp_path / "s.csv"
    # BOM, CRLF line ends, a blank line, rows of one image split by another image's row.
    path.write_bytes(
        b"\xef\xbb\xbfImageId,EncodedPixels,Height,Width,Usage\r\n"
        b"a,1 2,3,3,Private\r\n"
        b"b,4 1,3,3,Ignored\r\n"
        b"\r\n"
        b"a,5 3,3,3,Private\r\n"
    )
    index = index_csv(path)
    assert index.columns == ("ImageId", "EncodedPixels", "Height", "Width", "Usage")
    assert [line for _, line in index.rows["a"]] == [2, 5]
    assert index.n_rows == 3
    assert index.usages["b"] == {"Ignored": 1}
    assert index.absent(["a"]) == (1, 1)
    rows = read_rows(path, index.rows["a"])
    assert [(r.image_id, r.line, r.encoded_pixels, r.height, r.width, r.usage) for r in rows] == [
        ("a", 2, "1 2", 3, 3, "Private"),
        ("a", 5, "5 3", 3, 3, "Private"),
    ]


@pytest.mark.parametrize(
    "text,reason",
    [
        ("Image,Pixels\na,1 1\n", "line 1: header Image,Pixels lacks column"),
        ("ImageId,EncodedPixels\na,1 1,7\n", "line 2: 3 fields but the header has 2"),
        ("ImageId,EncodedPixels\n,1 1\n", "line 2: empty ImageId"),
        ('ImageId,EncodedPixels\na,"1 1\n', "line 2: malformed CSV"),
        ("ImageId,EncodedPixels,Height,Width\na,1 1,ten,3\n", "line 2, image a: Height 'ten' is not an integer"),
    ],
)
def test_malformed_csv_is_named(text, reason, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(BadInputError, match=reason):
        index = index_csv(path)
        read_rows(path, index.rows["a"])


def test_kaggle_encoding_is_one_based_column_major():
    mask = np.zeros((3, 2), bool)
    mask[1:, 0] = True  # pixels (y=1, x=0), (y=2, x=0) -> numbers 2, 3
    mask[:2, 1] = True  # column 1 starts at number 4: one run wraps across the columns
    assert encode_kaggle_rle(mask) == "2 4"
    mask[0, 1] = False
    assert encode_kaggle_rle(mask) == "2 2 5 1"
    assert encode_kaggle_rle(np.zeros((2, 2), bool)) == ""


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12)))
def test_any_mask_round_trips_through_kaggle_rle(mask):
    height, width = mask.shape
    row = RleRow("img", 2, encode_kaggle_rle(mask), height, width)
    objects, notes = objects_from_rows([row], height, width, "x.csv")
    if not mask.any():
        assert objects == [] and notes  # an empty row is a note, not an object
        return
    (obj,) = objects
    reference = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert obj["segmentation"]["counts"] == reference["counts"].decode()
    assert obj["bbox"] == mask_util.toBbox(reference).tolist()
    assert np.array_equal(decode_kaggle_rle(row.encoded_pixels, height, width), mask)
