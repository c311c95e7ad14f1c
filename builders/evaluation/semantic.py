"""Semantic segmentation scores: per-class pixel Dice and IoU from a confusion matrix.

For each class c over the pixels whose truth is not the don't-care code (BCSS code 0,
"outside_roi", Amgad et al. 2019): Dice = 2|T_c & P_c| / (|T_c| + |P_c|) and
IoU (Jaccard) = |T_c & P_c| / |T_c | P_c|. Split-level values come from the confusion
matrices summed over images (the pixel-pooled convention of Amgad et al. 2019); the mean
over classes leaves out classes absent from truth and prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instance_scores import mean_defined
from .instances import MetricInputError


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
        return mean_defined(self.dice.tolist())

    @property
    def mean_iou(self) -> float:
        return mean_defined(self.iou.tolist())


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
