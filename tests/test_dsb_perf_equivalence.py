"""Issue 19: the fast DSB2018 paths give exactly what the old ones gave.

* medians from histograms == ``np.median`` (even counts average the two middle values, ties,
  empty selections), so ``nuclei_class`` and ``modality`` keep their values (and exports
  their bytes);
* mask PNGs decoded straight to runs (``runs.mask_file_runs``) == Pillow decode + our
  stack encoder == pycocotools, on the real DSB masks and on PNGs written with every row
  filter (None, Sub, Up, Average, Paeth);
* bad mask files still fail with the reader's own errors.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from dsb_previous import previous_modality_of, previous_nuclei_class_of
from PIL import Image

from conftest import realdata_path
from nuclei_collection_builders import rle
from nuclei_collection_builders.base import BadInputError
from nuclei_collection_builders.formats.modality import (
    histogram_median,
    modality_of,
)
from nuclei_collection_builders.raster import read_mask
from nuclei_collection_builders.runs import mask_file_runs
from nuclei_collection_builders.sources import dsb2018
from nuclei_collection_builders.sources.dsb2018 import nuclei_class_of

# --------------------------------------------------------------------------- medians


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10, 11, 256, 257, 1000, 1001])
def test_histogram_median_equals_np_median(n):
    rng = np.random.default_rng(n)
    for spread in (1, 2, 3, 17, 256):  # few distinct values = many ties
        values = rng.integers(0, spread, n).astype(np.uint8) + rng.integers(0, 256 - spread + 1)
        got = histogram_median(np.bincount(values, minlength=256))
        assert got == float(np.median(values)), (n, spread)
        assert type(got) is float


def test_histogram_median_even_count_averages_the_two_middle_values():
    assert histogram_median(np.bincount(np.array([3, 10], np.uint8), minlength=256)) == 6.5
    assert histogram_median(np.bincount(np.array([0, 0, 255, 255], np.uint8), minlength=256)) == 127.5
    assert np.isnan(histogram_median(np.zeros(256, np.int64)))


def _random_image(rng, height, width, kind):
    if kind == "grey":
        return rng.integers(0, 256, (height, width)).astype(np.uint8)
    if kind == "rgb":
        return rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    if kind == "rgba":
        return rng.integers(0, 256, (height, width, 4)).astype(np.uint8)
    if kind == "grey_rgb":  # R = G = B with few levels: ties everywhere
        grey = rng.integers(0, 4, (height, width)).astype(np.uint8) * 60
        return np.repeat(grey[..., None], 3, axis=2)
    if kind == "uint16":
        return rng.integers(0, 65536, (height, width, 3)).astype(np.uint16)
    if kind == "la":
        return rng.integers(0, 256, (height, width, 2)).astype(np.uint8)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["grey", "rgb", "rgba", "grey_rgb", "uint16"])
def test_nuclei_class_equals_the_old_median_rule(kind):
    rng = np.random.default_rng(19)
    for trial in range(60):
        height, width = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        pixels = _random_image(rng, height, width, kind)
        if kind == "rgb" and trial % 3 == 0:  # strongly coloured nuclei on a grey background
            pixels[..., 0] //= 3
        fraction = [0.0, 0.05, 0.3, 0.5, 1.0, rng.random()][trial % 6]
        nuclei = rng.random((height, width)) < fraction
        if trial % 7 == 0:  # even pixel counts inside and outside
            nuclei = np.zeros((height, width), bool)
            nuclei.reshape(-1)[: 2 * ((height * width) // 4)] = True
        assert nuclei_class_of(pixels, nuclei) == previous_nuclei_class_of(pixels, nuclei), (kind, trial)


def test_nuclei_class_of_empty_and_full_masks():
    pixels = np.full((6, 8, 3), 120, np.uint8)
    assert nuclei_class_of(pixels, np.zeros((6, 8), bool)) is None
    full = np.ones((6, 8), bool)
    assert nuclei_class_of(pixels, full) == previous_nuclei_class_of(pixels, full)


@pytest.mark.parametrize("kind", ["grey", "rgb", "rgba", "grey_rgb", "uint16", "la"])
def test_modality_equals_the_old_median_rule(kind):
    rng = np.random.default_rng(7)
    for trial in range(60):
        height, width = int(rng.integers(1, 60)), int(rng.integers(1, 60))
        pixels = _random_image(rng, height, width, kind)
        if trial % 2:  # around the brightness threshold (100) and the grey spread (2)
            pixels = (pixels // 8 + 84).astype(pixels.dtype) if kind != "uint16" else pixels
        assert modality_of(pixels) == previous_modality_of(pixels), (kind, trial)


def test_modality_threshold_ties_of_an_even_count():
    # Two middle brightnesses 99 and 101: median 100.0 is not < 100 -> not fluorescence.
    pixels = np.zeros((2, 5, 3), np.uint8)
    pixels[0, 0], pixels[0, 4] = 99, 101
    pixels[1, 0], pixels[1, 4] = 99, 101  # sampled: [::4, ::4] -> (1, 2) pixels: 99, 101
    assert modality_of(pixels) == previous_modality_of(pixels) != "fluorescence"


# --------------------------------------------------------------------------- mask PNGs -> runs


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def grey_png(pixels: np.ndarray, filters) -> bytes:
    """An 8-bit greyscale PNG of ``pixels`` with the given filter type on each row."""
    height, width = pixels.shape
    x = pixels.astype(np.int64)
    out = bytearray()
    for r in range(height):
        up = x[r - 1] if r else np.zeros(width, np.int64)
        left = np.concatenate(([0], x[r, :-1]))
        upper_left = np.concatenate(([0], up[:-1]))
        f = int(filters[r])
        predicted = {0: 0, 1: left, 2: up, 3: (left + up) // 2, 4: _paeth(left, up, upper_left)}[f]
        out.append(f)
        out += ((x[r] - predicted) & 255).astype(np.uint8).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(out)))
        + _chunk(b"IEND", b"")
    )


def _random_mask(rng, height, width, kind):
    mask = np.zeros((height, width), np.uint8)
    if kind == 1:
        mask = (rng.random((height, width)) < 0.1).astype(np.uint8) * 255
    elif kind == 2:  # any non-zero value is foreground
        mask = (rng.integers(0, 256, (height, width)) * (rng.random((height, width)) < 0.3)).astype(np.uint8)
    elif kind == 3:  # reaches the right and bottom edges
        mask[int(rng.integers(0, height)) :, int(rng.integers(0, width)) :] = rng.integers(1, 256)
    elif kind == 4:  # one blob
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        mask[y : y + 5, x : x + 7] = rng.integers(1, 256)
    return mask


def _old_objects(paths, shape):
    masks = [read_mask(p, shape) for p in paths]
    kept = [m for m in masks if m.any()]
    return (rle.encode_masks(np.stack(kept)) if kept else []), [i for i, m in enumerate(masks) if not m.any()]


def _new_objects(paths, shape):
    runs = mask_file_runs(paths, shape)
    ids = range(1, len(runs.kept) + 1)
    return rle.encode_object_runs(ids, runs.owner, runs.starts, runs.lengths, *shape), runs


def test_mask_files_with_every_png_filter_equal_pillow(tmp_path):
    rng = np.random.default_rng(2018)
    for trial in range(150):
        height, width = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        paths, masks = [], []
        for k in range(int(rng.integers(1, 5))):
            mask = _random_mask(rng, height, width, int(rng.integers(0, 5)))
            path = tmp_path / f"{trial}_{k}.png"
            if k % 4 == 3:
                Image.fromarray(mask).save(path)  # Pillow's own filter choice
            else:
                path.write_bytes(
                    grey_png(mask, rng.choice([0, 1, 2, 3, 4] if trial % 5 == 0 else [0, 1, 2, 4], height))
                )
            assert np.array_equal(np.asarray(Image.open(path)), mask)
            paths.append(str(path))
            masks.append(mask != 0)
        objects, runs = _new_objects(paths, (height, width))
        expected, empty = _old_objects(paths, (height, width))
        assert objects == expected, trial
        assert runs.empty == empty
        kept = [m for m in masks if m.any()]
        want = np.sort(np.concatenate([np.flatnonzero(m.T.reshape(-1)) for m in kept])) if kept else np.zeros(0)
        assert np.array_equal(np.sort(runs.positions), want)


def test_mask_files_in_other_modes_go_through_pillow(tmp_path):
    mask = np.zeros((9, 7), np.uint8)
    mask[2:5, 1:4] = 200
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.stack([mask * 0, mask, mask * 0], axis=2)).save(rgb)
    one_bit = tmp_path / "bits.png"
    Image.fromarray(mask > 0).save(one_bit)
    grey16 = tmp_path / "grey16.png"
    Image.fromarray(mask.astype(np.uint16) * 300).save(grey16)
    paths = [str(rgb), str(one_bit), str(grey16)]
    assert _new_objects(paths, (9, 7))[0] == _old_objects(paths, (9, 7))[0]


def test_bad_mask_files_fail_like_read_mask(tmp_path):
    good = np.zeros((6, 6), np.uint8)
    good[1:3, 1:3] = 255
    data = grey_png(good, [0, 1, 2, 4, 0, 0])
    cases = {
        "truncated.png": data[:-20],
        "bad_crc.png": data[:-8] + b"\0\0\0\0" + data[-4:],
        "not_png.png": b"hello",
        "wrong_size.png": grey_png(np.zeros((5, 6), np.uint8), [0] * 5),
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        try:
            read_mask(path, (6, 6))
        except BadInputError as error:
            expected = str(error)
        else:  # Pillow accepts it: so must we, with the same pixels
            assert _new_objects([str(path)], (6, 6))[0] == _old_objects([str(path)], (6, 6))[0]
            continue
        with pytest.raises(BadInputError) as raised:
            mask_file_runs([str(path)], (6, 6))
        assert str(raised.value) == expected, name
    with pytest.raises(BadInputError, match="file not found"):
        mask_file_runs([str(tmp_path / "missing.png")], (6, 6))


def test_real_dsb_masks_equal_pycocotools():
    mask_utils = pytest.importorskip("pycocotools.mask")
    root = realdata_path("dsb2018", "stage1_train")
    folders = sorted(p for p in root.iterdir() if (p / "masks").is_dir())
    assert folders
    n_masks = 0
    for folder in folders:
        paths = sorted(str(p) for p in (folder / "masks").glob("*.png"))
        shape = np.asarray(Image.open(folder / "images" / f"{folder.name}.png")).shape[:2]
        objects, runs = _new_objects(paths, shape)
        expected, empty = _old_objects(paths, shape)
        assert objects == expected and runs.empty == empty, folder.name
        for obj, path in zip(objects, [paths[i] for i in runs.kept]):
            mask = np.asfortranarray(np.asarray(Image.open(path)) != 0)
            reference = mask_utils.encode(mask)
            assert obj["segmentation"]["counts"] == reference["counts"].decode()
            assert obj["area"] == int(mask_utils.area(reference))
            assert obj["bbox"] == mask_utils.toBbox(reference).tolist()
            n_masks += 1
    assert n_masks >= 200


def test_real_dsb_nuclei_class_and_modality_equal_the_old_rule():
    root = realdata_path("dsb2018", "stage1_train")
    for folder in sorted(p for p in root.iterdir() if (p / "masks").is_dir()):
        pixels = np.asarray(Image.open(folder / "images" / f"{folder.name}.png"))
        nuclei = np.zeros(pixels.shape[:2], bool)
        for path in sorted((folder / "masks").glob("*.png")):
            nuclei |= np.asarray(Image.open(path)) != 0
        assert nuclei_class_of(pixels, nuclei) == previous_nuclei_class_of(pixels, nuclei)
        assert modality_of(pixels) == previous_modality_of(pixels)


def test_dsb_reader_objects_equal_the_stacked_masks(tmp_path):
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    write_dsb2018_stage1_train(tmp_path / "stage1_train", n_images=4, seed=3)
    # an empty mask next to real ones: noted and skipped, ids stay 1..N
    folder = sorted((tmp_path / "stage1_train").iterdir())[0]
    shape = np.asarray(Image.open(folder / "images" / f"{folder.name}.png")).shape[:2]
    Image.fromarray(np.zeros(shape, np.uint8)).save(folder / "masks" / "0000empty.png")
    source = dsb2018.DSB2018StageTrain()
    root = source.locate(tmp_path)
    for item in source.list_items(root)["train"]:
        sample = source.read(item)
        paths = item.files["masks"]
        expected, empty = _old_objects(paths, shape := sample.image.shape[:2])
        assert sample.objects == expected
        assert sample.notes == [f"empty mask skipped: {paths[i]}" for i in empty]
        nuclei = np.zeros(shape, bool)
        for p in paths:
            nuclei |= read_mask(p, shape)
        assert sample.metadata["nuclei_class"] == previous_nuclei_class_of(sample.image, nuclei)
        assert sample.metadata["modality"] == previous_modality_of(sample.image)


def test_mask_paths_are_plain_files(tmp_path):
    # Path objects and strings both work (the reader passes strings).
    mask = np.zeros((4, 4), np.uint8)
    mask[1, 1] = 255
    path = tmp_path / "m.png"
    Image.fromarray(mask).save(path)
    assert mask_file_runs([path], (4, 4)).kept == mask_file_runs([str(path)], (4, 4)).kept == [0]
