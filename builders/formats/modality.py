"""Imaging modality derived from the pixels (DSB2018, cluster_nuclei: no upstream metadata says it).

Medians of 8-bit data come from histograms (:func:`histogram_median`): one counting pass, no
sort and no copy of the selected pixels, and exactly ``np.median``'s value (for an even count,
the mean of the two middle values). DSB2018's ``nuclei_class`` uses the same helpers
(:func:`channel_histograms`) for its per-channel foreground / background medians.
"""

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


def histogram_median(histogram: np.ndarray) -> float:
    """``np.median`` of the values a histogram counts (value ``v`` counted ``histogram[v]`` times).

    Exact: the middle order statistic(s) are read off the cumulative counts; an even count
    gives the mean of the two middle values, as ``np.median`` does. NaN for an empty histogram.
    """
    cumulative = np.cumsum(histogram)
    n = int(cumulative[-1]) if len(cumulative) else 0
    if n == 0:
        return float("nan")
    low, high = np.searchsorted(cumulative, [(n - 1) // 2, n // 2], side="right").tolist()
    return (low + high) / 2.0


def channel_histograms(rgb: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """(k, 256) counts of the values of the first k = min(3, c) channels of an (h, w, c) uint8 image.

    ``index``: row-major pixel offsets (``np.flatnonzero`` of a mask) to count only those.
    One ``np.bincount`` per channel; nothing is sorted.
    """
    flat = rgb.reshape(-1, rgb.shape[-1])
    if index is not None:
        flat = flat[index]
    return np.stack([np.bincount(flat[:, c], minlength=256) for c in range(min(3, flat.shape[1]))])


def modality_of(pixels: np.ndarray) -> str:
    """fluorescence | brightfield | histology, from pixels alone (every 4th row/column).

    * dark background (median brightness < 100)             -> fluorescence
      (DSB's fluorescence images are grey or false-coloured on black);
    * bright background and grey (R = G = B within 2 levels)   -> brightfield;
    * bright background and coloured                         -> histology (stained tissue).
    """
    # Every 4th row and column: the rule looks at whole-image statistics, and the
    # subsample makes it 16x cheaper (it runs once per image while listing the local splits).
    sample = pixels[::4, ::4]
    if sample.dtype == np.uint8:
        rgb8 = sample[..., :3] if sample.ndim == 3 else sample[..., None]
        brightness = _median_brightness_uint8(rgb8)
        rgb = None
    else:
        rgb = rgb_8bit(sample).astype(np.float32)
        brightness = float(np.median(rgb.mean(axis=-1)))
    if brightness < DARK_BACKGROUND_MAX:
        return "fluorescence"
    if rgb is None:
        rgb = rgb_8bit(sample).astype(np.float32)
    spread = float((rgb.max(axis=-1) - rgb.min(axis=-1)).mean())
    return "brightfield" if spread < GREY_SPREAD_MAX else "histology"


def _median_brightness_uint8(rgb8: np.ndarray) -> float:
    """``np.median(rgb.astype(float32).mean(axis=-1))`` of (h, w, k) uint8 pixels, from a histogram.

    A pixel's float32 mean is ``float32(r + g + b) / 3`` (the sum is exact), which grows with
    the integer sum, so the median's order statistics are those of the sums: count the sums
    (0..765), take the middle one(s), and let numpy average their float32 means as it would.
    The mean is over the channels given (1 for grey: R = G = B means the same value).
    """
    channels = rgb8.shape[-1]  # 1 for grey: there the mean is the value itself
    flat = rgb8.reshape(-1, channels)
    sums = flat[:, 0] if channels == 1 else flat.sum(axis=1, dtype=np.uint16)
    cumulative = np.cumsum(np.bincount(sums, minlength=1))
    n = int(cumulative[-1]) if len(cumulative) else 0
    if n == 0:
        return float(np.median(np.zeros(0, np.float32)))
    middle = np.searchsorted(cumulative, [(n - 1) // 2, n // 2], side="right")
    means = middle.astype(np.float32) / np.float32(channels)
    return float(np.median(means if n % 2 == 0 else means[:1]))
