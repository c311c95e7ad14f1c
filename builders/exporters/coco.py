"""COCO export in the layout of the NucleiDetectron collection (IM_DIR + ANN_FN per config).

Export (:func:`export_coco`, CLI ``nuclei-collection export-coco CONFIG --out DIR``)::

    DIR/<config>/<image_id>.png           the record's image bytes (upstream PNG or lossless PNG)
    DIR/annotations/<config>.json         images, annotations (compressed RLE), categories

It consumes the records of :func:`pipeline.prepare` + :func:`pipeline.iter_split`, like
every other consumer (or any records given to :func:`write_coco`); nothing re-reads raw
files its own way. ``mask_util.decode([a["segmentation"] for a in anns])`` gives exactly our
masks. Image entries carry ``id, file_name, height, width, nuclei_class`` (the original
collection's keys) plus ``split`` and the record's full ``metadata``, so an import of the
export loses nothing. Written into a temporary folder, then renamed into place.

The reader of such exports (config ``coco``) is :mod:`..sources.coco`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import check_output_dir, make_staging_dir, replace_dir, write_file
from ..base import NucleiCollectionError
from ..pipeline import SplitReport, iter_split, log_split_report
from ..progress import progress
from ..schema import DEFAULT_CLASSES
from ..sources import prepare

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def coco_categories(class_names: Sequence[str]) -> list[dict[str, Any]]:
    """COCO categories of a config: id = the config's category index + 1, in class order."""
    return [{"id": index + 1, "name": name, "supercategory": "nucleus"} for index, name in enumerate(class_names)]


_EXPORT_NAME = re.compile(r"\w[\w.-]*")
ANNOTATIONS_DIR = "annotations"
#: What a COCO folder is called in output path errors (its marker is ANNOTATIONS_DIR).
EXPORT_KIND = "a COCO export folder"


# --------------------------------------------------------------------------- export


@dataclass
class CocoExport:
    """What :func:`write_coco` wrote."""

    name: str
    json_path: Path
    image_dir: Path
    images: int = 0
    annotations: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    #: most objects in one image (``info.max_nuclei_per_image``): COCOeval's maxDets must reach it
    max_nuclei_per_image: int = 0


def image_file_name(image_id: str) -> str:
    """``<image_id>.png`` (a ``/`` in an id becomes a sub-folder); refuses ids that escape the folder."""
    parts = image_id.split("/")
    if "\\" in image_id or any(part in ("", ".", "..") for part in parts):
        raise NucleiCollectionError(f"image id {image_id!r} cannot be used as a file name below the image folder")
    return f"{image_id}.png"


def _image_entry(image_number: int, file_name: str, record: Mapping[str, Any], split: str) -> dict[str, Any]:
    metadata = dict(record["metadata"])
    return {
        "id": image_number,
        "file_name": file_name,
        "height": int(record["height"]),
        "width": int(record["width"]),
        "nuclei_class": metadata.get("nuclei_class"),
        "split": split,
        "metadata": metadata,
    }


def _annotation(annotation_number: int, image_number: int, obj: Mapping[str, Any]) -> dict[str, Any]:
    segmentation = obj["segmentation"]
    counts = segmentation["counts"]
    return {
        "id": annotation_number,
        "image_id": image_number,
        "category_id": int(obj["category"]) + 1,
        "segmentation": {
            "size": [int(v) for v in segmentation["size"]],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
        },
        "area": int(obj["area"]),
        "bbox": [float(v) for v in obj["bbox"]],
        "iscrowd": int(bool(obj["iscrowd"])),
    }


def write_coco(
    name: str,
    splits: Mapping[str, Iterable[Mapping[str, Any]]],
    out: Path | str,
    class_names: Sequence[str] = DEFAULT_CLASSES,
) -> CocoExport:
    """Write records (per split, in order) as ``out/<name>/`` images + ``out/annotations/<name>.json``.

    Image and annotation ids are 1..N in record order; ``class_names`` are the records'
    category names (category id = index + 1). Everything is written into
    ``out/.staging-coco-*`` first, then the image folder and the JSON are renamed into
    place; an interrupted export leaves the previous one as it was.
    """
    if not _EXPORT_NAME.fullmatch(name):
        raise NucleiCollectionError(f"export name {name!r} must be letters, digits, '_', '-' or '.'")
    out = check_output_dir(out, ANNOTATIONS_DIR, EXPORT_KIND)
    image_dir, json_path = out / name, out / ANNOTATIONS_DIR / f"{name}.json"
    if image_dir.exists() and not json_path.exists():
        raise NucleiCollectionError(
            f"{image_dir} exists but is not a COCO export (no {json_path}); refusing to replace it - choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(out, f"coco-{name}")
    result = CocoExport(name=name, json_path=json_path, image_dir=image_dir)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    max_nuclei = 0
    try:
        seen: set[str] = set()
        for split, records in splits.items():
            result.splits[split] = 0
            for record in records:
                file_name = image_file_name(record["image_id"])
                if file_name in seen:
                    raise NucleiCollectionError(f"{name}: image id {record['image_id']!r} occurs twice")
                seen.add(file_name)
                data = record["image"]["bytes"]
                if not data or not data.startswith(PNG_SIGNATURE):
                    raise NucleiCollectionError(f"{name}/{record['image_id']}: record image is not PNG bytes")
                target = staging / "images" / file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                write_file(target, data)
                images.append(_image_entry(len(images) + 1, file_name, record, split))
                first_number = len(annotations) + 1
                max_nuclei = max(max_nuclei, len(record["objects"]))
                annotations += [
                    _annotation(first_number + k, len(images), obj) for k, obj in enumerate(record["objects"])
                ]
                result.splits[split] += 1
        if not images:
            raise NucleiCollectionError(f"{name}: no records were produced; nothing written to {out}")
        document = {
            "info": {
                "description": f"{name} (nuclei-collection COCO export)",
                # COCOeval scores at most params.maxDets[-1] (default 100) detections per image;
                # images here can hold more nuclei than that (docs/coco.md).
                "max_nuclei_per_image": max_nuclei,
            },
            "images": images,
            "annotations": annotations,
            "categories": coco_categories(class_names),
        }
        staged_json = staging / "annotations.json"
        write_file(staged_json, json.dumps(document, separators=(",", ":")).encode("utf-8"))
        # The image folder first, then the JSON: the JSON is what makes the export visible.
        replace_dir(staging / "images", image_dir)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged_json, json_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.images, result.annotations, result.max_nuclei_per_image = len(images), len(annotations), max_nuclei
    return result


def export_coco(
    config: str,
    out: Path | str,
    data_dir: Path | str | None = None,
    options: Mapping[str, Any] | None = None,
    cache_dir: Path | str | None = None,
    name: str | None = None,
) -> CocoExport:
    """Build ``config`` from raw data (or a download) and write it in the COCO layout.

    ``name`` overrides the exported name (default: the config's export name, e.g.
    ``nuclei_stage1_train_csv_labels`` for ``labels=csv``).
    """
    check_output_dir(out, ANNOTATIONS_DIR, EXPORT_KIND)  # before any raw file is read or downloaded
    prepared = prepare(config, data_dir, options, cache_dir=cache_dir)
    reports = {split: SplitReport() for split in prepared.splits}
    splits = {
        split: iter_split(prepared.source, progress(items, desc=f"{prepared.name}/{split}"), reports[split])
        for split, items in prepared.splits.items()
    }
    result = write_coco(name or prepared.name, splits, out, prepared.source.class_names())
    for split, report in reports.items():
        log_split_report(f"{result.name}/{split}", report)
    return result
