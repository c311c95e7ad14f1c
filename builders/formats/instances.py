"""Generic instance helpers: upstream labels -> the schema's instances (ids 1..N per image).

One module for what every "label map" or "binary mask" reader needs:

* :func:`sequential_labels`: label map with ids 1..N in label order, small labels dropped
  (the input itself when nothing changes);
* :func:`renumber`: the same renumbering, also giving the upstream id of each new id and
  whether ids changed (the result is always int32);
* :func:`binary_instances`: binary mask -> instances by 8-connected components;
* :func:`label_instances`: upstream label map + its classes -> ``Sample`` instance fields,
  with a counted note when ids are renumbered.

``sequential_labels`` and ``renumber`` are two views of ONE implementation,
:func:`~..raster.relabel_sequential`, which lives in the core because the core's
``raster.read_label_map`` needs it and the core imports no role folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..base import CountedNote
from ..raster import relabel_sequential

#: 8-connectivity: pixels touching at a corner belong to the same component.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def sequential_labels(label_map: np.ndarray, min_area: int = 1) -> np.ndarray:
    """Relabel to 1..N keeping the order of the labels; drop labels under ``min_area`` px.

    Returns the input unchanged (same array) when it already is 1..N without gaps and
    nothing is dropped, so upstream ids survive wherever they already follow the schema.
    """
    return relabel_sequential(label_map, min_area)[0]


def renumber(label_map: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(int32 label map with ids 1..N, the upstream id of each new id - 1, whether ids changed).

    Upstream ids are kept when they already are 1..N; otherwise they become 1..N in
    increasing upstream id (the schema's ids are 1..N within an image). Takes any
    non-negative integer dtype, sparse int64 ids included.
    """
    relabelled, upstream_ids, changed = relabel_sequential(label_map)
    return relabelled.astype(np.int32, copy=False), upstream_ids, changed


def binary_instances(mask: np.ndarray) -> np.ndarray:
    """Instance label map (int32, 0 = background) of a binary mask: 8-connected components.

    Touching nuclei share a component, so they become ONE object: a binary mask cannot
    tell them apart. Ids run 1..N in raster order of each component's first pixel.
    """
    from scipy import ndimage  # imported here: scipy costs ~0.2 s of start-up `list` never needs

    labels, _ = ndimage.label(mask, structure=EIGHT_CONNECTED)
    return labels.astype(np.int32, copy=False)


def label_instances(
    label_map: np.ndarray, class_of: Mapping[int, str] | str, image_id: str, kind_prefix: str
) -> tuple[dict[str, Any], list[str]]:
    """``({"label_map", "categories"}, notes)`` of an upstream label map and its classes.

    ``class_of`` maps each upstream id present to a category name (or one name for all).
    Ids become 1..N when they have gaps (counted note ``<prefix> ids renumbered``).
    """
    renumbered, upstream_ids, changed = renumber(label_map)
    notes: list[str] = []
    if changed:
        notes.append(
            CountedNote(
                f"{kind_prefix} ids renumbered",
                1,
                f"{image_id}: instance ids {_preview(upstream_ids)} have gaps; renumbered 1..{len(upstream_ids)} in id order",
            )
        )
    if isinstance(class_of, str):
        categories: Mapping[int, str] | str = class_of
    else:
        categories = {new: class_of[int(old)] for new, old in enumerate(upstream_ids, start=1)}
    return {"label_map": renumbered, "categories": categories}, notes


def _preview(values: Sequence[int] | np.ndarray, limit: int = 8) -> str:
    shown = [int(v) for v in list(values)[:limit]]
    return f"{shown}{' ...' if len(values) > limit else ''}"
