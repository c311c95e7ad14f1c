"""The result of an evaluation: summary, tables, report files and one slide-ready figure.

:class:`EvaluationResult` holds what :func:`.driver.evaluate` measured; :meth:`~EvaluationResult.write`
puts it into a report folder::

    REPORT_DIR/summary.json      config, split, metrics (NaN -> null), counts, settings, skipped images
    REPORT_DIR/per_image.csv     one row per scored image
    REPORT_DIR/per_class.csv     PanNuke classes / semantic classes (when computed)
    REPORT_DIR/per_tissue.csv    PanNuke tissues (when computed)
    REPORT_DIR/figure.png        bar chart + the worst images: image | truth | prediction

The figure is drawn with Pillow only. Chart: PanNuke configs bPQ / mPQ per tissue, semantic
configs Dice / IoU per class, other configs the primary per-image metric of the worst images.
Overlays: truth nuclei green when matched (IoU > 0.5), red when missed; predicted nuclei
green when matched, orange when false; crowd (don't-care) regions and predictions ignored in
them grey. Semantic overlays paint each class code in a fixed colour.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from .. import raster
from ..atomic import write_bytes_atomic, write_text_atomic
from ..base import NucleiCollectionError
from ..exporters.preview import crop_window, overlay
from ..runs import ObjectSegments

#: Side of one overlay panel, px.
PANEL = 256
MARGIN = 16
FIGURE_WIDTH = 3 * PANEL + 4 * MARGIN
#: Bars drawn at most (worst images / tissues / classes).
MAX_BARS = 24
#: Chart geometry: px per bar of a group, px between groups.
BAR_STEP, ROW_GAP = 13, 8
MATCHED, MISSED, FALSE, IGNORED = (40, 190, 60), (230, 40, 40), (255, 150, 0), (150, 150, 150)
BAR_COLOURS = ((52, 101, 164), (237, 125, 49))
#: Colour of each semantic class code 0..255 (seeded, fixed; class masks are 8-bit, classes are per
#: config); code 0 (don't care) is never painted.
CLASS_COLOURS = np.random.default_rng(22).integers(40, 256, (256, 3)).astype(np.float32)
SUMMARY_FILE, PER_IMAGE_FILE, PER_CLASS_FILE, PER_TISSUE_FILE, FIGURE_FILE = (
    "summary.json", "per_image.csv", "per_class.csv", "per_tissue.csv", "figure.png",
)  # fmt: skip


@dataclass
class WorstImage:
    """One of the lowest-scoring images, kept for the figure.

    ``detail``: instance configs (truth objects, predicted objects, :class:`~.metrics.Matching`);
    semantic configs (truth codes, predicted codes).
    """

    image_id: str
    value: float
    image_bytes: bytes | None
    height: int
    width: int
    detail: Any = field(repr=False)


def json_safe(value: Any) -> Any:
    """Plain JSON values: NaN -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass
class EvaluationResult:
    """What one evaluation measured (``summary`` values are NaN where undefined)."""

    config: str
    split: str
    kind: str
    metrics: tuple[str, ...]
    #: split-level figures: metric name -> value (e.g. pq, dq, sq, aji, coco_AP, bpq, mpq, dice ...)
    summary: dict[str, float]
    per_image: pd.DataFrame
    per_class: pd.DataFrame | None
    per_tissue: pd.DataFrame | None
    #: images scored, skipped, excluded, empty ... (docs/evaluation.md, "Using the evaluator")
    counts: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    #: (image_id, reason) of every image not scored
    skipped: list[tuple[str, str]] = field(default_factory=list)
    worst: list[WorstImage] = field(default_factory=list, repr=False)
    #: what the reader of the figures must know (e.g. overlapping ground truth caps label-map scores)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "config": self.config,
                "split": self.split,
                "kind": self.kind,
                "metrics": list(self.metrics),
                "summary": self.summary,
                "counts": self.counts,
                "settings": self.settings,
                "skipped": [{"image_id": i, "reason": why} for i, why in self.skipped],
                "notes": list(self.notes),
            }
        )

    def lines(self) -> list[str]:
        """A short text summary (what the CLI prints)."""
        values = ", ".join(f"{k} {_number(v)}" for k, v in self.summary.items() if not k.startswith("coco_AP_"))
        lines = [f"{self.config}/{self.split}: {self.counts['n_images']} images scored; {values}"]
        notable = {k: v for k, v in self.counts.items() if k.startswith("n_") and not k.startswith("n_scored") and v}
        notable.pop("n_images", None)
        if notable:
            lines.append("counts: " + ", ".join(f"{k} {v}" for k, v in notable.items()))
        lines += [f"note: {note}" for note in self.notes]
        return lines

    def write(self, report_dir: Path | str) -> dict[str, Path]:
        """Write the report files (see the module docstring); returns name -> path."""
        report_dir = Path(report_dir).expanduser()
        if report_dir.exists() and not report_dir.is_dir():
            raise NucleiCollectionError(f"{report_dir}: exists and is not a folder (the report folder)")
        report_dir.mkdir(parents=True, exist_ok=True)
        written = {SUMMARY_FILE: report_dir / SUMMARY_FILE, PER_IMAGE_FILE: report_dir / PER_IMAGE_FILE}
        write_text_atomic(written[SUMMARY_FILE], json.dumps(self.to_json(), indent=1) + "\n")
        write_text_atomic(written[PER_IMAGE_FILE], self.per_image.to_csv(index=False))
        for name, table in ((PER_CLASS_FILE, self.per_class), (PER_TISSUE_FILE, self.per_tissue)):
            if table is not None:
                written[name] = report_dir / name
                write_text_atomic(written[name], table.to_csv(index=False))
        buffer = io.BytesIO()
        self.figure().save(buffer, format="PNG")  # no timestamps: same result, same bytes
        written[FIGURE_FILE] = report_dir / FIGURE_FILE
        write_bytes_atomic(written[FIGURE_FILE], buffer.getvalue())
        return written

    # ----------------------------------------------------------------------- figure

    def chart(self) -> tuple[str, list[str], list[tuple[str, list[float]]]]:
        """(title, bar labels, [(series name, values)]) of the figure's bar chart."""
        if self.per_tissue is not None:
            table = self.per_tissue
            return (
                "PanNuke protocol per tissue",
                list(table["tissue"]),
                [("bPQ", list(table["bpq"])), ("mPQ", list(table["mpq"]))],
            )
        if self.kind == "semantic" and self.per_class is not None:
            table = self.per_class[(self.per_class["true_pixels"] > 0) | (self.per_class["pred_pixels"] > 0)]
            table = table.head(MAX_BARS)
            return (
                "per class (pixels, code 0 excluded)",
                list(table["name"]),
                [("Dice", list(table["dice"])), ("IoU", list(table["iou"]))],
            )
        primary = self.settings.get("primary_metric")
        if not primary or primary not in self.per_image:
            return "", [], []
        table = self.per_image.dropna(subset=[primary]).sort_values(primary, kind="stable").head(MAX_BARS)
        title = f"{primary} per image, worst {len(table)} of {len(self.per_image)}"
        return title, list(table["image_id"]), [(primary, list(table[primary]))]

    def figure(self) -> Image.Image:
        """The slide: header with the main figures, bar chart, worst images side by side."""
        font, small = _font(15), _font(12)
        header = _wrap(self.lines()[0], font, FIGURE_WIDTH - 2 * MARGIN)
        title, labels, series = self.chart()
        bar_rows = len(labels)
        chart_height = (28 + bar_rows * (ROW_GAP + BAR_STEP * len(series)) + 24) if bar_rows else 0
        worst_height = len(self.worst) * (PANEL + 24) + (40 if self.worst else 0)
        height = MARGIN + 20 * len(header) + 8 + chart_height + worst_height + MARGIN
        figure = Image.new("RGB", (FIGURE_WIDTH, height), (255, 255, 255))
        draw = ImageDraw.Draw(figure)
        y = MARGIN
        for line in header:
            draw.text((MARGIN, y), line, fill=(0, 0, 0), font=font)
            y += 20
        y += 8
        if bar_rows:
            y = _bar_chart(draw, y, title, labels, series, font, small)
        if self.worst:
            legend = (
                "worst images: image | truth | prediction  (green matched, red missed, orange false, grey ignored)"
                if self.kind == "instance"
                else "worst images: image | truth | prediction  (colour = class code; code 0 not painted)"
            )
            draw.text((MARGIN, y + 8), legend, fill=(0, 0, 0), font=small)
            y += 40
            for entry in self.worst:
                draw.text((MARGIN, y), f"{entry.image_id}: {self.settings.get('primary_metric')} {_number(entry.value)}",
                          fill=(0, 0, 0), font=small)  # fmt: skip
                y += 20
                for k, panel in enumerate(_panels(entry, self.kind)):
                    figure.paste(panel, (MARGIN + k * (PANEL + MARGIN), y))
                y += PANEL + 4
        return figure


# --------------------------------------------------------------------------- drawing helpers


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, font: Any, width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split(" "):
        trial = f"{current} {word}".strip()
        if current and font.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + [current]


def _bar_chart(draw: ImageDraw.ImageDraw, y: int, title: str, labels: Sequence[str],
               series: Sequence[tuple[str, Sequence[float]]], font: Any, small: Any) -> int:  # fmt: skip
    """Horizontal bars in [0, 1], one group per label; returns the y below the chart."""
    draw.text((MARGIN, y), title, fill=(0, 0, 0), font=font)
    x_legend = FIGURE_WIDTH - MARGIN - 90 * len(series)
    for k, (name, _) in enumerate(series):
        draw.rectangle((x_legend + 90 * k, y + 4, x_legend + 90 * k + 10, y + 14), fill=BAR_COLOURS[k % 2])
        draw.text((x_legend + 90 * k + 14, y + 2), name, fill=(0, 0, 0), font=small)
    y += 28
    label_width, value_width = 230, 56
    left = MARGIN + label_width
    right = FIGURE_WIDTH - MARGIN - value_width
    draw.line((left, y - 4, left, y + len(labels) * (ROW_GAP + BAR_STEP * len(series))), fill=(0, 0, 0))
    for row, label in enumerate(labels):
        text = label if len(label) <= 32 else label[:14] + "..." + label[-15:]
        top = y + row * (ROW_GAP + BAR_STEP * len(series))
        draw.text((MARGIN, top), text, fill=(0, 0, 0), font=small)
        for k, (_, values) in enumerate(series):
            value = float(values[row])
            bar_top = top + BAR_STEP * k
            if math.isnan(value):
                draw.text((left + 4, bar_top - 2), "n/a", fill=(120, 120, 120), font=small)
                continue
            end = left + round(max(0.0, min(value, 1.0)) * (right - left))
            draw.rectangle((left, bar_top, max(end, left + 1), bar_top + BAR_STEP - 3), fill=BAR_COLOURS[k % 2])
            draw.text((end + 4, bar_top - 1), f"{value:.3f}", fill=(0, 0, 0), font=small)
    return y + len(labels) * (ROW_GAP + BAR_STEP * len(series)) + 24


def _image_pixels(entry: WorstImage) -> np.ndarray:
    if entry.image_bytes is None:  # masks-only builds: mid-grey
        return np.full((entry.height, entry.width), 128, dtype=np.uint8)
    return raster.read_image(f"{entry.image_id} image", data=entry.image_bytes, max_pixels=entry.height * entry.width)


def _fit(image: Image.Image) -> Image.Image:
    """Scaled to fit PANEL x PANEL (nearest: crisp outlines), on a white square."""
    scale = PANEL / max(image.width, image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    panel = Image.new("RGB", (PANEL, PANEL), (255, 255, 255))
    panel.paste(image.resize(size, Image.Resampling.NEAREST), (0, 0))
    return panel


def _paint(
    rgb: np.ndarray, labels: np.ndarray, colours: np.ndarray, alpha: float = 0.45, outline: bool = True
) -> Image.Image:
    """Fill each label (> 0) with its colour, blended, and (``outline``) outline it in full colour."""
    out = rgb.astype(np.float32)
    inside = labels > 0
    out[inside] = (1 - alpha) * out[inside] + alpha * colours[labels[inside]]
    if not outline:  # class regions: their borders are the information, no extra line
        return Image.fromarray(out.clip(0, 255).astype(np.uint8))
    padded = np.pad(labels, 1, mode="edge")
    border = inside & (
        (padded[:-2, 1:-1] != labels) | (padded[2:, 1:-1] != labels) | (padded[1:-1, :-2] != labels) | (padded[1:-1, 2:] != labels)
    )  # fmt: skip
    out[border] = colours[labels[border]]
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def _object_labels(objects: Sequence[Mapping[str, Any]], height: int, width: int, window: tuple[int, int, int, int]):
    """Label map (object index + 1, later objects on top) of the objects inside ``window``."""
    x, y, w, h = window
    indexed = [{"id": k + 1, "segmentation": obj["segmentation"]} for k, obj in enumerate(objects)]
    labels = np.zeros((h, w), dtype=np.int32)
    if indexed:
        owner, rows, cols = ObjectSegments.from_objects(indexed, height, width).crop(x, y, w, h).pixels()
        labels[rows, cols] = owner + 1
    return labels


def _status_colours(n: int, scored: np.ndarray | None, matched: np.ndarray, unmatched: tuple[int, ...]) -> np.ndarray:
    colours = np.zeros((n + 1, 3), dtype=np.float32)
    colours[1:] = IGNORED
    if scored is not None and len(scored):
        colours[scored + 1] = unmatched
    if len(matched):
        colours[matched + 1] = MATCHED
    return colours


def _panels(entry: WorstImage, kind: str) -> list[Image.Image]:
    pixels = _image_pixels(entry)
    height, width = entry.height, entry.width
    if kind == "semantic":
        truth, predicted = entry.detail
        step = max(1, math.ceil(max(height, width) / PANEL))  # whole ROI, subsampled
        rgb = np.asarray(overlay(pixels[::step, ::step], []))
        return [_fit(Image.fromarray(rgb))] + [
            _fit(_paint(rgb, codes[::step, ::step].astype(np.int32), CLASS_COLOURS, alpha=0.6, outline=False))
            for codes in (truth, predicted)
        ]
    truth, predicted, matching = entry.detail
    record = {"height": height, "width": width, "objects": truth}
    window = crop_window(record, PANEL) or (0, 0, width, height)  # large images: a native-resolution crop
    x, y, w, h = window
    rgb = np.asarray(overlay(pixels[y : y + h, x : x + w], []))
    chosen = matching.matched_pairs(0.5)
    true_index = matching.true_index if matching.true_index is not None else np.arange(matching.n_true)
    pred_index = matching.pred_index if matching.pred_index is not None else np.arange(matching.n_pred)
    true_colours = _status_colours(len(truth), true_index, true_index[matching.pair_true[chosen]], MISSED)
    pred_colours = _status_colours(len(predicted), pred_index, pred_index[matching.pair_pred[chosen]], FALSE)
    return [
        _fit(Image.fromarray(rgb)),
        _fit(_paint(rgb, _object_labels(truth, height, width, window), true_colours)),
        _fit(_paint(rgb, _object_labels(predicted, height, width, window), pred_colours)),
    ]
