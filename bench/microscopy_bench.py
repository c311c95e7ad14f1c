"""Microscopy readers: per-image cost at upstream sizes, on generated data (and real samples if present).

    python bench/microscopy_bench.py [--repeat 5]

1. ``raster.fill_outlines`` on a 1040x1388 drawing (BBBC020-sized frame) with ~250 nuclei
   and on a 512x512 one (BBBC018-sized) with ~60: milliseconds per image.
2. BBBC020 ``read`` of one full-size field with 44 per-nucleus mask TIFFs: seconds and peak
   Python heap (tracemalloc); masks are encoded one at a time, never stacked.
3. Records/s of the real samples (BBBC006 at z=0 via the official-name symlink tree, ISBI
   2009) when ../shared/realdata is present.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fixture generators

from timing import best_of  # noqa: E402  (bench/timing.py; run as a script)

import fixtures.bbbc020 as bbbc020_fixture  # noqa: E402
from fixtures.shapes import blobs_and_drawing  # noqa: E402
from nuclei_collection_builders.pipeline import iter_split  # noqa: E402
from nuclei_collection_builders.raster import fill_outlines  # noqa: E402
from nuclei_collection_builders.sources import prepare  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata"


def bench_fill(repeat: int) -> None:
    for shape, n in (((1040, 1388), 250), ((512, 512), 60)):
        masks, drawing = blobs_and_drawing(np.random.default_rng(0), shape, n)
        seconds = best_of(repeat, lambda drawing=drawing: fill_outlines(drawing))
        print(f"fill_outlines {shape[1]}x{shape[0]}, {len(masks)} outlines: {seconds * 1e3:.1f} ms")


def bench_bbbc020(workdir: Path) -> None:
    bbbc020_fixture.SIZE = (1040, 1388)  # upstream frame size
    bbbc020_fixture.FIELDS = {"jw-15min 5": 44}
    bbbc020_fixture.write_bbbc020(workdir / "bbbc020")
    prepared = prepare("BBBC020", workdir / "bbbc020")
    (item,) = prepared.splits["train"]
    tracemalloc.start()
    start = time.perf_counter()
    sample = prepared.source.read(item)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"BBBC020 read, 1388x1040 field, {len(item.files['masks'])} mask files -> {len(sample.objects)} objects: "
        f"{seconds:.2f} s, peak heap {peak / 2**20:.0f} MiB (one (n, h, w) bool stack would be "
        f"{len(sample.objects) * 1040 * 1388 / 2**20:.0f} MiB)"
    )


def bench_real(workdir: Path, repeat: int) -> None:
    if not REALDATA.is_dir():
        print(f"real samples: {REALDATA} absent, skipped")
        return
    tree = workdir / "bbbc006"
    (tree / "BBBC006_v1_images_z_00").mkdir(parents=True)
    (tree / "BBBC006_v1_labels").mkdir()
    for path in sorted((REALDATA / "bbbc006" / "images").glob("00_*.tif")):
        (tree / "BBBC006_v1_images_z_00" / path.name.removeprefix("00_")).symlink_to(path)
    for path in sorted((REALDATA / "bbbc006" / "labels").glob("*.png")):
        field = re.search(r"_([a-p]\d{2}_s\d)_w", path.name)[1]
        (tree / "BBBC006_v1_labels" / f"mcf-z-stacks-03212011_{field}.png").symlink_to(path)
    for config, data_dir, options in (
        ("BBBC006", tree, {"z": 0}),
        ("2009_ISBI_2DNuclei", REALDATA / "isbi2009", {}),
    ):
        prepared = prepare(config, data_dir, options)
        items = prepared.splits["train"]
        count = sum(1 for _ in iter_split(prepared.source, items))
        seconds = best_of(repeat, lambda prepared=prepared, items=items: list(iter_split(prepared.source, items)))
        print(f"{config} real sample: {count} records in {seconds:.2f} s ({count / seconds:.1f} records/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench_fill(args.repeat)
    with tempfile.TemporaryDirectory() as workdir:
        bench_bbbc020(Path(workdir))
        bench_real(Path(workdir), args.repeat)


if __name__ == "__main__":
    main()
