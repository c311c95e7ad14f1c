"""Instance and semantic segmentation metrics, exact and fast (definitions: docs/evaluation.md).

Everything is computed from the *instances*: two label maps (h, w) of ints (0 = background),
two lists of objects in the collection's schema (COCO RLE ``segmentation`` dicts, optional
``id``, ``category``, ``iscrowd``; objects may overlap), or one of each. Objects are never
painted into a label map, so overlapping objects keep all their pixels.

One matching core serves every metric. :func:`match` turns both sides into
:class:`Instances` (per object: id, area, category, crowd flag, and its foreground runs in
column-major order) and intersects the runs of the two sides in one vectorised sweep: the
result is the sparse list of overlapping (true, pred) pairs with their intersection, from
which unions (``area_t + area_p - intersection``) and IoUs follow. No per-pair mask, no
dense n_true x n_pred pixel work. :func:`mosaic` puts many same-size images side by side
as one frame, so a whole batch is parsed and matched at once (how a fold is scored fast).

Per image (``true`` / ``pred``: label map, object list or Instances; each metric is also a
method of :class:`Matching`, so one matching serves several metrics):

    match(true, pred) -> Matching              sparse pairs, areas, IoU; crowd rule applied
    pq(true, pred, iou=0.5) -> PQ              pq, dq, sq, tp, fp, fn, sum_iou (Kirillov 2019, Graham 2019)
    aji(true, pred) -> AJI                     aji, intersection, union (Kumar et al. 2017)
    aji_plus(true, pred) -> AJI                one-to-one Hungarian assignment (Graham et al. 2019)
    dsb2018(true, pred) -> DSB                 Kaggle DSB2018: mean over t = 0.50..0.95 of TP/(TP+FP+FN)
    f1(true, pred, iou=0.5) -> Detection       precision, recall, f1 at an IoU threshold
    dice(true, pred) -> Dice                   binary foreground Dice
    pannuke_image(true, pred, classes) -> PanNukeImage    bPQ + per-class counts (one matching)
    bpq(true, pred) -> float, mpq(true, pred, classes) -> float
    semantic_dice_iou(true_codes, pred_codes, n_classes, ignore=0) -> SemanticScores

Over a split (streaming: add one image at a time):

    MeanOverImages(empty_score=None).add(result); .mean, .summary()   per-image mean + empty-image rules
    PanNukeAggregator(classes, class_names).add(true, pred, tissue, image_id); .result() -> PanNukeResult
        bPQ, mPQ (per tissue, then over tissues), mPQ+ (CoNIC), per-tissue / per-class tables, .rows
    mpq_plus(images: Iterable[PanNukeImage]) -> (float, list[PQ])
    SemanticAccumulator(n_classes, ignore=0).add(true_codes, pred_codes); .result() -> SemanticScores
    coco_ap(pairs, max_dets=None) -> dict      COCO mask AP via pycocotools, maxDets raised to the busiest image

Conventions (tested in tests/test_metrics.py):

* Both sides empty: PQ, AJI, AJI+, DSB, F1 and Dice are undefined and returned as NaN;
  :class:`MeanOverImages` leaves such images out and counts them (``empty_score=1.0``
  scores them 1 instead). Empty truth with predictions scores 0 (counted as such).
  PanNuke's bPQ / mPQ leave images (classes) out when the truth has no nucleus (of that class).
* ``iscrowd`` truth objects are don't-care regions, not nuclei: they are removed from the
  truth, and every prediction with more than half of its pixels inside the crowd regions
  is ignored (neither TP nor FP, not in any union). Dice ignores the pixels covered by a
  crowd region and by no other truth object.
* No epsilon: every ratio is an exact ratio of integer counts (a single float division).
  Published code adds 1e-6 to some denominators; docs/evaluation.md lists where.
* Matching at a threshold t >= 0.5 pairs objects with IoU > t (strictly). With
  non-overlapping objects on both sides such pairs are unique; when overlaps make a
  true or predicted object have several such partners, pairs are taken greedily by
  decreasing IoU (ties: lower true index, then lower predicted index). For t < 0.5 the
  pairing is the Hungarian assignment maximising the summed IoU, keeping pairs with IoU > t
  (as HoVer-Net's ``get_fast_pq``).
* Object order: label-map objects are ordered by label value, object lists by list
  position; tie-breaks refer to that order.
* Bad input raises :class:`MetricInputError` (a ValueError).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from .. import rle
from ..base import NucleiCollectionError
from ..rle import run_ranks

__all__ = [
    "DSB_THRESHOLDS",
    "PANNUKE_CLASSES",
    "AJI",
    "DSB",
    "Detection",
    "Dice",
    "Instances",
    "Matching",
    "MeanOverImages",
    "MetricInputError",
    "PQ",
    "PanNukeAggregator",
    "PanNukeImage",
    "PanNukeResult",
    "SemanticAccumulator",
    "SemanticScores",
    "aji",
    "aji_plus",
    "as_instances",
    "bpq",
    "coco_ap",
    "dice",
    "dsb2018",
    "f1",
    "match",
    "mpq",
    "mosaic",
    "mpq_plus",
    "pannuke_image",
    "pq",
    "semantic_dice_iou",
    "size_of",
]

#: Kaggle DSB2018 IoU thresholds 0.50, 0.55, ..., 0.95 (the doubles nearest to those decimals).
DSB_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))

#: PanNuke's five classes as schema category indices (neoplastic, inflammatory, connective,
#: dead, epithelial = mask channels 0-4; schema.CATEGORIES[0] is the generic "nucleus").
PANNUKE_CLASSES: tuple[int, ...] = (1, 2, 3, 4, 5)

#: A prediction with more than this fraction of its pixels inside crowd regions is ignored.
CROWD_COVER = 0.5


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
        instances, _ = _parse_object_lists([objects])
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


def _object_rows(objects: Any) -> list[Mapping[str, Any]]:
    """A list of object dicts from a list or from datasets' columnar dict of lists."""
    if isinstance(objects, Mapping):
        if "segmentation" not in objects:
            raise MetricInputError("an objects mapping must be the columnar form with a 'segmentation' list")
        keys = list(objects)
        return [dict(zip(keys, values)) for values in zip(*(objects[k] for k in keys))]
    if isinstance(objects, (str, bytes)) or not isinstance(objects, Sequence):
        raise MetricInputError(f"expected a label map, a list of objects or Instances, got {type(objects).__name__}")
    return list(objects)


def _parse_object_lists(lists: Sequence[Any], slots: Sequence[int] | None = None) -> tuple[Instances, np.ndarray]:
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
        rows = _object_rows(objects)
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
    parts = [_parse_object_lists([images[k] for k in lists], lists)]
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


# --------------------------------------------------------------------------- run algebra


def _sorted_runs(starts: np.ndarray, lengths: np.ndarray, owner: np.ndarray):
    order = np.argsort(starts, kind="stable")
    s = starts[order]
    return s, s + lengths[order], owner[order]


def _has_overlap(s: np.ndarray, e: np.ndarray) -> bool:
    """Do any two of these start-sorted intervals overlap?"""
    return len(s) > 1 and bool((s[1:] < np.maximum.accumulate(e[:-1])).any())


def _layers(starts: np.ndarray, lengths: np.ndarray, owner: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Split runs into layers of pairwise disjoint, start-sorted pieces (same pixels, same owners).

    Without overlaps this is one layer. Otherwise every run is cut at each run boundary
    falling strictly inside it, so two pieces are either identical or disjoint; the k-th
    copy of a piece goes to layer k (as many layers as objects cover one pixel).
    """
    s, e, o = _sorted_runs(starts, lengths, owner)
    if not _has_overlap(s, e):
        return [(s, e, o)]
    bounds = np.unique(np.concatenate((s, e)))
    first_inside = np.searchsorted(bounds, s, side="right")
    n_pieces = np.searchsorted(bounds, e, side="left") - first_inside + 1
    run = np.repeat(np.arange(len(s)), n_pieces)
    k = run_ranks(n_pieces)
    cut = first_inside[run] + k  # index in bounds of the piece's end (when it is not the run's end)
    last = k == n_pieces[run] - 1
    ps = np.where(k == 0, s[run], bounds[np.maximum(cut - 1, 0)])
    pe = np.where(last, e[run], bounds[np.minimum(cut, len(bounds) - 1)])
    po = o[run]
    order = np.lexsort((po, ps))
    ps, pe, po = ps[order], pe[order], po[order]
    new_piece = np.ones(len(ps), dtype=bool)
    new_piece[1:] = ps[1:] != ps[:-1]
    copies = np.diff(np.append(np.flatnonzero(new_piece), len(ps)))
    layer = run_ranks(copies)
    return [(ps[layer == k], pe[layer == k], po[layer == k]) for k in range(int(layer.max()) + 1)]


def _join(sa: np.ndarray, ea: np.ndarray, oa: np.ndarray, sb: np.ndarray, eb: np.ndarray, ob: np.ndarray):
    """All overlapping (a, b) interval pairs: (owner a, owner b, overlap start, overlap end).

    ``b`` must be pairwise disjoint and sorted by start (so its ends are sorted too); ``a``
    may be anything. For each ``a`` the overlapping ``b`` form one contiguous range.
    """
    first = np.searchsorted(eb, sa, side="right")  # first b ending after a starts
    stop = np.searchsorted(sb, ea, side="left")  # b starting before a ends
    count = np.maximum(stop - first, 0)
    ia = np.repeat(np.arange(len(sa)), count)
    ib = np.repeat(first, count) + run_ranks(count)
    return oa[ia], ob[ib], np.maximum(sa[ia], sb[ib]), np.minimum(ea[ia], eb[ib])


def _merge(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals as disjoint, sorted (starts, ends)."""
    if len(starts) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(starts, kind="stable")
    s = starts[order]
    e = s + lengths[order]
    reach = np.maximum.accumulate(e)
    new = np.ones(len(s), dtype=bool)
    new[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(s)) - 1
    return s[first], reach[last]


def _set_intersection(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    """Intersection of two disjoint sorted interval sets, as a disjoint sorted set."""
    zero_a, zero_b = np.zeros(len(a[0]), np.int64), np.zeros(len(b[0]), np.int64)
    _, _, s, e = _join(a[0], a[1], zero_a, b[0], b[1], zero_b)
    return s, e


def _covered(s: np.ndarray, e: np.ndarray) -> int:
    return int((e - s).sum())


def _pairwise_intersections(true: Instances, pred: Instances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true index, pred index, intersection) of every overlapping pair, sorted by (true, pred)."""
    n_pred = len(pred)
    if len(true) == 0 or n_pred == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    a_end = true.starts + true.lengths
    pieces = [
        _join(true.starts, a_end, true.owner, sb, eb, ob)
        for sb, eb, ob in _layers(pred.starts, pred.lengths, pred.owner)
    ]
    ot = np.concatenate([p[0] for p in pieces])
    op = np.concatenate([p[1] for p in pieces])
    length = np.concatenate([p[3] - p[2] for p in pieces])
    key = ot * n_pred + op
    order = np.argsort(key, kind="stable")
    key, length = key[order], length[order]
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    first = np.flatnonzero(new)
    inter = np.add.reduceat(length, first) if len(first) else length
    pair_key = key[first]
    return pair_key // n_pred, pair_key % n_pred, inter.astype(np.int64)


# --------------------------------------------------------------------------- pairing rules


def _one_to_one_above(pair_true: np.ndarray, pair_pred: np.ndarray, iou: np.ndarray, threshold: float) -> np.ndarray:
    """Indices (into the pairs) of the unique matches with IoU > threshold (threshold >= 0.5)."""
    candidates = np.flatnonzero(iou > threshold)
    t, p = pair_true[candidates], pair_pred[candidates]
    if len(np.unique(t)) == len(t) and len(np.unique(p)) == len(p):
        return candidates  # the usual case: no object has two partners above 0.5
    # Overlapping objects can give an object several partners: greedy by decreasing IoU.
    order = candidates[np.lexsort((pair_pred[candidates], pair_true[candidates], -iou[candidates]))]
    used_true: set[int] = set()
    used_pred: set[int] = set()
    chosen = []
    for k in order.tolist():
        ti, pi = int(pair_true[k]), int(pair_pred[k])
        if ti not in used_true and pi not in used_pred:
            used_true.add(ti)
            used_pred.add(pi)
            chosen.append(k)
    return np.sort(np.array(chosen, dtype=np.int64))


def _max_iou_assignment(pair_true: np.ndarray, pair_pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """Indices (into the pairs) of a one-to-one assignment maximising the summed IoU.

    scipy's ``linear_sum_assignment`` on the IoU matrix whose rows are the true objects
    with at least one overlap (in object order) and whose columns are the predicted ones
    with at least one overlap; pairs of the assignment with IoU 0 are dropped.
    """
    if len(pair_true) == 0:
        return np.zeros(0, dtype=np.int64)
    rows, row_of = np.unique(pair_true, return_inverse=True)
    cols, col_of = np.unique(pair_pred, return_inverse=True)
    matrix = np.zeros((len(rows), len(cols)), dtype=np.float64)
    index = np.full((len(rows), len(cols)), -1, dtype=np.int64)
    matrix[row_of, col_of] = iou
    index[row_of, col_of] = np.arange(len(iou))
    r, c = linear_sum_assignment(matrix, maximize=True)
    chosen = index[r, c]
    return np.sort(chosen[chosen >= 0])


def _matches(pair_true: np.ndarray, pair_pred: np.ndarray, iou: np.ndarray, threshold: float) -> np.ndarray:
    if not 0.0 <= threshold < 1.0:
        raise MetricInputError(f"IoU threshold must be in [0, 1), got {threshold}")
    if threshold >= 0.5:
        return _one_to_one_above(pair_true, pair_pred, iou, threshold)
    chosen = _max_iou_assignment(pair_true, pair_pred, iou)
    return chosen[iou[chosen] > threshold]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else math.nan


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PQ:
    """Panoptic quality of one image (or of summed counts). ``pq = dq * sq``."""

    pq: float
    dq: float
    sq: float
    tp: int
    fp: int
    fn: int
    sum_iou: float
    n_true: int
    n_pred: int

    @property
    def value(self) -> float:
        return self.pq

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int, sum_iou: float) -> PQ:
        """PQ from (summed) counts; NaN when there is nothing to score, SQ = 0 when TP = 0."""
        tp, fp, fn = int(tp), int(fp), int(fn)
        if tp + fp + fn == 0:
            return cls(math.nan, math.nan, math.nan, 0, 0, 0, 0.0, 0, 0)
        dq = tp / (tp + 0.5 * fp + 0.5 * fn)
        sq = float(sum_iou) / tp if tp else 0.0
        return cls(dq * sq, dq, sq, tp, fp, fn, float(sum_iou), tp + fn, tp + fp)


@dataclass(frozen=True)
class AJI:
    """Aggregated Jaccard Index: ``aji = intersection / union`` (summed pixel counts)."""

    aji: float
    intersection: int
    union: int
    n_true: int
    n_pred: int

    @property
    def value(self) -> float:
        return self.aji


@dataclass(frozen=True)
class DSB:
    """Kaggle DSB2018 score of one image, with TP/FP/FN at each threshold."""

    score: float
    thresholds: tuple[float, ...]
    tp: tuple[int, ...]
    fp: tuple[int, ...]
    fn: tuple[int, ...]
    n_true: int
    n_pred: int

    @property
    def value(self) -> float:
        return self.score


@dataclass(frozen=True)
class Detection:
    """Object detection at an IoU threshold: a hit is a unique pair with IoU > ``iou``."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    iou: float
    n_true: int
    n_pred: int

    @property
    def value(self) -> float:
        return self.f1


@dataclass(frozen=True)
class Dice:
    """Binary foreground Dice ``2 |T & P| / (|T| + |P|)`` over pixels (crowd-only pixels excluded)."""

    dice: float
    intersection: int
    true_area: int
    pred_area: int
    n_true: int
    n_pred: int

    @property
    def value(self) -> float:
        return self.dice


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, eq=False)
class Matching:
    """The overlap structure of one image, shared by every metric.

    ``true`` holds the scored truth (crowd objects removed) and ``pred`` the scored
    predictions (those mostly inside crowd regions removed); ``pair_true``, ``pair_pred``
    index them and ``intersection`` is the pixel count of each overlapping pair (pairs
    with no common pixel are absent), sorted by (true, pred). ``true_index`` /
    ``pred_index`` give the position of each scored object in the input (for overlays).
    """

    true: Instances
    pred: Instances
    pair_true: np.ndarray
    pair_pred: np.ndarray
    intersection: np.ndarray
    n_crowd: int = 0
    n_ignored: int = 0
    #: positions of the scored objects in the input (to map results back, e.g. for overlays)
    true_index: np.ndarray | None = field(default=None, repr=False)
    pred_index: np.ndarray | None = field(default=None, repr=False)
    #: all predictions (before the crowd rule) and the crowd pixels, for the pixel metric
    pred_all: Instances | None = field(default=None, repr=False)
    crowd_set: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def union(self) -> np.ndarray:
        return self.true.areas[self.pair_true] + self.pred.areas[self.pair_pred] - self.intersection

    @property
    def iou(self) -> np.ndarray:
        # One correctly rounded division per pair: equal ratios give equal floats, and
        # distinct ratios with unions below 2**26 px never round to the same float.
        return self.intersection / self.union

    @property
    def n_true(self) -> int:
        return len(self.true)

    @property
    def n_pred(self) -> int:
        return len(self.pred)

    def matched_pairs(self, iou: float = 0.5) -> np.ndarray:
        """Indices into the pairs of the one-to-one matches at threshold ``iou``."""
        return _matches(self.pair_true, self.pair_pred, self.iou, iou)

    def pq(self, iou: float = 0.5) -> PQ:
        """Panoptic quality with matches at IoU > ``iou`` (NaN when both sides are empty)."""
        chosen = self.matched_pairs(iou)
        tp = len(chosen)
        result = PQ.from_counts(tp, self.n_pred - tp, self.n_true - tp, float(self.iou[chosen].sum()))
        return result

    def f1(self, iou: float = 0.5) -> Detection:
        tp = len(self.matched_pairs(iou))
        fp, fn = self.n_pred - tp, self.n_true - tp
        return Detection(
            _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn),
            tp, fp, fn, float(iou), self.n_true, self.n_pred,
        )  # fmt: skip

    def dsb2018(self, thresholds: Sequence[float] = DSB_THRESHOLDS) -> DSB:
        thresholds = tuple(float(t) for t in thresholds)
        if not thresholds or min(thresholds) < 0.5:
            raise MetricInputError("DSB2018 thresholds must be >= 0.5 (unique matching)")
        iou = self.iou
        matched_iou = iou[_one_to_one_above(self.pair_true, self.pair_pred, iou, min(thresholds))]
        # Greedy-by-IoU matches at a higher threshold are the ones above it (same order).
        tp = tuple(int((matched_iou > t).sum()) for t in thresholds)
        fp = tuple(self.n_pred - k for k in tp)
        fn = tuple(self.n_true - k for k in tp)
        if self.n_true + self.n_pred == 0:
            score = math.nan
        else:
            score = sum(k / (k + a + b) for k, a, b in zip(tp, fp, fn)) / len(thresholds)
        return DSB(score, thresholds, tp, fp, fn, self.n_true, self.n_pred)

    def aji(self) -> AJI:
        """Kumar et al. 2017: each true object takes its overlapping prediction of largest IoU."""
        pt, pp, inter = self.pair_true, self.pair_pred, self.intersection
        union = self.union
        # Best per true object: largest IoU; ties -> larger intersection (what HoVer-Net's
        # +1e-6 in the IoU denominator picks), then the first prediction.
        order = np.lexsort((pp, -inter, -self.iou, pt))
        first = np.ones(len(order), dtype=bool)
        first[1:] = pt[order][1:] != pt[order][:-1]
        best = order[first]
        used = np.zeros(self.n_pred, dtype=bool)
        used[pp[best]] = True
        has_pair = np.zeros(self.n_true, dtype=bool)
        has_pair[pt[best]] = True
        c = int(inter[best].sum())
        u = int(union[best].sum()) + int(self.true.areas[~has_pair].sum()) + int(self.pred.areas[~used].sum())
        return AJI(_ratio(c, u), c, u, self.n_true, self.n_pred)

    def aji_plus(self) -> AJI:
        """Graham et al. 2019: one-to-one assignment maximising the summed IoU."""
        chosen = _max_iou_assignment(self.pair_true, self.pair_pred, self.iou)
        c = int(self.intersection[chosen].sum())
        # Each object is in at most one pair, so union = all areas - paired intersections.
        u = int(self.true.areas.sum()) + int(self.pred.areas.sum()) - c
        return AJI(_ratio(c, u), c, u, self.n_true, self.n_pred)

    def dice(self) -> Dice:
        truth = _merge(self.true.starts, self.true.lengths)
        pred_all = self.pred_all if self.pred_all is not None else self.pred
        predicted = _merge(pred_all.starts, pred_all.lengths)
        both = _covered(*_set_intersection(truth, predicted))
        true_area, pred_area = _covered(*truth), _covered(*predicted)
        if self.crowd_set is not None:
            # Pixels of crowd regions that no scored true object covers are don't-care.
            in_crowd = _set_intersection(predicted, self.crowd_set)
            pred_area -= _covered(*in_crowd) - _covered(*_set_intersection(in_crowd, truth))
        return Dice(_ratio(2 * both, true_area + pred_area), both, true_area, pred_area, self.n_true, self.n_pred)


def _frame_size(*sides: Instances) -> tuple[int | None, int | None]:
    sizes = {(s.height, s.width) for s in sides if s.height is not None}
    if len(sizes) > 1:
        raise MetricInputError(f"truth and prediction have different sizes (height, width): {sorted(sizes)}")
    return sizes.pop() if sizes else (None, None)


def match(true: InstancesLike, pred: InstancesLike) -> Matching:
    """Intersect two images' instances (label maps, object lists or :class:`Instances`)."""
    true_all, pred_all = as_instances(true), as_instances(pred)
    _frame_size(true_all, pred_all)
    crowd_set = None
    n_crowd = int(true_all.crowd.sum())
    keep_true = np.ones(len(true_all), dtype=bool)
    keep_pred = np.ones(len(pred_all), dtype=bool)
    if n_crowd:
        crowd = true_all.crowd
        run_in_crowd = crowd[true_all.owner]
        crowd_set = _merge(true_all.starts[run_in_crowd], true_all.lengths[run_in_crowd])
        keep_true = ~crowd
        if len(pred_all):
            ends = pred_all.starts + pred_all.lengths
            no_owner = np.zeros(len(crowd_set[0]), np.int64)
            owner, _, s, e = _join(pred_all.starts, ends, pred_all.owner, *crowd_set, no_owner)
            inside = np.bincount(owner, weights=e - s, minlength=len(pred_all))
            keep_pred = ~(inside > CROWD_COVER * pred_all.areas)  # exact: halves of integers
    if pred_all.crowd.any():
        raise MetricInputError("predictions cannot be iscrowd objects")
    scored_true, scored_pred = true_all.select(keep_true), pred_all.select(keep_pred)
    pair_true, pair_pred, inter = _pairwise_intersections(scored_true, scored_pred)
    return Matching(
        scored_true, scored_pred, pair_true, pair_pred, inter,
        n_crowd=n_crowd, n_ignored=int((~keep_pred).sum()),
        true_index=np.flatnonzero(keep_true), pred_index=np.flatnonzero(keep_pred),
        pred_all=pred_all, crowd_set=crowd_set,
    )  # fmt: skip


def pq(true: InstancesLike, pred: InstancesLike, iou: float = 0.5) -> PQ:
    """Panoptic quality (DQ, SQ, PQ, TP, FP, FN, sum of matched IoU) of one image."""
    return match(true, pred).pq(iou)


def aji(true: InstancesLike, pred: InstancesLike) -> AJI:
    """Aggregated Jaccard Index (Kumar et al. 2017) of one image."""
    return match(true, pred).aji()


def aji_plus(true: InstancesLike, pred: InstancesLike) -> AJI:
    """AJI+ (Graham et al. 2019) of one image."""
    return match(true, pred).aji_plus()


def dsb2018(true: InstancesLike, pred: InstancesLike, thresholds: Sequence[float] = DSB_THRESHOLDS) -> DSB:
    """Kaggle DSB2018 score of one image (average over images with :class:`MeanOverImages`)."""
    return match(true, pred).dsb2018(thresholds)


def f1(true: InstancesLike, pred: InstancesLike, iou: float = 0.5) -> Detection:
    """Detection precision / recall / F1 with unique matches at IoU > ``iou``."""
    return match(true, pred).f1(iou)


def dice(true: InstancesLike, pred: InstancesLike) -> Dice:
    """Binary foreground Dice of one image (objects' union on each side)."""
    return match(true, pred).dice()


# --------------------------------------------------------------------------- averaging over images


@dataclass
class MeanOverImages:
    """Mean of a per-image score over a split, with the empty-image conventions.

    ``add(result)`` takes a per-image result (:class:`PQ`, :class:`AJI`, :class:`DSB`,
    :class:`Detection`, :class:`Dice` or anything with ``value``, ``n_true``, ``n_pred``).
    Images with empty truth and empty prediction are left out and counted
    (``empty_score=1.0`` scores them 1 instead); empty truth with predictions scores 0.
    """

    empty_score: float | None = None
    total: float = 0.0
    n_images: int = 0
    n_scored: int = 0
    n_empty_both: int = 0
    n_empty_truth_with_pred: int = 0
    n_undefined: int = 0

    def add(self, result: Any) -> float:
        """Add one image; returns the value it contributed (NaN when left out)."""
        value, n_true, n_pred = float(result.value), int(result.n_true), int(result.n_pred)
        self.n_images += 1
        if n_true == 0 and n_pred == 0:
            self.n_empty_both += 1
            if self.empty_score is None:
                return math.nan
            value = float(self.empty_score)
        elif n_true == 0:
            self.n_empty_truth_with_pred += 1
        if math.isnan(value):  # e.g. Dice of objects without pixels: nothing to score
            self.n_undefined += 1
            return math.nan
        self.total += value
        self.n_scored += 1
        return value

    @property
    def mean(self) -> float:
        return _ratio(self.total, self.n_scored)

    def summary(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "n_images": self.n_images,
            "n_scored": self.n_scored,
            "n_empty_both": self.n_empty_both,
            "empty_both_scored_as": self.empty_score,
            "n_empty_truth_with_pred": self.n_empty_truth_with_pred,
            "n_undefined": self.n_undefined,
        }


def _mean_defined(values: Iterable[float]) -> float:
    """Mean of the non-NaN values (NaN when there are none), like np.nanmean without the warning."""
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan


# --------------------------------------------------------------------------- PanNuke / CoNIC


def _pq_arrays(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, sum_iou: np.ndarray) -> np.ndarray:
    """PQ element-wise, the same float operations as :meth:`PQ.from_counts` (NaN where nothing to score)."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        dq = tp / (tp + 0.5 * fp + 0.5 * fn)
        sq = np.where(tp > 0, np.asarray(sum_iou, dtype=np.float64) / np.where(tp > 0, tp, 1.0), 0.0)
    return np.where(tp + fp + fn > 0, dq * sq, np.nan)


@dataclass(frozen=True)
class PanNukeImage:
    """Per-image statistics of the PanNuke protocol (one matching, all classes).

    ``binary`` is the class-agnostic PQ; per class (in ``classes`` order) the number of
    true and predicted objects, the matches (IoU > 0.5 between objects of that class) and
    their summed IoU. Objects whose category is not in ``classes`` only count for ``binary``.
    """

    binary: PQ
    classes: tuple[int, ...]
    n_true: np.ndarray
    n_pred: np.ndarray
    tp: np.ndarray
    sum_iou: np.ndarray

    @property
    def fp(self) -> np.ndarray:
        return self.n_pred - self.tp

    @property
    def fn(self) -> np.ndarray:
        return self.n_true - self.tp

    @property
    def bpq(self) -> float:
        """Binary PQ; NaN when the truth is empty (PanNuke leaves such images out)."""
        return self.binary.pq if self.binary.n_true else math.nan

    @property
    def class_pq(self) -> np.ndarray:
        """PQ per class; NaN for a class absent from this image's truth (PanNuke rule)."""
        return np.where(self.n_true > 0, _pq_arrays(self.tp, self.fp, self.fn, self.sum_iou), np.nan)

    @property
    def mpq(self) -> float:
        """Mean PQ over the classes present in this image's truth (NaN when none is)."""
        return _mean_defined(self.class_pq.tolist())


@dataclass(frozen=True)
class _PanNukeBatch:
    """PanNuke counts of a batch of images: binary (n,) arrays and per-class (n, classes) arrays."""

    classes: tuple[int, ...]
    n_true: np.ndarray
    n_pred: np.ndarray
    tp: np.ndarray
    sum_iou: np.ndarray
    class_n_true: np.ndarray
    class_n_pred: np.ndarray
    class_tp: np.ndarray
    class_sum_iou: np.ndarray

    def image(self, k: int) -> PanNukeImage:
        tp, n_true, n_pred = int(self.tp[k]), int(self.n_true[k]), int(self.n_pred[k])
        binary = PQ.from_counts(tp, n_pred - tp, n_true - tp, float(self.sum_iou[k]))
        return PanNukeImage(
            binary, self.classes, self.class_n_true[k], self.class_n_pred[k], self.class_tp[k], self.class_sum_iou[k]
        )


def _pannuke_batch(trues: Sequence[InstancesLike], preds: Sequence[InstancesLike], classes: tuple[int, ...]):
    """One matching for a whole batch of same-size images (a mosaic), per-image counts by bincount."""
    n_images, n_classes = len(trues), len(classes)
    true_mosaic, true_image = mosaic(trues)
    pred_mosaic, pred_image = mosaic(preds)
    if true_mosaic.height is not None and pred_mosaic.height is not None:
        if (true_mosaic.height, true_mosaic.width) != (pred_mosaic.height, pred_mosaic.width):
            raise MetricInputError(
                f"truth and prediction sizes differ: {true_mosaic.height} x {true_mosaic.width // n_images} vs "
                f"{pred_mosaic.height} x {pred_mosaic.width // n_images}"
            )
    m = match(true_mosaic, pred_mosaic)
    true_image, pred_image = true_image[m.true_index], pred_image[m.pred_index]
    pt, pp, iou = m.pair_true, m.pair_pred, m.iou
    chosen = _one_to_one_above(pt, pp, iou, 0.5)
    # Per class the matching runs between objects of that class only; the candidate pairs
    # and IoUs are the binary ones restricted to same-class pairs (IoU does not depend on class).
    same = np.flatnonzero(m.true.category[pt] == m.pred.category[pp])
    class_chosen = same[_one_to_one_above(pt[same], pp[same], iou[same], 0.5)]

    def slots(category: np.ndarray) -> np.ndarray:
        out = np.full(len(category), n_classes, dtype=np.int64)  # other categories: dropped
        for k, value in enumerate(classes):
            out[category == value] = k
        return out

    true_slot, pred_slot = slots(m.true.category), slots(m.pred.category)

    def per_image(image: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(image, weights=weights, minlength=n_images)

    def per_image_class(image: np.ndarray, slot: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        keep = slot < n_classes
        kept_weights = None if weights is None else weights[keep]
        counts = np.bincount(image[keep] * n_classes + slot[keep], weights=kept_weights, minlength=n_images * n_classes)
        return counts.reshape(n_images, n_classes)

    matched_true = pt[chosen]
    class_matched = pt[class_chosen]
    return _PanNukeBatch(
        classes,
        per_image(true_image).astype(np.int64),
        per_image(pred_image).astype(np.int64),
        per_image(true_image[matched_true]).astype(np.int64),
        per_image(true_image[matched_true], iou[chosen]),
        per_image_class(true_image, true_slot).astype(np.int64),
        per_image_class(pred_image, pred_slot).astype(np.int64),
        per_image_class(true_image[class_matched], true_slot[class_matched]).astype(np.int64),
        per_image_class(true_image[class_matched], true_slot[class_matched], iou[class_chosen]),
    )


def pannuke_image(true: InstancesLike, pred: InstancesLike, classes: Sequence[int] = PANNUKE_CLASSES) -> PanNukeImage:
    """bPQ and per-class PQ statistics of one image (objects carry ``category``)."""
    return _pannuke_batch([true], [pred], tuple(int(c) for c in classes)).image(0)


def bpq(true: InstancesLike, pred: InstancesLike) -> float:
    """PanNuke binary PQ of one image (NaN when the truth has no nucleus)."""
    return pannuke_image(true, pred).bpq


def mpq(true: InstancesLike, pred: InstancesLike, classes: Sequence[int] = PANNUKE_CLASSES) -> float:
    """PanNuke multi-class PQ of one image: mean PQ over the classes present in the truth."""
    return pannuke_image(true, pred, classes).mpq


def mpq_plus(images: Iterable[PanNukeImage]) -> tuple[float, list[PQ]]:
    """CoNIC mPQ+: TP, FP, FN and IoU sums per class over all images, then PQ per class, then mean.

    Returns (mPQ+, PQ per class). A class with no true and no predicted object in the
    whole split has an undefined PQ and is left out of the mean.
    """
    totals = None
    for image in images:
        counts = np.stack([image.tp, image.fp, image.fn, image.sum_iou]).astype(np.float64)
        totals = counts if totals is None else totals + counts
    if totals is None:
        return math.nan, []
    per_class = [PQ.from_counts(int(tp), int(fp), int(fn), s) for tp, fp, fn, s in totals.T.tolist()]
    return _mean_defined(p.pq for p in per_class), per_class


@dataclass(frozen=True)
class PanNukeResult:
    """Split-level PanNuke / CoNIC figures and their tables (plain lists of dicts)."""

    bpq: float
    mpq: float
    mpq_plus: float
    per_tissue: list[dict[str, Any]]
    per_class: list[dict[str, Any]]
    counts: dict[str, int]

    def summary(self) -> dict[str, Any]:
        return {"bpq": self.bpq, "mpq": self.mpq, "mpq_plus": self.mpq_plus, **self.counts}


class PanNukeAggregator:
    """Streaming PanNuke protocol over a split: ``add`` one image at a time, then ``result``.

    bPQ: per image (truth without nuclei -> left out), mean per tissue, mean over tissues.
    mPQ: per image the mean PQ of the classes present in its truth, mean per tissue, mean
    over tissues. Class PQ (PanNuke's per-class table): mean over images whose truth has the
    class. mPQ+ (CoNIC): counts summed per class over the split, see :func:`mpq_plus`.

    Images are scored in batches of ``batch_size`` same-size images (one RLE parse and one
    matching per batch, see :func:`mosaic`); memory stays bounded by the batch. ``rows``
    (one dict per image, for the per-image table) is complete after :meth:`flush` / :meth:`result`.
    A bad image raises :class:`MetricInputError` naming its ``image_id``.
    """

    def __init__(
        self, classes: Sequence[int] = PANNUKE_CLASSES, class_names: Sequence[str] | None = None, batch_size: int = 256
    ):
        self.classes = tuple(int(c) for c in classes)
        self.class_names = tuple(class_names) if class_names is not None else tuple(str(c) for c in self.classes)
        if len(self.class_names) != len(self.classes):
            raise MetricInputError("class_names must name every class")
        self.batch_size = max(1, int(batch_size))
        self.rows: list[dict[str, Any]] = []
        self._pending: list[tuple[Any, Any, str, str | None]] = []
        self._pending_size: tuple[int, int] | None = None
        self._tissue: list[str] = []
        self._bpq: list[float] = []
        self._mpq: list[float] = []
        self._class_pq: list[np.ndarray] = []
        self._totals = np.zeros((4, len(self.classes)), dtype=np.float64)

    def add(
        self, true: InstancesLike, pred: InstancesLike, tissue: str | None = None, image_id: str | None = None
    ) -> None:
        size = size_of(true) or size_of(pred)
        if size is not None and self._pending_size not in (None, size):
            self.flush()
        self._pending_size = size or self._pending_size
        self._pending.append((true, pred, "unknown" if tissue is None else str(tissue), image_id))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Score the buffered images."""
        pending, self._pending, self._pending_size = self._pending, [], None
        if not pending:
            return
        try:
            batch = _pannuke_batch([p[0] for p in pending], [p[1] for p in pending], self.classes)
        except MetricInputError:
            for true, pred, _, image_id in pending:  # find the culprit, name it
                try:
                    _pannuke_batch([true], [pred], self.classes)
                except MetricInputError as error:
                    raise MetricInputError(f"{image_id}: {error}") from None
            raise
        self._record(batch, [p[2] for p in pending], [p[3] for p in pending])

    def add_stats(self, stats: PanNukeImage, tissue: str | None = None, image_id: str | None = None) -> None:
        """Add one image's statistics computed elsewhere (e.g. by :func:`pannuke_image`)."""
        if stats.classes != self.classes:
            raise MetricInputError(f"image statistics for classes {stats.classes}, aggregator has {self.classes}")
        b = stats.binary
        batch = _PanNukeBatch(
            self.classes, np.array([b.n_true]), np.array([b.n_pred]), np.array([b.tp]), np.array([b.sum_iou]),
            stats.n_true[None], stats.n_pred[None], stats.tp[None], stats.sum_iou[None],
        )  # fmt: skip
        self._record(batch, ["unknown" if tissue is None else str(tissue)], [image_id])

    def _record(self, batch: _PanNukeBatch, tissues: list[str], image_ids: list[str | None]) -> None:
        binary = _pq_arrays(batch.tp, batch.n_pred - batch.tp, batch.n_true - batch.tp, batch.sum_iou)
        bpq_values = np.where(batch.n_true > 0, binary, np.nan)
        class_fp, class_fn = batch.class_n_pred - batch.class_tp, batch.class_n_true - batch.class_tp
        class_pq = _pq_arrays(batch.class_tp, class_fp, class_fn, batch.class_sum_iou)
        class_pq = np.where(batch.class_n_true > 0, class_pq, np.nan)
        present = batch.class_n_true > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            mpq_values = np.where(present, class_pq, 0.0).sum(axis=1) / present.sum(axis=1)
        self._totals += np.stack([
            batch.class_tp.sum(axis=0), class_fp.sum(axis=0), class_fn.sum(axis=0), batch.class_sum_iou.sum(axis=0)
        ])  # fmt: skip
        names = [f"pq_{name}" for name in self.class_names]
        for k, (tissue, image_id) in enumerate(zip(tissues, image_ids)):
            row: dict[str, Any] = {"image_id": image_id, "tissue": tissue, "bpq": float(bpq_values[k]),
                                   "mpq": float(mpq_values[k])}  # fmt: skip
            row.update(zip(names, class_pq[k].tolist()))
            row.update({"n_true": int(batch.n_true[k]), "n_pred": int(batch.n_pred[k]), "tp": int(batch.tp[k])})
            self.rows.append(row)
        self._tissue += tissues
        self._bpq += bpq_values.tolist()
        self._mpq += mpq_values.tolist()
        self._class_pq += list(class_pq)

    def result(self) -> PanNukeResult:
        self.flush()
        tissues = sorted(set(self._tissue))
        per_tissue = []
        for tissue in tissues:
            members = [k for k, t in enumerate(self._tissue) if t == tissue]
            b = [self._bpq[k] for k in members]
            m = [self._mpq[k] for k in members]
            per_tissue.append({
                "tissue": tissue,
                "bpq": _mean_defined(b),
                "mpq": _mean_defined(m),
                "n_images": len(members),
                "n_scored_bpq": sum(not math.isnan(v) for v in b),
                "n_scored_mpq": sum(not math.isnan(v) for v in m),
            })  # fmt: skip
        per_class = []
        class_pq = np.array(self._class_pq).reshape(-1, len(self.classes))
        for k, (category, name) in enumerate(zip(self.classes, self.class_names)):
            tp, fp, fn, sum_iou = self._totals[:, k].tolist()
            plus = PQ.from_counts(int(tp), int(fp), int(fn), sum_iou)
            column = class_pq[:, k].tolist()
            per_class.append({
                "category": category, "name": name,
                "pq": _mean_defined(column), "n_images": sum(not math.isnan(v) for v in column),
                "pq_plus": plus.pq, "dq_plus": plus.dq, "sq_plus": plus.sq,
                "tp": int(tp), "fp": int(fp), "fn": int(fn), "sum_iou": sum_iou,
            })  # fmt: skip
        counts = {
            "n_images": len(self._bpq),
            "n_tissues": len(tissues),
            "n_images_empty_truth": sum(row["n_true"] == 0 for row in self.rows),
            "n_images_empty_truth_with_pred": sum(row["n_true"] == 0 and row["n_pred"] > 0 for row in self.rows),
        }
        return PanNukeResult(
            bpq=_mean_defined(t["bpq"] for t in per_tissue),
            mpq=_mean_defined(t["mpq"] for t in per_tissue),
            mpq_plus=_mean_defined(c["pq_plus"] for c in per_class),
            per_tissue=per_tissue,
            per_class=per_class,
            counts=counts,
        )


# --------------------------------------------------------------------------- semantic


@dataclass(frozen=True)
class SemanticScores:
    """Per-class pixel Dice and IoU from a confusion matrix (rows truth, columns prediction).

    Arrays are indexed by class code; the ignored code's entries are NaN. A class absent
    from both truth and prediction has NaN Dice/IoU and is left out of the means.
    """

    confusion: np.ndarray
    ignore: int | None
    intersection: np.ndarray
    true_area: np.ndarray
    pred_area: np.ndarray
    dice: np.ndarray
    iou: np.ndarray

    @classmethod
    def from_confusion(cls, confusion: np.ndarray, ignore: int | None = 0) -> SemanticScores:
        confusion = np.asarray(confusion, dtype=np.int64)
        scored = np.ones(len(confusion), dtype=bool)
        if ignore is not None:
            scored[ignore] = False
        intersection = np.diag(confusion).copy()
        true_area = confusion.sum(axis=1)
        pred_area = confusion[scored].sum(axis=0)  # predictions on don't-care truth do not count
        with np.errstate(invalid="ignore", divide="ignore"):
            dice_values = 2 * intersection / (true_area + pred_area)
            iou_values = intersection / (true_area + pred_area - intersection)
        dice_values[~scored] = np.nan
        iou_values[~scored] = np.nan
        return cls(confusion, ignore, intersection, true_area, pred_area, dice_values, iou_values)

    @property
    def mean_dice(self) -> float:
        return _mean_defined(self.dice.tolist())

    @property
    def mean_iou(self) -> float:
        return _mean_defined(self.iou.tolist())


def _confusion(true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int, ignore: int | None) -> np.ndarray:
    true_codes, pred_codes = np.asarray(true_codes), np.asarray(pred_codes)
    if true_codes.shape != pred_codes.shape or true_codes.ndim != 2:
        raise MetricInputError(
            f"class-code maps must be 2-D and equal in shape: {true_codes.shape} vs {pred_codes.shape}"
        )
    for name, codes in (("truth", true_codes), ("prediction", pred_codes)):
        if not np.issubdtype(codes.dtype, np.integer):
            raise MetricInputError(f"{name} class codes must be integers, got {codes.dtype}")
        if codes.size and (codes.min() < 0 or codes.max() >= n_classes):
            raise MetricInputError(f"{name} class codes must lie in 0..{n_classes - 1}")
    t = true_codes.reshape(-1).astype(np.int64)
    p = pred_codes.reshape(-1).astype(np.int64)
    if ignore is not None:
        keep = t != ignore
        t, p = t[keep], p[keep]
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def semantic_dice_iou(
    true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int, ignore: int | None = 0
) -> SemanticScores:
    """Per-class Dice and IoU of two class-code maps; pixels where the truth is ``ignore`` are left out."""
    return SemanticScores.from_confusion(_confusion(true_codes, pred_codes, n_classes, ignore), ignore)


class SemanticAccumulator:
    """Split-level per-class Dice / IoU: confusion matrices summed over images, then the ratios."""

    def __init__(self, n_classes: int, ignore: int | None = 0):
        self.n_classes = int(n_classes)
        self.ignore = ignore
        self.confusion = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        self.n_images = 0

    def add(self, true_codes: np.ndarray, pred_codes: np.ndarray) -> SemanticScores:
        confusion = _confusion(true_codes, pred_codes, self.n_classes, self.ignore)
        self.confusion += confusion
        self.n_images += 1
        return SemanticScores.from_confusion(confusion, self.ignore)

    def result(self) -> SemanticScores:
        return SemanticScores.from_confusion(self.confusion, self.ignore)


# --------------------------------------------------------------------------- COCO AP


def _coco_annotations(objects: Any, image_id: int, first_id: int, scored: bool) -> list[dict[str, Any]]:
    if isinstance(objects, np.ndarray):
        objects = [dict(obj, category=None) for obj in rle.encode_label_map(objects)]
    rows = _object_rows(objects)
    out = []
    for k, obj in enumerate(rows):
        segmentation = dict(obj["segmentation"])
        counts = segmentation["counts"]
        if isinstance(counts, str):
            segmentation["counts"] = counts.encode("ascii")
        annotation = {
            "id": first_id + k,
            "image_id": image_id,
            "category_id": 1,
            "segmentation": segmentation,
            "iscrowd": int(bool(obj.get("iscrowd", False))),
        }
        if scored:
            annotation["score"] = float(obj.get("score", 1.0))
        out.append(annotation)
    return out


#: pycocotools' small / medium / large area ranges (both ends inclusive).
_COCO_AREA_RANGES = ((0, 32**2), (32**2, 96**2), (96**2, 1e10))


def coco_ap(pairs: Iterable[tuple[Any, Any]], max_dets: int | None = None) -> dict[str, float]:
    """COCO mask AP of a split through ``pycocotools.COCOeval`` (class-agnostic).

    ``pairs`` yields (truth, prediction) per image as label maps or object lists;
    predicted objects may carry ``score`` (default 1.0). ``maxDets`` is raised to the
    largest number of true or predicted objects in one image (at least 100), so no
    detection is cut: the default 100 caps recall on MoNuSeg-sized images.
    Returns AP, AP50, AP75, AP_small, AP_medium, AP_large, AR and the maxDets used.
    """
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, truths, detections = [], [], []
    busiest = 0
    for image_id, (true, pred) in enumerate(pairs, start=1):
        truth_rows = _coco_annotations(true, image_id, len(truths) + 1, scored=False)
        pred_rows = _coco_annotations(pred, image_id, len(detections) + 1, scored=True)
        size = None
        for row in truth_rows + pred_rows:
            size = row["segmentation"]["size"]
            break
        height, width = (int(size[0]), int(size[1])) if size is not None else (1, 1)
        images.append({"id": image_id, "height": height, "width": width})
        for row in truth_rows:
            row["area"] = float(mask_utils.area(row["segmentation"]))
        truths.extend(truth_rows)
        detections.extend(pred_rows)
        busiest = max(busiest, len(truth_rows), len(pred_rows))
    dets = max(100, busiest) if max_dets is None else int(max_dets)
    names = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR")
    if not truths:
        return {**dict.fromkeys(names, math.nan), "max_dets": dets}
    if not detections:  # pycocotools cannot load an empty result list; nothing found = 0
        areas = [row["area"] for row in truths if not row["iscrowd"]]
        present = [any(lo <= a <= hi for a in areas) for lo, hi in _COCO_AREA_RANGES]
        values = [0.0, 0.0, 0.0] + [0.0 if has else math.nan for has in present] + [0.0]
        return {**dict(zip(names, values)), "max_dets": dets}
    ground_truth = COCO()
    ground_truth.dataset = {"images": images, "annotations": truths, "categories": [{"id": 1, "name": "nucleus"}]}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        ground_truth.createIndex()
        results = ground_truth.loadRes(detections)
        evaluator = COCOeval(ground_truth, results, iouType="segm")
        evaluator.params.maxDets = [1, 10, dets]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"]  # [iou threshold, recall, class, area range, maxDets]
    recall = evaluator.eval["recall"]  # [iou threshold, class, area range, maxDets]
    thresholds = evaluator.params.iouThrs

    def mean_defined(values: np.ndarray) -> float:
        kept = values[values > -1]
        return float(kept.mean()) if kept.size else math.nan

    def at(threshold: float) -> np.ndarray:
        return precision[np.flatnonzero(np.isclose(thresholds, threshold))[0], :, :, 0, -1]

    return {
        "AP": mean_defined(precision[:, :, :, 0, -1]),
        "AP50": mean_defined(at(0.5)),
        "AP75": mean_defined(at(0.75)),
        "AP_small": mean_defined(precision[:, :, :, 1, -1]),
        "AP_medium": mean_defined(precision[:, :, :, 2, -1]),
        "AP_large": mean_defined(precision[:, :, :, 3, -1]),
        "AR": mean_defined(recall[:, :, 0, -1]),
        "max_dets": dets,
    }
