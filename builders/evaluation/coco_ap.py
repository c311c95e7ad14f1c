"""COCO mask AP (class-agnostic) from the sparse intersections, equal to ``pycocotools.COCOeval``.

Definition: Lin et al. 2014 ("Microsoft COCO: Common Objects in Context") as implemented by
``pycocotools.cocoeval.COCOeval`` with ``iouType="segm"``, one category, the four area
ranges (all, small < 32^2, medium 32^2..96^2, large > 96^2 px, both ends inclusive), IoU
thresholds 0.50:0.05:0.95, 101 recall points, and ``maxDets`` raised to the busiest image
(at least 100) so no detection is cut: the default 100 caps recall on MoNuSeg-sized
images. This module re-computes what ``COCOeval.evaluate`` + ``accumulate`` +
``summarize`` do, from the same sparse (truth, prediction, intersection) pairs every
other metric uses, instead of pycocotools' dense IoU matrices and per-pair Python loops
(15.6 of 18.9 s on one MoNuSeg image before; tests/test_eval_coco_ap.py shows equality
with COCOeval on real samples and hypothesis cases, bench/eval_bench.py times both).

Per image, per area range, per IoU threshold t (``COCOeval.evaluateImg``):

* truth objects are ignored when crowd or outside the area range; they are scanned
  after the others (stable order);
* detections are taken by decreasing score (stable), at most ``maxDets``; each takes
  the still unmatched truth object (crowd objects may be taken many times) of highest
  IoU >= t (ties: the later one in scan order), preferring non-ignored truth: once it
  holds a non-ignored candidate it stops at the first ignored one;
* IoU of a crowd truth object is ``intersection / detection area``; otherwise
  ``intersection / union`` (float64 division of integer counts, as ``maskApi.c``);
* a matched detection inherits the ignore flag of its truth object; an unmatched one is
  ignored when its area lies outside the range.

Over the split (``COCOeval.accumulate``): detections of all images sorted by decreasing
score (stable: image order, then rank), cumulative TP / FP of the non-ignored ones,
recall = TP / (non-ignored truth), precision = TP / (TP + FP + eps) made monotone from
the right, read at the 101 recall points (0 beyond the last recall). AP = mean over
thresholds and recall points, AR = mean over thresholds of the final recall
(``COCOeval.summarize``); -1 (COCO's "undefined") is reported as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .instances import Instances, InstancesLike, MetricInputError, as_instances, object_rows
from .matching import frame_size, pairwise_intersections

#: ``COCOeval.Params``: IoU thresholds and recall points, built exactly as pycocotools builds them.
IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_POINTS: np.ndarray = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
#: Area ranges all, small, medium, large (px, both ends inclusive), as ``COCOeval.Params.areaRng``.
AREA_RANGES: tuple[tuple[float, float], ...] = ((0**2, 1e5**2), (0**2, 32**2), (32**2, 96**2), (96**2, 1e5**2))
#: The largest IoU threshold pycocotools lets a match need (``min(t, 1 - 1e-10)``).
_MAX_THRESHOLD = 1 - 1e-10
#: Result keys, in report order.
AP_KEYS: tuple[str, ...] = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR")
#: COCO's default maxDets (the report raises it to the busiest image).
DEFAULT_MAX_DETS = 100


@dataclass(frozen=True)
class ImageAP:
    """One image's matches: ``scores`` (D,) by decreasing score; ``matched`` / ``ignored``
    (areas, thresholds, D) bool; ``n_truth`` (areas,) non-ignored truth objects."""

    scores: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    n_truth: np.ndarray


def prediction_scores(pred: InstancesLike, n_objects: int) -> np.ndarray:
    """The ``score`` of each predicted object (1.0 when absent; label maps have none)."""
    if isinstance(pred, (np.ndarray, Instances)):
        return np.ones(n_objects, dtype=np.float64)
    rows = object_rows(pred)
    try:
        return np.array([float(row.get("score", 1.0)) for row in rows], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise MetricInputError(f"a prediction score is not a number: {error}") from None


def _greedy(
    n_dets: int,
    pair_det: np.ndarray,
    pair_truth: np.ndarray,
    iou: np.ndarray,
    scan_position: np.ndarray,
    truth_ignored: np.ndarray,
    crowd: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """COCOeval.evaluateImg's loop for one threshold: truth index matched by each detection (-1: none).

    ``pair_*`` hold the candidate pairs (IoU >= threshold) only: a pair below it can never
    be taken, and an ignored truth object it would stop at comes after every non-ignored one.
    """
    det_truth = np.full(n_dets, -1, dtype=np.int64)
    taken = [False] * len(truth_ignored)
    order = np.lexsort((scan_position[pair_truth], pair_det))
    dets, truths, values = pair_det[order].tolist(), pair_truth[order].tolist(), iou[order].tolist()
    ignored, is_crowd = truth_ignored.tolist(), crowd.tolist()
    k, n = 0, len(dets)
    while k < n:
        d = dets[k]
        best, chosen = threshold, -1
        while k < n and dets[k] == d:
            g = truths[k]
            k += 1
            if taken[g] and not is_crowd[g]:
                continue
            if chosen > -1 and not ignored[chosen] and ignored[g]:
                while k < n and dets[k] == d:  # stop scanning this detection's candidates
                    k += 1
                break
            if values[k - 1] < best:
                continue
            best, chosen = values[k - 1], g
        if chosen > -1:
            det_truth[d] = chosen
            taken[chosen] = True
    return det_truth


def image_ap(
    true: InstancesLike, pred: InstancesLike, scores: Sequence[float] | None = None, max_dets: int | None = None
) -> ImageAP | None:
    """COCOeval.evaluateImg for one image, every area range and threshold (None: nothing to score)."""
    truth, predicted = as_instances(true), as_instances(pred)
    frame_size(truth, predicted)
    if predicted.crowd.any():
        raise MetricInputError("predictions cannot be iscrowd objects")
    if len(truth) == 0 and len(predicted) == 0:
        return None
    score = prediction_scores(pred, len(predicted)) if scores is None else np.asarray(scores, dtype=np.float64)
    if len(score) != len(predicted):
        raise MetricInputError(f"{len(score)} scores for {len(predicted)} predicted objects")
    order = np.argsort(-score, kind="mergesort")  # decreasing score, stable (pycocotools)
    if max_dets is not None:
        order = order[:max_dets]
    n_dets = len(order)
    rank = np.full(len(predicted), -1, dtype=np.int64)
    rank[order] = np.arange(n_dets)
    pair_truth, pair_pred, inter = pairwise_intersections(truth, predicted)
    keep = rank[pair_pred] >= 0
    pair_truth, pair_det, inter = pair_truth[keep], rank[pair_pred[keep]], inter[keep]
    det_area = predicted.areas[order]
    crowd = truth.crowd
    # maskApi.c rleIou: a crowd region's "IoU" is the share of the detection inside it.
    denominator = np.where(crowd[pair_truth], det_area[pair_det], truth.areas[pair_truth] + det_area[pair_det] - inter)
    iou = inter / denominator
    thresholds = [min(float(t), _MAX_THRESHOLD) for t in IOU_THRESHOLDS]
    n_areas, n_thresholds = len(AREA_RANGES), len(thresholds)
    matched = np.zeros((n_areas, n_thresholds, n_dets), dtype=bool)
    ignored = np.zeros((n_areas, n_thresholds, n_dets), dtype=bool)
    n_truth = np.zeros(n_areas, dtype=np.int64)
    # Fast path: when every candidate detection has one candidate truth object and every
    # non-crowd truth object one candidate detection, the greedy loop takes exactly those
    # pairs whatever the order and the ignore flags (the usual case: nuclei do not overlap).
    fast: list[np.ndarray | None] = []
    for threshold in thresholds:
        candidate = iou >= threshold
        dets, truths = pair_det[candidate], pair_truth[candidate]
        non_crowd = truths[~crowd[truths]]
        if len(np.unique(dets)) == len(dets) and len(np.unique(non_crowd)) == len(non_crowd):
            det_truth = np.full(n_dets, -1, dtype=np.int64)
            det_truth[dets] = truths
            fast.append(det_truth)
        else:
            fast.append(None)
    for a, (low, high) in enumerate(AREA_RANGES):
        truth_ignored = crowd | (truth.areas < low) | (truth.areas > high)
        n_truth[a] = int((~truth_ignored).sum())
        scan_position = np.empty(len(truth), dtype=np.int64)
        scan_position[np.argsort(truth_ignored, kind="mergesort")] = np.arange(len(truth))
        det_outside = (det_area < low) | (det_area > high)
        for t, threshold in enumerate(thresholds):
            det_truth = fast[t]
            if det_truth is None:
                candidate = iou >= threshold
                det_truth = _greedy(
                    n_dets, pair_det[candidate], pair_truth[candidate], iou[candidate],
                    scan_position, truth_ignored, crowd, threshold,
                )  # fmt: skip
            hit = det_truth >= 0
            matched[a, t] = hit
            ignored[a, t] = det_outside
            ignored[a, t, hit] = truth_ignored[det_truth[hit]]
    return ImageAP(score[order], matched, ignored, n_truth)


class CocoAccumulator:
    """Streaming COCO mask AP over a split: ``add`` one image at a time, then ``result``.

    ``max_dets=None`` keeps every detection and reports ``maxDets`` as the busiest image
    (at least 100), which is what COCOeval with that raised ``maxDets`` computes.
    """

    def __init__(self, max_dets: int | None = None):
        self.max_dets = None if max_dets is None else int(max_dets)
        self.images: list[ImageAP] = []
        self.busiest = 0
        self.n_images = 0

    def add(self, true: InstancesLike, pred: InstancesLike, scores: Sequence[float] | None = None) -> None:
        truth, predicted = as_instances(true), as_instances(pred)
        self.n_images += 1
        self.busiest = max(self.busiest, len(truth), len(predicted))
        if scores is None:
            scores = prediction_scores(pred, len(predicted))
        result = image_ap(truth, predicted, scores, self.max_dets)
        if result is not None:
            self.images.append(result)

    def result(self) -> dict[str, Any]:
        """AP, AP50, AP75, AP_small, AP_medium, AP_large, AR (NaN where undefined) and ``max_dets``."""
        dets = max(DEFAULT_MAX_DETS, self.busiest) if self.max_dets is None else self.max_dets
        precision = np.full((len(AREA_RANGES), len(IOU_THRESHOLDS), len(RECALL_POINTS)), -1.0)
        recall = np.full((len(AREA_RANGES), len(IOU_THRESHOLDS)), -1.0)
        if self.images:
            scores = np.concatenate([image.scores for image in self.images])
            order = np.argsort(-scores, kind="mergesort")
            matched = np.concatenate([image.matched for image in self.images], axis=2)[:, :, order]
            ignored = np.concatenate([image.ignored for image in self.images], axis=2)[:, :, order]
            n_truth = np.sum([image.n_truth for image in self.images], axis=0)
            for a in range(len(AREA_RANGES)):
                if n_truth[a] == 0:
                    continue  # no truth object in this range: undefined (-1), as COCOeval
                tp_sum = np.cumsum(matched[a] & ~ignored[a], axis=1).astype(np.float64)
                fp_sum = np.cumsum(~matched[a] & ~ignored[a], axis=1).astype(np.float64)
                for t in range(len(IOU_THRESHOLDS)):
                    tp, fp = tp_sum[t], fp_sum[t]
                    n = len(tp)
                    if n == 0:  # no detection at all: recall 0, precision 0 at every point
                        recall[a, t], precision[a, t] = 0.0, 0.0
                        continue
                    rc = tp / n_truth[a]
                    pr = tp / (fp + tp + np.spacing(1))
                    recall[a, t] = rc[-1]
                    pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision made monotone from the right
                    at = np.searchsorted(rc, RECALL_POINTS, side="left")
                    precision[a, t] = np.where(at < n, pr[np.minimum(at, n - 1)], 0.0)

        def mean(values: np.ndarray) -> float:
            kept = values[values > -1]
            return float(np.mean(kept)) if kept.size else math.nan

        def at_threshold(value: float) -> np.ndarray:
            return precision[0][np.where(value == IOU_THRESHOLDS)[0]]

        return {
            "AP": mean(precision[0]),
            "AP50": mean(at_threshold(0.5)),
            "AP75": mean(at_threshold(0.75)),
            "AP_small": mean(precision[1]),
            "AP_medium": mean(precision[2]),
            "AP_large": mean(precision[3]),
            "AR": mean(recall[0]),
            "max_dets": dets,
        }


def coco_ap(pairs: Iterable[tuple[Any, Any]], max_dets: int | None = None) -> dict[str, Any]:
    """COCO mask AP of a split (class-agnostic), equal to ``COCOeval`` with ``maxDets`` raised.

    ``pairs`` yields (truth, prediction) per image as label maps, object lists or
    :class:`~.instances.Instances`; predicted objects may carry ``score`` (default 1.0).
    ``max_dets``: COCO's per-image cap (default: the busiest image, at least 100, i.e. no cap).
    """
    accumulator = CocoAccumulator(max_dets)
    for true, pred in pairs:
        accumulator.add(true, pred)
    return accumulator.result()
