"""Look at the data: one record as an overlay (``show``) and per-split statistics (``stats``).

Both work for any record kind: segments are found by their ``segmentation`` field,
category names through the features' ClassLabel, counts from the build reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Features
from PIL import Image

from ..base import NucleiCollectionError
from ..exporters.build import REPORT_DIR, load_reports
from ..exporters.card import count_noun, histogram, report_classes
from ..exporters.preview import record_overlay, record_segments
from ..exporters.shards import count_rows, read_rows, split_shards
from ..pipeline import features_for, item_records
from ..schema import features_for_kind, float32_text
from ..sources import prepare


def _pick_split(split: str | None, available: list[str], where: str) -> str:
    if split is None:
        return available[0]
    if split not in available:
        raise NucleiCollectionError(f"{where}: no split {split!r}; splits: {', '.join(available)}")
    return split


def _check_index(index: int, size: int, where: str) -> None:
    if not 0 <= index < size:
        raise NucleiCollectionError(f"{where}: index {index} out of range (0..{size - 1})")


def existing_export_dir(out: Path | str) -> Path:
    """``out`` as a folder to read an export from; a missing path or a file is named as such."""
    out = Path(out).expanduser()
    if not out.exists():
        raise NucleiCollectionError(
            f"{out}: no such folder; give the export folder written by `nuclei-collection build --out` "
            f"(looked in {out.absolute().parent})"
        )
    if not out.is_dir():
        raise NucleiCollectionError(f"{out}: is a file, not an export folder; give the folder `build --out` wrote")
    return out


def export_record(
    out: Path | str, config: str, index: int = 0, split: str | None = None
) -> tuple[dict[str, Any], Features]:
    """Record ``index`` of a split of an exported config, decoded, with its features."""
    out = existing_export_dir(out)
    reports = load_reports(out)
    if config not in reports:
        exported = ", ".join(sorted(reports)) or "none"
        close = get_close_matches(config, sorted(reports), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise NucleiCollectionError(f"{out}: config {config!r} is not exported there (exported: {exported}){hint}")
    report = reports[config]
    split = _pick_split(split, list(report["splits"]), f"{out / config}")
    _check_index(index, report["splits"][split]["records"], f"{config}/{split}")
    features = features_for_kind(report["source"]["kind"], report_classes(report))
    (record,) = read_rows(split_shards(out / config, split), index, index + 1, features)
    return record, features


def raw_record(
    config: str,
    data_dir: Path | str,
    index: int = 0,
    split: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], Features]:
    """Record ``index`` of a split read straight from the raw files (no export needed)."""
    prepared = prepare(config, data_dir, options)
    split = _pick_split(split, list(prepared.splits), f"{config} in {data_dir}")
    items = prepared.splits[split]
    _check_index(index, len(items), f"{config}/{split}")
    records, _, skipped = item_records(prepared.source, items[index])
    if skipped:
        raise NucleiCollectionError(f"{config}/{split}[{index}]: {skipped[0]} is skipped by the reader: {skipped[1]}")
    features = features_for(prepared.source)
    return features.decode_example(features.encode_example(records[0])), features


def category_counts(record: Mapping[str, Any], features: Features) -> Counter:
    """Category name -> count over every list field whose items carry a ClassLabel ``category``."""
    counts: Counter = Counter()
    for name, feature in features.items():
        inner = getattr(feature, "feature", None)
        label = inner.get("category") if isinstance(inner, dict) else None
        if isinstance(label, ClassLabel):
            counts.update(label.int2str(int(item["category"])) for item in record.get(name) or [])
    return counts


def describe(record: Mapping[str, Any], features: Features) -> list[str]:
    """Human summary of one decoded record."""
    image = record["image"]
    lines = [
        f"image_id: {record.get('image_id')}",
        f"image: {image.width}x{image.height} mode {image.mode}",
        f"segments: {len(record_segments(record))}",
    ]
    counts = category_counts(record, features)
    if counts:
        lines.append("categories: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    # Top-level scalars of other record kinds (semantic: mpp, magnification), then metadata.
    lines += [f"{key}: {_text(record[key])}" for key in ("mpp", "magnification") if record.get(key) is not None]
    metadata = record.get("metadata") or {}
    lines += [f"metadata.{key}: {_text(value)}" for key, value in metadata.items() if value is not None]
    return lines


def _text(value: Any) -> str:
    """Printed value: float32 fields rounded to what was stored (0.252, not 0.25200000405311584)."""
    return float32_text(value) if isinstance(value, float) else str(value)


def show(
    config: str,
    index: int = 0,
    split: str | None = None,
    export: Path | str | None = None,
    data_dir: Path | str | None = None,
    out: Path | str | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[list[str], Image.Image]:
    """Overlay of one record (from an export, or from raw files with ``data_dir``).

    Saves the overlay to ``out`` when given; returns the description lines and the image.
    """
    if data_dir is not None:
        record, features = raw_record(config, data_dir, index, split, options)
    else:
        record, features = export_record(export or "nuclei_collection", config, index, split)
    picture = record_overlay(record)
    if out is not None:
        picture.save(out)
    return describe(record, features), picture


def export_stats(out: Path | str) -> list[dict[str, Any]]:
    """One row per (config, split) of an export, from its build reports.

    ``rows_ok`` compares the report with the rows actually in the parquet footers, so a
    damaged or hand-edited export shows up here.
    """
    out = existing_export_dir(out)
    reports = load_reports(out)
    if not reports:
        raise NucleiCollectionError(
            f"{out}: no exported config in this folder (no {REPORT_DIR}/<config>.json next to a <config>/ folder); "
            "give the folder `nuclei-collection build --out` wrote, or build into it first"
        )
    rows = []
    for config, report in reports.items():
        for split, stats in report["splits"].items():
            rows.append(
                {
                    "config": config,
                    "split": split,
                    "images": stats["records"],
                    "instances": f"{stats['objects']} {count_noun(report['source']['kind'])}",
                    "classes": histogram(stats.get("categories") or {}, limit=3),
                    "sizes": histogram(stats.get("sizes") or {}, limit=3),
                    # keys already rounded by the build (shards.metadata_summary)
                    "mpp": histogram((stats.get("metadata") or {}).get("mpp") or {"unknown": stats["records"]}, limit=2),
                    "shards": len(stats["shards"]),
                    "MiB": round(stats["num_bytes"] / 2**20, 1),
                    "rows_ok": count_rows(split_shards(out / config, split)) == stats["records"],
                }
            )
    return rows
