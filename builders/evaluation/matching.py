"""Matching: the sparse intersections of two images' objects and the pairing rules.

:func:`match` turns both sides into :class:`~.instances.Instances` and intersects their
runs in one vectorised sweep: the result (:class:`Matching`) is the sparse list of
overlapping (true, pred) pairs with their pixel intersection, from which unions
(``area_t + area_p - intersection``) and IoUs follow. No per-pair mask, no dense
n_true x n_pred pixel work. Every metric (:mod:`.instance_scores`, :mod:`.class_pq`,
:mod:`.coco_ap`) starts from these pairs.

Rules (docs/evaluation.md):

* ``iscrowd`` truth objects are don't-care regions (COCO's crowd, MoNuSAC / NuInsSeg
  ambiguous areas): they are removed from the truth, and every prediction with more than
  half of its pixels inside the crowd regions is ignored (neither TP nor FP).
* At a threshold t >= 0.5 a match is a pair with IoU > t (strictly; Kirillov et al. 2019,
  Kaggle DSB2018). With non-overlapping objects on both sides such pairs are unique; when
  overlaps give an object several partners, pairs are taken greedily by decreasing IoU
  (ties: lower true index, then lower predicted index).
* For t < 0.5 the pairing is the Hungarian assignment maximising the summed IoU, keeping
  pairs with IoU > t (HoVer-Net's ``get_fast_pq``, Graham et al. 2019).
* IoU is one correctly rounded float64 division of two integer pixel counts (no epsilon).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..rle import run_ranks
from .instances import Instances, InstancesLike, MetricInputError, as_instances

#: A prediction with more than this fraction of its pixels inside crowd regions is ignored.
CROWD_COVER = 0.5


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


def join_runs(sa: np.ndarray, ea: np.ndarray, oa: np.ndarray, sb: np.ndarray, eb: np.ndarray, ob: np.ndarray):
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


def merge_runs(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def set_intersection(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    """Intersection of two disjoint sorted interval sets, as a disjoint sorted set."""
    zero_a, zero_b = np.zeros(len(a[0]), np.int64), np.zeros(len(b[0]), np.int64)
    _, _, s, e = join_runs(a[0], a[1], zero_a, b[0], b[1], zero_b)
    return s, e


def covered(s: np.ndarray, e: np.ndarray) -> int:
    return int((e - s).sum())


def pairwise_intersections(true: Instances, pred: Instances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true index, pred index, intersection) of every overlapping pair, sorted by (true, pred)."""
    n_pred = len(pred)
    if len(true) == 0 or n_pred == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    a_end = true.starts + true.lengths
    pieces = [
        join_runs(true.starts, a_end, true.owner, sb, eb, ob)
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


def truth_overlap(instances: Instances) -> tuple[int, int]:
    """(pixels covered by two or more objects, objects sharing a pixel with another) of one image."""
    if len(instances) < 2:
        return 0, 0
    layers = _layers(instances.starts, instances.lengths, instances.owner)
    if len(layers) < 2:
        return 0, 0
    second = layers[1]  # the pieces of layer 1 are exactly the pixels under two or more objects
    pixels = int((second[1] - second[0]).sum())
    a, b, _ = pairwise_intersections(instances, instances)
    return pixels, len(np.unique(a[a != b]))


# --------------------------------------------------------------------------- pairing rules


def one_to_one_above(pair_true: np.ndarray, pair_pred: np.ndarray, iou: np.ndarray, threshold: float) -> np.ndarray:
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


def max_iou_assignment(
    pair_true: np.ndarray, pair_pred: np.ndarray, iou: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Indices (into the pairs) of a one-to-one assignment maximising the summed ``weights`` (default: IoU).

    scipy's ``linear_sum_assignment`` on the weight matrix whose rows are the true objects
    with at least one overlap (in object order) and whose columns are the predicted ones
    with at least one overlap; pairs of the assignment with IoU 0 are dropped. Objects
    without any overlap cannot change the optimum: leaving them out keeps the matrix small.
    """
    if len(pair_true) == 0:
        return np.zeros(0, dtype=np.int64)
    rows, row_of = np.unique(pair_true, return_inverse=True)
    cols, col_of = np.unique(pair_pred, return_inverse=True)
    matrix = np.zeros((len(rows), len(cols)), dtype=np.float64)
    index = np.full((len(rows), len(cols)), -1, dtype=np.int64)
    matrix[row_of, col_of] = iou if weights is None else weights
    index[row_of, col_of] = np.arange(len(iou))
    r, c = linear_sum_assignment(matrix, maximize=True)
    chosen = index[r, c]
    return np.sort(chosen[chosen >= 0])


#: HoVer-Net's ``get_fast_aji`` / ``get_fast_aji_plus`` divide by ``union + 1e-6``: of two
#: pairs with equal IoU the one with the larger union, i.e. the larger intersection, weighs
#: more. AJI and AJI+ pick pairs by these weights (their values stay exact integer ratios).
HOVERNET_EPSILON = 1.0e-6


def hovernet_weights(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """``intersection / (union + 1e-6)``: IoU with HoVer-Net's tie-break towards the larger intersection."""
    return intersection / (union + HOVERNET_EPSILON)


def matches(pair_true: np.ndarray, pair_pred: np.ndarray, iou: np.ndarray, threshold: float) -> np.ndarray:
    if not 0.0 <= threshold < 1.0:
        raise MetricInputError(f"IoU threshold must be in [0, 1), got {threshold}")
    if threshold >= 0.5:
        return one_to_one_above(pair_true, pair_pred, iou, threshold)
    chosen = max_iou_assignment(pair_true, pair_pred, iou)
    return chosen[iou[chosen] > threshold]


# --------------------------------------------------------------------------- the matching of one image


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
        return matches(self.pair_true, self.pair_pred, self.iou, iou)


def frame_size(*sides: Instances) -> tuple[int | None, int | None]:
    """The (height, width) the sides share (None, None when none knows it); differing sizes are an error."""
    sizes = {(s.height, s.width) for s in sides if s.height is not None}
    if len(sizes) > 1:
        raise MetricInputError(f"truth and prediction have different sizes (height, width): {sorted(sizes)}")
    return sizes.pop() if sizes else (None, None)


def match(true: InstancesLike, pred: InstancesLike) -> Matching:
    """Intersect two images' instances (label maps, object lists or :class:`Instances`)."""
    true_all, pred_all = as_instances(true), as_instances(pred)
    frame_size(true_all, pred_all)
    crowd_set = None
    n_crowd = int(true_all.crowd.sum())
    keep_true = np.ones(len(true_all), dtype=bool)
    keep_pred = np.ones(len(pred_all), dtype=bool)
    if n_crowd:
        crowd = true_all.crowd
        run_in_crowd = crowd[true_all.owner]
        crowd_set = merge_runs(true_all.starts[run_in_crowd], true_all.lengths[run_in_crowd])
        keep_true = ~crowd
        if len(pred_all):
            ends = pred_all.starts + pred_all.lengths
            no_owner = np.zeros(len(crowd_set[0]), np.int64)
            owner, _, s, e = join_runs(pred_all.starts, ends, pred_all.owner, *crowd_set, no_owner)
            inside = np.bincount(owner, weights=e - s, minlength=len(pred_all))
            keep_pred = ~(inside > CROWD_COVER * pred_all.areas)  # exact: halves of integers
    if pred_all.crowd.any():
        raise MetricInputError("predictions cannot be iscrowd objects")
    scored_true, scored_pred = true_all.select(keep_true), pred_all.select(keep_pred)
    pair_true, pair_pred, inter = pairwise_intersections(scored_true, scored_pred)
    return Matching(
        scored_true, scored_pred, pair_true, pair_pred, inter,
        n_crowd=n_crowd, n_ignored=int((~keep_pred).sum()),
        true_index=np.flatnonzero(keep_true), pred_index=np.flatnonzero(keep_pred),
        pred_all=pred_all, crowd_set=crowd_set,
    )  # fmt: skip
