"""Shared raster helpers of the outline / mask sources, on hand-made shapes."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from fixtures.bbbc018 import write_cellomics_dib
from fixtures.shapes import blobs_and_drawing, canonical
from nuclei_collection import BadInputError, decode_masks, encode_label_map
from nuclei_collection_builders.formats.instances import sequential_labels
from nuclei_collection_builders.formats.outlines import binary_from_pixels, fill_outlines, pixels_of_colour
from nuclei_collection_builders.sources.bbbc018 import read_cellomics_dib


def draw(shape, *rectangles):
    """Outline drawing of rectangles given as (top, left, bottom, right), inclusive."""
    canvas = np.zeros(shape, dtype=bool)
    for top, left, bottom, right in rectangles:
        canvas[top, left : right + 1] = canvas[bottom, left : right + 1] = True
        canvas[top : bottom + 1, left] = canvas[top : bottom + 1, right] = True
    return canvas


def box(shape, top, left, bottom, right):
    mask = np.zeros(shape, dtype=bool)
    mask[top : bottom + 1, left : right + 1] = True
    return mask


def test_closed_outline_becomes_the_filled_shape_with_its_contour():
    labels, notes = fill_outlines(draw((12, 12), (2, 3, 8, 9)))
    assert notes == []
    assert np.array_equal(labels, box((12, 12), 2, 3, 8, 9).astype(np.int32))
    interior_only, _ = fill_outlines(draw((12, 12), (2, 3, 8, 9)), include_outline=False)
    assert np.array_equal(interior_only > 0, box((12, 12), 3, 4, 7, 8))


def test_nested_outlines_fill_into_one_object():
    shape = (20, 20)
    drawing = draw(shape, (1, 1, 18, 18), (5, 5, 12, 12), (7, 7, 9, 9))  # three nested loops
    labels, _ = fill_outlines(drawing)
    assert labels.max() == 1
    assert np.array_equal(labels == 1, box(shape, 1, 1, 18, 18))


def test_touching_outlines_stay_separate_and_share_their_wall():
    shape = (10, 16)
    drawing = draw(shape, (1, 1, 8, 7), (1, 7, 8, 14))  # one wall (column 7) shared
    labels, _ = fill_outlines(drawing)
    assert labels.max() == 2
    assert np.array_equal(labels == 1, box(shape, 1, 1, 8, 6))
    # The shared wall goes to the higher label; the two objects never overlap.
    assert np.array_equal(labels == 2, box(shape, 1, 7, 8, 14))
    # Side by side walls (no shared pixel): each object keeps its own contour.
    labels, _ = fill_outlines(draw(shape, (1, 1, 8, 6), (1, 7, 8, 14)))
    assert np.array_equal(labels == 1, box(shape, 1, 1, 8, 6))
    assert np.array_equal(labels == 2, box(shape, 1, 7, 8, 14))


def test_open_outlines_and_stray_strokes_enclose_nothing():
    shape = (14, 14)
    c_shape = draw(shape, (2, 2, 10, 10))
    c_shape[5:8, 10] = False  # a gap in the right side
    labels, _ = fill_outlines(c_shape)
    assert not labels.any()
    # A stroke attached to a closed outline from outside does not join the object.
    drawing = draw(shape, (2, 2, 8, 8))
    drawing[5, 9:13] = True
    labels, _ = fill_outlines(drawing)
    assert np.array_equal(labels == 1, box(shape, 2, 2, 8, 8)) and labels.max() == 1


def test_diagonal_steps_close_a_curve():
    # An 8-connected diamond: the interior is closed for 4-connected regions.
    shape = (9, 9)
    drawing = np.zeros(shape, dtype=bool)
    for k in range(4):
        drawing[4 - k, k] = drawing[4 + k, k] = drawing[4 - k, 8 - k] = drawing[4 + k, 8 - k] = True
    drawing[0, 4] = drawing[8, 4] = True
    labels, _ = fill_outlines(drawing)
    assert labels.max() == 1
    assert labels[4, 4] == 1 and labels[4, 0] == 1 and labels[0, 0] == 0


def test_one_pixel_objects_and_min_area():
    shape = (10, 14)
    drawing = draw(shape, (1, 1, 3, 3))  # encloses exactly one pixel
    drawing[6, 6] = True  # a dot encloses nothing
    drawing[6:8, 10:12] = True  # a 2x2 block encloses nothing
    labels, _ = fill_outlines(drawing)
    assert labels.max() == 1 and np.array_equal(labels == 1, box(shape, 1, 1, 3, 3))
    only_interior, _ = fill_outlines(drawing, include_outline=False)
    assert only_interior.sum() == 1 and only_interior[2, 2] == 1
    assert not fill_outlines(drawing, min_area=10)[0].any()


def test_objects_at_the_border():
    shape = (10, 12)
    # Traced along the image edge: closed, kept (edge pixels included).
    closed = draw(shape, (0, 0, 5, 5))
    labels, _ = fill_outlines(closed)
    assert np.array_equal(labels == 1, box(shape, 0, 0, 5, 5))
    # Traced only inside the image (open at the edge): encloses nothing, dropped.
    open_at_edge = np.zeros(shape, dtype=bool)
    open_at_edge[4, 6:] = True
    open_at_edge[4:, 6] = True
    labels, _ = fill_outlines(open_at_edge)
    assert not labels.any()


def test_a_frame_round_the_image_is_not_an_object():
    shape = (16, 16)
    drawing = draw(shape, (0, 0, 15, 15), (4, 4, 9, 9))
    labels, notes = fill_outlines(drawing)
    assert labels.max() == 1 and np.array_equal(labels == 1, box(shape, 4, 4, 9, 9))
    assert notes and "largest region is background" in notes[0]


@pytest.mark.parametrize("seed", range(4))
def test_random_separated_shapes_round_trip_exactly(seed):
    masks, drawing = blobs_and_drawing(np.random.default_rng(seed), (160, 200), 20)
    labels, _ = fill_outlines(drawing)
    assert labels.max() == len(masks)
    assert canonical(decode_masks(encode_label_map(labels))) == canonical(masks)


def test_sequential_labels():
    labels = np.array([[0, 5, 5], [2, 0, 9]], dtype=np.uint8)
    assert np.array_equal(sequential_labels(labels), [[0, 2, 2], [1, 0, 3]])
    assert np.array_equal(sequential_labels(labels, min_area=2), [[0, 1, 1], [0, 0, 0]])
    contiguous = np.array([[1, 2], [0, 2]], dtype=np.uint8)
    assert sequential_labels(contiguous) is contiguous  # already 1..N: untouched


def test_binary_from_pixels():
    mask = np.zeros((4, 5), dtype=bool)
    mask[1, 1:4] = True
    for pixels in (mask, mask.astype(np.uint8) * 255, mask.astype(np.uint8), np.dstack([mask * 255] * 3)):
        result, note = binary_from_pixels(np.asarray(pixels))
        assert np.array_equal(result, mask) and note is None
    painted = np.full((4, 5), 120, dtype=np.uint8)
    painted[0, 0] = 30
    painted[mask] = 255
    result, note = binary_from_pixels(painted)
    assert np.array_equal(result, mask) and "pure white" in note
    empty, note = binary_from_pixels(np.zeros((3, 3), np.uint8))
    assert not empty.any() and note is None


def test_pixels_of_colour():
    pixels = np.zeros((2, 3, 3), dtype=np.uint8)
    pixels[0, 1] = (255, 0, 0)
    pixels[1, 2] = (255, 0, 1)  # not pure red
    assert np.array_equal(pixels_of_colour(pixels, (255, 0, 0)), [[False, True, False], [False, False, False]])


def test_cellomics_dib_is_read_losslessly_in_file_row_order(tmp_path):
    pixels = (np.arange(7 * 5, dtype=np.uint16).reshape(7, 5) * 117) % 4096
    path = tmp_path / "1-DNA.DIB"
    write_cellomics_dib(path, pixels)
    decoded = read_cellomics_dib(path)
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, pixels)
    # What Pillow makes of the same file: RGB565 colour, rows upside down, values cut to 6 bits.
    with Image.open(path) as pillow:
        assert pillow.mode == "RGB"
        green = np.asarray(pillow)[..., 1]
    assert not np.array_equal(green, pixels)
    assert np.array_equal(green[::-1] >> 2, (pixels >> 5) & 0x3F)


def test_cellomics_dib_without_masks_and_bad_files(tmp_path):
    pixels = np.arange(6 * 3, dtype=np.uint16).reshape(6, 3)  # odd width: rows padded to 4 bytes
    padded = np.zeros((6, 4), dtype="<u2")
    padded[:, :3] = pixels
    header = struct.pack("<IiiHHIIiiII", 40, 3, 6, 1, 16, 0, padded.nbytes, 0, 0, 0, 0)
    (tmp_path / "plain.DIB").write_bytes(header + padded.tobytes())
    assert np.array_equal(read_cellomics_dib(tmp_path / "plain.DIB"), pixels)
    (tmp_path / "cut.DIB").write_bytes(header + padded.tobytes()[:-5])
    with pytest.raises(BadInputError, match="cut.DIB.*does not fit"):
        read_cellomics_dib(tmp_path / "cut.DIB")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, format="DIB")  # 24-bit colour DIB
    (tmp_path / "colour.DIB").write_bytes(buffer.getvalue())
    with pytest.raises(BadInputError, match="unsupported DIB: 24 bits"):
        read_cellomics_dib(tmp_path / "colour.DIB")
    (tmp_path / "text.DIB").write_text("hello, this is not an image at all, not even close")
    with pytest.raises(BadInputError, match="not a DIB"):
        read_cellomics_dib(tmp_path / "text.DIB")
