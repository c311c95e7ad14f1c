"""Polygon rasterisation (Aperio XML regions of MoNuSeg and MoNuSAC; any vertex-list annotation)."""

from __future__ import annotations

import numpy as np

from ..rle import run_ranks

# Rule (documented in docs/sources/monuseg.md):
#
# * Pixel (row r, column c) has its centre at the point (x=c, y=r): vertex coordinates are
#   read on the same grid as the pixel indices (the convention of skimage.draw.polygon and
#   of the usual MoNuSeg converters).
# * A pixel belongs to the polygon when its centre lies in the CLOSED region whose winding
#   number is non-zero: strictly inside (non-zero rule) or exactly on an edge or a vertex
#   (exact float64 arithmetic). Boundary pixels are included because annotators trace the
#   outermost nucleus pixels; the non-zero rule (rather than even-odd) means a
#   self-intersecting outline that loops over itself never punches a hole into a nucleus.
# * Fractional vertices are used as they are (no rounding); vertices outside the image are
#   allowed: the polygon is clipped to the frame, pixels outside it simply do not exist.
# * Work happens in the polygon's bounding box only (never the full frame), so cost grows
#   with the nucleus size, not the image size.


def rasterize_polygon(xs: np.ndarray, ys: np.ndarray, height: int, width: int) -> tuple[int, int, np.ndarray] | None:
    """Pixels of one closed polygon as ``(top, left, crop)``; ``crop`` is a bool array.

    ``xs``/``ys`` are vertex coordinates (the closing edge back to the first vertex is
    implied). Returns None when no pixel of the ``height`` x ``width`` frame is covered.
    See the rule above.
    """
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1 or len(xs) == 0:
        raise ValueError("polygon needs two 1-D coordinate arrays of equal, non-zero length")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise ValueError("polygon has non-finite vertex coordinates")
    top, bottom = max(int(np.ceil(ys.min())), 0), min(int(np.floor(ys.max())), height - 1)
    left, right = max(int(np.ceil(xs.min())), 0), min(int(np.floor(xs.max())), width - 1)
    if top > bottom or left > right:
        return None
    n_rows, n_cols = bottom - top + 1, right - left + 1
    x0, y0 = xs, ys
    x1, y1 = np.roll(xs, -1), np.roll(ys, -1)
    rows = np.arange(top, bottom + 1, dtype=np.float64)

    # Winding number of every pixel centre, by horizontal rays to the right. An edge
    # crosses row r when r lies in its half-open y range (so a ray through a vertex is
    # counted once); upward edges count +1, downward -1. A crossing at x = xc adds its
    # direction to every pixel c < xc of the row: a difference array + cumsum does that
    # in O(rows * (edges + columns)).
    slanted = y0 != y1
    ex0, ey0, ex1, ey1 = x0[slanted], y0[slanted], x1[slanted], y1[slanted]
    r = rows[:, None]
    upward = (ey0 <= r) & (r < ey1)
    downward = (ey1 <= r) & (r < ey0)
    crossing_row, crossing_edge = np.nonzero(upward | downward)
    direction = np.where(upward[crossing_row, crossing_edge], 1, -1)
    yr = rows[crossing_row]
    xc = ex0[crossing_edge] + (yr - ey0[crossing_edge]) * (ex1[crossing_edge] - ex0[crossing_edge]) / (
        ey1[crossing_edge] - ey0[crossing_edge]
    )
    # number of columns c (from `left`) with c < xc
    covered = np.clip(np.ceil(xc).astype(np.int64) - left, 0, n_cols)
    difference = np.zeros((n_rows, n_cols + 1), dtype=np.int32)
    np.add.at(difference, (crossing_row, np.zeros_like(crossing_row)), direction)
    np.add.at(difference, (crossing_row, covered), -direction)
    crop = np.cumsum(difference[:, :n_cols], axis=1) != 0

    # Pixel centres exactly on an edge (or vertex) belong to the polygon too.
    _mark_boundary(crop, x0, y0, x1, y1, top, left)
    if not crop.any():
        return None
    return top, left, crop


def _mark_boundary(
    crop: np.ndarray, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, top: int, left: int
) -> None:
    """Set the pixels of ``crop`` whose centres lie exactly on a polygon edge."""
    n_rows, n_cols = crop.shape
    hit_rows: list[np.ndarray] = []
    hit_cols: list[np.ndarray] = []
    # Non-horizontal edges: every integer row in the closed y range, x solved exactly.
    slanted = y0 != y1
    if slanted.any():
        sx0, sy0, sx1, sy1 = x0[slanted], y0[slanted], x1[slanted], y1[slanted]
        first = np.maximum(np.ceil(np.minimum(sy0, sy1)), top).astype(np.int64)
        last = np.minimum(np.floor(np.maximum(sy0, sy1)), top + n_rows - 1).astype(np.int64)
        count = np.maximum(last - first + 1, 0)
        edge = np.repeat(np.arange(len(sx0)), count)
        row = (run_ranks(count) + np.repeat(first, count)).astype(np.float64)
        x = sx0[edge] + (row - sy0[edge]) * (sx1[edge] - sx0[edge]) / (sy1[edge] - sy0[edge])
        on_grid = x == np.round(x)
        hit_rows.append(row[on_grid].astype(np.int64))
        hit_cols.append(x[on_grid].astype(np.int64))
    # Horizontal edges on an integer row: every integer column in the closed x range.
    flat = ~slanted & (y0 == np.round(y0))
    if flat.any():
        hx0, hx1, hy = np.minimum(x0[flat], x1[flat]), np.maximum(x0[flat], x1[flat]), y0[flat]
        first = np.maximum(np.ceil(hx0), left).astype(np.int64)
        last = np.minimum(np.floor(hx1), left + n_cols - 1).astype(np.int64)
        count = np.maximum(last - first + 1, 0)
        hit_rows.append(np.repeat(hy.astype(np.int64), count))
        hit_cols.append(run_ranks(count) + np.repeat(first, count))
    rows = np.concatenate(hit_rows) - top
    cols = np.concatenate(hit_cols) - left
    inside = (rows >= 0) & (rows < n_rows) & (cols >= 0) & (cols < n_cols)
    crop[rows[inside], cols[inside]] = True


def crop_runs(top: int, left: int, crop: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-frame column-major runs (starts, lengths) of a bool ``crop`` placed at (top, left).

    Built from the crop alone (no full-frame mask); runs that touch across a column
    boundary (a crop spanning the full frame height) are merged, as RLE needs.
    """
    n_rows, n_cols = crop.shape
    # A False row above and below each column: runs never continue into the next column.
    padded = np.zeros((n_cols, n_rows + 2), dtype=np.int8)
    padded[:, 1:-1] = crop.T
    edges = np.diff(padded.reshape(-1))
    rises = np.flatnonzero(edges == 1) + 1
    falls = np.flatnonzero(edges == -1) + 1
    column, row = np.divmod(rises, n_rows + 2)
    starts = (left + column).astype(np.int64) * height + (top + row - 1)
    lengths = (falls - rises).astype(np.int64)
    if len(starts) > 1:
        touching = starts[1:] == starts[:-1] + lengths[:-1]
        if touching.any():
            keep = np.concatenate(([True], ~touching))
            lengths = np.bincount(np.cumsum(keep) - 1, weights=lengths).astype(np.int64)
            starts = starts[keep]
    return starts, lengths
