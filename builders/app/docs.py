"""Doc tables generated from the declared sources (``SourceInfo`` + ``ConfigSpec``).

README's config table, the index of ``docs/sources/README.md`` and the class table of
``docs/views.md`` are written between ``<!-- generated: NAME -->`` and
``<!-- /generated: NAME -->`` markers; nobody edits them by hand. A test fails when a
file and the registry disagree:

    python -m nuclei_collection_builders.app.docs --check    # exit 1 and a diff where stale
    python -m nuclei_collection_builders.app.docs --write    # rewrite the tables in place
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..catalog import TAXONOMIES, SourceInfo, taxonomy_class, vocabulary
from ..exporters.card import is_non_commercial
from ..sources import CONFIG_SPECS, SOURCES, configs_of

PROJECT = Path(__file__).resolve().parents[2]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def licence_text(info: SourceInfo) -> str:
    """Licence as the tables show it: SPDX id, non-commercial flag, the note on its evidence."""
    text = info.license + (" **(non-commercial)**" if is_non_commercial(info.license) else "")
    return f"{text} ({info.license_note})" if info.license_note else text


def _number(value: float | str | None, unit: str = "") -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:g}{unit}"
    return str(value)


def configs_table() -> str:
    """README's table: one row per config."""
    rows = ["| config | source | splits | classes | licence |", "|---|---|---|---|---|"]
    for name, spec in CONFIG_SPECS.items():
        info = spec.info
        classes = spec.make_source().class_names() if not spec.source.classes_need_data else ("from the JSON",)
        described = spec.description or info.title
        rows.append(
            f"| `{name}` | {_cell(described)} | {', '.join(spec.splits)} | {_cell(', '.join(classes))} "
            f"| {_cell(licence_text(info))} |"
        )
    return "\n".join(rows)


def sources_table() -> str:
    """``docs/sources/README.md``'s index: one row per source."""
    rows = [
        "| source | configs | modality | organ / cells | µm/px, magnification | raw data | licence | guide |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for info in SOURCES:
        specs = configs_of(info)
        options = sorted({key for spec in specs for key in spec.source.default_options})
        configs = ", ".join(f"`{spec.name}`" for spec in specs)
        if options:
            configs += " (options: " + ", ".join(f"`{key}`" for key in options) + ")"
        downloads = any(spec.make_source().downloads for spec in specs)
        raw = "downloaded automatically" if downloads else "manual download (the error message gives the steps)"
        guide = "[../coco.md](../coco.md)" if info.doc == "coco" else f"[{info.doc}.md]({info.doc}.md)"
        rows.append(
            f"| {_cell(info.name)} | {configs} | {info.modality}{', ' + _cell(info.stain) if info.stain else ''} "
            f"| {_cell(info.organ) or 'not stated'} "
            f"| {_number(info.mpp)}, {_number(info.magnification, 'x')} | {raw} | {_cell(licence_text(info))} "
            f"| {guide} |"
        )
    return "\n".join(rows)


def classes_table() -> str:
    """``docs/views.md``: every class name, the sources that declare it, and its taxonomy classes."""
    users: dict[str, list[str]] = {}
    for info in SOURCES:
        if info.kind != "instance":
            continue
        for declared in info.classes + info.option_classes:
            code = "" if declared.upstream is None else f" ({declared.upstream})"
            entry = f"{info.name}{code}"
            if entry not in users.setdefault(declared.name, []):
                users[declared.name].append(entry)
    rows = ["| category | declared by (upstream code) | " + " | ".join(f"`{t}`" for t in TAXONOMIES) + " |"]
    rows.append("|---|---|" + "---|" * len(TAXONOMIES))
    for name in vocabulary():
        mapped = " | ".join(f"`{taxonomy_class(name, taxonomy)}`" for taxonomy in TAXONOMIES)
        rows.append(f"| `{name}` | {_cell(', '.join(users.get(name, [])))} | {mapped} |")
    return "\n".join(rows)


#: file (relative to the project) -> {marker name: table factory}
GENERATED: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"configs": configs_table},
    "docs/sources/README.md": {"sources": sources_table},
    "docs/views.md": {"classes": classes_table},
}


def render(text: str, tables: dict[str, Callable[[], str]], where: str = "") -> str:
    """``text`` with every generated block replaced by its table."""
    for marker, factory in tables.items():
        pattern = re.compile(rf"(<!-- generated: {marker} -->\n).*?(<!-- /generated: {marker} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"{where}: no '<!-- generated: {marker} -->' ... '<!-- /generated: {marker} -->' block")
        table = factory()
        text = pattern.sub(lambda m, table=table: m.group(1) + table + "\n" + m.group(2), text)
    return text


def stale(project: Path = PROJECT) -> dict[str, str]:
    """file -> unified diff, for every file whose generated tables differ from the registry."""
    diffs = {}
    for relative, tables in GENERATED.items():
        path = project / relative
        current = path.read_text(encoding="utf-8")
        wanted = render(current, tables, relative)
        if wanted != current:
            diffs[relative] = "".join(
                difflib.unified_diff(current.splitlines(True), wanted.splitlines(True), relative, relative + " (registry)")
            )
    return diffs


def write(project: Path = PROJECT) -> list[str]:
    """Rewrite the generated tables in place; returns the files changed."""
    changed = []
    for relative, tables in GENERATED.items():
        path = project / relative
        current = path.read_text(encoding="utf-8")
        wanted = render(current, tables, relative)
        if wanted != current:
            path.write_text(wanted, encoding="utf-8")
            changed.append(relative)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true", help="exit 1 with a diff when a table is stale")
    group.add_argument("--write", action="store_true", help="rewrite the tables from the registry")
    args = parser.parse_args(argv)
    if args.write:
        changed = write()
        print("rewrote: " + ", ".join(changed) if changed else "all tables up to date")
        return 0
    diffs = stale()
    for diff in diffs.values():
        sys.stdout.write(diff)
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
