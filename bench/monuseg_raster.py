"""MoNuSeg polygon rasterisation speed on the real samples (../shared/realdata/monuseg).

    python bench/monuseg_raster.py [--repeat 5]

Per image: XML parse, rasterisation of every Region (bounding-box local), crop -> RLE, and
the whole ``read()`` (TIFF decode included); best of ``--repeat`` runs. Not part of the
test suite. Results: docs/benchmarks.md ("MoNuSeg rasterisation").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from timing import best_of  # bench/timing.py (run as a script)

from nuclei_collection_builders.formats.polygons import crop_runs, rasterize_polygon
from nuclei_collection_builders.rle import encode_runs
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.monuseg import parse_aperio_xml

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "monuseg"


def measure(source, item, repeat: int) -> str:
    """One image: timings of each stage, best of ``repeat``."""
    xml = Path(item.files["xml"])
    _, polygons = parse_aperio_xml(xml)
    placed = [rasterize_polygon(p[:, 0], p[:, 1], 1000, 1000) for p in polygons]
    parse_ms = best_of(repeat, lambda: parse_aperio_xml(xml)) * 1e3
    raster_ms = best_of(repeat, lambda: [rasterize_polygon(p[:, 0], p[:, 1], 1000, 1000) for p in polygons]) * 1e3
    rle_ms = best_of(repeat, lambda: encode_runs(*zip(*(crop_runs(*q, 1000) for q in placed)), 1000, 1000)) * 1e3
    read_ms = best_of(repeat, lambda: source.read(item)) * 1e3
    return (
        f"{item.image_id}: {len(polygons)} regions, {sum(len(p) for p in polygons)} vertices | "
        f"parse {parse_ms:.0f} ms, rasterise {raster_ms:.0f} ms ({raster_ms / len(polygons) * 1e3:.0f} us/region), "
        f"crop->RLE {rle_ms:.0f} ms, whole read() {read_ms:.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    prepared = prepare("nucleisegmentationbenchmark", REALDATA)
    for items in prepared.splits.values():
        for item in items:
            print(measure(prepared.source, item, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
