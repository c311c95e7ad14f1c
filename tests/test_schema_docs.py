"""docs/schema.md documents every field of the instance schema; docs/sources/bcss.md the semantic one."""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Features

from nuclei_collection_builders import schema

DOCS = Path(__file__).resolve().parents[1] / "docs"


def field_paths(features: Features) -> list[str]:
    """``objects.truncated``, ``metadata.parent_image_id``, ... for every field (one level of nesting)."""
    paths = []
    for name, feature in features.items():
        paths.append(name)
        inner = getattr(feature, "feature", feature)  # List(struct) -> struct
        if isinstance(inner, dict):
            paths += [f"{name}.{child}" for child in inner]
    return paths


def documented_names(text: str) -> set[str]:
    """Names in backticks in the first cell of table rows (``a``, ``b`` or ``a.b``)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([\w.]+)`", line.split("|")[1]))
    return names


def test_every_instance_field_is_in_schema_md():
    text = (DOCS / "schema.md").read_text(encoding="utf-8")
    names = documented_names(text)
    # metadata fields are documented in their own table, by bare name
    missing = [
        path
        for path in field_paths(schema.instance_features())
        if path not in names and not (path.startswith("metadata.") and path.split(".", 1)[1] in names)
    ]
    assert not missing, f"docs/schema.md does not document {missing}"


def test_every_semantic_field_is_in_the_bcss_page():
    text = (DOCS / "sources" / "bcss.md").read_text(encoding="utf-8")
    table = documented_names(text)
    # the metadata row lists its fields in the second cell
    metadata_row = next(line for line in text.splitlines() if line.startswith("| `metadata` |"))
    listed = set(re.findall(r"`([\w.]+)`", metadata_row.split("|")[2]))
    missing = [name for name in schema.semantic_features(('outside_roi',)) if name not in table]
    missing += [f"metadata.{name}" for name in schema.SEMANTIC_METADATA_FIELDS if name not in listed]
    assert not missing, f"docs/sources/bcss.md does not document {missing}"
