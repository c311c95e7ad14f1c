"""Brute-force reference for the evaluation metrics (tests and bench only).

Written to be obviously right, not fast, and independent of the package: objects are
decoded with pycocotools (never our RLE codec) into one boolean mask per object, every
(true, pred) intersection is counted pixel by pixel, and each published rule is written
as the loop it describes. Masks are kept cropped to their bounding box (pixels outside
either box cannot be in both masks); everything else is plain.

Rules, as in docs/evaluation.md:
* crowd truth objects are removed; a prediction with more than half of its pixels in the
  crowd regions is ignored;
* a match at threshold t >= 0.5 is a pair with IoU > t; if an object has several such
  partners, pairs are taken greedily by decreasing IoU (then lower true, lower pred index);
  for t < 0.5: Hungarian assignment of maximal summed IoU over the objects that overlap
  anything, keeping pairs with IoU > t;
* AJI (Kumar 2017): every true object takes the overlapping prediction of largest IoU
  (ties: larger intersection, then first prediction); AJI+ (HoVer-Net's get_fast_aji_plus):
  the Hungarian assignment over the FULL n_true x n_pred matrix of
  intersection / (union + 1e-6), so of two equal IoUs the larger intersection weighs more;
  pairs without a common pixel are dropped.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pycocotools.mask as mask_utils
from scipy.optimize import linear_sum_assignment

THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@dataclass
class RefObject:
    mask: np.ndarray  # bool crop
    y0: int
    x0: int
    area: int
    category: int
    crowd: bool


def _crop(full: np.ndarray, category: int, crowd: bool) -> RefObject:
    rows = np.flatnonzero(full.any(axis=1))
    cols = np.flatnonzero(full.any(axis=0))
    if len(rows) == 0:
        return RefObject(np.zeros((0, 0), bool), 0, 0, 0, category, crowd)
    crop = full[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()
    return RefObject(crop, int(rows[0]), int(cols[0]), int(crop.sum()), category, crowd)


def objects_of_label_map(label_map: np.ndarray) -> list[RefObject]:
    """One object per non-zero label, in label order."""
    return [_crop(label_map == label, -1, False) for label in np.unique(label_map) if label != 0]


def objects_of_rle(objects: list[dict]) -> list[RefObject]:
    """Objects in the schema (RLE dicts), decoded by pycocotools."""
    out = []
    for obj in objects:
        segmentation = dict(obj["segmentation"])
        if isinstance(segmentation["counts"], str):
            segmentation["counts"] = segmentation["counts"].encode()
        full = mask_utils.decode(segmentation).astype(bool)
        category = -1 if obj.get("category") is None else int(obj["category"])
        out.append(_crop(full, category, bool(obj.get("iscrowd", False))))
    return out


def as_objects(value) -> list[RefObject]:
    if isinstance(value, np.ndarray):
        return objects_of_label_map(value)
    return objects_of_rle(list(value))


def paint(objects: list[RefObject], shape: tuple[int, int]) -> np.ndarray:
    """Union of the objects' masks as a full-frame boolean image."""
    frame = np.zeros(shape, dtype=bool)
    for obj in objects:
        h, w = obj.mask.shape
        frame[obj.y0 : obj.y0 + h, obj.x0 : obj.x0 + w] |= obj.mask
    return frame


def intersection(a: RefObject, b: RefObject) -> int:
    """Pixels in both masks, counted over the overlap of their bounding boxes."""
    y0, x0 = max(a.y0, b.y0), max(a.x0, b.x0)
    y1 = min(a.y0 + a.mask.shape[0], b.y0 + b.mask.shape[0])
    x1 = min(a.x0 + a.mask.shape[1], b.x0 + b.mask.shape[1])
    if y1 <= y0 or x1 <= x0:
        return 0
    window_a = a.mask[y0 - a.y0 : y1 - a.y0, x0 - a.x0 : x1 - a.x0]
    window_b = b.mask[y0 - b.y0 : y1 - b.y0, x0 - b.x0 : x1 - b.x0]
    return int(np.logical_and(window_a, window_b).sum())


class Reference:
    """All reference metrics of one image, from one brute-force pairwise table."""

    def __init__(self, true, pred, shape: tuple[int, int]):
        true_all, pred_all = as_objects(true), as_objects(pred)
        self.shape = shape
        self.crowd = paint([o for o in true_all if o.crowd], shape)
        self.true = [o for o in true_all if not o.crowd]
        self.pred_all = pred_all
        self.pred = []
        for obj in pred_all:
            in_crowd = int(np.logical_and(paint([obj], shape), self.crowd).sum())
            if not in_crowd * 2 > obj.area:
                self.pred.append(obj)
        self.inter = np.zeros((len(self.true), len(self.pred)), dtype=np.int64)
        for i, t in enumerate(self.true):
            for j, p in enumerate(self.pred):
                self.inter[i, j] = intersection(t, p)

    def union(self, i: int, j: int) -> int:
        return self.true[i].area + self.pred[j].area - int(self.inter[i, j])

    def iou(self, i: int, j: int) -> float:
        return int(self.inter[i, j]) / self.union(i, j) if self.inter[i, j] else 0.0

    # ------------------------------------------------------------------ matching rules

    def hungarian(self, true_idx: list[int] | None = None, pred_idx: list[int] | None = None):
        """Max summed IoU, one-to-one, over the objects that overlap something; IoU > 0 pairs."""
        true_idx = list(range(len(self.true))) if true_idx is None else true_idx
        pred_idx = list(range(len(self.pred))) if pred_idx is None else pred_idx
        rows = [i for i in true_idx if any(self.inter[i, j] > 0 for j in pred_idx)]
        cols = [j for j in pred_idx if any(self.inter[i, j] > 0 for i in true_idx)]
        if not rows:
            return []
        matrix = np.zeros((len(rows), len(cols)))
        for r, i in enumerate(rows):
            for c, j in enumerate(cols):
                matrix[r, c] = self.iou(i, j)
        chosen_rows, chosen_cols = linear_sum_assignment(matrix, maximize=True)
        return [(rows[r], cols[c]) for r, c in zip(chosen_rows, chosen_cols) if matrix[r, c] > 0]

    def matches(self, threshold: float, true_idx: list[int] | None = None, pred_idx: list[int] | None = None):
        true_idx = list(range(len(self.true))) if true_idx is None else true_idx
        pred_idx = list(range(len(self.pred))) if pred_idx is None else pred_idx
        if threshold < 0.5:
            return [(i, j) for i, j in self.hungarian(true_idx, pred_idx) if self.iou(i, j) > threshold]
        candidates = [(i, j) for i in true_idx for j in pred_idx if self.iou(i, j) > threshold]
        candidates.sort(key=lambda ij: (-self.iou(*ij), ij[0], ij[1]))
        taken_true, taken_pred, out = set(), set(), []
        for i, j in candidates:
            if i not in taken_true and j not in taken_pred:
                taken_true.add(i)
                taken_pred.add(j)
                out.append((i, j))
        return out

    # ------------------------------------------------------------------ metrics

    def pq_counts(self, threshold: float = 0.5, true_idx=None, pred_idx=None):
        true_idx = list(range(len(self.true))) if true_idx is None else true_idx
        pred_idx = list(range(len(self.pred))) if pred_idx is None else pred_idx
        pairs = self.matches(threshold, true_idx, pred_idx)
        tp = len(pairs)
        return tp, len(pred_idx) - tp, len(true_idx) - tp, sum(self.iou(i, j) for i, j in pairs)

    def pq(self, threshold: float = 0.5) -> dict:
        tp, fp, fn, sum_iou = self.pq_counts(threshold)
        return pq_from_counts(tp, fp, fn, sum_iou)

    def aji(self) -> float:
        c = u = 0
        used = set()
        for i in range(len(self.true)):
            best = None
            for j in range(len(self.pred)):
                if self.inter[i, j] == 0:
                    continue
                key = (self.iou(i, j), int(self.inter[i, j]), -j)
                if best is None or key > best[0]:
                    best = (key, j)
            if best is None:
                u += self.true[i].area
            else:
                j = best[1]
                c += int(self.inter[i, j])
                u += self.union(i, j)
                used.add(j)
        for j, p in enumerate(self.pred):
            if j not in used:
                u += p.area
        return c / u if u else math.nan

    def aji_plus(self) -> float:
        if not self.true or not self.pred:
            pairs = []
        else:
            weights = np.zeros((len(self.true), len(self.pred)))
            for i in range(len(self.true)):
                for j in range(len(self.pred)):
                    weights[i, j] = int(self.inter[i, j]) / (self.union(i, j) + 1e-6)
            rows, cols = linear_sum_assignment(weights, maximize=True)
            pairs = [(i, j) for i, j in zip(rows, cols) if self.inter[i, j] > 0]
        c = sum(int(self.inter[i, j]) for i, j in pairs)
        u = sum(self.union(i, j) for i, j in pairs)
        paired_true = {i for i, _ in pairs}
        paired_pred = {j for _, j in pairs}
        u += sum(t.area for i, t in enumerate(self.true) if i not in paired_true)
        u += sum(p.area for j, p in enumerate(self.pred) if j not in paired_pred)
        return c / u if u else math.nan

    def dsb2018(self) -> float:
        if not self.true and not self.pred:
            return math.nan
        scores = []
        for t in THRESHOLDS:
            tp, fp, fn, _ = self.pq_counts(t)
            scores.append(tp / (tp + fp + fn))
        return sum(scores) / len(scores)

    def f1(self, threshold: float = 0.5) -> dict:
        tp, fp, fn, _ = self.pq_counts(threshold)
        return {
            "precision": tp / (tp + fp) if tp + fp else math.nan,
            "recall": tp / (tp + fn) if tp + fn else math.nan,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan,
        }

    def dice(self) -> float:
        truth = paint(self.true, self.shape)
        predicted = paint(self.pred_all, self.shape)
        dont_care = self.crowd & ~truth
        both = int((truth & predicted).sum())
        total = int(truth.sum()) + int((predicted & ~dont_care).sum())
        return 2 * both / total if total else math.nan

    def pannuke(self, classes) -> dict:
        """Binary PQ and per-class counts, each class matched among its own objects only."""
        binary = self.pq_counts(0.5)
        per_class = {}
        for c in classes:
            true_idx = [i for i, o in enumerate(self.true) if o.category == c]
            pred_idx = [j for j, o in enumerate(self.pred) if o.category == c]
            per_class[c] = self.pq_counts(0.5, true_idx, pred_idx)
        return {"binary": binary, "n_true": len(self.true), "per_class": per_class}


def pq_from_counts(tp: int, fp: int, fn: int, sum_iou: float) -> dict:
    if tp + fp + fn == 0:
        return {"pq": math.nan, "dq": math.nan, "sq": math.nan, "tp": 0, "fp": 0, "fn": 0}
    dq = tp / (tp + fp / 2 + fn / 2)
    sq = sum_iou / tp if tp else 0.0
    return {"pq": dq * sq, "dq": dq, "sq": sq, "tp": tp, "fp": fp, "fn": fn}


def nanmean(values) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an empty / all-NaN list
        return float(np.nanmean(np.array(list(values), dtype=float))) if len(values) else math.nan


def pannuke_split(images: list[tuple[dict, str]], classes) -> dict:
    """The PanNuke protocol (and CoNIC mPQ+) from per-image ``Reference.pannuke`` dicts.

    Per image: bPQ (NaN when the truth is empty), class PQ (NaN when the class is absent
    from the truth), image mPQ = nanmean of class PQ; per tissue nanmean; over tissues nanmean.
    """
    bpq_of, mpq_of, class_pq_of, tissue_of = [], [], [], []
    totals = {c: [0, 0, 0, 0.0] for c in classes}
    for stats, tissue in images:
        tissue_of.append(tissue)
        bpq_of.append(pq_from_counts(*stats["binary"])["pq"] if stats["n_true"] else math.nan)
        row = []
        for c in classes:
            tp, fp, fn, sum_iou = stats["per_class"][c]
            row.append(pq_from_counts(tp, fp, fn, sum_iou)["pq"] if tp + fn > 0 else math.nan)
            for k, value in enumerate((tp, fp, fn, sum_iou)):
                totals[c][k] += value
        class_pq_of.append(row)
        mpq_of.append(nanmean(row))
    tissues = sorted(set(tissue_of))
    tissue_bpq = [nanmean([b for b, t in zip(bpq_of, tissue_of) if t == tissue]) for tissue in tissues]
    tissue_mpq = [nanmean([m for m, t in zip(mpq_of, tissue_of) if t == tissue]) for tissue in tissues]
    class_plus = [pq_from_counts(*totals[c])["pq"] for c in classes]
    return {
        "bpq": nanmean(tissue_bpq),
        "mpq": nanmean(tissue_mpq),
        "mpq_plus": nanmean(class_plus),
        "tissue_bpq": dict(zip(tissues, tissue_bpq)),
        "tissue_mpq": dict(zip(tissues, tissue_mpq)),
        "class_pq": [nanmean([row[k] for row in class_pq_of]) for k in range(len(classes))],
        "class_pq_plus": class_plus,
    }


def semantic(true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int, ignore: int = 0) -> dict:
    """Per-class Dice and IoU over the pixels whose truth is not ``ignore``."""
    care = true_codes != ignore
    dice, iou = {}, {}
    for c in range(n_classes):
        if c == ignore:
            continue
        t = (true_codes == c) & care
        p = (pred_codes == c) & care
        both, total = int((t & p).sum()), int(t.sum()) + int(p.sum())
        dice[c] = 2 * both / total if total else math.nan
        iou[c] = both / (total - both) if total else math.nan
    return {"dice": dice, "iou": iou}


def coco_eval(pairs, max_dets: int | None = None) -> dict:
    """COCO mask AP through pycocotools' own ``COCOeval`` (class-agnostic), ``maxDets`` raised
    to the busiest image (at least 100) unless given; the values ``COCOeval.summarize`` prints
    (``np.mean`` of the entries > -1), -1 as NaN. ``pairs``: (truth objects, predicted objects
    with ``score``) per image, schema RLE dicts."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, truths, detections, busiest = [], [], [], 0
    for image_id, (true, pred) in enumerate(pairs, start=1):
        size = next((o["segmentation"]["size"] for o in list(true) + list(pred)), [1, 1])
        images.append({"id": image_id, "height": int(size[0]), "width": int(size[1])})
        for obj in true:
            segmentation = dict(obj["segmentation"], counts=obj["segmentation"]["counts"].encode())
            truths.append({
                "id": len(truths) + 1, "image_id": image_id, "category_id": 1, "segmentation": segmentation,
                "area": float(mask_utils.area(segmentation)), "iscrowd": int(bool(obj.get("iscrowd", False))),
            })  # fmt: skip
        for obj in pred:
            segmentation = dict(obj["segmentation"], counts=obj["segmentation"]["counts"].encode())
            detections.append({
                "image_id": image_id, "category_id": 1, "segmentation": segmentation,
                "score": float(obj.get("score", 1.0)),
            })  # fmt: skip
        busiest = max(busiest, len(true), len(pred))
    dets = max(100, busiest) if max_dets is None else max_dets
    assert truths and detections, "pycocotools needs truth and at least one detection"
    ground_truth = COCO()
    ground_truth.dataset = {"images": images, "annotations": truths, "categories": [{"id": 1, "name": "nucleus"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth.createIndex()
        evaluator = COCOeval(ground_truth, ground_truth.loadRes(detections), iouType="segm")
        # One entry: COCOeval sorts maxDets and uses the largest, so [1, 10, 2] would cap at 10.
        evaluator.params.maxDets = [dets]
        evaluator.evaluate()
        evaluator.accumulate()
    precision, recall = evaluator.eval["precision"], evaluator.eval["recall"]
    thresholds = evaluator.params.iouThrs

    def mean(s):
        return float(np.mean(s[s > -1])) if len(s[s > -1]) else math.nan

    return {
        "AP": mean(precision[:, :, :, 0, -1]),
        "AP50": mean(precision[np.where(thresholds == 0.5)[0], :, :, 0, -1]),
        "AP75": mean(precision[np.where(thresholds == 0.75)[0], :, :, 0, -1]),
        "AP_small": mean(precision[:, :, :, 1, -1]),
        "AP_medium": mean(precision[:, :, :, 2, -1]),
        "AP_large": mean(precision[:, :, :, 3, -1]),
        "AR": mean(recall[:, :, 0, -1]),
        "max_dets": dets,
    }
