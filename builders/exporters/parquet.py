"""Parquet shards of one split: records in item order, row groups and shards cut by bytes.

Encoding runs in worker processes when ``num_proc > 1``; results come back in item order
(an ordered ``imap``), so the bytes written never depend on the number of processes.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features

from ..atomic import writing
from ..base import Item, Source
from ..pipeline import PreparedConfig, SplitReport, features_for, item_records
from ..progress import progress

DEFAULT_MAX_SHARD_SIZE = 500 * 2**20
#: Row groups: at most this many bytes (estimated from the encoded values) ...
ROW_GROUP_MAX_BYTES = 64 * 2**20
#: ... and at most this many rows (the Hub viewer reads one row group per page).
ROW_GROUP_MAX_ROWS = 100
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


def _init_pool_worker(source: Source, features: Features) -> None:
    """Pool workers leave Ctrl-C to the parent (which stops the pool and says so in one
    line): a terminal sends SIGINT to the whole process group, workers included."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(source, features)


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
        from multiprocessing import forkserver

        with _sigint_ignored():  # the server inherits SIG_IGN: Ctrl-C during its imports is the parent's
            forkserver.ensure_running()
        return context
    return multiprocessing.get_context("spawn")


@contextmanager
def _sigint_ignored() -> Iterator[list[int]]:
    """Ignore SIGINT while child processes are started: they inherit SIG_IGN (exec keeps it),
    so a Ctrl-C sent to the process group while they import is handled by this process alone
    (one line from the CLI) instead of a traceback from each child. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield []
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _sigint_deferred() -> Iterator[list[int]]:
    """Record SIGINT instead of raising it inside the block; the list yielded is non-empty
    afterwards if one came (the caller raises KeyboardInterrupt where it can clean up)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


def encoded_records(
    source: Source, features: Features, items: Sequence[Item], num_proc: int = 1, desc: str = ""
) -> Iterator[tuple[int, list, list[str], tuple[str, str] | None]]:
    """(item index, [(record, encoded record)], notes, skip) in item order, optionally in parallel.

    Progress is shown per item (a bar on a terminal, a log line every few seconds otherwise)."""
    indexed = list(enumerate(items))
    yield from progress(_encoded(source, features, indexed, num_proc), total=len(items), desc=desc or source.name)


def _encoded(
    source: Source, features: Features, indexed: list[tuple[int, Item]], num_proc: int
) -> Iterator[tuple[int, list, list[str], tuple[str, str] | None]]:
    if num_proc <= 1 or len(indexed) < 2:
        _init_worker(source, features)
        yield from map(_encode_item, indexed)
        return
    context = _worker_context()
    processes = min(num_proc, len(indexed))
    # Ctrl-C while the workers start is acted on once the pool exists, so that the pool is
    # terminated (a half-started pool left behind prints tracebacks from its workers).
    with _sigint_ignored() if context.get_start_method() == "spawn" else _sigint_deferred() as interrupted:
        pool = context.Pool(processes, initializer=_init_pool_worker, initargs=(source, features))
    with pool:
        if interrupted:
            raise KeyboardInterrupt
        yield from pool.imap(_encode_item, indexed, chunksize=1)


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
        with writing(path):  # a full disk names the shard (pyarrow's error does not)
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
        with writing(self.paths[-1]):
            self._writer.write_table(table, row_group_size=len(self._pending))
        self.shard_rows[-1] += len(self._pending)
        self._shard_bytes += self._pending_bytes
        self.num_bytes += self._pending_bytes
        self._pending, self._pending_bytes = [], 0

    def new_shard(self) -> None:
        self._flush_row_group()
        if self._writer is not None:
            with writing(self.paths[-1]):
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
    report = SplitReport(class_names=prepared.source.class_names())
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
    if report.crowd:  # only where there are any: other configs' reports keep their bytes
        stats["crowd_regions"] = report.crowd
    return report, stats
