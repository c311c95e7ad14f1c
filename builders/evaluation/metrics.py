"""The metric functions in one namespace (``from nuclei_collection_builders.evaluation import metrics``).

Exact and fast; definitions in docs/evaluation.md. The code lives in one module per concern:

* :mod:`.instances` -- the input forms (label maps, schema object lists, :class:`Instances`,
  :func:`mosaic` of same-size images) turned into foreground runs;
* :mod:`.matching` -- :func:`match`: sparse (true, pred) intersections, crowd rule, pairing
  rules (IoU > t greedy, Hungarian); :class:`Matching`;
* :mod:`.instance_scores` -- PQ, AJI, AJI+, DSB2018, F1, Dice of one image (``pq(true, pred)``
  or ``pq_of(matching)``), :class:`MeanOverImages`;
* :mod:`.class_pq` -- bPQ / mPQ (PanNuke protocol), mPQ+ (CoNIC), :class:`PanNukeAggregator`;
* :mod:`.semantic` -- per-class pixel Dice / IoU, :class:`SemanticAccumulator`;
* :mod:`.coco_ap` -- COCO mask AP equal to ``pycocotools.COCOeval`` from the same intersections.

Conventions (tested in tests/test_metrics.py):

* Both sides empty: PQ, AJI, AJI+, DSB, F1 and Dice are undefined and returned as NaN;
  :class:`MeanOverImages` leaves such images out and counts them (``empty_score=1.0``
  scores them 1 instead). Empty truth with predictions scores 0 (counted as such).
  PanNuke's bPQ / mPQ leave images (classes) out when the truth has no nucleus (of that class).
* ``iscrowd`` truth objects are don't-care regions, not nuclei: they are removed from the
  truth, and every prediction with more than half of its pixels inside the crowd regions
  is ignored (neither TP nor FP, not in any union). Dice ignores the pixels covered by a
  crowd region and by no other truth object. COCO AP applies COCO's own crowd rule.
* No epsilon: every ratio is an exact ratio of integer counts (a single float division).
* Matching at a threshold t >= 0.5 pairs objects with IoU > t (strictly); see :mod:`.matching`.
* Object order: label-map objects are ordered by label value, object lists by list
  position; tie-breaks refer to that order.
* Bad input raises :class:`MetricInputError` (a ValueError).
"""

from __future__ import annotations

from .class_pq import PanNukeAggregator, PanNukeImage, PanNukeResult, bpq, mpq, mpq_plus, pannuke_image
from .coco_ap import CocoAccumulator, coco_ap, image_ap
from .instance_scores import (
    AJI,
    DSB,
    DSB_THRESHOLDS,
    PQ,
    SCORES_OF_MATCHING,
    Detection,
    Dice,
    MeanOverImages,
    aji,
    aji_of,
    aji_plus,
    aji_plus_of,
    dice,
    dice_of,
    dsb2018,
    dsb2018_of,
    f1,
    f1_of,
    mean_defined,
    pq,
    pq_of,
)
from .instances import Instances, MetricInputError, as_instances, mosaic, size_of
from .matching import Matching, match
from .semantic import SemanticAccumulator, SemanticScores, semantic_dice_iou

__all__ = [
    "AJI",
    "DSB",
    "DSB_THRESHOLDS",
    "PQ",
    "SCORES_OF_MATCHING",
    "CocoAccumulator",
    "Detection",
    "Dice",
    "Instances",
    "Matching",
    "MeanOverImages",
    "MetricInputError",
    "PanNukeAggregator",
    "PanNukeImage",
    "PanNukeResult",
    "SemanticAccumulator",
    "SemanticScores",
    "aji",
    "aji_of",
    "aji_plus",
    "aji_plus_of",
    "as_instances",
    "bpq",
    "coco_ap",
    "dice",
    "dice_of",
    "dsb2018",
    "dsb2018_of",
    "f1",
    "f1_of",
    "image_ap",
    "match",
    "mean_defined",
    "mosaic",
    "mpq",
    "mpq_plus",
    "pannuke_image",
    "pq",
    "pq_of",
    "semantic_dice_iou",
    "size_of",
]
