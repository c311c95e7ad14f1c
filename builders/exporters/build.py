"""Export configs as parquet shards + README that ``load_dataset(OUT, config)`` reads.

Layout written (the Hub's "manual configuration" layout)::

    OUT/README.md                                  YAML configs + dataset_info + card
    OUT/<config>/<split>-0000N-of-0000M.parquet    shards sized by bytes (or --num-shards)
    OUT/.nuclei_collection/<config>.json           build report, used to re-render the card
    OUT/previews/<config>.png                      masks drawn over the first images (card)

Guarantees:

* Atomic: a config is written into ``OUT/.staging-<config>-<host>-<pid>-*`` and renamed into
  place only when complete; an interrupted build leaves the previous export untouched, and
  the next build of that config removes the staging folder a killed one left (atomic.py).
* Re-running adds or replaces configs without touching the others.
* Deterministic: records in item order (independent of ``num_proc``), no timestamps or
  absolute paths in the data, so a rebuild from the same raw files gives identical bytes.
* Always re-reads the raw files (no cache), so changed inputs are never missed.
* Row groups are cut by bytes and rows (viewer-friendly); shards by bytes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import check_output_dir, make_staging_dir, replace_dir, write_bytes_atomic, write_text_atomic
from ..base import NucleiCollectionError, logger
from ..pipeline import PreparedConfig, features_for, log_split_report
from ..sources import prepare
from ..views import ViewSpec
from .card import render_readme
from .parquet import DEFAULT_MAX_SHARD_SIZE, parse_size, write_split
from .preview import preview_png
from .shards import metadata_summary

REPORT_DIR = ".nuclei_collection"
#: What an export folder is called in output path errors (its marker is REPORT_DIR).
EXPORT_KIND = "a nuclei-collection export"
PREVIEW_DIR = "previews"


@dataclass
class ConfigReport:
    """What a config export produced (also stored as JSON for the card)."""

    name: str
    source: dict[str, Any]
    options: dict[str, Any]
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: views only: {"of": export name of the config it is a view of, "description", settings}
    view: dict[str, Any] | None = None
    #: config whose images include this one's (ConfigSpec.subset_of)
    subset_of: str | None = None
    #: preview image path relative to the export folder
    preview: str | None = None
    #: configs sharing some images with this one (ConfigSpec.overlaps)
    overlaps: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        report = {
            "name": self.name,
            "source": self.source,
            "options": self.options,
            "splits": self.splits,
            "subset_of": self.subset_of,
            "preview": self.preview,
        }
        if self.view is not None:
            report["view"] = self.view
        if self.overlaps:  # only where declared: reports of other configs keep their bytes
            report["overlaps"] = self.overlaps
        return report


# --------------------------------------------------------------------------- whole configs


def _images_shared_with(prepared: PreparedConfig) -> str | None:
    """The config whose images this export re-uses: the declared ``subset_of``, or, for a
    label variant exported under a derived name (e.g. ``nuclei_stage1_train_csv_labels``),
    the config itself. Views name their parent in ``view.of`` instead."""
    if prepared.spec.subset_of or prepared.view or prepared.name == prepared.spec.name:
        return prepared.spec.subset_of
    return prepared.spec.name


def export_config(
    prepared: PreparedConfig,
    out: Path | str,
    num_proc: int = 1,
    num_shards: int | None = None,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
) -> ConfigReport:
    """Write every split of a prepared config into ``out/<config>/`` atomically."""
    out = check_output_dir(out, REPORT_DIR, EXPORT_KIND)
    out.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(out, prepared.name)  # also removes ones a killed build left
    source = prepared.source
    report = ConfigReport(
        name=prepared.name,
        source={
            "name": source.name,
            "kind": source.kind,
            # objects.category (regions.category) ClassLabel names: per config since 0.3.0
            "classes": list(source.class_names()),
            "homepage": source.homepage,
            "license": source.license,
            "citation": source.citation,
            "description": prepared.spec.description or source.description,
            "known_issues": [list(issue) for issue in source.known_issues],
        },
        options=dict(source.options),
        view=prepared.view,
        subset_of=_images_shared_with(prepared),
        overlaps=list(prepared.spec.overlaps),
    )
    try:
        for split in prepared.splits:
            split_report, stats = write_split(
                prepared, split, staging, num_proc, num_shards, parse_size(max_shard_size)
            )
            stats["metadata"] = metadata_summary([staging / name for name in stats["shards"]])
            report.splits[split] = stats
            # Counted anomalies (e.g. PanNuke ids spanning several components) and skips, once per split.
            log_split_report(f"{prepared.name}/{split}", split_report)
        empty = [split for split, stats in report.splits.items() if not stats["shards"]]
        for split in empty:
            # datasets cannot load a split without rows: leave it out of the export, say so.
            logger.warning("%s/%s: no records, split left out of the export", prepared.name, split)
            del report.splits[split]
        if not report.splits:
            raise NucleiCollectionError(f"{prepared.name}: no records were produced; nothing written to {out}")
        first_split = next(iter(report.splits.values()))
        preview = preview_png(staging, first_split["shards"], features_for(source))
        replace_dir(staging, out / prepared.name)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    report.preview = f"{PREVIEW_DIR}/{prepared.name}.png"
    write_bytes_atomic(out / report.preview, preview)
    write_text_atomic(
        out / REPORT_DIR / f"{prepared.name}.json", json.dumps(report.to_json(), indent=1, sort_keys=True)
    )
    return report


def load_reports(out: Path | str) -> dict[str, dict[str, Any]]:
    """Build reports of the configs present in ``out`` (config folder and report both exist)."""
    out = Path(out)
    reports = {}
    for path in sorted((out / REPORT_DIR).glob("*.json")):
        name = path.stem
        if (out / name).is_dir():
            reports[name] = json.loads(path.read_text(encoding="utf-8"))
    return reports


def write_readme(out: Path | str) -> Path:
    """(Re-)render ``out/README.md`` from the reports of all configs present."""
    out = Path(out)
    write_text_atomic(out / "README.md", render_readme(load_reports(out)))
    return out / "README.md"


def build(
    configs: str | Iterable[str],
    data_dir: Path | str | None = None,
    out: Path | str = "nuclei_collection",
    num_proc: int = 1,
    num_shards: int | None = None,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
    options: Mapping[str, Any] | None = None,
    cache_dir: Path | str | None = None,
    view: ViewSpec | Mapping[str, Any] | None = None,
) -> list[ConfigReport]:
    """Build configs from raw data (``data_dir``, or downloaded) into parquet under ``out``.

    Returns one :class:`ConfigReport` per config. ``out/README.md`` lists every config
    present in ``out`` afterwards, including ones built earlier. ``view`` (e.g.
    ``{"tile": 512}`` or ``{"target_mpp": 0.5}``, see docs/views.md) exports each config's
    view under the derived name instead (``<config>_tiles512`` ...).
    """
    names = [configs] if isinstance(configs, str) else list(configs)
    check_output_dir(out, REPORT_DIR, EXPORT_KIND)  # before any raw file is read or downloaded
    reports = []
    for name in names:
        prepared = prepare(name, data_dir, options, cache_dir=cache_dir, view=view)
        reports.append(export_config(prepared, out, num_proc, num_shards, max_shard_size))
        write_readme(out)
    return reports
