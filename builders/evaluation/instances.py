"""The objects of one image as foreground runs: the input form every metric works on.

Accepted inputs: a 2-D label map of ints (0 = background, one object per non-zero value,
in label order), a list of objects in the collection's schema (COCO RLE ``segmentation``
dicts, optional ``id``, ``category``, ``iscrowd``, ``score``; objects may overlap; list
order), datasets' columnar dict of lists, or :class:`Instances`. Each object becomes its
foreground runs in column-major pixel order (the order of COCO RLE offsets, Lin et al.
2014), so overlapping objects keep all their pixels and nothing is painted.

:func:`mosaic` puts many same-size images side by side as one frame (image k's column x
becomes column ``k * width + x``) so a batch is parsed and matched at once.

Bad input raises :class:`MetricInputError` (a ValueError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import rle
from ..base import NucleiCollectionError


class MetricInputError(NucleiCollectionError, ValueError):
    """Inputs a metric cannot score (wrong type, shape, dtype, size mismatch, bad RLE)."""


# --------------------------------------------------------------------------- instances


@dataclass(frozen=True, eq=False)
class Instances:
    """The objects of one image as foreground runs, the form every metric works on.

    Object ``k`` has id ``ids[k]``, ``areas[k]`` pixels, category ``category[k]`` (-1 when
    unknown) and ``crowd[k]``. Its pixels are the runs ``starts[r]:starts[r] + lengths[r]``
    (column-major pixel offsets) with ``owner[r] == k``; runs are ordered by owner, then
    start, and never overlap within an object (different objects may overlap).
    """

    ids: np.ndarray
    areas: np.ndarray
    category: np.ndarray
    crowd: np.ndarray
    owner: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    height: int | None
    width: int | None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls, height: int | None = None, width: int | None = None) -> Instances:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, np.zeros(0, bool), none, none, none, height, width)

    @classmethod
    def from_label_map(cls, label_map: np.ndarray, categories: Mapping[int, int] | None = None) -> Instances:
        """Objects of a 2-D label map (0 = background); ``categories`` maps label -> category."""
        label_map = np.asarray(label_map)
        if label_map.ndim != 2:
            raise MetricInputError(f"a label map must be 2-D (height, width), got shape {label_map.shape}")
        if label_map.dtype == bool:
            label_map = label_map.astype(np.uint8)
        if not np.issubdtype(label_map.dtype, np.integer):
            raise MetricInputError(f"a label map must hold integers, got dtype {label_map.dtype}")
        height, width = label_map.shape
        if label_map.size == 0:
            return cls.empty(height, width)
        if np.issubdtype(label_map.dtype, np.signedinteger) and label_map.min() < 0:
            raise MetricInputError("a label map must not hold negative labels (0 = background)")
        flat = np.ascontiguousarray(label_map.T).reshape(-1)  # column-major, like COCO RLE offsets
        starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], starts)).astype(np.int64)
        values = flat[starts]
        lengths = np.diff(np.append(starts, flat.size))
        foreground = values != 0
        starts, lengths, values = starts[foreground], lengths[foreground], values[foreground]
        ids, owner = np.unique(values, return_inverse=True)
        order = np.argsort(owner, kind="stable")  # group by object, starts stay ascending
        owner, starts, lengths = owner[order].astype(np.int64), starts[order], lengths[order]
        ids = ids.astype(np.int64)
        areas = np.bincount(owner, weights=lengths, minlength=len(ids)).astype(np.int64)
        if categories is None:
            category = np.full(len(ids), -1, dtype=np.int64)
        else:
            missing = [int(i) for i in ids if int(i) not in categories]
            if missing:
                raise MetricInputError(f"labels {missing[:10]} have no entry in categories")
            category = np.array([int(categories[int(i)]) for i in ids], dtype=np.int64)
        return cls(ids, areas, category, np.zeros(len(ids), bool), owner, starts, lengths, height, width)

    @classmethod
    def from_objects(
        cls,
        objects: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        height: int | None = None,
        width: int | None = None,
    ) -> Instances:
        """Objects in the collection's schema (a list of dicts, or the columnar dict of lists)."""
        instances, _ = parse_object_lists([objects])
        if instances.height is None:
            return cls.empty(height, width)
        if height is not None and width is not None and (instances.height, instances.width) != (height, width):
            raise MetricInputError(f"RLE size {[instances.height, instances.width]} != expected size {[height, width]}")
        return instances

    def select(self, keep: np.ndarray) -> Instances:
        """The objects where ``keep`` (bool per object) is true, in the same order."""
        keep = np.asarray(keep, dtype=bool)
        if keep.all():
            return self
        new_index = np.cumsum(keep) - 1
        run_keep = keep[self.owner]
        return Instances(
            self.ids[keep], self.areas[keep], self.category[keep], self.crowd[keep],
            new_index[self.owner[run_keep]], self.starts[run_keep], self.lengths[run_keep],
            self.height, self.width,
        )  # fmt: skip


InstancesLike = Instances | np.ndarray | Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]


def object_rows(objects: Any) -> list[Mapping[str, Any]]:
    """A list of object dicts from a list or from datasets' columnar dict of lists."""
    if isinstance(objects, Mapping):
        if "segmentation" not in objects:
            raise MetricInputError("an objects mapping must be the columnar form with a 'segmentation' list")
        keys = list(objects)
        return [dict(zip(keys, values)) for values in zip(*(objects[k] for k in keys))]
    if isinstance(objects, (str, bytes)) or not isinstance(objects, Sequence):
        raise MetricInputError(f"expected a label map, a list of objects or Instances, got {type(objects).__name__}")
    return list(objects)


def parse_object_lists(lists: Sequence[Any], slots: Sequence[int] | None = None) -> tuple[Instances, np.ndarray]:
    """The objects of several images (same size) with ONE RLE parse, as a mosaic (see :func:`mosaic`).

    List ``i`` is image ``slots[i]`` of the mosaic (default: ``i``). Returns the instances
    and the mosaic image index of each object.
    """
    slots = np.arange(len(lists), dtype=np.int64) if slots is None else np.asarray(slots, dtype=np.int64)
    segmentations: list[Any] = []
    ids: list[Any] = []
    category: list[Any] = []
    crowd: list[Any] = []
    per_image = []
    for objects in lists:
        rows = object_rows(objects)
        per_image.append(len(rows))
        try:
            segmentations += [row["segmentation"] for row in rows]
        except (KeyError, TypeError):
            raise MetricInputError("every object needs a 'segmentation' RLE dict") from None
        ids += [row.get("id", k + 1) for k, row in enumerate(rows)]
        category += [row.get("category") for row in rows]
        crowd += [row.get("iscrowd", False) for row in rows]
    image_of = np.repeat(slots, per_image)
    if not segmentations:
        return Instances.empty(), image_of
    try:
        owner, starts, lengths, height, width = rle.object_runs(segmentations)
    except (rle.RLEError, ValueError, TypeError, KeyError) as error:
        if not all(isinstance(seg, Mapping) and "counts" in seg and "size" in seg for seg in segmentations):
            raise MetricInputError(
                "segmentation must be COCO RLE {'size': [h, w], 'counts': ...} (convert polygons first)"
            ) from None
        raise MetricInputError(f"unreadable RLE: {error}") from None
    starts = starts + image_of[owner] * (height * width)
    instances = Instances(
        np.array(ids, dtype=np.int64),
        np.bincount(owner, weights=lengths, minlength=len(segmentations)).astype(np.int64),
        np.array([-1 if c is None else c for c in category], dtype=np.int64),
        np.array(crowd, dtype=bool),
        owner, starts, lengths, height, width * (int(slots.max()) + 1),
    )  # fmt: skip
    return instances, image_of


def size_of(value: InstancesLike) -> tuple[int, int] | None:
    """(height, width) of an image's instances, None when unknown (an empty object list)."""
    if isinstance(value, Instances):
        return None if value.height is None else (value.height, value.width)
    if isinstance(value, np.ndarray):
        return (int(value.shape[0]), int(value.shape[1])) if value.ndim == 2 else None
    try:
        first = value["segmentation"][0] if isinstance(value, Mapping) else value[0]["segmentation"]
        return int(first["size"][0]), int(first["size"][1])
    except (IndexError, KeyError, TypeError):
        return None


def mosaic(images: Sequence[InstancesLike]) -> tuple[Instances, np.ndarray]:
    """Several images of one size as ONE frame, side by side; returns (instances, image of each object).

    Image k's column x becomes column ``k * width + x``: in column-major offsets that is
    ``k * height * width + offset``, so objects of different images never touch and any
    metric core runs on the whole batch at once. Object lists are parsed together in a
    single RLE pass (the per-image cost of scoring a large split). Within an image the
    object order is kept (object lists come first in the mosaic, then the other inputs).
    """
    sizes = {size for size in map(size_of, images) if size is not None}
    if len(sizes) > 1:
        raise MetricInputError(f"images scored together must share one size, got {sorted(sizes)}")
    height, width = sizes.pop() if sizes else (None, None)
    lists = [k for k, image in enumerate(images) if not isinstance(image, (Instances, np.ndarray))]
    parts = [parse_object_lists([images[k] for k in lists], lists)]
    for k, image in enumerate(images):
        if isinstance(image, (Instances, np.ndarray)):
            instances = as_instances(image)
            shifted = Instances(
                instances.ids, instances.areas, instances.category, instances.crowd, instances.owner,
                instances.starts + k * height * width if height else instances.starts, instances.lengths,
                height, width,
            )  # fmt: skip
            parts.append((shifted, np.full(len(instances), k, dtype=np.int64)))
    first_object = np.cumsum([0] + [len(part) for part, _ in parts])
    joined = Instances(
        np.concatenate([part.ids for part, _ in parts]),
        np.concatenate([part.areas for part, _ in parts]),
        np.concatenate([part.category for part, _ in parts]),
        np.concatenate([part.crowd for part, _ in parts]),
        np.concatenate([part.owner + first for (part, _), first in zip(parts, first_object)]),
        np.concatenate([part.starts for part, _ in parts]).astype(np.int64),
        np.concatenate([part.lengths for part, _ in parts]).astype(np.int64),
        height, None if width is None else width * len(images),
    )  # fmt: skip
    return joined, np.concatenate([image_of for _, image_of in parts])


def as_instances(value: InstancesLike) -> Instances:
    """:class:`Instances` from a label map, a list of schema objects, or Instances (returned as is)."""
    if isinstance(value, Instances):
        return value
    if isinstance(value, np.ndarray):
        return Instances.from_label_map(value)
    return Instances.from_objects(value)
