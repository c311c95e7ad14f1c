"""Instance scores of one image, from its :class:`~.matching.Matching`, and their mean over images.

Each score is a function of the matching (``pq_of(m)``, ...) and of two images
(``pq(true, pred)``, ...), so one matching serves several scores:

    pq / pq_of -> PQ            panoptic quality DQ x SQ, matches at IoU > 0.5 (Kirillov et al.
                                2019, "Panoptic Segmentation"; nuclei: Graham et al. 2019, HoVer-Net)
    aji / aji_of -> AJI         Aggregated Jaccard Index (Kumar et al. 2017, IEEE TMI): each true
                                object takes its overlapping prediction of largest IoU; a
                                prediction may be taken twice
    aji_plus / aji_plus_of      AJI+ (Graham et al. 2019): one-to-one assignment of maximal summed
                                IoU (Hungarian); HoVer-Net's tie-break towards the larger intersection
    dsb2018 / dsb2018_of -> DSB Kaggle Data Science Bowl 2018: mean over t = 0.50..0.95 of
                                TP / (TP + FP + FN), matches at IoU > t
    f1 / f1_of -> Detection     precision, recall, F1 with matches at IoU > t (default 0.5)
    dice / dice_of -> Dice      binary foreground Dice 2|T & P| / (|T| + |P|) (pixel rule)

:class:`MeanOverImages` averages a per-image score over a split with the empty-image
conventions. No epsilon anywhere: every value is an exact ratio of integer counts (one
float division); docs/evaluation.md lists where published code adds 1e-6.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .instances import InstancesLike, MetricInputError
from .matching import (
    Matching,
    covered,
    hovernet_weights,
    match,
    max_iou_assignment,
    merge_runs,
    one_to_one_above,
    set_intersection,
)

#: Kaggle DSB2018 IoU thresholds 0.50, 0.55, ..., 0.95 (the doubles nearest to those decimals).
DSB_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0 (nothing to score)."""
    return float(numerator) / float(denominator) if denominator else math.nan


def mean_defined(values: Iterable[float]) -> float:
    """Mean of the non-NaN values (NaN when there are none), like np.nanmean without the warning."""
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan


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


# --------------------------------------------------------------------------- scores of a matching


def pq_of(m: Matching, iou: float = 0.5) -> PQ:
    """Panoptic quality with matches at IoU > ``iou`` (NaN when both sides are empty)."""
    chosen = m.matched_pairs(iou)
    tp = len(chosen)
    return PQ.from_counts(tp, m.n_pred - tp, m.n_true - tp, float(m.iou[chosen].sum()))


def f1_of(m: Matching, iou: float = 0.5) -> Detection:
    """Detection precision / recall / F1 with unique matches at IoU > ``iou``."""
    tp = len(m.matched_pairs(iou))
    fp, fn = m.n_pred - tp, m.n_true - tp
    return Detection(
        ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn),
        tp, fp, fn, float(iou), m.n_true, m.n_pred,
    )  # fmt: skip


def dsb2018_of(m: Matching, thresholds: Sequence[float] = DSB_THRESHOLDS) -> DSB:
    """Kaggle DSB2018 score of one image: mean over ``thresholds`` of TP / (TP + FP + FN)."""
    thresholds = tuple(float(t) for t in thresholds)
    if not thresholds or min(thresholds) < 0.5:
        raise MetricInputError("DSB2018 thresholds must be >= 0.5 (unique matching)")
    iou = m.iou
    matched_iou = iou[one_to_one_above(m.pair_true, m.pair_pred, iou, min(thresholds))]
    # Greedy-by-IoU matches at a higher threshold are the ones above it (same order).
    tp = tuple(int((matched_iou > t).sum()) for t in thresholds)
    fp = tuple(m.n_pred - k for k in tp)
    fn = tuple(m.n_true - k for k in tp)
    if m.n_true + m.n_pred == 0:
        score = math.nan
    else:
        score = sum(k / (k + a + b) for k, a, b in zip(tp, fp, fn)) / len(thresholds)
    return DSB(score, thresholds, tp, fp, fn, m.n_true, m.n_pred)


def aji_of(m: Matching) -> AJI:
    """Kumar et al. 2017: each true object takes its overlapping prediction of largest IoU."""
    pt, pp, inter = m.pair_true, m.pair_pred, m.intersection
    union = m.union
    # Best per true object: largest IoU; ties -> larger intersection (what HoVer-Net's
    # +1e-6 in the IoU denominator picks), then the first prediction.
    order = np.lexsort((pp, -inter, -m.iou, pt))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pt[order][1:] != pt[order][:-1]
    best = order[first]
    used = np.zeros(m.n_pred, dtype=bool)
    used[pp[best]] = True
    has_pair = np.zeros(m.n_true, dtype=bool)
    has_pair[pt[best]] = True
    c = int(inter[best].sum())
    u = int(union[best].sum()) + int(m.true.areas[~has_pair].sum()) + int(m.pred.areas[~used].sum())
    return AJI(ratio(c, u), c, u, m.n_true, m.n_pred)


def aji_plus_of(m: Matching) -> AJI:
    """Graham et al. 2019: one-to-one assignment maximising the summed IoU.

    The assignment maximises HoVer-Net's weights ``intersection / (union + 1e-6)``
    (``get_fast_aji_plus``): of two pairs with equal IoU the one sharing more pixels is
    taken. The score itself is the exact ratio of the integer pixel sums.
    """
    weights = hovernet_weights(m.intersection, m.union)
    chosen = max_iou_assignment(m.pair_true, m.pair_pred, m.iou, weights)
    c = int(m.intersection[chosen].sum())
    # Each object is in at most one pair, so union = all areas - paired intersections.
    u = int(m.true.areas.sum()) + int(m.pred.areas.sum()) - c
    return AJI(ratio(c, u), c, u, m.n_true, m.n_pred)


def dice_of(m: Matching) -> Dice:
    """Binary foreground Dice over pixels: every prediction counts, crowd-only pixels do not."""
    truth = merge_runs(m.true.starts, m.true.lengths)
    pred_all = m.pred_all if m.pred_all is not None else m.pred
    predicted = merge_runs(pred_all.starts, pred_all.lengths)
    both = covered(*set_intersection(truth, predicted))
    true_area, pred_area = covered(*truth), covered(*predicted)
    if m.crowd_set is not None:
        # Pixels of crowd regions that no scored true object covers are don't-care.
        in_crowd = set_intersection(predicted, m.crowd_set)
        pred_area -= covered(*in_crowd) - covered(*set_intersection(in_crowd, truth))
    return Dice(ratio(2 * both, true_area + pred_area), both, true_area, pred_area, m.n_true, m.n_pred)


#: Score name (as ``evaluate --metrics`` takes it) -> the function of a matching.
SCORES_OF_MATCHING = {
    "pq": pq_of, "aji": aji_of, "aji_plus": aji_plus_of, "dsb2018": dsb2018_of, "f1": f1_of, "dice": dice_of,
}  # fmt: skip


# --------------------------------------------------------------------------- scores of two images


def pq(true: InstancesLike, pred: InstancesLike, iou: float = 0.5) -> PQ:
    """Panoptic quality (DQ, SQ, PQ, TP, FP, FN, sum of matched IoU) of one image."""
    return pq_of(match(true, pred), iou)


def aji(true: InstancesLike, pred: InstancesLike) -> AJI:
    """Aggregated Jaccard Index (Kumar et al. 2017) of one image."""
    return aji_of(match(true, pred))


def aji_plus(true: InstancesLike, pred: InstancesLike) -> AJI:
    """AJI+ (Graham et al. 2019) of one image."""
    return aji_plus_of(match(true, pred))


def dsb2018(true: InstancesLike, pred: InstancesLike, thresholds: Sequence[float] = DSB_THRESHOLDS) -> DSB:
    """Kaggle DSB2018 score of one image (average over images with :class:`MeanOverImages`)."""
    return dsb2018_of(match(true, pred), thresholds)


def f1(true: InstancesLike, pred: InstancesLike, iou: float = 0.5) -> Detection:
    """Detection precision / recall / F1 with unique matches at IoU > ``iou``."""
    return f1_of(match(true, pred), iou)


def dice(true: InstancesLike, pred: InstancesLike) -> Dice:
    """Binary foreground Dice of one image (objects' union on each side)."""
    return dice_of(match(true, pred))


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
        return ratio(self.total, self.n_scored)

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
