"""Read back what the export wrote: shards of a split, single records, metadata summaries.

Everything here reads parquet directly with pyarrow (no ``datasets`` cache, no copy), only
the row groups or columns it needs, so it is cheap on large exports. Used by the export
(previews, card statistics), ``nuclei-collection show`` and ``stats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets import Features

from ..schema import float32_text

#: Metadata fields summarised per split for the card and ``stats`` (value -> image count).
SUMMARY_FIELDS: tuple[str, ...] = ("modality", "stain", "organ", "magnification", "mpp", "annotation")


def split_shards(config_dir: Path | str, split: str) -> list[Path]:
    """Shards of one split, in shard order (``<split>-0000N-of-0000M.parquet``)."""
    return sorted(Path(config_dir).glob(f"{split}-*.parquet"), key=lambda p: p.name)


def count_rows(paths: Sequence[Path]) -> int:
    """Rows in the given shards, from the parquet footers only."""
    return sum(pq.ParquetFile(path).metadata.num_rows for path in paths)


def read_rows(paths: Sequence[Path], start: int, stop: int, features: Features | None = None) -> list[dict[str, Any]]:
    """Rows ``start:stop`` across ``paths`` (in order), reading only the row groups involved.

    With ``features`` the rows are decoded (images as PIL images), as ``load_dataset`` would.
    """
    rows: list[dict[str, Any]] = []
    offset = 0
    for path in paths:
        parquet = pq.ParquetFile(path)
        for group in range(parquet.metadata.num_row_groups):
            group_rows = parquet.metadata.row_group(group).num_rows
            first, last = max(start - offset, 0), min(stop - offset, group_rows)
            if first < last:
                table = parquet.read_row_group(group).slice(first, last - first)
                rows += table.to_pylist()
            offset += group_rows
            if offset >= stop:
                break
        if offset >= stop:
            break
    if features is not None:
        rows = [features.decode_example(row) for row in rows]
    return rows


def _summary_key(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return float32_text(value)  # float32 columns: 0.25200000405311584 -> "0.252"
    return str(value)


def _summary_column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    if name in table.column_names:
        return table.column(name)
    if "metadata" in table.column_names and pa.types.is_struct(table.schema.field("metadata").type):
        struct = table.schema.field("metadata").type
        if struct.get_field_index(name) >= 0:
            return pc.struct_field(table.column("metadata"), name)
    return None


def metadata_summary(paths: Sequence[Path], fields: Sequence[str] = SUMMARY_FIELDS) -> dict[str, dict[str, int]]:
    """``{field: {value: images}}`` over the shards, reading only the metadata columns.

    A field is looked up as a top-level column first, then inside ``metadata`` (so record
    kinds that keep e.g. ``mpp`` at the top level are summarised too). Null -> ``"unknown"``.
    """
    summary: dict[str, dict[str, int]] = {}
    for path in paths:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        columns = [c for c in ("metadata", *fields) if c in names]
        table = parquet.read(columns=list(dict.fromkeys(columns)))
        for name in fields:
            column = _summary_column(table, name)
            if column is None:
                continue
            counts = summary.setdefault(name, {})
            for entry in pc.value_counts(column).to_pylist():
                key = _summary_key(entry["values"])
                counts[key] = counts.get(key, 0) + int(entry["counts"])
    return {name: dict(sorted(counts.items())) for name, counts in summary.items()}
