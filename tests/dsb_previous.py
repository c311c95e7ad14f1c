"""The DSB2018 appearance rules as they were before the histogram rewrite (commit c2e7181).

Kept verbatim, in one place, as the reference the equivalence tests
(tests/test_dsb_perf_equivalence.py) and the speed bench (bench/dsb_bench.py) compare the
current code with: medians by sorting boolean-indexed copies.
"""

from __future__ import annotations

import colorsys

import numpy as np

from nuclei_collection_builders.formats.modality import DARK_BACKGROUND_MAX, GREY_SPREAD_MAX, rgb_8bit
from nuclei_collection_builders.sources import dsb2018


def previous_modality_of(pixels: np.ndarray) -> str:
    rgb = rgb_8bit(pixels[::4, ::4]).astype(np.float32)
    brightness = float(np.median(rgb.mean(axis=-1)))
    if brightness < DARK_BACKGROUND_MAX:
        return "fluorescence"
    spread = float((rgb.max(axis=-1) - rgb.min(axis=-1)).mean())
    return "brightfield" if spread < GREY_SPREAD_MAX else "histology"


def previous_colour_name(colour: np.ndarray, other: np.ndarray) -> str:
    if float(colour.max() - colour.min()) >= dsb2018.CHROMA_MIN:
        hue = 360.0 * colorsys.rgb_to_hsv(*(float(c) / 255.0 for c in colour))[0]
        return next(name for limit, name in dsb2018.HUE_NAMES if hue < limit)
    level, other_level = float(colour.mean()), float(other.mean())
    if level > other_level + dsb2018.GREY_MARGIN:
        return "white"
    if level < other_level - dsb2018.GREY_MARGIN:
        return "black"
    return "grey"


def previous_nuclei_class_of(pixels: np.ndarray, nuclei: np.ndarray) -> str | None:
    nuclei = np.asarray(nuclei, dtype=bool)
    if not nuclei.any():
        return None
    rgb = rgb_8bit(pixels)
    foreground = np.median(rgb[nuclei], axis=0)
    background = np.median(rgb[~nuclei], axis=0) if not nuclei.all() else foreground
    coverage = float(nuclei.mean())
    density = next(name for limit, name in dsb2018.DENSITY_NAMES if coverage < limit)
    height, width = nuclei.shape
    fg, bg = previous_colour_name(foreground, background), previous_colour_name(background, foreground)
    return f"{fg}_{bg}_{width}_{height}_{density}"
