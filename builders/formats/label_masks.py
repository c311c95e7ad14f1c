"""Instance label images whose pixel values ARE the upstream ids, plus don't-care masks.

Used by the readers of Mahbod et al.'s data sets (NuInsSeg, CryoNuSeg), whose masks all
come from one Matlab generator (``masks_generator.m`` in masih4/NuInsSeg and
masih4/CryoNuSeg), and by S-BSST265. What the generator writes, per image:

* ``label masks/<stem>.tif`` (uint16): the SUM of the per-nucleus masks ``n * mask_n``
  (``mask_overlap = mask + mask_overlap``), so a pixel covered by nuclei 3 and 5 holds 8,
  a spurious id. Never used here.
* ``label masks modify/<stem>.tif`` (uint16): the MAXIMUM (``max(mask, mask_overlap_modify)``),
  so an overlap pixel belongs to the later (higher-numbered) nucleus; the authors say to use
  this one for evaluation. Ids are the 1-based order of the ImageJ ROI files; a nucleus
  entirely covered by later ones disappears, so ids can have gaps. Ids are kept as they are.

A don't-care ("vague"/ambiguous) area mask becomes ``iscrowd`` objects of category
``ambiguous`` (one per 8-connected component), numbered after the highest nucleus id, so
they are never counted as nuclei and never dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import rle
from ..raster import read_mask
from .instances import binary_instances

#: The generator's max-of-ids label masks (the ones to use) and its summed ones (never used).
LABEL_MASKS_MODIFY = "label masks modify"
LABEL_MASKS_SUMMED = "label masks"

#: Category of don't-care regions (always iscrowd objects).
AMBIGUOUS = "ambiguous"


def read_crowd_mask(path: Path | str, shape: tuple[int, ...]) -> np.ndarray:
    """A don't-care mask (any non-zero pixel is don't-care) of size ``shape``."""
    return read_mask(path, tuple(shape[:2]))


def instances_with_crowd(label_map: np.ndarray, crowd: np.ndarray | None = None) -> dict[str, Any]:
    """``Sample`` instance fields: nuclei of ``label_map`` (ids kept) + crowd objects of ``crowd``.

    Nuclei get category ``nucleus``; each 8-connected component of ``crowd`` becomes an
    ``iscrowd`` object of category ``ambiguous`` with an id above every nucleus id.
    """
    objects = rle.encode_label_map(label_map)
    categories: dict[int, str] = {obj["id"]: "nucleus" for obj in objects}
    iscrowd: dict[int, bool] = {}
    if crowd is not None and crowd.any():
        first_id = max((obj["id"] for obj in objects), default=0) + 1
        for obj in rle.encode_label_map(binary_instances(crowd)):
            obj["id"] = int(obj["id"]) - 1 + first_id
            categories[obj["id"]] = AMBIGUOUS
            iscrowd[obj["id"]] = True
            objects.append(obj)
    return {"objects": objects, "categories": categories, "iscrowd": iscrowd}
