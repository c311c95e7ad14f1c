"""DSB2018 reader (issue 19): ours vs the baseline, ratios from one run.

    python bench/dsb_bench.py [--images 80] [--repeat 5]

1. Mask PNGs -> COCO RLE, per mask: ``runs.mask_file_runs`` + ``rle.encode_object_runs``
   (every mask of an image in one batch, no (n, h, w) stack) vs Pillow decode +
   ``pycocotools.mask.encode`` of each mask; the previous reader path (``read_mask`` per
   file, ``np.stack``, ``rle.encode_masks``) is shown too. Outputs are asserted equal first.
2. ``nuclei_class`` per image: per-channel histograms vs the previous boolean copies +
   ``np.median`` (kept below, verbatim); results asserted equal.
3. ``nuclei_stage1_train`` build (parquet, one process): the current reader vs the same
   reader with its ``read`` swapped for the previous one (kept below); the parquet shards of
   both builds are asserted byte-identical.

Real masks from ../shared/realdata/dsb2018 (or $NUCLEI_REALDATA) when present, plus a
generated set (``app.synthetic``, DSB's common sizes up to 1024x1024). Times are CPU seconds
of this process (``time.process_time``, best of --repeat, ours and baseline interleaved), so
other jobs on the machine disturb the ratios less than wall-clock times would.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
from PIL import Image

import nuclei_collection as nc
from nuclei_collection_builders import rle
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.base import BadInputError, Sample, SkipItem, logger, relative_posix
from nuclei_collection_builders.formats import modality
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.raster import read_mask, read_png_verbatim
from nuclei_collection_builders.runs import _grey8_png_rows, mask_file_runs
from nuclei_collection_builders.sources import dsb2018, prepare

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the pre-change rules
from dsb_previous import previous_modality_of, previous_nuclei_class_of  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("NUCLEI_REALDATA", PROJECT.parent / "shared" / "realdata"))
SIZES = ((256, 256), (256, 320), (260, 347), (256, 256), (520, 696), (256, 256), (1024, 1024), (256, 320))


# --------------------------------------------------------------------------- the baseline (pre-issue-19 code)


def previous_read(self, item) -> Sample:
    """DSB2018StageTrain.read (labels=masks) before issue 19: one full mask per file, stacked."""
    image_path = Path(item.files["image"])
    pixels, png = read_png_verbatim(image_path)
    shape = pixels.shape[:2]
    masks, notes = [], []
    for mask_path in item.files["masks"]:
        mask = read_mask(mask_path, shape)
        if not mask.any():
            notes.append(f"empty mask skipped: {mask_path}")
            continue
        masks.append(mask)
    if not item.files["masks"]:
        raise SkipItem(item.image_id, f"no masks folder or no mask PNGs next to {image_path}")
    if not masks:
        raise BadInputError(image_path.parent.parent / "masks", "all mask files are empty")
    for note in notes:
        logger.warning("%s: %s", item.image_id, note)
    stack = np.stack(masks)
    metadata = self.base_metadata(
        modality=previous_modality_of(pixels),
        nuclei_class=previous_nuclei_class_of(pixels, stack.any(axis=0)),
        annotation="complete",
        upstream_path=relative_posix(image_path, Path(item.attrs["root"])),
    )
    return Sample(image_id=item.image_id, image=pixels, image_png=png, masks=stack, metadata=metadata, notes=notes)


# --------------------------------------------------------------------------- helpers


def best_of(repeat: int, *functions: Callable[[], object]) -> list[float]:
    """Best CPU time of each function over ``repeat`` interleaved rounds."""
    best = [float("inf")] * len(functions)
    for _ in range(repeat):
        for k, function in enumerate(functions):
            start = time.process_time()
            function()
            best[k] = min(best[k], time.process_time() - start)
    return best


def image_folders(root: Path) -> list[tuple[list[str], tuple[int, int], Path]]:
    folders = []
    for folder in sorted(p for p in root.iterdir() if (p / "masks").is_dir()):
        image = folder / "images" / f"{folder.name}.png"
        shape = np.asarray(Image.open(image)).shape[:2]
        folders.append((sorted(str(p) for p in (folder / "masks").glob("*.png")), shape, image))
    return folders


def ours_encode(paths: list[str], shape: tuple[int, int]) -> list[dict]:
    runs = mask_file_runs(paths, shape)
    return rle.encode_object_runs(range(1, len(runs.kept) + 1), runs.owner, runs.starts, runs.lengths, *shape)


def pycocotools_encode(paths: list[str]) -> list[dict]:
    objects = []
    for path in paths:
        mask = np.asarray(Image.open(path))
        objects.append(mask_utils.encode(np.asfortranarray(mask != 0, dtype=np.uint8)))
    return objects


def previous_encode(paths: list[str], shape: tuple[int, int]) -> list[dict]:
    return rle.encode_masks(np.stack([read_mask(p, shape) for p in paths]))


def bench_masks(label: str, folders, repeat: int) -> None:
    n_masks = sum(len(paths) for paths, _, _ in folders)
    for paths, shape, _ in folders:  # same output first
        ours = ours_encode(paths, shape)
        reference = [r for r in pycocotools_encode(paths) if mask_utils.area(r) > 0]
        assert [o["segmentation"]["counts"] for o in ours] == [r["counts"].decode() for r in reference]
    all_paths = [path for paths, _, _ in folders for path in paths]
    ours, baseline, previous, inflate = best_of(
        repeat,
        lambda: [ours_encode(paths, shape) for paths, shape, _ in folders],
        lambda: [pycocotools_encode(paths) for paths, _, _ in folders],
        lambda: [previous_encode(paths, shape) for paths, shape, _ in folders],
        lambda: [_grey8_png_rows(Path(path).read_bytes()) for path in all_paths],  # read + parse + zlib only
    )
    per_mask = 1e6 / n_masks
    print(
        f"| {label} ({len(folders)} images, {n_masks} masks) | {ours * per_mask:.0f} | {inflate * per_mask:.0f} "
        f"| {baseline * per_mask:.0f} | **{baseline / ours:.2f}x** | {previous * per_mask:.0f} ({baseline / previous:.2f}x) |"
    )


def bench_nuclei_class(label: str, folders, repeat: int) -> None:
    cases = []
    for paths, shape, image in folders:
        pixels = np.asarray(Image.open(image))
        nuclei = np.zeros(shape, dtype=bool)
        for path in paths:
            nuclei |= np.asarray(Image.open(path)) != 0
        assert dsb2018.nuclei_class_of(pixels, nuclei) == previous_nuclei_class_of(pixels, nuclei)
        assert modality.modality_of(pixels) == previous_modality_of(pixels)
        cases.append((pixels, nuclei))
    ours, baseline = best_of(
        repeat,
        lambda: [(dsb2018.nuclei_class_of(p, n), modality.modality_of(p)) for p, n in cases],
        lambda: [(previous_nuclei_class_of(p, n), previous_modality_of(p)) for p, n in cases],
    )
    per_image = 1e3 / len(cases)
    print(
        f"| {label} ({len(cases)} images) | {ours * per_image:.2f} | {baseline * per_image:.2f} | **{baseline / ours:.1f}x** |"
    )


def shards(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def bench_read(label: str, data_dir: Path, n_images: int, repeat: int) -> None:
    """The reader's share of a build: list + read + records (pipeline.iter_split), no writing."""
    prepared = prepare("nuclei_stage1_train", data_dir, {})
    ((_, items),) = prepared.splits.items()
    source, current_read = prepared.source, dsb2018.DSB2018StageTrain.read
    records = {}

    def run(name: str, read) -> Callable[[], None]:
        def records_of() -> None:
            dsb2018.DSB2018StageTrain.read = read
            try:
                records[name] = list(iter_split(source, items, SplitReport()))
            finally:
                dsb2018.DSB2018StageTrain.read = current_read

        return records_of

    ours, baseline = best_of(repeat, run("ours", current_read), run("baseline", previous_read))
    assert records["ours"] == records["baseline"]
    print(f"| {label} | {n_images} | {ours:.3f} | {baseline:.3f} | **{baseline / ours:.2f}x** | records equal |")


def bench_build(label: str, data_dir: Path, n_images: int, repeat: int, work: Path) -> None:
    current_read = dsb2018.DSB2018StageTrain.read
    outputs = {}

    def build(name: str, read) -> Callable[[], None]:
        def run() -> None:
            out = work / f"out_{name}"
            shutil.rmtree(out, ignore_errors=True)
            dsb2018.DSB2018StageTrain.read = read
            try:
                nc.build("nuclei_stage1_train", data_dir=data_dir, out=out, num_proc=1)
            finally:
                dsb2018.DSB2018StageTrain.read = current_read
            outputs[name] = shards(out)

        return run

    ours, baseline = best_of(repeat, build("ours", current_read), build("baseline", previous_read))
    assert outputs["ours"] and outputs["ours"] == outputs["baseline"], "parquet shards differ"
    print(
        f"| {label} | {n_images} | {ours:.2f} | {baseline:.2f} | **{baseline / ours:.2f}x** "
        f"| identical ({len(outputs['ours'])} shard(s)) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=80, help="images in the generated set")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    real = REALDATA / "dsb2018"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        generated = work / "generated"
        write_dsb2018_stage1_train(generated / "stage1_train", n_images=args.images, seed=0, sizes=SIZES)
        sets = [("generated", generated, image_folders(generated / "stage1_train"))]
        if (real / "stage1_train").is_dir():
            sets.insert(0, ("real DSB2018 sample", real, image_folders(real / "stage1_train")))
        else:
            print(f"(no real sample at {real}: generated data only)")
        print(f"CPU s of this process, best of {args.repeat}; {os.cpu_count()} CPUs; numpy {np.__version__}\n")
        print("Mask PNGs -> COCO RLE (µs per mask)\n")
        print(
            "| masks | ours: mask_file_runs + encode_object_runs | of which file read + zlib inflate "
            "| Pillow + pycocotools.mask.encode | ratio | previous reader path (ratio) |"
        )
        print("|---|---|---|---|---|---|")
        for label, _, folders in sets:
            bench_masks(label, folders, args.repeat)
        print("\nnuclei_class + modality (ms per image)\n")
        print("| images | ours: histograms | previous: boolean copies + np.median | ratio |")
        print("|---|---|---|---|")
        for label, _, folders in sets:
            bench_nuclei_class(label, folders, args.repeat)
        print("\nReader: nuclei_stage1_train items -> records (pipeline.iter_split, CPU s)\n")
        print("| data | images | ours | previous reader | ratio | output |")
        print("|---|---|---|---|---|---|")
        for label, data_dir, folders in sets:
            bench_read(label, data_dir, len(folders), args.repeat)
        print("\nBuild nuclei_stage1_train to parquet, --num-proc 1 (CPU s)\n")
        print("| data | images | ours | previous reader | ratio | parquet |")
        print("|---|---|---|---|---|---|")
        for label, data_dir, folders in sets:
            bench_build(label, data_dir, len(folders), max(2, args.repeat // 2), work)


if __name__ == "__main__":
    main()
