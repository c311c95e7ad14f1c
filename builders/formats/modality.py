"""Imaging modality derived from the pixels (DSB2018, cluster_nuclei: no upstream metadata says it)."""

from __future__ import annotations

import numpy as np

#: Modality thresholds (8-bit scale): mean per-pixel channel spread below this -> grey image;
#: median brightness below this -> dark background (fluorescence).
GREY_SPREAD_MAX = 2.0
DARK_BACKGROUND_MAX = 100.0


def rgb_8bit(pixels: np.ndarray) -> np.ndarray:
    """(h, w, 3) view or copy in the 8-bit range: alpha dropped, grey repeated, 16-bit scaled."""
    rgb = pixels[..., :3] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    return rgb / 257.0 if rgb.dtype == np.uint16 else rgb


def modality_of(pixels: np.ndarray) -> str:
    """fluorescence | brightfield | histology, from pixels alone (every 4th row/column).

    * dark background (median brightness < 100)             -> fluorescence
      (DSB's fluorescence images are grey or false-coloured on black);
    * bright background and grey (R = G = B within 2 levels)   -> brightfield;
    * bright background and coloured                         -> histology (stained tissue).
    """
    # Every 4th row and column: the rule looks at whole-image statistics, and the
    # subsample makes it 16x cheaper (it runs once per image while listing the local splits).
    rgb = rgb_8bit(pixels[::4, ::4]).astype(np.float32)
    brightness = float(np.median(rgb.mean(axis=-1)))
    if brightness < DARK_BACKGROUND_MAX:
        return "fluorescence"
    spread = float((rgb.max(axis=-1) - rgb.min(axis=-1)).mean())
    return "brightfield" if spread < GREY_SPREAD_MAX else "histology"
