"""Class-aware panoptic quality: bPQ, mPQ (PanNuke protocol) and mPQ+ (CoNIC).

Definitions (docs/evaluation.md):

* bPQ (Gamper et al. 2020, "PanNuke Dataset Extension, Insights and Baselines"): binary
  PQ per image (images whose truth has no nucleus are left out), mean per tissue, mean
  over tissues;
* mPQ (same paper): per image the PQ of each class, matched among the objects of that
  class only, left out when the class is absent from the image's truth; the image's mPQ is
  the mean over its classes; mean per tissue, mean over tissues. The per-class table is
  the mean PQ of a class over the images whose truth has it;
* mPQ+ (Graham et al. 2021, CoNIC challenge): TP, FP, FN and summed IoU per class over
  the whole split, then PQ per class, then the mean over classes.

Classes are category indexes of the config's class list (``Source.classes()``; crowd
classes such as ``ambiguous`` are not scored). Records without a tissue form one group,
so bPQ / mPQ become means over images. Matches are pairs with IoU > 0.5
(:func:`~.matching.one_to_one_above`), as PQ.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .instance_scores import PQ, mean_defined
from .instances import InstancesLike, MetricInputError, mosaic, size_of
from .matching import match, one_to_one_above


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
        return mean_defined(self.class_pq.tolist())


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
    chosen = one_to_one_above(pt, pp, iou, 0.5)
    # Per class the matching runs between objects of that class only; the candidate pairs
    # and IoUs are the binary ones restricted to same-class pairs (IoU does not depend on class).
    same = np.flatnonzero(m.true.category[pt] == m.pred.category[pp])
    class_chosen = same[one_to_one_above(pt[same], pp[same], iou[same], 0.5)]

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


def pannuke_image(true: InstancesLike, pred: InstancesLike, classes: Sequence[int]) -> PanNukeImage:
    """bPQ and per-class PQ statistics of one image (objects carry ``category``)."""
    return _pannuke_batch([true], [pred], tuple(int(c) for c in classes)).image(0)


def bpq(true: InstancesLike, pred: InstancesLike) -> float:
    """PanNuke binary PQ of one image (NaN when the truth has no nucleus)."""
    return pannuke_image(true, pred, ()).bpq


def mpq(true: InstancesLike, pred: InstancesLike, classes: Sequence[int]) -> float:
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
    return mean_defined(p.pq for p in per_class), per_class


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

    def __init__(self, classes: Sequence[int], class_names: Sequence[str] | None = None, batch_size: int = 256):
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
                "bpq": mean_defined(b),
                "mpq": mean_defined(m),
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
                "pq": mean_defined(column), "n_images": sum(not math.isnan(v) for v in column),
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
            bpq=mean_defined(t["bpq"] for t in per_tissue),
            mpq=mean_defined(t["mpq"] for t in per_tissue),
            mpq_plus=mean_defined(c["pq_plus"] for c in per_class),
            per_tissue=per_tissue,
            per_class=per_class,
            counts=counts,
        )
