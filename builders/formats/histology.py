"""Helpers shared by the histology readers (MoNuSeg, TNBC, Janowczyk, PanNuke).

* :func:`binary_instances`: binary mask -> instance label map by connected components;
  :func:`image_and_instances` reads an image and its binary mask file that way.
* :func:`he_metadata`: the metadata every H&E source shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..base import SkipItem, Source
from ..raster import read_image, read_mask

#: 8-connectivity: pixels touching at a corner belong to the same component.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def binary_instances(mask: np.ndarray) -> np.ndarray:
    """Instance label map (int32, 0 = background) of a binary mask: 8-connected components.

    Touching nuclei share a component, so they become ONE object: a binary mask cannot
    tell them apart. Ids run 1..N in raster order of each component's first pixel.
    """
    labels, _ = ndimage.label(mask, structure=EIGHT_CONNECTED)
    return labels.astype(np.int32, copy=False)


#: Metadata every H&E brightfield histology record carries.
HE_METADATA = {"stain": "H&E", "modality": "histology"}


def he_metadata(source: Source, **values: Any) -> dict[str, Any]:
    """Metadata of an H&E brightfield histology image (stain and modality filled in)."""
    return source.base_metadata(**HE_METADATA, **values)


def image_and_instances(image_id: str, image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, instance label map) of an image and its binary mask; a missing mask is a counted skip."""
    if not mask_path.is_file():
        raise SkipItem(image_id, f"no mask {mask_path.parent.name}/{mask_path.name} for {image_path.name}")
    pixels = read_image(image_path)
    return pixels, binary_instances(read_mask(mask_path, pixels.shape[:2]))
