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


def preview_png(config_dir: Path, shards: Sequence[str], features: Features) -> bytes:
    """PNG bytes of the first images of a split with their masks drawn over them."""
    records = read_rows([config_dir / name for name in shards], 0, PREVIEW_IMAGES, features)
    sheet = contact_sheet((record_overlay(record) for record in records), columns=PREVIEW_IMAGES)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)  # no timestamps: same input, same bytes
    return buffer.getvalue()
