"""PanNuke full-fold benchmark: peak RSS and throughput of building one fold.

    python bench/pannuke_rss.py [--work DIR] [--images 2656] [--keep]

1. checks the free disk space (a full fold is ~12.5 GB of float64 .npy),
2. generates a FULL-SIZE fold 1 in the Warwick layout (2656 x 256 x 256 x {3, 6} float64),
   written patch by patch; per-image per-class nucleus counts are the real ones of fold 1
   (CellViT's cell_count.csv in ../shared/realdata) and types.npy is the real one, when present,
3. in a fresh child process each: (a) reads every record through the pipeline
   (list + read + RLE, no writing), (b) runs ``export.build("PanNuke_fold1")`` to parquet;
   each child reports its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), wall
   time and images/s,
4. deletes the generated fold and the export (unless --keep).

Not part of the test suite. Results: docs/benchmarks.md ("PanNuke").
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))
REALDATA = PROJECT.parent / "shared" / "realdata" / "pannuke"

from fixtures.pannuke import fold_paths, generate_patch, write_npy_header, write_npy_item  # noqa: E402

FULL_FOLD_BYTES = 2656 * 256 * 256 * 9 * 8
CLASS_COLUMNS = ("Neoplastic", "Inflammatory", "Connective", "Dead", "Epithelial")

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, data_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
if mode == "read":
    from nuclei_collection_builders.pipeline import SplitReport, iter_split
    from nuclei_collection_builders.sources import prepare
    prepared = prepare("PanNuke_fold1", data_dir)
    report = SplitReport()
    for _ in iter_split(prepared.source, prepared.splits["train"], report):
        pass
    records, objects = report.records, report.objects
else:
    from nuclei_collection import build
    (result,) = build("PanNuke_fold1", data_dir=data_dir, out=out)
    records, objects = result.splits["train"]["records"], result.splits["train"]["objects"]
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"mode": mode, "records": records, "objects": objects, "seconds": seconds, "peak_rss_mib": peak_kib / 1024}))
"""


def real_class_counts(n_images: int) -> list[tuple[int, ...]] | None:
    path = REALDATA / "cellvit_meta" / "fold0" / "cell_count.csv"
    if not path.is_file():
        return None
    rows = {int(r["Image"].split("_")[1].split(".")[0]): r for r in csv.DictReader(path.open())}
    return [tuple(int(rows[i % len(rows)][c]) for c in CLASS_COLUMNS) for i in range(n_images)]


def generate(root: Path, n_images: int) -> None:
    images_path, types_path, masks_path = fold_paths(root, 1, "warwick")
    images = write_npy_header(images_path, (n_images, 256, 256, 3))
    masks = write_npy_header(masks_path, (n_images, 256, 256, 6))
    counts = real_class_counts(n_images)
    rng = np.random.default_rng(2656)
    for index in range(n_images):
        # Real per-class counts where known; every 4th patch gets the upstream anomalies instead.
        use_counts = counts[index] if counts is not None and index % 4 else None
        image, mask = generate_patch(rng, index, use_counts)
        write_npy_item(images, index, image)
        write_npy_item(masks, index, mask)
    real_types = REALDATA / "fold1" / "types.npy"
    if n_images == 2656 and real_types.is_file():
        shutil.copyfile(real_types, types_path)
    else:
        np.save(types_path, np.array(["Breast"] * n_images, dtype="<U13"), allow_pickle=False)


def run_child(mode: str, data_dir: Path, out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(data_dir), str(out)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", help="folder for the generated fold (default: a temporary folder)")
    parser.add_argument("--images", type=int, default=2656, help="patches in the fold (default: the full 2656)")
    parser.add_argument("--keep", action="store_true", help="keep the generated fold and the export")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pannuke_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    needed = FULL_FOLD_BYTES * args.images // 2656 + 2 * 2**30
    free = shutil.disk_usage(work).free
    print(f"work dir {work}: {free / 2**30:.1f} GiB free, need about {needed / 2**30:.1f} GiB")
    if free < needed:
        print("not enough free disk space", file=sys.stderr)
        return 1
    try:
        start = time.perf_counter()
        generate(work / "raw", args.images)
        size = sum(p.stat().st_size for p in (work / "raw").rglob("*.npy"))
        print(f"generated {args.images} patches ({size / 2**30:.2f} GiB) in {time.perf_counter() - start:.0f} s")
        for mode in ("read", "build"):
            stats = run_child(mode, work / "raw", work / "out")
            stats["images_per_s"] = stats["records"] / stats["seconds"]
            print(json.dumps(stats))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
