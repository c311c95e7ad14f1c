"""Polygon rasterisation rule (raster.rasterize_polygon) and crop -> RLE (raster.crop_runs + rle.encode_runs)."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import pytest
from skimage.draw import polygon as skimage_polygon

from nuclei_collection import decode_masks
from nuclei_collection_builders.formats.polygons import crop_runs, rasterize_polygon
from nuclei_collection_builders.rle import encode_runs


def full_frame(placed, height, width):
    mask = np.zeros((height, width), bool)
    if placed is not None:
        top, left, crop = placed
        mask[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    return mask


def test_integer_square_includes_its_boundary_pixels():
    xs, ys = np.array([2, 6, 6, 2.0]), np.array([3, 3, 8, 8.0])
    mask = full_frame(rasterize_polygon(xs, ys, 12, 12), 12, 12)
    expected = np.zeros((12, 12), bool)
    expected[3:9, 2:7] = True  # closed region: rows 3..8, columns 2..6
    assert np.array_equal(mask, expected)
    # vertex order and orientation do not matter
    assert np.array_equal(full_frame(rasterize_polygon(xs[::-1], ys[::-1], 12, 12), 12, 12), expected)


def test_fractional_vertices_use_pixel_centres():
    # x in [1.5, 4.5], y in [0.6, 2.4]: centres 2, 3, 4 x 1, 2
    mask = full_frame(rasterize_polygon(np.array([1.5, 4.5, 4.5, 1.5]), np.array([0.6, 0.6, 2.4, 2.4]), 5, 6), 5, 6)
    assert np.argwhere(mask).tolist() == [[r, c] for r in (1, 2) for c in (2, 3, 4)]


def test_self_intersecting_star_has_no_hole():
    angles = np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    xs, ys = 20 + 15 * np.cos(angles), 20 + 15 * np.sin(angles)
    ours = full_frame(rasterize_polygon(xs, ys, 40, 40), 40, 40)
    even_odd = np.zeros((40, 40), bool)
    even_odd[skimage_polygon(ys, xs, (40, 40))] = True
    assert ours[20, 20] and not even_odd[20, 20]  # non-zero winding fills the centre pentagon
    assert not (even_odd & ~ours).any()  # and keeps everything the even-odd rule has


def test_bow_tie_fills_both_lobes():
    mask = full_frame(rasterize_polygon(np.array([0, 10, 10, 0.0]), np.array([0, 10, 0, 10.0]), 11, 11), 11, 11)
    assert mask[5, 1] and mask[5, 9] and mask[5, 5] and not mask[1, 5] and not mask[9, 5]


def test_vertices_outside_the_image_are_clipped():
    xs, ys = np.array([-5.5, 3.2, 3.2, -5.5]), np.array([-2.0, -2.0, 4.7, 4.7])
    top, left, crop = rasterize_polygon(xs, ys, 10, 10)
    assert (top, left, crop.shape) == (0, 0, (5, 4)) and crop.all()
    assert rasterize_polygon(xs - 20, ys, 10, 10) is None  # entirely outside
    assert rasterize_polygon(np.array([1.2, 1.8, 1.5]), np.array([1.2, 1.2, 1.8]), 10, 10) is None  # no centre inside


@pytest.mark.parametrize("seed", range(5))
def test_crop_runs_match_pycocotools(seed):
    rng = np.random.default_rng(seed)
    height, width = 37, 23
    crop = rng.random((int(rng.integers(1, height)), int(rng.integers(1, width)))) < 0.5
    crop[0, 0] = True
    top, left = int(rng.integers(0, height - crop.shape[0] + 1)), int(rng.integers(0, width - crop.shape[1] + 1))
    (obj,) = encode_runs(*map(list, zip(crop_runs(top, left, crop, height))), height, width)
    mask = full_frame((top, left, crop), height, width)
    reference = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert obj["segmentation"]["counts"] == reference["counts"].decode()
    assert obj["bbox"] == mask_util.toBbox(reference).tolist()
    assert obj["area"] == int(mask.sum())


def test_full_height_crop_merges_runs_across_columns():
    crop = np.ones((6, 3), bool)
    (obj,) = encode_runs(*map(list, zip(crop_runs(0, 2, crop, 6))), 6, 7)
    assert (
        obj["segmentation"]["counts"]
        == mask_util.encode(np.asfortranarray(full_frame((0, 2, crop), 6, 7).astype(np.uint8)))["counts"].decode()
    )
    assert np.array_equal(decode_masks([obj])[0], full_frame((0, 2, crop), 6, 7))
