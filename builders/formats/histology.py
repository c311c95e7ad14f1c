"""Helpers shared by the histology readers (MoNuSeg, TNBC, Janowczyk, PanNuke).

* :func:`image_and_instances`: an image and its binary mask file, instances by connected
  components (``formats.instances.binary_instances``).
* :func:`he_metadata`: the metadata every H&E source shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..base import SkipItem, Source
from ..raster import read_image, read_mask
from .instances import EIGHT_CONNECTED as EIGHT_CONNECTED  # re-exported: PanNuke labels components with it
from .instances import binary_instances

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
