"""ImageMask export: ``{train,valid,test}/{images,masks}/<image_id>.png`` for any instance config.

The layout of the "ImageMask-Dataset" family (e.g. ImageMask-Dataset-PanNuke): one PNG per
image and one mask PNG of the same name. It consumes the same records as every other
consumer (:func:`pipeline.prepare` + :func:`pipeline.iter_split`), so masks are exactly the
RLE objects of the parquet export, painted into one layer.

Split rule (``split``):

* three ratios ``(train, valid, test)`` summing to 1 (default 0.8, 0.1, 0.1): the image ids
  of ALL the config's upstream splits are pooled and sorted, permuted with
  ``numpy.random.default_rng(seed)``, and cut at ``floor(n * train + 0.5)`` and
  ``floor(n * (train + valid) + 0.5)``. The result depends only on the ids, the ratios and
  the seed (not on listing order or machine);
* ``"upstream"``: keep the config's own splits (train -> train, validation -> valid,
  test -> test), e.g. PanNuke's official fold protocol.

Masks (``mask``):

* ``instance``: pixel = object id (1..N, 0 = no object), 8-bit grey PNG when every id fits
  in 255, else 16-bit grey PNG (per image);
* ``class``: pixel = 1 + the object's category index in the config's classes (0 = no
  object; e.g. PanNuke 1 neoplastic, 2 inflammatory, 3 connective, 4 dead, 5 epithelial),
  8-bit grey PNG; ``imagemask.json`` lists the values (``class_values``).

One layer cannot hold overlaps: where objects overlap, the later object (higher id) wins;
the number of hidden pixels is counted in ``imagemask.json``. Images with
``annotation=partial`` (unlabelled pixels are NOT background) or ``none`` are exported too
and counted there, so a training pipeline can exclude them.

The export is written into a temporary folder next to ``out`` and renamed into place when
complete (an existing ``out`` is replaced only then).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import rle
from ..atomic import check_output_dir, make_staging_dir, replace_dir, write_file
from ..base import is_skipped_item
from ..pipeline import SplitReport, item_records, iter_split, log_split_report
from ..progress import progress
from ..raster import encode_png
from ..sources import prepare

FOLDERS = ("train", "valid", "test")
MASK_KINDS = ("instance", "class")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
#: upstream split name -> ImageMask folder, for split="upstream"
UPSTREAM_FOLDERS = {"train": "train", "validation": "valid", "test": "test"}


def class_values(class_names: Sequence[str]) -> dict[str, int]:
    """Pixel value of each class in ``class`` masks: category index + 1 (0 = no object)."""
    return {name: index + 1 for index, name in enumerate(class_names)}


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MANIFEST = "imagemask.json"
#: What an ImageMask folder is called in output path errors (its marker is MANIFEST).
EXPORT_KIND = "an ImageMask export"


def parse_split(text: str | Sequence[float] | None) -> tuple[float, float, float] | None:
    """``"0.8,0.1,0.1"`` -> ratios; ``"upstream"`` -> None (keep the config's splits)."""
    if text is None:
        return DEFAULT_RATIOS
    if isinstance(text, str):
        if text.strip().lower() == "upstream":
            return None
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            raise ValueError(f"--split expects three ratios like 0.8,0.1,0.1 or 'upstream', got {text!r}") from None
    else:
        values = tuple(float(v) for v in text)
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"split ratios must be three non-negative numbers summing to 1, got {values}")
    return values  # type: ignore[return-value]


def assign_folders(image_ids: Sequence[str], ratios: Sequence[float], seed: int) -> dict[str, str]:
    """image id -> train | valid | test (see the module docstring for the rule)."""
    ids = sorted(set(image_ids))
    n = len(ids)
    order = np.random.default_rng(seed).permutation(n)
    first_cut = int(np.floor(n * ratios[0] + 0.5))
    second_cut = int(np.floor(n * (ratios[0] + ratios[1]) + 0.5))
    assignment = {}
    for rank, position in enumerate(order.tolist()):
        assignment[ids[position]] = "train" if rank < first_cut else "valid" if rank < second_cut else "test"
    return assignment


def instance_mask_png(record: Mapping[str, Any]) -> tuple[bytes, int]:
    """(PNG of the instance map, pixels hidden by overlaps)."""
    label_map = rle.decode_objects(record["objects"], record["height"], record["width"])
    top = int(label_map.max(initial=0))
    if top > np.iinfo(np.uint16).max:
        raise ValueError(f"{record['image_id']}: object id {top} does not fit in a 16-bit PNG")
    dtype = np.uint8 if top <= np.iinfo(np.uint8).max else np.uint16
    return encode_png(label_map.astype(dtype)), _hidden_pixels(record, label_map)


def class_mask_png(record: Mapping[str, Any]) -> tuple[bytes, int]:
    """(PNG of the class map, pixels hidden by overlaps)."""
    painted = [
        {"id": obj["category"] + 1, "segmentation": obj["segmentation"]}
        for obj in record["objects"]
    ]
    class_map = rle.decode_objects(painted, record["height"], record["width"])
    return encode_png(class_map.astype(np.uint8)), _hidden_pixels(record, class_map)


def _hidden_pixels(record: Mapping[str, Any], painted: np.ndarray) -> int:
    """Object pixels not visible in a one-layer map (each overlap counted once per extra object)."""
    return int(sum(int(obj["area"]) for obj in record["objects"]) - np.count_nonzero(painted))


MASK_WRITERS = {"instance": instance_mask_png, "class": class_mask_png}


def file_stem(image_id: str) -> str:
    return _UNSAFE.sub("_", image_id)


def export_imagemask(
    config: str,
    out: Path | str,
    data_dir: Path | str | None = None,
    split: str | Sequence[float] | None = None,
    seed: int = 0,
    mask: str = "instance",
    options: Mapping[str, Any] | None = None,
    cache_dir: Path | str | None = None,
) -> dict[str, Any]:
    """Write the ImageMask folders of ``config`` into ``out``; returns the manifest."""
    if mask not in MASK_KINDS:
        raise ValueError(f"mask must be one of {MASK_KINDS}, got {mask!r}")
    ratios = parse_split(split)
    out = check_output_dir(out, MANIFEST, EXPORT_KIND)  # before any raw file is read or downloaded
    prepared = prepare(config, data_dir, options, cache_dir=cache_dir)
    if prepared.source.kind != "instance":
        raise ValueError(f"{config} is not an instance config; the ImageMask export needs objects")
    # Items listed only to be counted (an annotation without its image) take no part in the
    # split rule, so they never move other images between folders; they are reported below.
    listed = [(name, item) for name, items in prepared.splits.items() for item in items]
    pooled = [(name, item) for name, item in listed if not is_skipped_item(item)]
    unpaired = [item_records(prepared.source, item)[2] for _, item in listed if is_skipped_item(item)]
    stems = [file_stem(item.image_id) for _, item in pooled]
    if len(set(stems)) != len(stems):
        raise ValueError(f"{config}: image ids are not unique across splits (or collide as file names)")
    if ratios is None:
        unknown = sorted({name for name, _ in pooled} - set(UPSTREAM_FOLDERS))
        if unknown:
            raise ValueError(f"{config}: split 'upstream' cannot map split(s) {unknown} to train/valid/test")
        assignment = {item.image_id: UPSTREAM_FOLDERS[name] for name, item in pooled}
    else:
        assignment = assign_folders([item.image_id for _, item in pooled], ratios, seed)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(out.parent, out.name)
    write_mask = MASK_WRITERS[mask]
    manifest: dict[str, Any] = {
        "config": config,
        "split": "upstream" if ratios is None else list(ratios),
        "seed": None if ratios is None else seed,
        "mask": mask,
        "class_values": class_values(prepared.source.class_names()) if mask == "class" else None,
        "folders": {},
    }
    try:
        for folder in FOLDERS:
            (staging / folder / "images").mkdir(parents=True)
            (staging / folder / "masks").mkdir(parents=True)
            items = [item for _, item in pooled if assignment[item.image_id] == folder]
            report = SplitReport()
            hidden = 0
            annotation: dict[str, int] = {}
            for record in iter_split(prepared.source, progress(items, desc=f"{config} -> {folder}"), report):
                stem = file_stem(record["image_id"])
                write_file(staging / folder / "images" / f"{stem}.png", record["image"]["bytes"])
                png, hidden_pixels = write_mask(record)
                write_file(staging / folder / "masks" / f"{stem}.png", png)
                hidden += hidden_pixels
                state = record["metadata"]["annotation"] or "unknown"
                annotation[state] = annotation.get(state, 0) + 1
            manifest["folders"][folder] = {
                "images": report.records,
                "objects": report.objects,
                "hidden_overlap_pixels": hidden,
                "annotation": dict(sorted(annotation.items())),
                "skipped": [list(s) for s in report.skipped],
            }
            log_split_report(f"{config} -> {folder}", report)
        if unpaired:
            manifest["unpaired"] = [list(s) for s in unpaired]
            log_split_report(f"{config} (unpaired files)", SplitReport(skipped=list(unpaired)))
        write_file(staging / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8"))
        replace_dir(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return manifest
