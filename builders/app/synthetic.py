"""Synthetic raw data the project generates itself (demo and test fixtures).

Nothing here is fetched: images are drawn from a seeded generator, so the same seed gives
the same bytes on every machine. :func:`write_dsb2018_stage1_train` writes the exact
DSB2018 ``stage1_train`` layout (RGBA image PNG, one L {0,255} mask PNG per nucleus).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..sources.dsb2018 import synthetic_id

#: (height, width) of the generated images: DSB's common sizes, kept small for speed.
DSB_SIZES = ((256, 256), (256, 320), (260, 347))
MODALITIES = ("fluorescence", "brightfield", "histology")


@dataclass
class SyntheticImage:
    pixels: np.ndarray  # (h, w, 3) uint8
    masks: np.ndarray  # (n, h, w) bool, may overlap
    modality: str


def ellipse_masks(rng: np.random.Generator, height: int, width: int, n: int, overlap_pairs: int = 1) -> np.ndarray:
    """``n`` random ellipses (radii 4-14 px, random orientation) fully or partly in frame.

    ``overlap_pairs`` extra ellipses are placed so that they overlap an existing one.
    """
    yy, xx = np.mgrid[:height, :width]
    masks = []
    centres = []
    for k in range(n + overlap_pairs):
        if k >= n and centres:
            cy, cx = centres[int(rng.integers(len(centres)))]
            cy, cx = cy + rng.uniform(-8, 8), cx + rng.uniform(6, 12)
        else:
            cy, cx = rng.uniform(-4, height + 4), rng.uniform(-4, width + 4)
        a, b = rng.uniform(4, 14), rng.uniform(4, 12)
        angle = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        mask = (u / a) ** 2 + (v / b) ** 2 <= 1.0
        if mask.any():
            masks.append(mask)
            centres.append((cy, cx))
    return np.stack(masks) if masks else np.zeros((0, height, width), dtype=bool)


def render(rng: np.random.Generator, masks: np.ndarray, modality: str) -> np.ndarray:
    """Paint an RGB image of the given modality with nuclei where ``masks`` are set."""
    height, width = masks.shape[1:]
    union = masks.any(axis=0) if len(masks) else np.zeros((height, width), dtype=bool)
    noise = rng.normal(0, 6, (height, width))
    if modality == "fluorescence":
        grey = np.where(union, 170, 12) + noise
        rgb = np.repeat(grey[..., None], 3, axis=2)
    elif modality == "brightfield":
        grey = np.where(union, 90, 200) + noise
        rgb = np.repeat(grey[..., None], 3, axis=2)
    else:  # histology: purple nuclei on pink tissue
        background = np.array([225, 170, 200])
        nucleus = np.array([110, 60, 150])
        rgb = np.where(union[..., None], nucleus, background) + noise[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def synthetic_images(
    n_images: int, seed: int = 0, sizes: tuple[tuple[int, int], ...] = DSB_SIZES
) -> list[SyntheticImage]:
    rng = np.random.default_rng(seed)
    images = []
    for k in range(n_images):
        height, width = sizes[k % len(sizes)]
        modality = MODALITIES[k % len(MODALITIES)]
        masks = ellipse_masks(rng, height, width, int(rng.integers(6, 25)), overlap_pairs=int(k % 2))
        images.append(SyntheticImage(render(rng, masks, modality), masks, modality))
    return images


def write_dsb2018_stage1_train(
    root: Path | str, n_images: int = 12, seed: int = 0, sizes: tuple[tuple[int, int], ...] = DSB_SIZES
) -> list[str]:
    """Write ``root/<id>/images/<id>.png`` (RGBA) + ``root/<id>/masks/<hex>.png``; returns ids."""
    root = Path(root)
    ids = []
    for k, image in enumerate(synthetic_images(n_images, seed, sizes)):
        image_id = synthetic_id(seed, "image", k)
        folder = root / image_id
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "masks").mkdir(parents=True, exist_ok=True)
        alpha = np.full(image.pixels.shape[:2] + (1,), 255, dtype=np.uint8)
        Image.fromarray(np.concatenate([image.pixels, alpha], axis=2)).save(folder / "images" / f"{image_id}.png")
        for j, mask in enumerate(image.masks):
            Image.fromarray(mask.astype(np.uint8) * 255).save(
                folder / "masks" / f"{synthetic_id(seed, image_id, j)}.png"
            )
        ids.append(image_id)
    return ids
