"""Render the exported README.md: YAML ``configs:`` + ``dataset_info`` and the card body.

The body comes from ``dataset_card.md`` (a ``string.Template``; ``$name`` placeholders)
shipped with the package. Everything rendered is derived from the build reports, so the
README is a pure function of what was built (no dates, no absolute paths).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from string import Template
from typing import Any

import yaml

from ..schema import COUNT_NOUN, DONT_CARE_CODE, features_for_kind

#: Licence ids containing one of these forbid commercial use (flagged in the card).
NON_COMMERCIAL = ("NC",)
#: Licences that allow commercial use (with attribution where the licence asks for it).
COMMERCIAL_OK = ("CC0-1.0", "CC-BY-4.0", "CC-BY-3.0", "MIT", "Apache-2.0", "BSD-3-Clause")
#: Metadata fields the card states even when no image has a value.
ALWAYS_SHOWN = ("magnification", "mpp")
#: Histograms longer than this show their most frequent entries and "N more".
HISTOGRAM_ENTRIES = 8
#: Skipped items named in the card per split (the build report lists every one).
CARD_SKIPS = 20


def is_non_commercial(license_id: str) -> bool:
    """True for licences with a non-commercial clause (``CC-BY-NC-SA-4.0``, ``CC BY-NC 4.0``, ...)."""
    words = re.split(r"[^A-Z0-9]+", (license_id or "").upper())
    return any(tag in words for tag in NON_COMMERCIAL)


def _hub_license(license_id: str) -> str:
    """The Hub's licence id (lower-case SPDX for the CC family), or "other" for free text."""
    return license_id.lower() if license_id and " " not in license_id else "other"


#: The one ClassLabel every instance export of 0.2.0 carried (before per-config classes):
#: reports written then have no ``classes``; their parquet files hold these names.
CATEGORIES_0_2: tuple[str, ...] = (
    "nucleus", "neoplastic", "inflammatory", "connective", "dead", "epithelial", "neutrophil", "lymphocyte",
    "plasma", "eosinophil", "other", "healthy epithelial", "dysplastic/malignant epithelial", "fibroblast",
    "muscle", "endothelial", "macrophage", "ambiguous",
)  # fmt: skip


def report_classes(report: Mapping[str, Any]) -> tuple[str, ...]:
    """The category names of a built config (its ClassLabel), from its build report."""
    source = report["source"]
    if "classes" in source:
        return tuple(source["classes"])
    if source["kind"] == "instance":
        return CATEGORIES_0_2
    raise ValueError(f"build report of {source.get('name')!r} lists no classes: rebuild it with this version")


def count_noun(kind: str) -> str:
    return COUNT_NOUN.get(kind, "objects")


def yaml_header(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    configs, infos = [], []
    for name, report in sorted(reports.items()):
        splits = report["splits"]
        configs.append(
            {
                "config_name": name,
                "data_files": [{"split": split, "path": f"{name}/{split}-*.parquet"} for split in splits],
            }
        )
        features = features_for_kind(report["source"]["kind"], report_classes(report))
        infos.append(
            {
                "config_name": name,
                "features": features._to_yaml_list(),
                "splits": [
                    {"name": split, "num_bytes": stats["num_bytes"], "num_examples": stats["records"]}
                    for split, stats in splits.items()
                ],
                "dataset_size": sum(stats["num_bytes"] for stats in splits.values()),
            }
        )
    licenses = sorted({_hub_license(report["source"]["license"]) for report in reports.values()})
    header: dict[str, Any] = {
        "pretty_name": "Nuclei collection",
        "license": licenses[0] if len(licenses) == 1 else licenses or "other",
        "task_categories": ["image-segmentation"],
        "tags": ["biology", "medical", "microscopy", "histopathology", "nuclei", "instance-segmentation"],
    }
    if any(report["source"]["kind"] == "semantic" for report in reports.values()):
        header["tags"].append("semantic-segmentation")
    header["configs"] = configs
    header["dataset_info"] = infos
    return header


def histogram(counts: Mapping[str, int], limit: int = HISTOGRAM_ENTRIES) -> str:
    """``a 12, b 3, ... and 4 more`` (most frequent first, ties by name)."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{key} ({value})" for key, value in ranked[:limit])
    if len(ranked) > limit:
        text += f", ... and {len(ranked) - limit} more"
    return text


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _license_cell(license_id: str) -> str:
    license_id = license_id or "unknown"
    return f"{license_id} **(non-commercial)**" if is_non_commercial(license_id) else license_id


def _configs_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    rows = ["| config | source | licence | images | instances | splits |", "|---|---|---|---|---|---|"]
    for name, report in sorted(reports.items()):
        splits = report["splits"].values()
        noun = count_noun(report["source"]["kind"])
        rows.append(
            f"| [`{name}`](#{name.lower()}) | {report['source']['name']} | {_license_cell(report['source']['license'])} "
            f"| {sum(s['records'] for s in splits)} | {sum(s['objects'] for s in splits)} {noun} "
            f"| {', '.join(report['splits'])} |"
        )
    return "\n".join(rows)


def _license_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
    by_license: dict[str, list[str]] = {}
    for name, report in sorted(reports.items()):
        by_license.setdefault(report["source"]["license"] or "unknown", []).append(name)
    rows = ["| licence | commercial use | configs |", "|---|---|---|"]
    for license_id, names in sorted(by_license.items()):
        if is_non_commercial(license_id):
            commercial = "**no** (non-commercial)"
        elif license_id in COMMERCIAL_OK:
            commercial = "yes"
        else:
            commercial = "check the upstream terms"
        rows.append(f"| {license_id} | {commercial} | {', '.join(f'`{n}`' for n in names)} |")
    return "\n".join(rows)


def _split_lines(split: str, stats: Mapping[str, Any], noun: str) -> list[str]:
    lines = [f"- `{split}`: {stats['records']} images, {stats['objects']} {noun}, {len(stats['shards'])} shard(s)"]
    if stats.get("categories"):
        lines.append("  - classes: " + histogram(stats["categories"]))
    if stats.get("sizes"):
        lines.append("  - image sizes (w x h): " + histogram(stats["sizes"]))
    for field, counts in (stats.get("metadata") or {}).items():
        if set(counts) == {"unknown"}:
            # scale matters for training: say so when upstream does not give it; skip the rest
            if field in ALWAYS_SHOWN:
                lines.append(f"  - {field}: not given upstream")
            continue
        lines.append(f"  - {field}: " + histogram(counts))
    if stats.get("counts"):
        lines.append("  - counted: " + ", ".join(f"{k} {v}" for k, v in stats["counts"].items()))
    if stats.get("skipped"):
        skipped = stats["skipped"]
        named = "; ".join(f"{i}: {r}" for i, r in skipped[:CARD_SKIPS])
        more = f"; ... and {len(skipped) - CARD_SKIPS} more (all in the build report)" if len(skipped) > CARD_SKIPS else ""
        lines.append(f"  - skipped items: {len(skipped)} ({named}{more})")
    return lines


def _config_section(name: str, report: Mapping[str, Any]) -> str:
    source = report["source"]
    lines = [f"### {name}", ""]
    if report.get("preview"):
        lines += [
            f"![{name}: masks drawn over the first images (large images: a native-resolution crop)]"
            f"({report['preview']})",
            "",
        ]
    lines += [source["description"], ""]
    lines.append(f"- Source: {source['name']} ({source['homepage']})")
    lines.append(f"- Licence: {_license_cell(source['license'])}")
    if report.get("subset_of"):
        lines.append(f"- Subset of `{report['subset_of']}` (same images; do not combine the two)")
    if report.get("overlaps"):
        shared = ", ".join(f"`{name}`" for name in report["overlaps"])
        lines.append(f"- Shares images with {shared} (re-cut or resampled copies): do not train on both")
    classes = report_classes(report)
    if source["kind"] == "semantic":
        lines.append(
            f"- Semantic masks: `mask` pixel = class code, `regions[].category` = "
            f"{len(classes)} codes; code {DONT_CARE_CODE} `{classes[DONT_CARE_CODE]}` = **don't care** "
            "(outside the annotated ROI: zero weight in losses and metrics), **not** the class `other`"
        )
    else:
        lines.append("- Classes (`objects.category`): " + ", ".join(f"{i} `{name}`" for i, name in enumerate(classes)))
    if report.get("options"):
        lines.append("- Options: " + ", ".join(f"`{k}={v}`" for k, v in sorted(report["options"].items())))
    if report.get("view"):
        lines.append(f"- **View** of `{report['view']['of']}`: {report['view']['description']} (docs/views.md)")
    for split, stats in report["splits"].items():
        lines += _split_lines(split, stats, count_noun(source["kind"]))
    issues = source.get("known_issues") or []
    if issues:
        lines += ["", "Known upstream issues and how they are handled:", ""]
        lines += ["| upstream issue | handling |", "|---|---|"]
        lines += [f"| {_cell(issue)} | {_cell(handling)} |" for issue, handling in issues]
    lines += ["", "```bibtex", source["citation"].strip(), "```", ""]
    return "\n".join(lines)


def _views_section(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """Table of the configs that are views (tiles / rescaled) of another config; empty if none."""
    views = {name: report["view"] for name, report in sorted(reports.items()) if report.get("view")}
    if not views:
        return ""
    rows = [
        "## Views",
        "",
        "Training views: the same raw data and reader, with images rescaled and/or tiled by the same",
        "pipeline. Objects cut by a tile border keep their id and have `truncated: true`;",
        "`metadata.parent_image_id`, `tile_x`, `tile_y`, `scale` and `mpp` say where a record comes from.",
        "",
        "| view | of | what |",
        "|---|---|---|",
    ]
    rows += [f"| `{name}` | `{view['of']}` | {view['description']} |" for name, view in views.items()]
    return "\n".join(rows) + "\n"


def render_readme(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """README.md (YAML header + card) for the given build reports; a pure function of them."""
    template = Template(resources.files("nuclei_collection_builders").joinpath("dataset_card.md").read_text(encoding="utf-8"))
    body = template.safe_substitute(
        configs_table=_configs_table(reports),
        views_section=_views_section(reports),
        license_table=_license_table(reports),
        config_sections="\n".join(_config_section(n, r) for n, r in sorted(reports.items())),
    )
    header = yaml.safe_dump(yaml_header(reports), sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n\n{body}"
