"""Proof that a refactor changed nothing: sha256 of every export of every config.

Generates every reader's fixture (the generators in tests/fixtures, seeded) and takes the
real samples of ../shared/realdata where present, builds each config as parquet (+ COCO
and ImageMask for a few, + one view), and prints or compares the sha256 of every file.

    python bench/export_digests.py --write digests.json     # before the change
    python bench/export_digests.py --check digests.json     # after: exit 1 on any difference

Only the public face (``nuclei_collection.build`` / ``export``) is used, so the script
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

import nuclei_collection as nc  # noqa: E402
from fixtures.bbbc006 import write_bbbc006  # noqa: E402
from fixtures.bbbc007 import write_bbbc007  # noqa: E402
from fixtures.bbbc018 import write_bbbc018  # noqa: E402
from fixtures.bbbc020 import write_bbbc020  # noqa: E402
from fixtures.bcss import code_mask, write_bcss_tree  # noqa: E402
from fixtures.cluster_nuclei import write_cluster_nuclei  # noqa: E402
from fixtures.dsb2018 import write_stage1_train_labels, write_stage_test  # noqa: E402
from fixtures.histology import write_janowczyk, write_monuseg, write_tnbc  # noqa: E402
from fixtures.isbi2009 import write_isbi2009  # noqa: E402
from fixtures.pannuke import write_fold  # noqa: E402

REALDATA = Path(os.environ.get("NUCLEI_REALDATA", PROJECT.parent / "shared" / "realdata"))


def _dsb_with_csv(root: Path) -> None:
    try:
        from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
    except ImportError:  # the layout before issue 13
        from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    write_dsb2018_stage1_train(root / "stage1_train", n_images=4, seed=5)
    write_stage1_train_labels(root / "stage1_train", root / "stage1_train_labels.csv")


def _bcss(root: Path) -> None:
    generated = [("TCGA-OL-A66I-DX1_xmin1000_ymin2000_MPP-0.2500", code_mask(300, 280, (2, 1, 3), (90, 60), seed=3))]
    masks = sorted(p.name for p in (REALDATA / "bcss" / "masks").iterdir())[:1] if REALDATA.is_dir() else []
    write_bcss_tree(root, REALDATA, masks, generated)


#: (label, config, raw-tree writer or a realdata folder, options, view, extra export formats)
Case = tuple[str, str, Callable[[Path], object] | Path, dict, dict | None, tuple[str, ...]]

FIXTURE_CASES: list[Case] = [
    ("dsb_train", "nuclei_stage1_train", _dsb_with_csv, {}, None, ("coco", "imagemask")),
    ("dsb_train_csv", "nuclei_stage1_train", _dsb_with_csv, {"labels": "csv"}, None, ()),
    ("dsb_val", "nuclei_stage_1_local_val_split", _dsb_with_csv, {}, None, ()),
    ("dsb_test", "nuclei_stage_1_test", lambda r: write_stage_test(r, n_images=3, seed=2, n_absent=1), {}, None, ()),
    ("bbbc006", "BBBC006", lambda r: write_bbbc006(r / "BBBC006"), {}, None, ("coco",)),
    ("bbbc007", "BBBC007", write_bbbc007, {}, None, ()),
    ("bbbc018", "BBBC018", write_bbbc018, {}, None, ()),
    ("bbbc020", "BBBC020", write_bbbc020, {}, None, ()),
    ("isbi", "2009_ISBI_2DNuclei", write_isbi2009, {}, {"tile": 64, "stride": 64}, ()),
    ("cluster", "cluster_nuclei", write_cluster_nuclei, {}, None, ()),
    ("monuseg", "nucleisegmentationbenchmark", write_monuseg, {}, {"scale": 0.5}, ("coco",)),
    ("tnbc", "TNBC_NucleiSegmentation", write_tnbc, {}, None, ()),
    ("janowczyk", "nuclei_partial_annotations", write_janowczyk, {}, None, ()),
    ("pannuke1", "PanNuke_fold1", lambda r: write_fold(r, 1, 5, "warwick", seed=4), {}, None, ("imagemask",)),
    ("bcss", "BCSS", _bcss, {}, None, ()),
    ("bcss1024", "BCSS_1024", _bcss, {}, None, ()),
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
    return digests


def all_digests() -> dict[str, str]:
    cases = FIXTURE_CASES + (REAL_CASES if REALDATA.is_dir() else [])
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            np.random.seed(0)  # fixture writers seed themselves; this guards any that do not
            digests.update(run_case(case, Path(tmp) / case[0]))
            print(f"{case[0]:>16}: {sum(k.startswith(case[0] + '/') for k in digests)} files", file=sys.stderr)
    return digests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="write the digests to this JSON file")
    group.add_argument("--check", type=Path, help="compare with the digests in this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    digests = all_digests()
    if args.write:
        args.write.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        print(f"{len(digests)} files written to {args.write}")
        return 0
    expected = json.loads(args.check.read_text())
    missing = sorted(set(expected) - set(digests))
    extra = sorted(set(digests) - set(expected))
    changed = sorted(k for k in set(expected) & set(digests) if expected[k] != digests[k])
    for title, names in (("missing", missing), ("new", extra), ("changed", changed)):
        for name in names:
            print(f"{title}: {name}")
    print(f"{len(digests)} files; {len(changed)} changed, {len(missing)} missing, {len(extra)} new")
    return 1 if missing or extra or changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
