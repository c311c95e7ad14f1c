"""Instance masks as vertical segments of their RLE runs: crop, count and re-encode without
decoding a full-frame mask.

COCO RLE runs are column-major, so a run cut at every column boundary becomes a set of
vertical segments ``(column, first row, end row)``. Cropping a window is then a filter and
a clip on those arrays, and the crop's own RLE comes back from the clipped segments (a
segment that ends on the window's bottom row and one that starts on its top row in the next
column merge into one run). The views (tiles, rescaling) work on these, so a
1000 x 1000 image with 400 nuclei never allocates 400 frames.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import rle
from .raster import read_mask
from .rle import run_ranks


@dataclass(frozen=True)
class ObjectSegments:
    """Objects of one frame as vertical segments.

    Object ``owner[k]`` (an index into ``ids``) covers rows ``row0[k]:row1[k]`` of column
    ``col[k]``. Segments are ordered by owner, then column, then row, and never overlap
    within an owner. ``areas`` are the objects' pixel counts in the frame they came from.
    """

    ids: np.ndarray
    areas: np.ndarray
    owner: np.ndarray
    col: np.ndarray
    row0: np.ndarray
    row1: np.ndarray
    height: int
    width: int

    @classmethod
    def from_objects(cls, objects: Sequence[Mapping[str, Any]], height: int, width: int) -> ObjectSegments:
        """Segments of RLE objects (dicts with ``id`` and ``segmentation``), one parse of their counts."""
        ids = np.array([int(obj["id"]) for obj in objects], dtype=np.int64)
        if not len(objects):
            empty = np.zeros(0, dtype=np.int64)
            return cls(ids, empty, empty, empty, empty, empty, height, width)
        owner, starts, lengths, h, w = rle.object_runs(objects)
        if (h, w) != (height, width):
            raise ValueError(f"RLE size {[h, w]} != frame size {[height, width]}")
        first_col = starts // height
        n_cols = (starts + lengths - 1) // height - first_col + 1
        run = np.repeat(np.arange(len(starts)), n_cols)
        col = np.repeat(first_col, n_cols) + run_ranks(n_cols)
        top = col * height
        row0 = np.maximum(starts[run], top) - top
        row1 = np.minimum(starts[run] + lengths[run], top + height) - top
        areas = np.bincount(owner, weights=lengths, minlength=len(ids)).astype(np.int64)
        return cls(ids, areas, owner[run], col, row0, row1, height, width)

    def pixel_counts(self) -> np.ndarray:
        """Pixels of each object (indexed like ``ids``) in this frame."""
        return np.bincount(self.owner, weights=self.row1 - self.row0, minlength=len(self.ids)).astype(np.int64)

    def crop(self, x: int, y: int, width: int, height: int) -> ObjectSegments:
        """The window ``(x, y, width, height)`` as a frame of its own (same ids and ``areas``)."""
        keep = (self.col >= x) & (self.col < x + width) & (self.row1 > y) & (self.row0 < y + height)
        return ObjectSegments(
            self.ids,
            self.areas,
            self.owner[keep],
            self.col[keep] - x,
            np.maximum(self.row0[keep], y) - y,
            np.minimum(self.row1[keep], y + height) - y,
            height,
            width,
        )

    def encode(self, selected: np.ndarray) -> list[dict[str, Any]]:
        """COCO RLE objects (id, segmentation, bbox, area) of the selected objects (bool per id)."""
        keep = selected[self.owner]
        if not keep.any():
            return []
        owner = (np.cumsum(selected) - 1)[self.owner[keep]]
        starts = self.col[keep] * self.height + self.row0[keep]
        ends = self.col[keep] * self.height + self.row1[keep]
        # Segments that touch in column-major order (bottom row, then top row of the next
        # column) are one run: merge them, as the codec's runs must not touch.
        new_run = np.ones(len(starts), dtype=bool)
        new_run[1:] = (owner[1:] != owner[:-1]) | (starts[1:] != ends[:-1])
        first = np.flatnonzero(new_run)
        last = np.append(first[1:], len(starts)) - 1
        return rle.encode_object_runs(
            self.ids[selected].tolist(),
            owner[first],
            starts[first],
            ends[last] - starts[first],
            self.height,
            self.width,
        )

    def pixels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(owner, row, col) of every foreground pixel, ordered like the segments."""
        lengths = self.row1 - self.row0
        rows = np.repeat(self.row0, lengths) + run_ranks(lengths)
        return np.repeat(self.owner, lengths), rows, np.repeat(self.col, lengths)


# --------------------------------------------------------------------------- mask files -> runs

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK = struct.Struct(">I4s")
_CRC = struct.Struct(">I")
_IHDR = struct.Struct(">IIBBBBB")
#: Above this many pixels the fast PNG path steps aside for Pillow and its size guard.
_FAST_PNG_MAX_PIXELS = 1 << 26
#: PNG row filters the fast path undoes (None, Sub, Up, Paeth); Average (3) goes to Pillow.
_NONE, _SUB, _UP, _PAETH = 0, 1, 2, 4
_UNDOES = np.zeros(256, dtype=bool)
_UNDOES[[_NONE, _SUB, _UP, _PAETH]] = True


@dataclass(frozen=True)
class MaskFileRuns:
    """Foreground runs of binary mask files (one object per file), see :func:`mask_file_runs`.

    ``owner[k]`` indexes ``kept`` (the files with foreground, in the given order); runs are
    ordered by owner, then start, and never touch (the input of :func:`rle.encode_object_runs`).
    ``positions`` are the column-major offsets of every foreground pixel of the kept files,
    ordered like the runs (a pixel in two files appears twice).
    """

    kept: list[int]
    empty: list[int]
    owner: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    positions: np.ndarray


def _grey8_png_rows(data: bytes) -> np.ndarray | None:
    """The filtered scanlines (h, 1 + w) of a valid non-interlaced 8-bit greyscale PNG, else None.

    None also for anything unusual (bad CRC, truncation, other colour types, huge sizes):
    the caller then lets Pillow decode the file, so errors and odd files behave as before.
    """
    if data[:8] != _PNG_SIGNATURE:
        return None
    view = memoryview(data)
    pos, size = 8, len(data)
    header = None
    idat = []
    while True:
        if pos + 12 > size:
            return None
        length, kind = _CHUNK.unpack_from(data, pos)
        end = pos + 12 + length
        if end > size or zlib.crc32(view[pos + 4 : end - 4]) != _CRC.unpack_from(data, end - 4)[0]:
            return None
        if header is None:
            if kind != b"IHDR" or length != 13:
                return None
            header = _IHDR.unpack_from(data, pos + 8)
        elif kind == b"IDAT":
            idat.append(view[pos + 8 : end - 4])
        elif kind == b"IEND":
            break
        pos = end
    width, height, depth, colour, compression, filtering, interlace = header
    if (depth, colour, compression, filtering, interlace) != (8, 0, 0, 0, 0):
        return None
    if not 0 < width * height <= _FAST_PNG_MAX_PIXELS:
        return None
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(idat))
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data or len(raw) != height * (width + 1):
        return None
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width + 1)


def _foreground_window(rows: np.ndarray) -> tuple[int, int, int, int] | None:
    """The window ``(first row, stop row, first col, stop col)`` of the decoded image that decides it.

    None when the image is all 0. Read off the filtered bytes (``rows``: h x (1 + w)):

    * rows above the first non-zero data byte and columns left of the leftmost one decode to 0;
    * a row below the last one equals the row above while it is an Up / Paeth row, and 0
      from the first None / Sub row on;
    * right of column ``c1 + 1`` (``c1``: the rightmost non-zero data byte) every row keeps
      the value it has at ``c1 + 1`` (Sub / Paeth repeat the left pixel, Up the pixel above).

    So the window runs to ``c1 + 2``; a non-zero value in its last column continues to the
    right edge of the image.
    """
    height, stride = rows.shape
    # First and last non-zero byte (filter-type bytes included: the rows they give are a
    # superset, which is fine) from 8-byte words: the one full pass, on 1/8 of the elements.
    flat = rows.reshape(-1)
    n_words = flat.size // 8
    nonzero = np.flatnonzero(flat[: 8 * n_words].view(np.uint64) != 0) * 8
    nonzero = np.concatenate([nonzero, nonzero[-1:] + 7, 8 * n_words + np.flatnonzero(flat[8 * n_words :])])
    if not len(nonzero):
        return None
    first, last = int(nonzero[0]) // stride, int(nonzero[-1]) // stride
    columns = np.flatnonzero((rows[first : last + 1, 1:] != 0).any(axis=0))
    if not len(columns):  # only filter-type bytes are non-zero
        return None
    resets = np.flatnonzero(rows[last + 1 :, 0] < _UP)
    stop = last + 1 + int(resets[0]) if len(resets) else height
    return first, stop, int(columns[0]), min(int(columns[-1]) + 2, stride - 1)


def _paeth_row(pixels: np.ndarray, row: int) -> None:
    """Undo the Paeth filter of ``pixels[row]`` in place (the row above is final).

    Where the row above does not change (up == upper-left) the Paeth predictor is the left
    pixel, i.e. a running sum; only the few columns where it changes need the predictor.
    """
    raw = pixels[row].astype(np.int64)
    up = pixels[row - 1].astype(np.int64)
    upper_left = np.zeros_like(up)
    upper_left[1:] = up[:-1]
    running = np.cumsum(raw)
    correction = np.zeros(len(raw), dtype=np.int64)
    shift = 0
    for col in np.flatnonzero(up != upper_left).tolist():
        a = (int(running[col - 1]) + shift) & 255 if col else 0
        b, c = int(up[col]), int(upper_left[col])
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        predicted = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        correction[col] = predicted - a
        shift += predicted - a
    pixels[row] = (running + np.cumsum(correction)) & 255


def _unfilter(pixels: np.ndarray, kinds: np.ndarray) -> None:
    """Undo PNG filters (None, Sub, Up, Paeth) of stacked scanlines in place.

    ``kinds[r]`` is row r's filter; a row whose "row above" must read as 0 (the top of an
    image) is an all-zero None row. Sub rows are running sums along the row, chains of Up
    rows running sums down the rows from their anchor (the first non-Up row above); Paeth
    rows are done one by one in order, each then fixing the Up chain below it.
    """
    sub = np.flatnonzero(kinds == _SUB)
    if len(sub):
        pixels[sub] = np.cumsum(np.ascontiguousarray(pixels[sub].T), axis=0, dtype=np.uint8).T
    is_up = kinds == _UP
    paeth = np.flatnonzero(kinds == _PAETH).tolist()
    if not is_up.any() and not paeth:
        return
    anchor = np.maximum.accumulate(np.where(is_up, 0, np.arange(len(kinds))))
    chain = np.flatnonzero(is_up | np.append(is_up[1:], False))  # Up rows and their anchors
    if len(chain):
        values = pixels[chain]
        total = np.cumsum(values, axis=0, dtype=np.uint8)
        head = np.maximum.accumulate(np.where(is_up[chain], 0, np.arange(len(chain))))
        pixels[chain] = total - total[head] + values[head]
    for row in paeth:
        before = pixels[row].copy()
        _paeth_row(pixels, row)
        below = row + 1
        end = below
        while end < len(kinds) and anchor[end] == row:
            end += 1
        if end > below:  # the Up rows anchored on this row were summed from its filtered bytes
            pixels[below:end] += pixels[row] - before


def mask_file_runs(paths: Sequence[str | Path], shape: tuple[int, int]) -> MaskFileRuns:
    """Runs of binary mask files (any non-zero pixel is foreground), decoded and encoded together.

    8-bit greyscale PNGs (DSB's masks) are inflated with zlib and only the window that holds
    their foreground is unfiltered (:func:`_foreground_window`), all files in one batch; no
    (n, h, w) stack and no full-frame mask is built. Any other file goes through
    :func:`raster.read_mask` (Pillow), which also gives the errors (bad file, size !=
    ``shape``). Files without foreground are listed in ``empty``.
    """
    height, width = (int(v) for v in shape)
    # per kept file: (filter types, filtered bytes) of its window only, and the window
    windows: list[tuple[np.ndarray, np.ndarray, int, int, int, int]] = []
    kept, empty = [], []
    for index, path in enumerate(paths):
        try:
            with open(path, "rb") as handle:
                rows = _grey8_png_rows(handle.read())
        except OSError:
            rows = None  # read_mask names the problem
        if rows is not None and rows.shape != (height, width + 1):
            rows = None  # read_mask names the size mismatch
        if rows is not None and not _UNDOES[rows[:, 0]].all():
            rows = None  # Average filter or a bad filter type: Pillow's business
        if rows is None:
            mask = read_mask(path, (height, width))
            rows = np.zeros((height, width + 1), dtype=np.uint8)
            rows[:, 1:] = mask
        window = _foreground_window(rows)
        if window is None:
            empty.append(index)
            continue
        kept.append(index)
        first, stop, c0, c_stop = window
        windows.append((rows[first:stop, 0].copy(), rows[first:stop, 1 + c0 : 1 + c_stop].copy(), *window))
    if not kept:
        nothing = np.zeros(0, dtype=np.int64)
        return MaskFileRuns(kept, empty, nothing, nothing, nothing, nothing)
    # One stack of all windows, each below a zero row (the "row above" of its first row);
    # columns right of a narrower window repeat its last column, as the image would.
    n_rows = np.array([len(kind) + 1 for kind, *_ in windows], dtype=np.int64)
    n_cols = np.array([data.shape[1] for _, data, *_ in windows], dtype=np.int64)
    stride = int(n_cols.max())
    stacked = np.zeros((int(n_rows.sum()), stride), dtype=np.uint8)
    kinds = np.zeros(len(stacked), dtype=np.uint8)
    top = np.cumsum(n_rows) - n_rows
    for (kind, data, *_), at in zip(windows, top.tolist()):
        kinds[at + 1 : at + 1 + len(kind)] = kind
        stacked[at + 1 : at + 1 + len(kind), : data.shape[1]] = data
    if kinds.any():
        _unfilter(stacked, kinds)
    row_owner = np.repeat(np.arange(len(windows), dtype=np.int64), n_rows)
    row_y = np.repeat(np.array([w[2] - 1 for w in windows], dtype=np.int64), n_rows) + run_ranks(
        n_rows
    )
    col0 = np.array([w[4] for w in windows], dtype=np.int64)
    foreground = np.flatnonzero(stacked != 0)
    row, col = np.divmod(foreground, stride)
    owner = row_owner[row]
    inside = col < n_cols[owner]
    row, owner = row[inside], owner[inside]
    col = col[inside] + col0[owner]
    # A non-zero last window column continues to the image's right edge (rare: not for masks
    # whose rows end in background).
    last_col = col0 + n_cols - 1
    tail_rows = np.flatnonzero(stacked[np.arange(len(stacked)), n_cols[row_owner] - 1] != 0)
    tail_rows = tail_rows[last_col[row_owner[tail_rows]] < width - 1]
    if len(tail_rows):
        extra = width - 1 - last_col[row_owner[tail_rows]]
        row = np.concatenate([row, np.repeat(tail_rows, extra)])
        owner = np.concatenate([owner, np.repeat(row_owner[tail_rows], extra)])
        col = np.concatenate([col, np.repeat(last_col[row_owner[tail_rows]] + 1, extra) + run_ranks(extra)])
    frame = height * width
    key = owner * frame + col * height + row_y[row]
    key.sort()
    owner, positions = np.divmod(key, frame)
    owner, starts, lengths = rle.runs_of_positions(owner, positions)
    return MaskFileRuns(kept, empty, owner, starts, lengths, positions)
