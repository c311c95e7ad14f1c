"""The evaluation driver: a config's ground truth against predictions, image by image.

Ground truth comes from the one pipeline: :func:`..sources.prepare` + :func:`..pipeline.iter_split`
over raw data (``data_dir``), or the parquet shards of an export (``export``) read back row
group by row group. Predictions come from :mod:`.predictions`. Every number is computed by
the metric modules (one :func:`~.matching.match` per image serves PQ, AJI, AJI+, DSB, F1 and
Dice; the class-aware PQ, COCO AP and the semantic scores through their aggregators); this
module only pairs images, applies the conventions below and collects the tables.

What a config is scored with comes from its declared :class:`~..catalog.SourceInfo` (through
the registry, never from a reader module): ``info.metrics`` is the default metric set, and
the classes (``Source.classes()``, crowd classes left out) are the classes of bPQ / mPQ /
mPQ+ and of the semantic tables. A config whose classes are only ``nucleus`` (and
``ambiguous``) has no class-aware metric: asking for ``mpq`` there is an error.

Conventions (docs/evaluation.md, "Using the evaluator"):

* ``annotation = "none"`` images carry no labels: they are skipped and counted
  (``n_skipped_unannotated``); their predictions are accepted and ignored.
* ``annotation = "partial"`` images: unlabelled nuclei are not background, so every metric
  that would count them as false positives is refused. ``f1_annotated`` is allowed: predictions
  sharing no pixel with an annotated (non-crowd) nucleus are left out, the rest are matched
  to the truth as by ``f1`` (unique pairs with IoU > 0.5).
* Empty truth and empty prediction: excluded from the means and counted (``empty_score=1.0``
  scores them 1); empty truth with predictions scores 0 (counted).
* A missing prediction is an error (``missing="empty"`` scores an empty prediction and counts
  it); a prediction for an image outside the config is an error naming it; predictions for
  images of the config's other splits are ignored and counted.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .. import raster
from ..base import BadInputError, NucleiCollectionError
from ..catalog import SourceInfo, vocabulary
from ..exporters.build import load_reports
from ..exporters.shards import split_shards
from ..pipeline import SplitReport, iter_split
from ..progress import progress as show_progress
from ..schema import DONT_CARE_CODE
from ..sources import SOURCES, prepare
from ..views import ViewSpec
from . import class_pq, coco_ap, instance_scores, semantic
from .instances import MetricInputError
from .matching import Matching, match, truth_overlap
from .predictions import Prediction, PredictionReader, open_predictions
from .report import EvaluationResult, WorstImage

#: Metrics of instance configs, in report order.
INSTANCE_METRICS: tuple[str, ...] = (
    "pq", "aji", "aji_plus", "dsb2018", "f1", "dice", "coco_ap", "bpq", "mpq", "mpq_plus", "f1_annotated",
)  # fmt: skip
#: Metrics of semantic configs: per-class pixel Dice and IoU (code 0 excluded).
SEMANTIC_METRICS: tuple[str, ...] = ("dice", "iou")
#: The only metric allowed on partially annotated images (see the module docstring).
PARTIAL_METRICS: tuple[str, ...] = ("f1_annotated",)
#: PanNuke protocol metrics (need a class per predicted nucleus, except bpq).
PANNUKE_METRICS: tuple[str, ...] = ("bpq", "mpq", "mpq_plus")
#: Metrics that need the config to declare object classes (more than ``nucleus``).
CLASS_METRICS: tuple[str, ...] = ("mpq", "mpq_plus")
#: How to score an image without a prediction.
MISSING_CHOICES: tuple[str, ...] = ("error", "empty")
#: Overlays of the worst images in the figure.
WORST_IMAGES = 3


def a_kind(kind: str) -> str:
    """``"an instance"`` / ``"a semantic"``: the kind with its article, for messages."""
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def known_metrics(kind: str) -> tuple[str, ...]:
    """The metric names ``evaluate`` takes for records of ``kind``."""
    return SEMANTIC_METRICS if kind == "semantic" else INSTANCE_METRICS


def check_declared_metrics(info: SourceInfo) -> None:
    """A SourceInfo's ``metrics`` must name metrics this evaluator computes (checked for every source)."""
    known = known_metrics(info.kind)
    unknown = [m for m in info.metrics if m not in known]
    if unknown or not info.metrics:
        raise NucleiCollectionError(
            f"source {info.name}: SourceInfo.metrics {list(info.metrics)} names unknown metric(s) "
            f"{', '.join(unknown) or '(none given)'}; known for {a_kind(info.kind)} source: {', '.join(known)}"
        )


for _info in SOURCES:  # a typo in a source's table fails at import, not in the middle of a run
    check_declared_metrics(_info)


def default_metrics(kind: str, declared: Sequence[str] = (), partial: bool = False) -> tuple[str, ...]:
    """The default metric set of a config: what its source declares (``SourceInfo.metrics``).

    Partially annotated ground truth only allows :data:`PARTIAL_METRICS`; without a
    declaration (an export of a source no longer registered) the SourceInfo default.
    """
    if partial and kind != "semantic":
        return PARTIAL_METRICS
    if not declared:
        declared = SEMANTIC_METRICS if kind == "semantic" else SourceInfo.metrics  # the dataclass default
    return tuple(dict.fromkeys(declared))


def class_aware(class_names: Sequence[str], crowd: Sequence[bool]) -> bool:
    """Does a config with these classes have class-aware metrics (mPQ, mPQ+)?"""
    scored = [name for name, is_crowd in zip(class_names, crowd) if not is_crowd]
    return bool(scored) and scored != ["nucleus"]


def _metric_list(metrics_arg: Sequence[str] | str | None, kind: str, defaults: tuple[str, ...]) -> tuple[str, ...]:
    if metrics_arg is None:
        return defaults
    names = [m.strip() for m in (metrics_arg.split(",") if isinstance(metrics_arg, str) else metrics_arg)]
    names = [m for m in names if m]
    known = known_metrics(kind)
    unknown = [m for m in names if m not in known]
    if unknown or not names:
        raise NucleiCollectionError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'} for {a_kind(kind)} config; "
            f"known: {', '.join(known)}"
        )
    return tuple(dict.fromkeys(names))


# --------------------------------------------------------------------------- ground truth


@dataclass
class GroundTruth:
    """The records of one split of a config, and what is known about the split up front."""

    config: str
    source_name: str
    kind: str
    split: str
    total: int
    #: yields the split's records (schema dicts) in order; the argument wraps the work list (progress)
    iterate: Callable[[Callable[[Iterable[Any], int], Iterable[Any]]], Iterator[dict[str, Any]]]
    #: image ids of the config's other splits (their predictions are ignored, counted)
    other_ids: set[str]
    #: ids of this split when cheaply known (exports), for an early unknown-prediction check
    ids: set[str] | None = None
    #: the config declares partial annotation (default metric choice)
    partial: bool = False
    #: the config's class names (index = category / class code) and which are crowd (don't care)
    class_names: tuple[str, ...] = ()
    crowd: tuple[bool, ...] = ()
    #: the source's declared metrics (SourceInfo.metrics)
    declared_metrics: tuple[str, ...] = ()
    #: items the reader skipped (raw data only), filled while iterating
    reader_report: SplitReport | None = None


def _pick_split(split: str | None, available: Sequence[str], where: str) -> str:
    if split is None:
        if len(available) == 1:
            return available[0]
        raise NucleiCollectionError(f"{where} has splits {', '.join(available)}: choose one (split= / --split)")
    if split not in available:
        raise NucleiCollectionError(f"{where}: no split {split!r}; splits: {', '.join(available)}")
    return split


def raw_truth(
    config: str,
    data_dir: Path | str | None,
    split: str | None,
    options: Mapping[str, Any] | None = None,
    view: ViewSpec | Mapping[str, Any] | None = None,
    cache_dir: Path | str | None = None,
) -> GroundTruth:
    """Ground truth read from raw files (or a download) through the pipeline."""
    prepared = prepare(config, data_dir, options, cache_dir=cache_dir, view=view)
    split = _pick_split(split, list(prepared.splits), f"{config} in {data_dir or 'the download'}")
    items = prepared.splits[split]
    report = SplitReport()
    declared = getattr(prepared.source, "metadata", None)
    classes = prepared.source.classes()

    def iterate(wrap: Callable[[Iterable[Any], int], Iterable[Any]]) -> Iterator[dict[str, Any]]:
        return iter_split(prepared.source, wrap(items, len(items)), report, label=f"{prepared.name}/{split}")

    return GroundTruth(
        config=prepared.name,
        source_name=prepared.source.name,
        kind=prepared.source.kind,
        split=split,
        total=len(items),
        iterate=iterate,
        other_ids={item.image_id for name, other in prepared.splits.items() if name != split for item in other},
        partial=isinstance(declared, Mapping) and declared.get("annotation") == "partial",
        reader_report=report,
        class_names=tuple(c.name for c in classes),
        crowd=tuple(c.crowd for c in classes),
        declared_metrics=tuple(prepared.source.info.metrics),
    )


def _shard_ids(shards: Sequence[Path]) -> list[str]:
    return [i for path in shards for i in pq.read_table(path, columns=["image_id"]).column("image_id").to_pylist()]


def export_truth(config: str, export: Path | str, split: str | None) -> GroundTruth:
    """Ground truth read back from the parquet shards of an export folder."""
    export = Path(export).expanduser()
    if not export.is_dir():
        raise NucleiCollectionError(
            f"{export}: no such export folder (give the folder `nuclei-collection build --out` wrote)"
        )
    reports = load_reports(export)
    if config not in reports:
        raise NucleiCollectionError(
            f"{export}: config {config!r} is not exported there (exported: {', '.join(sorted(reports)) or 'none'})"
        )
    report = reports[config]
    kind = report["source"]["kind"]
    split = _pick_split(split, list(report["splits"]), str(export / config))
    shards = split_shards(export / config, split)
    if not shards:
        raise NucleiCollectionError(f"{export / config}: no shards of split {split!r}")
    columns = ["image", "image_id", "width", "height", "metadata"] + (["mask"] if kind == "semantic" else ["objects"])
    annotation_states = (report["splits"][split].get("metadata") or {}).get("annotation") or {}
    info = next((i for i in SOURCES if i.name == report["source"]["name"]), None)
    # Exports since 0.3.0 name their classes; older ones have the source's declared table.
    class_names = tuple(report["source"].get("classes") or (info.class_names if info is not None else ()))
    known_classes = vocabulary()  # the shared class vocabulary says which names are crowd classes

    def iterate(wrap: Callable[[Iterable[Any], int], Iterable[Any]]) -> Iterator[dict[str, Any]]:
        def rows() -> Iterator[dict[str, Any]]:
            for path in shards:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=16, columns=columns):
                    yield from batch.to_pylist()

        return iter(wrap(rows(), report["splits"][split]["records"]))

    return GroundTruth(
        config=config,
        source_name=report["source"]["name"],
        kind=kind,
        split=split,
        total=report["splits"][split]["records"],
        iterate=iterate,
        other_ids={
            i for name in report["splits"] if name != split for i in _shard_ids(split_shards(export / config, name))
        },
        ids=set(_shard_ids(shards)),
        partial="partial" in annotation_states,
        class_names=class_names,
        crowd=tuple(kind == "instance" and name in known_classes and known_classes[name].crowd for name in class_names),
        declared_metrics=tuple(info.metrics) if info is not None else (),
    )


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class _Score:
    """A per-image value :class:`~.instance_scores.MeanOverImages` can average (DQ, SQ, precision, recall)."""

    value: float
    n_true: int
    n_pred: int


def _score(value: float, of: Any) -> _Score:
    return _Score(value, of.n_true, of.n_pred)


class InstanceScorer:
    """Per-image instance metrics (one matching per image) and the split-level aggregators.

    ``class_names`` / ``crowd``: the config's classes (index = category); the class-aware
    metrics score the non-crowd ones.
    """

    def __init__(
        self,
        metric_names: tuple[str, ...],
        empty_score: float | None,
        score_threshold: float | None,
        class_names: Sequence[str] = ("nucleus",),
        crowd: Sequence[bool] = (False,),
    ):
        self.metric_names = metric_names
        self.score_threshold = score_threshold
        self.means: dict[str, instance_scores.MeanOverImages] = {}
        scored = [k for k, is_crowd in enumerate(crowd) if not is_crowd]
        self.classes = tuple(scored)
        self.class_names = [class_names[k] for k in scored]
        self.class_aggregator = (
            class_pq.PanNukeAggregator(self.classes, self.class_names)
            if any(m in PANNUKE_METRICS for m in metric_names)
            else None
        )
        self.coco = coco_ap.CocoAccumulator() if "coco_ap" in metric_names else None
        self.empty_score = empty_score
        self.counts = {
            "n_crowd_objects": 0, "n_pred_ignored_in_crowd": 0, "n_pred_below_score_threshold": 0,
            "n_images_truth_overlap": 0, "n_truth_overlap_pixels": 0, "n_truth_overlap_objects": 0,
        }  # fmt: skip
        self.notes: list[str] = []

    def _mean(self, column: str, result: Any, row: dict[str, Any]) -> None:
        mean = self.means.setdefault(column, instance_scores.MeanOverImages(self.empty_score))
        row[column] = mean.add(result)

    def add(self, image_id: str, truth: list[dict[str, Any]], prediction: Prediction, tissue: str | None):
        """Score one image; returns its per-image row, the matching and the scored predictions (overlays)."""
        predicted = prediction.objects or []
        kept = predicted
        if self.score_threshold is not None:
            kept = [obj for obj in predicted if obj.get("score", 1.0) >= self.score_threshold]
            self.counts["n_pred_below_score_threshold"] += len(predicted) - len(kept)
        row: dict[str, Any] = {"image_id": image_id}
        if tissue is not None:
            row["tissue"] = tissue
        try:
            matching = match(truth, kept)
            row.update(n_true=matching.n_true, n_pred=matching.n_pred)
            self.counts["n_crowd_objects"] += matching.n_crowd
            self.counts["n_pred_ignored_in_crowd"] += matching.n_ignored
            overlap_pixels, overlap_objects = truth_overlap(matching.true)
            if overlap_pixels:
                self.counts["n_images_truth_overlap"] += 1
                self.counts["n_truth_overlap_pixels"] += overlap_pixels
                self.counts["n_truth_overlap_objects"] += overlap_objects
            self._per_image(matching, truth, kept, row)
            if self.class_aggregator is not None:
                if any(m in CLASS_METRICS for m in self.metric_names) and kept:
                    if all(obj.get("category") is None for obj in kept):
                        raise BadInputError(
                            prediction.origin,
                            f"image {image_id!r}: mpq / mpq_plus need a class per predicted nucleus "
                            "(label maps: <image_id>.classes.json; COCO: category_id; names or indexes of "
                            f"the config's classes: {', '.join(self.class_names)})",
                        )
                self.class_aggregator.add(truth, kept, tissue, image_id)
            if self.coco is not None:
                self.coco.add(truth, predicted)  # AP ranks every detection by score: no threshold
        except MetricInputError as error:
            raise BadInputError(prediction.origin, f"image {image_id!r}: {error}") from None
        return row, matching, kept

    def _per_image(self, m: Matching, truth: list, kept: list, row: dict[str, Any]) -> None:
        names = self.metric_names
        if "pq" in names:
            result = instance_scores.pq_of(m)
            self._mean("pq", result, row)
            self._mean("dq", _score(result.dq, result), row)
            self._mean("sq", _score(result.sq, result), row)
            row.update(tp=result.tp, fp=result.fp, fn=result.fn)
        for name in ("aji", "aji_plus", "dsb2018"):
            if name in names:
                self._mean(name, instance_scores.SCORES_OF_MATCHING[name](m), row)
        if "f1" in names:
            self._detection(instance_scores.f1_of(m), "", row)
        if "dice" in names:
            self._mean("dice", instance_scores.dice_of(m), row)
        if "f1_annotated" in names:
            # Predictions touching no annotated nucleus may be unlabelled nuclei: left out.
            touched = np.unique(m.pred_index[m.pair_pred]) if m.pred_index is not None else np.zeros(0, int)
            restricted = [kept[k] for k in touched.tolist()]
            self._detection(instance_scores.f1(truth, restricted), "_annotated", row)
            row["n_pred_annotated"] = len(restricted)

    def _detection(self, result: instance_scores.Detection, suffix: str, row: dict[str, Any]) -> None:
        self._mean(f"f1{suffix}", result, row)
        self._mean(f"precision{suffix}", _score(result.precision, result), row)
        self._mean(f"recall{suffix}", _score(result.recall, result), row)

    def finish(self, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
        """(summary, counts, per-class rows, per-tissue rows); merges class-aware per-image values into ``rows``."""
        summary: dict[str, Any] = {column: mean.mean for column, mean in self.means.items()}
        counts: dict[str, Any] = dict(self.counts)
        first = next(iter(self.means.values()), None)
        if first is not None:
            counts.update(
                n_empty_both=first.n_empty_both,
                n_empty_truth_with_pred=first.n_empty_truth_with_pred,
            )
        for column, mean in self.means.items():
            counts[f"n_scored_{column}"] = mean.n_scored
        per_class = per_tissue = None
        if self.class_aggregator is not None:
            result = self.class_aggregator.result()
            for name in PANNUKE_METRICS:
                if name in self.metric_names:
                    summary[name] = getattr(result, name)
            counts.update({k: v for k, v in result.counts.items() if k != "n_images"})
            per_tissue = result.per_tissue
            if any(m in CLASS_METRICS for m in self.metric_names):
                per_class = result.per_class
            by_id = {row["image_id"]: row for row in rows}
            for image_row in self.class_aggregator.rows:
                target = by_id[image_row["image_id"]]
                target.update({k: v for k, v in image_row.items() if k in ("bpq", "mpq") or k.startswith("pq_")})
        if counts["n_images_truth_overlap"]:
            self.notes.append(
                f"the ground truth overlaps in {counts['n_images_truth_overlap']} image(s): "
                f"{counts['n_truth_overlap_pixels']} px lie in two or more of {counts['n_truth_overlap_objects']} "
                "objects. A label map holds one object per pixel, so no label-map prediction (not even the truth "
                "painted into one) can score 1.0 here; predictions as object lists (COCO RLE, a parquet export) "
                "can (docs/evaluation.md, 'Overlapping ground truth')"
            )
        if self.coco is not None:
            ap = self.coco.result()
            counts["coco_max_dets"] = ap.pop("max_dets")
            summary.update({f"coco_{key}": value for key, value in ap.items()})
        return summary, counts, per_class, per_tissue


class SemanticScorer:
    """Per-class pixel Dice / IoU over the split (confusion matrices summed), per-image means.

    ``class_names``: the config's region classes, index = class code (code 0 = don't care).
    """

    def __init__(self, metric_names: tuple[str, ...], class_names: Sequence[str]):
        if len(class_names) <= DONT_CARE_CODE + 1:
            raise NucleiCollectionError(
                f"a semantic config needs classes besides the don't-care code, got {class_names}"
            )
        self.metric_names = metric_names
        self.class_names = tuple(class_names)
        self.accumulator = semantic.SemanticAccumulator(len(self.class_names), ignore=DONT_CARE_CODE)
        self.n_unlabelled = 0

    def add(self, image_id: str, truth: np.ndarray, prediction: Prediction) -> dict[str, Any]:
        try:
            scores = self.accumulator.add(truth, prediction.codes)
        except MetricInputError as error:
            raise BadInputError(prediction.origin, f"image {image_id!r}: {error}") from None
        labelled = int(scores.true_area.sum())
        self.n_unlabelled += labelled == 0
        row = {"image_id": image_id, "labelled_pixels": labelled}
        for name in self.metric_names:
            row[f"mean_{name}"] = getattr(scores, f"mean_{name}")
        return row

    def finish(self, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], Any, None]:
        result = self.accumulator.result()
        summary = {name: getattr(result, f"mean_{name}") for name in self.metric_names}
        per_class = [
            {
                "code": code, "name": self.class_names[code],
                "dice": float(result.dice[code]), "iou": float(result.iou[code]),
                "intersection": int(result.intersection[code]),
                "true_pixels": int(result.true_area[code]), "pred_pixels": int(result.pred_area[code]),
            }
            for code in range(len(self.class_names))
            if code != DONT_CARE_CODE
        ]  # fmt: skip
        return summary, {"n_images_without_labelled_pixels": self.n_unlabelled}, per_class, None


# --------------------------------------------------------------------------- the driver


def _truth_codes(record: Mapping[str, Any], where: str) -> np.ndarray:
    mask = record.get("mask")
    if not mask or not mask.get("bytes"):
        raise BadInputError(where, "record has no mask")
    height, width = int(record["height"]), int(record["width"])
    return raster.read_image(where, data=mask["bytes"], max_pixels=max(height * width, 1))


def _no_prediction(kind: str, image_id: str, height: int, width: int) -> Prediction:
    if kind == "semantic":  # code 0 on a labelled pixel: a miss of that pixel's class
        return Prediction(image_id, "(missing: scored empty)", codes=np.zeros((height, width), np.uint8))
    return Prediction(image_id, "(missing: scored empty)", objects=[])


def _progress(enabled: bool, description: str) -> Callable[[Iterable[Any], int], Iterable[Any]]:
    def wrap(iterable: Iterable[Any], total: int) -> Iterable[Any]:
        # A bar on a terminal, a log line every few seconds otherwise (CI logs, nohup).
        return show_progress(iterable, total=total, desc=description, unit="image") if enabled else iterable

    return wrap


def evaluate(
    config: str,
    predictions: Path | str | Mapping[str, Any],
    data_dir: Path | str | None = None,
    export: Path | str | None = None,
    split: str | None = None,
    metrics: Sequence[str] | str | None = None,
    missing: str = "error",
    options: Mapping[str, Any] | None = None,
    *,
    empty_score: float | None = None,
    score_threshold: float | None = None,
    coco_images: Path | str | None = None,
    pred_config: str | None = None,
    view: ViewSpec | Mapping[str, Any] | None = None,
    cache_dir: Path | str | None = None,
    progress: bool = True,
) -> EvaluationResult:
    """Score ``predictions`` against one split of ``config``; see docs/evaluation.md.

    Ground truth from raw files (``data_dir``, or a download when neither is given; reader
    ``options`` and a training ``view`` apply) or from an export folder (``export``).
    ``predictions``: a label-map folder, a COCO results JSON, a parquet export folder,
    PanNuke ``masks.npy``, or a mapping ``{image_id: label map | objects | class codes}``
    (:mod:`.predictions`). ``metrics``: names or a comma list (default: the metrics the
    config's source declares, ``SourceInfo.metrics``; see :func:`default_metrics`). ``missing="empty"`` scores images without a
    prediction as empty; ``empty_score=1.0`` scores images with empty truth and empty
    prediction 1 instead of leaving them out; ``score_threshold`` drops predicted objects
    with a lower ``score`` for every metric but COCO AP; ``coco_images`` maps COCO image
    numbers to ids; ``pred_config`` names the config inside a prediction export.
    """
    if data_dir is not None and export is not None:
        raise NucleiCollectionError("give either data_dir (raw files) or export (an export folder), not both")
    if missing not in MISSING_CHOICES:
        raise NucleiCollectionError(f"missing must be one of {', '.join(MISSING_CHOICES)}, got {missing!r}")
    if export is not None:
        if options or view:
            raise NucleiCollectionError("options and view apply to raw data (data_dir), not to an export")
        truth = export_truth(config, export, split)
    else:
        truth = raw_truth(config, data_dir, split, options, view, cache_dir)
    chosen = _metric_list(metrics, truth.kind, default_metrics(truth.kind, truth.declared_metrics, truth.partial))
    class_metrics = [m for m in chosen if m in CLASS_METRICS]
    if class_metrics and not class_aware(truth.class_names, truth.crowd):
        raise NucleiCollectionError(
            f"{truth.config}: {', '.join(class_metrics)} need object classes, and this config's classes are only "
            f"{', '.join(truth.class_names) or 'none'} (class-aware metrics apply to configs whose source declares "
            "cell types, e.g. PanNuke, CoNSeP, Lizard, MoNuSAC); use pq / bpq for class-agnostic scores"
        )
    reader = open_predictions(
        predictions, truth.kind, truth.config, truth.split, coco_images, pred_config, truth.class_names
    )
    if truth.ids is not None:
        unknown = sorted(reader.known_ids() - truth.ids - truth.other_ids)
        if unknown:
            _unknown_error(reader, unknown, truth)
    run = _Run(truth, reader, chosen, missing, empty_score, score_threshold)
    return run.execute(_progress(progress, f"{truth.config}/{truth.split}"))


def _unknown_error(reader: PredictionReader, unknown: list[str], truth: GroundTruth) -> None:
    shown = ", ".join(repr(i) for i in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    raise BadInputError(reader.path, f"prediction(s) for {len(unknown)} image(s) not in {truth.config}: {shown}")


@dataclass
class _Run:
    truth: GroundTruth
    reader: PredictionReader
    metric_names: tuple[str, ...]
    missing: str
    empty_score: float | None
    score_threshold: float | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    worst: list[tuple[float, int, WorstImage]] = field(default_factory=list)
    n_missing: int = 0

    def execute(self, wrap: Callable[[Iterable[Any], int], Iterable[Any]]) -> EvaluationResult:
        truth = self.truth
        semantic = truth.kind == "semantic"
        scorer: InstanceScorer | SemanticScorer = (
            SemanticScorer(self.metric_names, truth.class_names)
            if semantic
            else InstanceScorer(
                self.metric_names, self.empty_score, self.score_threshold, truth.class_names, truth.crowd
            )
        )
        primary = self._primary()
        n_records = 0
        for record in truth.iterate(wrap):
            self._score(scorer, record, n_records, primary)
            n_records += 1
        leftover = self.reader.leftover(n_records)
        other = [i for i in leftover if i in truth.other_ids]
        unknown = [i for i in leftover if i not in truth.other_ids]
        if unknown:
            _unknown_error(self.reader, unknown, truth)
        if not self.rows:
            raise NucleiCollectionError(
                f"{truth.config}/{truth.split}: no image to score ({len(self.skipped)} skipped: "
                + "; ".join(f"{i}: {why}" for i, why in self.skipped[:3])
                + ")"
            )
        summary, counts, per_class, per_tissue = scorer.finish(self.rows)
        notes = list(getattr(scorer, "notes", []))
        reader_skipped = truth.reader_report.skipped if truth.reader_report is not None else []
        counts = {
            "n_images": len(self.rows),
            "n_skipped_unannotated": len(self.skipped),
            "n_skipped_by_reader": len(reader_skipped),
            "n_missing_scored_empty": self.n_missing,
            "n_pred_other_split": len(other),
            **counts,
        }
        frame = pd.DataFrame(self.rows)
        return EvaluationResult(
            config=truth.config,
            split=truth.split,
            kind=truth.kind,
            metrics=self.metric_names,
            summary=summary,
            per_image=frame,
            per_class=pd.DataFrame(per_class) if per_class else None,
            per_tissue=pd.DataFrame(per_tissue) if per_tissue else None,
            counts=counts,
            settings={
                "predictions": str(self.reader.path),
                "prediction_format": self.reader.format,
                "missing": self.missing,
                "empty_score": self.empty_score,
                "score_threshold": self.score_threshold,
                "primary_metric": primary,
            },
            skipped=self.skipped + [(i, f"reader: {why}") for i, why in reader_skipped],
            notes=notes,
            worst=[entry for _, _, entry in sorted(self.worst, key=lambda e: (-e[0], -e[1]))],
        )

    def _primary(self) -> str | None:
        if self.truth.kind == "semantic":
            return "mean_dice" if "dice" in self.metric_names else "mean_iou"
        return next(
            (m for m in ("pq", "f1_annotated", "aji", "aji_plus", "dsb2018", "f1", "dice") if m in self.metric_names),
            None,
        )

    def _score(self, scorer: Any, record: Mapping[str, Any], position: int, primary: str | None) -> None:
        truth = self.truth
        image_id = record["image_id"]
        height, width = int(record["height"]), int(record["width"])
        metadata = record.get("metadata") or {}
        annotation = metadata.get("annotation")
        if annotation == "none":  # no labels at all: nothing to score against
            self.reader.discard(position, image_id)
            self.skipped.append((image_id, "annotation=none (no labels)"))
            return
        if annotation == "partial":
            refused = [m for m in self.metric_names if m not in PARTIAL_METRICS]
            if refused:
                raise NucleiCollectionError(
                    f"{truth.config}/{image_id}: annotation=partial (unlabelled nuclei are not background), so "
                    f"{', '.join(refused)} would count them as false positives; use metrics=f1_annotated "
                    "(detection restricted to annotated nuclei, docs/evaluation.md)"
                )
        prediction = self.reader.take(position, image_id, height, width)
        is_missing = prediction is None
        if prediction is None:
            if self.missing == "error":
                raise BadInputError(
                    self.reader.path,
                    f"no prediction for image {image_id!r} of {truth.config}/{truth.split} "
                    "(missing='empty' / --missing empty scores it as an empty prediction)",
                )
            prediction = _no_prediction(truth.kind, image_id, height, width)
            self.n_missing += 1
        if truth.kind == "semantic":
            codes = _truth_codes(record, f"{truth.config}/{truth.split}/{image_id} mask")
            row = scorer.add(image_id, codes, prediction)
            detail: Any = (codes, prediction.codes)
        else:
            objects = list(record["objects"])
            tissue = metadata.get("tissue")  # per-tissue tables where records carry one (PanNuke)
            row, matching, kept = scorer.add(image_id, objects, prediction, tissue)
            detail = (objects, kept, matching)
        if self.missing == "empty":
            row["missing"] = is_missing
        self.rows.append(row)
        value = row.get(primary) if primary else None
        if value is not None and not math.isnan(value):
            self._keep_worst(float(value), position, record, detail)

    def _keep_worst(self, value: float, position: int, record: Mapping[str, Any], detail: Any) -> None:
        # Max-heap of the WORST_IMAGES lowest values (heap[0] = the best of them, evicted
        # first); on equal values the earlier image stays.
        if len(self.worst) >= WORST_IMAGES and value >= -self.worst[0][0]:
            return
        image = record.get("image") or {}
        entry = WorstImage(
            image_id=record["image_id"],
            value=value,
            image_bytes=image.get("bytes"),
            height=int(record["height"]),
            width=int(record["width"]),
            detail=detail,
        )
        item = (-value, -position, entry)
        if len(self.worst) < WORST_IMAGES:
            heapq.heappush(self.worst, item)
        else:
            heapq.heapreplace(self.worst, item)
