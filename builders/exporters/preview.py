"""Overlay previews: instance masks drawn over their image (demo, card, ``show``)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Features
from PIL import Image

from .. import rle
from ..runs import ObjectSegments
from .shards import read_rows


def _to_rgb(image: Any) -> np.ndarray:
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:  # e.g. 16-bit microscopy: stretch to 8 bits for display only
        pixels = pixels.astype(np.float64)
        low, high = np.percentile(pixels, (0.5, 99.5))
        pixels = np.clip((pixels - low) / max(high - low, 1e-9) * 255, 0, 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return pixels[..., :3]


def record_segments(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every RLE-carrying entry of a record, whatever its kind (``objects``, ``regions``, ...)."""
    segments: list[Mapping[str, Any]] = []
    for value in record.values():
        if isinstance(value, list):
            segments += [v for v in value if isinstance(v, Mapping) and "segmentation" in v]
    return segments


def overlay(image: Any, objects: Sequence[Mapping[str, Any]], alpha: float = 0.45, seed: int = 0) -> Image.Image:
    """RGB image with each object filled in its own colour and outlined.

    Objects are painted through one label map (later objects win where they overlap), so
    memory stays at a few bytes per pixel however many objects an image has.
    """
    rgb = _to_rgb(image).astype(np.float32)
    if objects:
        height, width = rgb.shape[:2]
        indexed = [{"id": k + 1, "segmentation": obj["segmentation"]} for k, obj in enumerate(objects)]
        labels = rle.decode_objects(indexed, height, width)
        colours = np.random.default_rng(seed).integers(40, 256, (len(objects) + 1, 3)).astype(np.float32)
        inside = labels > 0
        rgb[inside] = (1 - alpha) * rgb[inside] + alpha * colours[labels[inside]]
        edge = inside & _label_edges(labels)
        rgb[edge] = colours[labels[edge]]
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8))


def _label_edges(labels: np.ndarray) -> np.ndarray:
    """Pixels whose label differs from one of their 4 neighbours."""
    edges = np.zeros(labels.shape, dtype=bool)
    vertical = labels[1:, :] != labels[:-1, :]
    horizontal = labels[:, 1:] != labels[:, :-1]
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    return edges


def record_overlay(record: Mapping[str, Any], seed: int = 0) -> Image.Image:
    """Overlay of a decoded record (``image`` as PIL or array) with all its segments.

    Records without an image (masks-only semantic builds) are drawn on mid-grey.
    """
    image = record["image"]
    if image is None:
        image = np.full((record["height"], record["width"]), 128, dtype=np.uint8)
    return overlay(image, record_segments(record), seed=seed)


def contact_sheet(tiles: Iterable[Image.Image], columns: int = 4, size: int = 256) -> Image.Image:
    """Tiles scaled to ``size`` px high, laid out in a grid.

    ``tiles`` may be a generator: each tile is scaled down as it arrives, so only the
    thumbnails are held (previews of very large images stay small in memory).
    """
    thumbs = []
    for tile in tiles:
        scale = size / tile.height
        thumbs.append(tile.resize((max(1, round(tile.width * scale)), size), Image.Resampling.NEAREST))
    columns = max(1, min(columns, len(thumbs)))
    rows = -(-len(thumbs) // columns)
    cell_w = max(t.width for t in thumbs)
    sheet = Image.new("RGB", (columns * cell_w, rows * size), (255, 255, 255))
    for index, thumb in enumerate(thumbs):
        sheet.paste(thumb, ((index % columns) * cell_w, (index // columns) * size))
    return sheet


#: Images drawn into a config's preview (the first ones of its first split).
PREVIEW_IMAGES = 4
#: Height of a preview tile. An image more than twice as large on a side is not shrunk (its
#: nuclei would become dots) but shown as a native-resolution PREVIEW_SIZE crop.
PREVIEW_SIZE = 256


def crop_window(record: Mapping[str, Any], size: int = PREVIEW_SIZE) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` of the native-resolution crop shown for a large record, None for small ones.

    The window (at most ``size`` x ``size``) is the one of a half-window grid that holds the
    most object pixels (first such window in reading order; the centre if there are none),
    so a partially annotated image shows annotated nuclei.
    """
    height, width = int(record["height"]), int(record["width"])
    if max(height, width) <= 2 * size:
        return None
    crop_w, crop_h = min(size, width), min(size, height)
    segments = _segments(record_segments(record), height, width)
    cell = max(size // 2, 1)
    grid = np.zeros((-(-height // cell), -(-width // cell)))
    rows = (segments.row0 + segments.row1 - 1) // 2  # a segment counts in the cell of its middle row
    np.add.at(grid, (rows // cell, segments.col // cell), segments.row1 - segments.row0)
    span_y, span_x = min(max(crop_h // cell, 1), grid.shape[0]), min(max(crop_w // cell, 1), grid.shape[1])
    totals = np.lib.stride_tricks.sliding_window_view(grid, (span_y, span_x)).sum(axis=(2, 3))
    if totals.max(initial=0) > 0:
        cy, cx = np.unravel_index(int(np.argmax(totals)), totals.shape)  # argmax: first in reading order
        x, y = int(cx) * cell, int(cy) * cell
    else:
        x, y = (width - crop_w) // 2, (height - crop_h) // 2
    return min(x, width - crop_w), min(y, height - crop_h), crop_w, crop_h


def _segments(segments: Sequence[Mapping[str, Any]], height: int, width: int) -> ObjectSegments:
    indexed = [{"id": k + 1, "segmentation": seg["segmentation"]} for k, seg in enumerate(segments)]
    return ObjectSegments.from_objects(indexed, height, width)


def preview_tile(record: Mapping[str, Any], size: int = PREVIEW_SIZE) -> Image.Image:
    """The overlay shown for a record in the card: whole, or a native-resolution crop if large."""
    window = crop_window(record, size)
    if window is None:
        return record_overlay(record)
    x, y, w, h = window
    image = record["image"]
    if image is None:
        pixels = np.full((h, w), 128, dtype=np.uint8)
    else:
        pixels = np.asarray(image)[y : y + h, x : x + w]
    cut = _segments(record_segments(record), int(record["height"]), int(record["width"])).crop(x, y, w, h)
    return overlay(pixels, cut.encode(cut.pixel_counts() > 0))


def preview_png(config_dir: Path, shards: Sequence[str], features: Features) -> bytes:
    """PNG bytes of the first images of a split with their masks drawn over them (large images cropped)."""
    records = read_rows([config_dir / name for name in shards], 0, PREVIEW_IMAGES, features)
    sheet = contact_sheet((preview_tile(record) for record in records), columns=PREVIEW_IMAGES, size=PREVIEW_SIZE)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)  # no timestamps: same input, same bytes
    return buffer.getvalue()
