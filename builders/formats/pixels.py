"""Small pixel conventions several readers share (constant alpha channels)."""

from __future__ import annotations

import numpy as np

from ..base import CountedNote


def without_constant_alpha(pixels: np.ndarray, image_id: str) -> tuple[np.ndarray, list[str]]:
    """RGB pixels of an RGBA image whose alpha is 255 everywhere (it carries nothing).

    Images written by tools that save whatever the slide reader returned (OpenSlide gives
    RGBA) carry such a channel. An alpha that is not constant is kept, with a counted note.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 4:
        return pixels, []
    if (pixels[..., 3] == 255).all():
        return np.ascontiguousarray(pixels[..., :3]), []
    return pixels, [CountedNote("alpha kept", 1, f"{image_id} has a non-constant alpha channel, stored as RGBA")]
