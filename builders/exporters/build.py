"""Export configs as parquet shards + README that ``load_dataset(OUT, config)`` reads.

Layout written (the Hub's "manual configuration" layout)::

    OUT/README.md                                  YAML configs + dataset_info + card
    OUT/<config>/<split>-0000N-of-0000M.parquet    shards sized by bytes (or --num-shards)
    OUT/.nuclei_collection/<config>.json           build report, used to re-render the card
    OUT/previews/<config>.png                      masks drawn over the first images (card)

Guarantees:

* Atomic: a config is written into ``OUT/.staging-*`` and renamed into place only when
  complete; an interrupted build leaves the previous export untouched.
* Re-running adds or replaces configs without touching the others.
* Deterministic: records in item order (independent of ``num_proc``), no timestamps or
  absolute paths in the data, so a rebuild from the same raw files gives identical bytes.
* Always re-reads the raw files (no cache), so changed inputs are never missed.
* Row groups are cut by bytes and rows (viewer-friendly); shards by bytes.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features
from tqdm.auto import tqdm

from ..atomic import replace_dir, write_bytes_atomic, write_text_atomic
from ..base import Item, NucleiCollectionError, Source, logger
from ..pipeline import PreparedConfig, SplitReport, features_for, item_records
from ..sources import prepare
from ..views import ViewSpec
from .card import render_readme
from .preview import contact_sheet, record_overlay
from .shards import metadata_summary, read_rows

DEFAULT_MAX_SHARD_SIZE = 500 * 2**20
#: Row groups: at most this many bytes (estimated from the encoded values) ...
ROW_GROUP_MAX_BYTES = 64 * 2**20
#: ... and at most this many rows (the Hub viewer reads one row group per page).
ROW_GROUP_MAX_ROWS = 100
REPORT_DIR = ".nuclei_collection"
PREVIEW_DIR = "previews"
#: Images drawn into a config's preview (the first ones of its first split).
PREVIEW_IMAGES = 4
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)


def parse_size(size: int | str) -> int:
    """``500MB`` / ``1.5GiB`` / ``1000000`` -> bytes (K/M/G/T are powers of 1024)."""
    if isinstance(size, int):
        return size
    match = _SIZE_RE.match(size)
    if not match:
        raise ValueError(f"cannot parse size {size!r} (examples: 500MB, 2GB, 1000000)")
    number, unit = float(match.group(1)), (match.group(2) or "").upper().rstrip("B").rstrip("I")
    return int(number * 1024 ** " KMGT".index(unit or " "))


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
        return report


def record_nbytes(record: Mapping[str, Any]) -> int:
    """Cheap size estimate of an encoded record (image bytes dominate)."""
    size = 256
    for value in record.values():
        if isinstance(value, dict) and "bytes" in value:
            size += len(value["bytes"] or b"")
        elif isinstance(value, list):
            for obj in value:
                segmentation = obj.get("segmentation") if isinstance(obj, dict) else None
                size += 64 + (len(segmentation["counts"]) if segmentation else 0)
    return size


# --------------------------------------------------------------------------- parallel reading

_WORKER_SOURCE: Source | None = None
_WORKER_FEATURES: Features | None = None


def _init_worker(source: Source, features: Features) -> None:
    global _WORKER_SOURCE, _WORKER_FEATURES
    _WORKER_SOURCE, _WORKER_FEATURES = source, features


def _encode_item(indexed_item: tuple[int, Item]):
    index, item = indexed_item
    assert _WORKER_SOURCE is not None and _WORKER_FEATURES is not None
    records, notes, skipped = item_records(_WORKER_SOURCE, item)
    return index, [(r, _WORKER_FEATURES.encode_example(r)) for r in records], notes, skipped


def _worker_context():
    """forkserver where available (fresh server process, heavy imports preloaded once, no
    fork of this process's arrow/thread state), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def encoded_records(
    source: Source, features: Features, items: Sequence[Item], num_proc: int = 1, desc: str = ""
) -> Iterator[tuple[int, list, list[str], tuple[str, str] | None]]:
    """(item index, [(record, encoded record)], notes, skip) in item order, optionally in parallel."""
    indexed = list(enumerate(items))
    progress = tqdm(total=len(items), desc=desc, unit="img", leave=False, disable=None)
    with progress:
        if num_proc <= 1 or len(items) < 2:
            _init_worker(source, features)
            for result in map(_encode_item, indexed):
                progress.update()
                yield result
            return
        context = _worker_context()
        with context.Pool(min(num_proc, len(items)), initializer=_init_worker, initargs=(source, features)) as pool:
            for result in pool.imap(_encode_item, indexed, chunksize=1):
                progress.update()
                yield result


# --------------------------------------------------------------------------- parquet writing


class _ShardedParquetWriter:
    """Writes rows into ``<split>-NNNNN.parquet`` files, cutting row groups and shards."""

    def __init__(self, folder: Path, split: str, features: Features, max_shard_size: int):
        self.folder, self.split, self.features = folder, split, features
        self.schema = features.arrow_schema
        self.max_shard_size = max_shard_size
        self.paths: list[Path] = []
        self.shard_rows: list[int] = []
        self.num_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_bytes = 0
        self._pending: list[dict[str, Any]] = []
        self._pending_bytes = 0

    def _open_shard(self) -> None:
        path = self.folder / f"{self.split}-{len(self.paths):05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema)
        self.paths.append(path)
        self.shard_rows.append(0)
        self._shard_bytes = 0

    def _flush_row_group(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            self._open_shard()
        table = pa.Table.from_pylist(self._pending, schema=self.schema)
        self._writer.write_table(table, row_group_size=len(self._pending))
        self.shard_rows[-1] += len(self._pending)
        self._shard_bytes += self._pending_bytes
        self.num_bytes += self._pending_bytes
        self._pending, self._pending_bytes = [], 0

    def new_shard(self) -> None:
        self._flush_row_group()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, encoded: dict[str, Any]) -> None:
        size = record_nbytes(encoded)
        shard_has_rows = self._writer is not None or bool(self._pending)
        if shard_has_rows and self._shard_bytes + self._pending_bytes + size > self.max_shard_size:
            self.new_shard()
        if self._pending and (
            self._pending_bytes + size > ROW_GROUP_MAX_BYTES or len(self._pending) >= ROW_GROUP_MAX_ROWS
        ):
            self._flush_row_group()
        self._pending.append(encoded)
        self._pending_bytes += size

    def close(self) -> list[Path]:
        """Finish and rename shards to ``<split>-0000N-of-0000M.parquet``; returns final paths."""
        self.new_shard()
        total = len(self.paths)
        final = []
        for index, path in enumerate(self.paths):
            target = path.with_name(f"{self.split}-{index:05d}-of-{total:05d}.parquet")
            os.replace(path, target)
            final.append(target)
        return final


def write_split(
    prepared: PreparedConfig,
    split: str,
    folder: Path,
    num_proc: int = 1,
    num_shards: int | None = None,
    max_shard_size: int = DEFAULT_MAX_SHARD_SIZE,
) -> tuple[SplitReport, dict[str, Any]]:
    """Write one split's shards into ``folder``; returns its report and the card stats."""
    items = prepared.splits[split]
    features = features_for(prepared.source)
    report = SplitReport()
    writer = _ShardedParquetWriter(folder, split, features, max_shard_size if not num_shards else 2**62)
    current_shard = 0
    for index, results, notes, skipped in encoded_records(
        prepared.source, features, items, num_proc, desc=f"{prepared.name}/{split}"
    ):
        if num_shards:
            # Forced shard count: contiguous, equal runs of items per shard.
            shard = index * num_shards // max(len(items), 1)
            if shard != current_shard:
                writer.new_shard()
                current_shard = shard
        report.notes.extend(notes)
        if skipped:
            report.skipped.append(skipped)
        for record, encoded in results:
            report.add(record)
            writer.write(encoded)
    paths = writer.close()
    stats = {
        "records": report.records,
        "objects": report.objects,
        "num_bytes": writer.num_bytes,
        "shards": [p.name for p in paths],
        "shard_rows": writer.shard_rows,
        "skipped": [list(s) for s in report.skipped],
        "notes": len(report.notes),
        "counts": report.counts(),
        "categories": dict(sorted(report.categories.items())),
        "sizes": dict(sorted(report.sizes.items())),
    }
    return report, stats


# --------------------------------------------------------------------------- whole configs


def preview_png(config_dir: Path, shards: Sequence[str], features: Features) -> bytes:
    """PNG bytes of the first images of a split with their masks drawn over them."""
    records = read_rows([config_dir / name for name in shards], 0, PREVIEW_IMAGES, features)
    sheet = contact_sheet((record_overlay(record) for record in records), columns=PREVIEW_IMAGES)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)  # no timestamps: same input, same bytes
    return buffer.getvalue()


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
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{prepared.name}-", dir=out))
    source = prepared.source
    report = ConfigReport(
        name=prepared.name,
        source={
            "name": source.name,
            "kind": source.kind,
            "homepage": source.homepage,
            "license": source.license,
            "citation": source.citation,
            "description": prepared.spec.description or source.description,
            "known_issues": [list(issue) for issue in source.known_issues],
        },
        options=dict(source.options),
        view=prepared.view,
        subset_of=_images_shared_with(prepared),
    )
    try:
        for split in prepared.splits:
            split_report, stats = write_split(
                prepared, split, staging, num_proc, num_shards, parse_size(max_shard_size)
            )
            stats["metadata"] = metadata_summary([staging / name for name in stats["shards"]])
            report.splits[split] = stats
            if split_report.notes:
                # Counted anomalies (e.g. PanNuke ids spanning several components), once per split.
                logger.warning(
                    "%s/%s: %d note(s): %s",
                    prepared.name,
                    split,
                    len(split_report.notes),
                    "; ".join(f"{kind} x {n}" for kind, n in stats["counts"].items()),
                )
            if split_report.skipped:
                logger.warning(
                    "%s/%s: %d item(s) skipped:\n%s",
                    prepared.name,
                    split,
                    len(split_report.skipped),
                    "\n".join(f"  {item_id}: {reason}" for item_id, reason in split_report.skipped),
                )
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
    reports = []
    for name in names:
        prepared = prepare(name, data_dir, options, cache_dir=cache_dir, view=view)
        reports.append(export_config(prepared, out, num_proc, num_shards, max_shard_size))
        write_readme(out)
    return reports
