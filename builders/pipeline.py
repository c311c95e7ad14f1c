"""The one pipeline every consumer uses: config -> raw root -> items -> records.

``NucleiCollection`` (the datasets builder), the parquet export, and the COCO / image-mask
exports all go through :func:`prepare` and :func:`item_records`; none reads raw files its
own way.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import schema
from .base import SKIP_REASON, ConfigSpec, CountedNote, Item, SkipItem, Source, is_skipped_item, logger, summarise_skips
from .download import fetch, locate_local

if TYPE_CHECKING:  # datasets costs ~0.5 s to import: only the builders that write need it
    from datasets import Features


@dataclass
class PreparedConfig:
    """A config whose raw data has been located and listed."""

    name: str
    spec: ConfigSpec
    source: Source
    root: Path
    splits: dict[str, list[Item]]
    #: build-report entry of a view (views.ViewSource.report), None for the config itself
    view: dict[str, Any] | None = None


@dataclass
class SplitReport:
    """What one split produced: counts, and every skip with its reason (printed at the end)."""

    records: int = 0
    #: nuclei (semantic configs: regions); iscrowd objects are counted apart, in ``crowd``
    objects: int = 0
    crowd: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    categories: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)
    #: the config's class names (category index -> name), for the per-name counts
    class_names: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        """Events counted by the notes (:class:`~base.CountedNote`), summed per kind."""
        totals: Counter = Counter()
        for note in self.notes:
            if isinstance(note, CountedNote):
                totals[note.kind] += note.count
        return dict(sorted(totals.items()))

    def add(self, record: Mapping[str, Any]) -> None:
        self.records += 1
        objects = schema.record_parts(record)  # nuclei, or regions of semantic records
        self.sizes[f"{record['width']}x{record['height']}"] += 1
        for obj in objects:
            if obj.get("iscrowd"):  # a don't-care region (MoNuSAC ambiguous areas): never a nucleus
                self.crowd += 1
                continue
            self.objects += 1
            self.categories[self.class_names[obj["category"]]] += 1


def features_for(source: Source) -> Features:
    """The export features of ``source``'s records (its kind, its classes)."""
    return schema.features_for_kind(source.kind, source.class_names())


def prepare(
    spec: ConfigSpec,
    data_dir: Path | str | None = None,
    options: Mapping[str, Any] | None = None,
    dl_manager: Any = None,
    cache_dir: Path | str | None = None,
    wrap: Callable[[Source], Source] | None = None,
) -> PreparedConfig:
    """Locate (or download) the raw data of ``spec`` and list its items per split.

    ``wrap`` turns the reader into the one that produces the records (a view: tiles,
    rescaling); it runs before any download so a bad view is refused first. A wrapper
    with a ``report(name)`` method describes itself in the build report.
    """
    source = spec.make_source(**dict(options or {}))
    record_source = wrap(source) if wrap is not None else source
    if data_dir is not None:
        root = locate_local(source, data_dir, cache_dir)  # or the upstream archives in it, unpacked
    else:
        root = source.locate(fetch(source, dl_manager, cache_dir))
    splits = source.list_items(root)
    return PreparedConfig(
        name=record_source.export_name(spec.name),
        spec=spec,
        source=record_source,
        root=root,
        splits=splits,
        view=record_source.report(spec.name) if record_source is not source else None,
    )


#: Counted-note kind: an image annotated "complete" whose ground truth holds no object. Kept
#: (an image without nuclei is legitimate), but counted in the build report and the card,
#: because an all-zero mask is also what a broken or mis-paired upstream file looks like.
EMPTY_GROUND_TRUTH = "empty ground truth"


def _empty_ground_truth(record: Mapping[str, Any]) -> bool:
    metadata = record.get("metadata") or {}
    is_tile = metadata.get("tile_x") is not None  # empty tiles of a view are expected
    return "objects" in record and not record["objects"] and metadata.get("annotation") == "complete" and not is_tile


def item_records(source: Source, item: Item) -> tuple[list[dict[str, Any]], list[str], tuple[str, str] | None]:
    """Records for one item, notes the reader left, and the skip reason if it was skipped."""
    records, notes = [], []
    class_names = source.class_names()
    if is_skipped_item(item):  # listed only to be counted (base.skipped_item)
        logger.debug("%s: %s: skipped: %s", source.name, item.image_id, item.attrs[SKIP_REASON])
        return [], [], (item.image_id, item.attrs[SKIP_REASON])
    try:
        # One record per sample as it comes: a tiled item never holds all its tile arrays.
        for sample in source.samples(item):
            record = schema.record_for(source.kind, sample, class_names)
            records.append(record)
            notes.extend(sample.notes)
            if _empty_ground_truth(record):
                notes.append(
                    CountedNote(
                        EMPTY_GROUND_TRUTH, 1, f"{record['image_id']}: fully annotated image without any object (kept)"
                    )
                )
    except SkipItem as skip:
        # Debug only: every skip is listed once, in the split's summary (log_split_report).
        logger.debug("%s: %s", source.name, skip)
        return [], [], (skip.item_id, skip.reason)
    return records, notes, None


def log_split_report(label: str, report: SplitReport) -> None:
    """The end-of-split summary: counted notes per kind, then every skipped item with its reason.

    The one place skips are logged as warnings (``item_records`` logs them at debug level),
    so each appears once however many exporters run.
    """
    counts = report.counts()
    if counts:
        logger.warning("%s: counted: %s", label, "; ".join(f"{kind} x {n}" for kind, n in counts.items()))
    if report.skipped:
        logger.warning(
            "%s: %d item(s) skipped:\n%s",
            label,
            len(report.skipped),
            "\n".join(f"  {line}" for line in summarise_skips(report.skipped)),
        )


def iter_split(
    source: Source, items: list[Item], report: SplitReport | None = None, label: str | None = None
) -> Iterator[dict[str, Any]]:
    """Records of a split in item order, updating ``report`` as it goes.

    Without a ``report`` the summary is logged at the end (:func:`log_split_report`, under
    ``label`` or the source's name); with one, the caller logs it.
    """
    own_report = report is None
    report = SplitReport() if report is None else report
    if not report.class_names:
        report.class_names = source.class_names()
    for item in items:
        records, notes, skipped = item_records(source, item)
        report.notes.extend(notes)
        if skipped:
            report.skipped.append(skipped)
        for record in records:
            report.add(record)
            yield record
    if own_report:
        log_split_report(label or source.name, report)


def input_fingerprint(data_dir: Path | str) -> str:
    """Hash of every file's relative path, size and mtime under ``data_dir``.

    Used as part of the datasets cache key, so a changed raw file means a rebuild instead
    of a stale cache hit. Cheap: one ``stat`` per file, no reads.
    """
    digest = hashlib.sha256()
    data_dir = Path(data_dir)
    for folder, dirs, files in os.walk(data_dir):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            try:
                info = path.stat()
            except OSError:
                continue
            digest.update(f"{path.relative_to(data_dir).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
