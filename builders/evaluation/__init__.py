"""Evaluation: the field's standard metrics on predictions against a config's ground truth.

* :mod:`.metrics`: the metric functions in one namespace, exact and fast, from one module per
  concern: :mod:`.instances` (inputs as runs), :mod:`.matching` (sparse intersections, pairing
  rules), :mod:`.instance_scores` (PQ, AJI, AJI+, DSB2018, F1, Dice), :mod:`.class_pq` (bPQ,
  mPQ, mPQ+), :mod:`.semantic` (pixel Dice / IoU), :mod:`.coco_ap` (COCO mask AP);
* :mod:`.predictions`: readers of what models write (label-map folders, COCO results JSON,
  parquet exports, PanNuke ``masks.npy``), matched to the ground truth by ``image_id``;
* :mod:`.driver`: :func:`evaluate` pairs a config's records with the predictions and applies
  the conventions (empty images, partial / missing annotation, missing predictions);
* :mod:`.report`: :class:`EvaluationResult` (summary, tables) and the report folder
  (``summary.json``, ``per_image.csv``, ``per_class.csv`` / ``per_tissue.csv``, ``figure.png``).

    >>> from nuclei_collection import evaluate
    >>> result = evaluate("PanNuke", "preds/masks.npy", data_dir="raw/pannuke", split="test")
    >>> result.summary["mpq"], result.per_tissue
    >>> result.write("report/")

Definitions and conventions: docs/evaluation.md.
"""

from . import metrics
from .driver import INSTANCE_METRICS, PANNUKE_METRICS, SEMANTIC_METRICS, default_metrics, evaluate
from .predictions import Prediction, open_predictions
from .report import EvaluationResult

__all__ = [
    "INSTANCE_METRICS",
    "PANNUKE_METRICS",
    "SEMANTIC_METRICS",
    "EvaluationResult",
    "Prediction",
    "default_metrics",
    "evaluate",
    "metrics",
    "open_predictions",
]
