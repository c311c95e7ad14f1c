"""Proof that a change left exports alone: sha256 of every export of every config.

Every registered config is built from its generated fixture (``tests/fixtures/<reader>.py``
``write_raw``, found through the registry: a new source is covered without editing this
file), plus a few option / view / format variants and the real samples of
../shared/realdata where present. Two kinds of digest per export:

* ``files``: sha256 of every file written (byte identity);
* ``records``: sha256 of each parquet split's records with categories resolved to their
  names (identity of content whatever the ClassLabel layout: used to show that a change of
  the category encoding changed nothing else).

    python bench/export_digests.py --write digests.json     # before the change
    python bench/export_digests.py --check digests.json     # after: exit 1 on any difference
    python bench/export_digests.py --check digests.json --only Lizard CoNSeP   # some configs

Only the public face (``nuclei_collection.export``) is used to write, so the script
survives moves inside ``builders/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))  # the fixture generators

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import nuclei_collection as nc  # noqa: E402
from fixtures import raw_writer  # noqa: E402
from nuclei_collection_builders.sources import CONFIG_SPECS  # noqa: E402

REALDATA = Path(os.environ.get("NUCLEI_REALDATA", PROJECT.parent / "shared" / "realdata"))

#: (label, config, raw-tree writer or a realdata folder, options, view, extra export formats)
Case = tuple[str, str, Callable[[Path], object] | Path, dict, dict | None, tuple[str, ...]]


def registry_cases() -> list[Case]:
    """One parquet export per registered config, from its generated fixture."""
    cases = []
    for config in CONFIG_SPECS:
        writer = raw_writer(config)
        if writer is not None:
            cases.append((config, config, writer, {}, None, ()))
    return cases


def _writer(config: str) -> Callable[[Path], object]:
    writer = raw_writer(config)
    assert writer is not None, config
    return writer


#: Options, views and the other export formats, on top of the registry's cases.
VARIANT_CASES: list[Case] = [
    ("dsb_train_formats", "nuclei_stage1_train", _writer("nuclei_stage1_train"), {}, None, ("coco", "imagemask")),
    ("dsb_train_csv", "nuclei_stage1_train", _writer("nuclei_stage1_train"), {"labels": "csv"}, None, ()),
    ("bbbc006_coco", "BBBC006", _writer("BBBC006"), {}, None, ("coco",)),
    ("isbi_tiles", "2009_ISBI_2DNuclei", _writer("2009_ISBI_2DNuclei"), {}, {"tile": 64, "stride": 64}, ()),
    ("monuseg_scaled", "nucleisegmentationbenchmark", _writer("nucleisegmentationbenchmark"), {}, {"scale": 0.5}, ("coco",)),
    ("pannuke1_imagemask", "PanNuke_fold1", _writer("PanNuke_fold1"), {}, None, ("imagemask",)),
    ("consep_grouped", "CoNSeP", _writer("CoNSeP"), {"classes": "grouped"}, None, ("coco",)),
]

REAL_CASES: list[Case] = [
    ("real_dsb", "nuclei_stage1_train", REALDATA / "dsb2018", {}, None, ("coco",)),
    ("real_dsb_csv", "nuclei_stage1_train", REALDATA / "dsb2018", {"labels": "csv"}, None, ()),
    ("real_dsb_test", "nuclei_stage_1_test", REALDATA / "dsb2018", {}, None, ()),
    ("real_isbi", "2009_ISBI_2DNuclei", REALDATA / "isbi2009", {}, None, ()),
    ("real_monuseg", "nucleisegmentationbenchmark", REALDATA / "monuseg", {}, None, ("coco",)),
]


def file_digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _category_names(table) -> dict[str, list[str]]:
    """column -> ClassLabel names, from the features datasets stores in the parquet metadata."""
    info = json.loads((table.schema.metadata or {}).get(b"huggingface", b"{}") or b"{}")
    features = info.get("info", {}).get("features", {})
    names = {}
    for column in ("objects", "regions"):
        feature = features.get(column, {})
        item = feature.get("feature", feature)
        label = item.get("category", {}) if isinstance(item, dict) else {}
        if "names" in label:
            names[column] = label["names"]
    return names


def record_digests(folder: Path) -> dict[str, str]:
    """sha256 of each parquet file's rows, categories written as names (layout-independent)."""
    digests = {}
    for path in sorted(folder.rglob("*.parquet")):
        table = pq.read_table(path)
        names = _category_names(table)
        digest = hashlib.sha256()
        for row in table.to_pylist():
            for column, labels in names.items():
                for obj in row.get(column) or []:
                    obj["category"] = labels[obj["category"]]
            digest.update(json.dumps(row, sort_keys=True, default=lambda b: hashlib.sha256(b).hexdigest()).encode())
        digests[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return digests


def run_case(case: Case, work: Path) -> dict[str, str]:
    label, config, raw, options, view, formats = case
    if isinstance(raw, Path):
        data_dir = raw
    else:
        data_dir = work / "raw" / label
        data_dir.mkdir(parents=True)
        raw(data_dir)
    digests: dict[str, str] = {}
    for fmt in ("parquet", *formats):
        out = work / "out" / label / fmt
        kwargs: dict = {"options": options} if options else {}
        if view and fmt == "parquet":
            kwargs["view"] = view
        if fmt == "imagemask":
            kwargs.update(split=(0.6, 0.2, 0.2), seed=0)
        nc.export(config, out, format=fmt, data_dir=data_dir, **kwargs)
        digests.update({f"{label}/{fmt}/{name}": value for name, value in file_digests(out).items()})
        if fmt == "parquet":
            digests.update({f"{label}/records/{name}": value for name, value in record_digests(out).items()})
    return digests


def all_digests(only: set[str] | None = None) -> dict[str, str]:
    cases = registry_cases() + VARIANT_CASES + (REAL_CASES if REALDATA.is_dir() else [])
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            if only and case[1] not in only:
                continue
            np.random.seed(0)  # fixture writers seed themselves; this guards any that do not
            try:
                digests.update(run_case(case, Path(tmp) / case[0]))
            except LookupError as why:  # a fixture that needs absent real files says so
                print(f"{case[0]:>40}: skipped ({why})", file=sys.stderr)
                continue
            print(f"{case[0]:>40}: {sum(k.startswith(case[0] + '/') for k in digests)} files", file=sys.stderr)
    return digests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="write the digests to this JSON file")
    group.add_argument("--check", type=Path, help="compare with the digests in this JSON file")
    parser.add_argument("--only", nargs="+", metavar="CONFIG", help="only the cases of these configs")
    parser.add_argument("--kind", choices=("files", "records", "all"), default="all", help="which digests to compare")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    digests = all_digests(set(args.only) if args.only else None)
    if args.write:
        args.write.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        print(f"{len(digests)} digests written to {args.write}")
        return 0
    expected = json.loads(args.check.read_text())

    def wanted(key: str) -> bool:
        is_records = "/records/" in key
        kind_ok = args.kind == "all" or (args.kind == "records") == is_records
        return kind_ok and (not args.only or any(key.startswith(case[0] + "/") for case in _cases_of(args.only)))

    expected = {k: v for k, v in expected.items() if wanted(k)}
    digests = {k: v for k, v in digests.items() if wanted(k)}
    missing = sorted(set(expected) - set(digests))
    extra = sorted(set(digests) - set(expected))
    changed = sorted(k for k in set(expected) & set(digests) if expected[k] != digests[k])
    for title, names in (("missing", missing), ("new", extra), ("changed", changed)):
        for name in names:
            print(f"{title}: {name}")
    print(f"{len(digests)} digests; {len(changed)} changed, {len(missing)} missing, {len(extra)} new")
    return 1 if missing or extra or changed else 0


def _cases_of(configs: list[str]) -> list[Case]:
    return [case for case in registry_cases() + VARIANT_CASES + REAL_CASES if case[1] in configs]


if __name__ == "__main__":
    raise SystemExit(main())
