"""Resolution views (``--scale F`` / ``--target-mpp M``): resample an instance Sample.

Geometry: an image of ``n`` pixels along an axis becomes ``round(n * F)`` pixels (at least
1), and output pixel ``i`` covers the input interval ``[i * n / n_out, (i + 1) * n / n_out)``
(the grid is stretched by under half a pixel so that both borders line up). Image and
masks use this same geometry, so they stay aligned.

* Image, shrinking: exact area averaging. Each output pixel is the mean of the input area
  it covers, input pixels cut by its border weighted by the covered fraction (what
  OpenCV's INTER_AREA does; Pillow's BOX filter counts pixels whole instead, which is only
  the same for integer factors). No aliasing, no ringing.
* Image, enlarging: Pillow ``BILINEAR``.
  Both weight input pixels with non-negative weights summing to 1, so values never leave
  the input range. Computed in float64 (exact for 16-bit sums) and rounded to the nearest
  integer of the input dtype: 8-bit stays 8-bit, 16-bit stays 16-bit (12-bit data stays
  <= 4095).
* Masks, per object (overlaps stay overlaps): area-weighted, then thresholded. An output
  pixel belongs to an object when the object covers **more than half** of its area. The
  coverage is computed exactly in integers (no rounding), so two objects that do not
  overlap can never both claim a pixel. Enlarging by an integer factor replicates pixels
  exactly. An object that covers no output pixel by more than half (a nucleus smaller than
  about half an output pixel) is not dropped: it keeps its best-covered pixel, and a
  :class:`~base.CountedNote` of kind ``rescale_tiny_kept`` counts it.

Why not nearest neighbour for masks: nearest samples one input point per output pixel, so
when shrinking it ignores most input pixels, makes thin or small nuclei break up or vanish
depending on the grid phase, and does not match the BOX image (the mask edge can sit a
pixel away from the intensity edge). Coverage thresholding uses every input pixel, uses
exactly the weights of the shrinking image filter (a binary image of one nucleus shrinks
to its coverage), and is deterministic.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from PIL import Image

from .. import rle
from ..base import CountedNote, Sample, logger
from ..rle import run_ranks, runs_of_positions
from ..runs import ObjectSegments
from ..schema import sample_objects


def scaled_size(length: int, factor: float) -> int:
    """Pixels along an axis of ``length`` pixels after scaling by ``factor`` (round half up, >= 1)."""
    return max(1, math.floor(length * factor + 0.5))


def resample_image(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """``pixels`` (h, w[, c]) uint8 / uint16 resampled to (height, width), same dtype (see module doc)."""
    pixels = np.asarray(pixels)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"can only resample uint8 or uint16 images, got {pixels.dtype}")
    in_height, in_width = pixels.shape[:2]
    if (in_height, in_width) == (height, width):
        return pixels
    planes = pixels.reshape(in_height, in_width, -1)
    if height <= in_height and width <= in_width:
        rows, cols = area_weights(in_height, height), area_weights(in_width, width)
        # (rows @ plane @ cols.T) / area, all channels at once: sparse products, integer sums.
        stacked = rows @ planes.reshape(in_height, -1).astype(np.float64)
        stacked = stacked.reshape(height, in_width, -1).transpose(1, 0, 2).reshape(in_width, -1)
        values = (cols @ stacked).reshape(width, height, -1).transpose(1, 0, 2) / (in_height * in_width)
    else:
        values = np.stack(
            [
                np.asarray(
                    Image.fromarray(np.ascontiguousarray(planes[..., c], dtype=np.float32)).resize(
                        (width, height), resample=Image.Resampling.BILINEAR
                    )
                )
                for c in range(planes.shape[2])
            ],
            axis=2,
        )
    out = np.clip(np.rint(values), 0, np.iinfo(pixels.dtype).max).astype(pixels.dtype)
    return out[..., 0] if pixels.ndim == 2 else out


def _overlap(n_in: int, n_out: int, outputs: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Overlap of output pixels with input pixels along one axis, in units of 1 / n_out input px.

    Output pixel i spans [i * n_in, (i + 1) * n_in) and input pixel r spans
    [r * n_out, (r + 1) * n_out) in those units: integers, so every sum of products is
    exact. Broadcasts (pairs of arrays, or an outer grid).
    """
    lo = np.maximum(outputs * n_in, inputs * n_out)
    hi = np.minimum((outputs + 1) * n_in, (inputs + 1) * n_out)
    return np.clip(hi - lo, 0, None).astype(np.float64)


def area_weights(n_in: int, n_out: int) -> Any:
    """(n_out, n_in) sparse overlaps along one axis (see :func:`_overlap`); rows sum to n_in."""
    outputs = np.arange(n_out, dtype=np.int64)
    first = outputs * n_in // n_out
    counts = ((outputs + 1) * n_in - 1) // n_out - first + 1
    rows = np.repeat(outputs, counts)
    cols = np.repeat(first, counts) + run_ranks(counts)
    from scipy import sparse  # imported here: keeps the registry import (and `list`) fast

    return sparse.csr_matrix((_overlap(n_in, n_out, rows, cols), (rows, cols)), shape=(n_out, n_in))


def _output_span(first: int, end: int, n_in: int, n_out: int) -> np.ndarray:
    """Output pixels whose footprint meets input pixels [first, end)."""
    return np.arange(first * n_out // n_in, -(-end * n_out // n_in), dtype=np.int64)


def resample_objects(
    objects: list[dict], height: int, width: int, out_height: int, out_width: int
) -> tuple[list[dict], list[int]]:
    """RLE objects of a (height, width) frame resampled to (out_height, out_width), ids kept.

    Returns the objects and the ids of those kept as their best-covered pixel (see module doc).
    """
    segments = ObjectSegments.from_objects(objects, height, width)
    owner, rows, cols = segments.pixels()
    bounds = np.searchsorted(owner, np.arange(len(segments.ids) + 1))
    # An output pixel belongs to an object when coverage > 1/2, i.e. when twice the integer
    # overlap sum exceeds the pixel's area in these units (height * width); exact in float64
    # for any realistic size (every partial sum is an integer far below 2**53).
    threshold = height * width
    positions, owners, kept_ids, tiny = [], [], [], []
    for index, object_id in enumerate(segments.ids.tolist()):
        r, c = rows[bounds[index] : bounds[index + 1]], cols[bounds[index] : bounds[index + 1]]
        if not len(r):
            continue
        r0, c0 = int(r.min()), int(c.min())
        local = np.zeros((int(r.max()) - r0 + 1, int(c.max()) - c0 + 1))
        local[r - r0, c - c0] = 1.0
        out_rows = _output_span(r0, r0 + local.shape[0], height, out_height)
        out_cols = _output_span(c0, c0 + local.shape[1], width, out_width)
        in_rows = np.arange(r0, r0 + local.shape[0])
        in_cols = np.arange(c0, c0 + local.shape[1])
        coverage = (
            _overlap(height, out_height, out_rows[:, None], in_rows[None, :])
            @ local
            @ _overlap(width, out_width, out_cols[:, None], in_cols[None, :]).T
        )
        inside = 2 * coverage > threshold
        if not inside.any():
            inside = np.zeros(coverage.shape, dtype=bool)
            inside[np.unravel_index(int(np.argmax(coverage)), coverage.shape)] = True
            tiny.append(object_id)
        # nonzero of the transpose: column-major order, as RLE wants.
        local_cols, local_rows = np.nonzero(inside.T)
        positions.append(out_cols[local_cols] * out_height + out_rows[local_rows])
        owners.append(np.full(len(local_cols), len(kept_ids), dtype=np.int64))
        kept_ids.append(object_id)
    if not kept_ids:
        return [], tiny
    run_owner, starts, lengths = runs_of_positions(np.concatenate(owners), np.concatenate(positions))
    return rle.encode_object_runs(kept_ids, run_owner, starts, lengths, out_height, out_width), tiny


def rescale_instance_sample(sample: Sample, factor: float, mpp: float | None = None) -> Sample:
    """The sample resampled by ``factor`` (see module doc); metadata updated.

    ``scale`` becomes ``factor`` (times any earlier scale), ``mpp`` becomes ``mpp`` if given
    (``--target-mpp``) else the old mpp / factor, ``magnification`` the old one x factor
    (the equivalent magnification of the stored pixels), ``parent_image_id`` the sample's id.
    """
    if not (factor > 0 and math.isfinite(factor)):
        raise ValueError(f"scale factor must be a positive number, got {factor}")
    metadata = dict(sample.metadata)
    metadata["parent_image_id"] = sample.image_id
    metadata["scale"] = factor * (metadata.get("scale") or 1.0)
    if metadata.get("mpp") is not None:
        metadata["mpp"] = mpp if mpp is not None else metadata["mpp"] / factor
    if metadata.get("magnification") is not None:
        metadata["magnification"] = metadata["magnification"] * factor
    height, width = scaled_size(sample.height, factor), scaled_size(sample.width, factor)
    if (height, width) == (sample.height, sample.width):
        # Same pixel grid (e.g. the image already has the target mpp): pixels stay verbatim.
        return dataclasses.replace(sample, metadata=metadata)
    objects, tiny = resample_objects(sample_objects(sample), sample.height, sample.width, height, width)
    notes = list(sample.notes)
    if tiny:
        note = CountedNote(
            "rescale_tiny_kept",
            len(tiny),
            f"{sample.image_id}: {len(tiny)} object(s) covering no output pixel by more than half at scale "
            f"{factor:g} kept as their best-covered pixel (ids {', '.join(map(str, tiny))})",
        )
        logger.info("%s", note)
        notes.append(note)
    return Sample(
        image_id=sample.image_id,
        image=resample_image(sample.image, height, width),
        objects=objects,
        categories=sample.categories,
        iscrowd=sample.iscrowd,
        truncated=sample.truncated,
        metadata=metadata,
        notes=notes,
    )
