"""Pipeline benchmarks on a generated DSB-like set, ratios from one run.

    python bench/pipeline_bench.py [--images 670] [--workdir /tmp/nc-bench]

1. Build throughput: images/s of ``nuclei-collection build`` with --num-proc 1 and 2.
2. Streaming read throughput of the export (records with decoded PIL images) vs decoding
   the same raw PNG files directly (target >= 70 %).
3. Export size: bytes per image for the RLE objects vs per-nucleus mask PNGs (upstream
   layout) vs one 16-bit label-map PNG per image.

The raw set mixes DSB's common sizes (256x256, 256x320, 260x347, 520x696, 1024x1024), three
modalities and ~6-25 nuclei per image; it is generated with a fixed seed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from nuclei_collection import build, decode_objects
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.raster import encode_png

SIZES = ((256, 256), (256, 320), (260, 347), (256, 256), (520, 696), (256, 256), (1024, 1024), (256, 320))


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=670)
    parser.add_argument("--workdir", default="/tmp/nc-bench")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    raw = workdir / "raw" / "stage1_train"
    seconds, ids = timed(lambda: write_dsb2018_stage1_train(raw, n_images=args.images, seed=0, sizes=SIZES))
    print(f"generated {len(ids)} images in {seconds:.1f} s ({os.cpu_count()} CPUs)")

    print("\n## Build throughput")
    print("| --num-proc | seconds | images/s |")
    print("|---|---|---|")
    for num_proc in (1, 2):
        out = workdir / f"out{num_proc}"
        start = time.perf_counter()
        build("nuclei_stage1_train", data_dir=raw.parent, out=out, num_proc=num_proc)
        seconds = time.perf_counter() - start
        print(f"| {num_proc} | {seconds:.1f} | {len(ids) / seconds:.1f} |")
    identical = all(
        (workdir / "out1" / "nuclei_stage1_train" / p.name).read_bytes() == p.read_bytes()
        for p in (workdir / "out2" / "nuclei_stage1_train").glob("*.parquet")
    )
    print(f"parquet from --num-proc 1 and 2 byte-identical: {identical}")

    print("\n## Streaming read vs raw PNG decode")
    from datasets import load_dataset

    os.chdir(workdir)
    stream = load_dataset("out1", "nuclei_stage1_train", split="train", streaming=True)
    seconds_stream, n_stream = timed(lambda: sum(1 for r in stream if r["image"].load() is not None or True))
    image_paths = [raw / i / "images" / f"{i}.png" for i in ids]

    def decode_raw():
        for path in image_paths:
            with Image.open(path) as image:
                image.load()
        return len(image_paths)

    seconds_raw, n_raw = timed(decode_raw)
    rate_stream, rate_raw = n_stream / seconds_stream, n_raw / seconds_raw
    print("| reader | images/s |")
    print("|---|---|")
    print(f"| streaming export (load_dataset streaming=True, image decoded) | {rate_stream:.0f} |")
    print(f"| raw PNG files (PIL open + load) | {rate_raw:.0f} |")
    print(f"streaming / raw: {100 * rate_stream / rate_raw:.0f} %")

    print("\n## Export size per image")
    table = pq.read_table(
        next((workdir / "out1" / "nuclei_stage1_train").glob("*.parquet")), columns=["objects", "height", "width"]
    )
    rle_bytes = png_label_bytes = 0
    for objects, height, width in zip(
        table.column("objects").to_pylist(), table.column("height").to_pylist(), table.column("width").to_pylist()
    ):
        rle_bytes += sum(len(o["segmentation"]["counts"]) for o in objects)
        label_map = decode_objects(objects, height, width)
        png_label_bytes += len(encode_png(label_map.astype(np.uint16)))
    mask_png_bytes = sum(p.stat().st_size for i in ids for p in (raw / i / "masks").glob("*.png"))
    parquet_objects = sum(
        pq.ParquetFile(p).metadata.row_group(g).column(c).total_compressed_size
        for p in (workdir / "out1" / "nuclei_stage1_train").glob("*.parquet")
        for g in range(pq.ParquetFile(p).metadata.num_row_groups)
        for c in range(pq.ParquetFile(p).metadata.num_columns)
        if pq.ParquetFile(p).metadata.row_group(g).column(c).path_in_schema.startswith("objects")
    )
    n = len(ids)
    print("| encoding of the instances | bytes/image |")
    print("|---|---|")
    print(f"| COCO RLE counts strings (raw text) | {rle_bytes / n:.0f} |")
    print(f"| objects columns in the parquet export (compressed, incl. bbox/area/ids) | {parquet_objects / n:.0f} |")
    print(f"| per-nucleus mask PNGs (upstream layout) | {mask_png_bytes / n:.0f} |")
    print(f"| one 16-bit label-map PNG (loses overlaps) | {png_label_bytes / n:.0f} |")


if __name__ == "__main__":
    main()
