"""Fixed-size tiling of large images (tiled views such as ``BCSS_1024``).

The grid along each axis starts at 0 and steps by ``stride`` until a tile reaches the far
edge; tiles at the right and bottom edges are cut short by the image border (never padded,
never shifted), so every stored pixel is an upstream pixel and, with ``stride == size``,
the tiles partition the image exactly (pasting them at their offsets gives it back).
``stride < size`` gives overlapping tiles; ``stride > size`` would leave gaps and is refused.

:func:`tile_windows` is independent of the record kind; :func:`tile_semantic_sample` cuts a
semantic Sample (image + class-code mask) and drops tiles that are entirely don't care;
:func:`tile_instance_sample` cuts an instance Sample (views ``--tile``, docs/views.md):
objects crossing a tile border are clipped to the tile, keep their id and are flagged
``truncated``; clipped pieces under ``min_area`` pixels are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..base import CountedNote, Sample, SkipItem, logger
from ..runs import ObjectSegments
from ..schema import DONT_CARE_CODE, sample_objects

#: Default ``min_area`` of instance tiles: clipped pieces under 16 px (a 4 x 4 square) are dropped.
DEFAULT_MIN_AREA = 16


def tile_offsets(length: int, size: int, stride: int) -> list[int]:
    """Tile start offsets along one axis of ``length`` pixels (see the module docstring)."""
    if size < 1 or stride < 1:
        raise ValueError(f"tile size and stride must be positive, got size={size}, stride={stride}")
    if stride > size:
        raise ValueError(f"stride {stride} > tile size {size} would leave pixels in no tile")
    offsets = [0]
    while offsets[-1] + size < length:
        offsets.append(offsets[-1] + stride)
    return offsets


def tile_windows(height: int, width: int, size: int, stride: int) -> list[tuple[int, int, int, int]]:
    """``(x, y, w, h)`` of every tile, row by row (top to bottom, left to right)."""
    return [
        (x, y, min(size, width - x), min(size, height - y))
        for y in tile_offsets(height, size, stride)
        for x in tile_offsets(width, size, stride)
    ]


def tile_image_id(image_id: str, x: int, y: int) -> str:
    """Record id of the tile at offset (x, y) of ``image_id``."""
    return f"{image_id}_tile_x{x}_y{y}"


def tile_semantic_sample(sample: Sample, size: int, stride: int | None = None) -> Iterator[Sample]:
    """Tiles of a semantic sample; tiles whose mask is entirely don't care (code 0) are dropped.

    Each tile keeps the sample's metadata plus ``tile_x`` / ``tile_y`` (its offset in the
    sample, in pixels) and gets the id ``<image_id>_tile_x<X>_y<Y>``. The number of dropped
    tiles is left as a note on the first tile. Raises :class:`SkipItem` when every tile is
    don't care (nothing annotated).
    """
    stride = size if stride is None else stride
    mask = sample.mask
    if mask is None:
        raise ValueError(f"{sample.image_id}: tile_semantic_sample needs a sample with a mask")
    windows = tile_windows(sample.height, sample.width, size, stride)
    # Deciding first (mask only, cheap) lets the drop count ride on the first kept tile.
    kept = [(x, y, w, h) for x, y, w, h in windows if np.any(mask[y : y + h, x : x + w] != DONT_CARE_CODE)]
    if not kept:
        raise SkipItem(sample.image_id, "every tile is outside_roi (don't care): nothing annotated")
    dropped = len(windows) - len(kept)
    notes = list(sample.notes)
    if dropped:
        note = f"{sample.image_id}: {dropped} of {len(windows)} tiles dropped (entirely outside_roi)"
        logger.info(note)
        notes.append(note)
    for x, y, w, h in kept:
        yield Sample(
            image_id=tile_image_id(sample.image_id, x, y),
            image=None if sample.image is None else sample.image[y : y + h, x : x + w],
            mask=mask[y : y + h, x : x + w],
            metadata={**sample.metadata, "tile_x": x, "tile_y": y},
            notes=notes,
        )
        notes = []


def tile_instance_sample(
    sample: Sample, size: int, stride: int | None = None, min_area: int = DEFAULT_MIN_AREA
) -> Iterator[Sample]:
    """Tiles of an instance sample, every tile of the grid (tiles without nuclei included).

    Objects are cut on their RLE runs (no full-frame decode). An object keeps its id in
    every tile it reaches; it is ``truncated`` there when the tile holds only part of it
    (or it was truncated already). A truncated piece smaller than ``min_area`` pixels is
    dropped (whole objects are kept however small): a :class:`CountedNote` of kind
    ``tile_pieces_dropped`` on that tile names them. Tiles get ``parent_image_id`` (the
    sample's id) and ``tile_x`` / ``tile_y`` (offset in the sample, pixels) in metadata;
    the sample's own notes ride on the first tile.
    """
    stride = size if stride is None else stride
    if min_area < 0:
        raise ValueError(f"min_area must be >= 0, got {min_area}")
    windows = tile_windows(sample.height, sample.width, size, stride)
    full = ObjectSegments.from_objects(sample_objects(sample), sample.height, sample.width)
    already_truncated = sample.truncated or {}
    notes = list(sample.notes)
    for x, y, w, h in windows:
        tile_id = tile_image_id(sample.image_id, x, y)
        piece = full.crop(x, y, w, h)
        pixels = piece.pixel_counts()
        present = pixels > 0
        cut = present & (pixels < full.areas)
        dropped = cut & (pixels < min_area)
        if dropped.any():
            ids = ", ".join(str(i) for i in full.ids[dropped])
            note = CountedNote(
                "tile_pieces_dropped",
                int(dropped.sum()),
                f"{tile_id}: {int(dropped.sum())} clipped object piece(s) under {min_area} px dropped (ids {ids})",
            )
            logger.info("%s", note)
            notes.append(note)
        kept = present & ~dropped
        truncated = {int(i): bool(c or already_truncated.get(int(i), False)) for i, c in zip(full.ids[kept], cut[kept])}
        yield Sample(
            image_id=tile_id,
            image=np.ascontiguousarray(sample.image[y : y + h, x : x + w]),
            objects=piece.encode(kept),
            categories=sample.categories,
            iscrowd=sample.iscrowd,
            truncated=truncated,
            metadata={**sample.metadata, "parent_image_id": sample.image_id, "tile_x": x, "tile_y": y},
            notes=notes,
        )
        notes = []
