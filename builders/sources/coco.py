"""Reader of COCO annotation JSON + image folder (config ``coco``).

Reads what :mod:`..exporters.coco` writes (``DIR/<name>/`` images + ``DIR/annotations/
<name>.json``) and the original NucleiDetectron collection's JSONs alike: JPEG images are
stored as lossless PNG of their decoded pixels; polygons and uncompressed RLE become
compressed RLE. Export -> import -> export gives byte-identical files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pycocotools.mask as mask_util

from .. import rle
from ..base import (
    BadInputError,
    ConfigSpec,
    Item,
    MissingDataError,
    Sample,
    Source,
    sorted_files,
)
from ..catalog import NUCLEUS, ClassInfo, SourceInfo, vocabulary
from ..raster import read_image, read_png_verbatim
from ..schema import METADATA_FIELDS

_SPLIT_NAME = re.compile(r"\w+(\.\w+)*")


# --------------------------------------------------------------------------- import


def _load_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInputError(path, f"not a readable JSON file ({error})") from None
    if not isinstance(document, dict) or not all(
        isinstance(document.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise BadInputError(path, "not a COCO annotation file (needs lists 'images', 'annotations', 'categories')")
    return document


def _category_names(path: Path, categories: list[dict[str, Any]]) -> dict[int, str]:
    """category id -> name, in id order; a name must be one of the collection's class names."""
    known = vocabulary()
    names = {}
    for category in sorted(categories, key=lambda c: int(c.get("id", 0))):
        name = str(category.get("name", "")).strip().lower()
        if name not in known:
            raise BadInputError(path, f"category {category.get('name')!r} is none of {', '.join(known)}")
        if name in names.values():
            raise BadInputError(path, f"category name {name!r} occurs twice")
        names[int(category["id"])] = name
    return names


def _compressed(path: Path, annotation: Mapping[str, Any], height: int, width: int) -> dict[str, Any]:
    """Compressed RLE of any COCO segmentation form (RLE str/bytes, uncompressed RLE, polygons)."""
    segmentation = annotation.get("segmentation")
    where = f"annotation {annotation.get('id')}"
    if isinstance(segmentation, list):  # polygons
        try:
            return mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
        except (TypeError, ValueError, IndexError) as error:
            raise BadInputError(path, f"{where}: unreadable polygon ({error})") from None
    if not isinstance(segmentation, dict) or "counts" not in segmentation or "size" not in segmentation:
        raise BadInputError(path, f"{where}: segmentation is neither RLE nor polygons")
    if [int(v) for v in segmentation["size"]] != [height, width]:
        raise BadInputError(path, f"{where}: RLE size {segmentation['size']} but the image is {[height, width]}")
    if isinstance(segmentation["counts"], list):  # uncompressed RLE
        return mask_util.frPyObjects(segmentation, height, width)
    return segmentation


class CocoSource(Source):
    """Records from a COCO JSON + image folder (this project's export or the original collection)."""

    info = SourceInfo(
        name="COCO import",
        title="any COCO JSON + image folder (our `export-coco` output or the NucleiDetectron JSONs), see docs/coco.md",
        homepage="https://cocodataset.org/#format-data",
        citation="",
        license="as recorded per image in the imported JSON",
        doc="coco",
        modality="mixed",
        description="Images and instance masks read from a COCO annotation JSON and its image folder.",
    )
    manual_instructions = (
        "Give the folder that holds the images (or its parent, in the export layout DIR/<name>/ + "
        "DIR/annotations/<name>.json) as --data-dir, and the JSON with -o json=PATH when it is not "
        "the only file in <data-dir>/annotations/."
    )
    expected_layout = """
    <data_dir>/annotations/<name>.json   (or -o json=PATH, absolute or relative to data_dir)
    <data_dir>/<name>/<file_name>        (the export layout) or <data_dir>/<file_name>
    """
    default_options = {"json": None}
    #: the classes are the JSON's categories: known once the JSON is read (find_root)
    classes_need_data = True

    def classes(self) -> tuple[ClassInfo, ...]:
        names = getattr(self, "category_names", None)
        if names is None:
            return (NUCLEUS,)  # not located yet: the generic class (features are final after locate)
        known = vocabulary()
        return tuple(known[name] for name in names)

    def _json_path(self, data_dir: Path) -> Path:
        option = self.options["json"]
        if option:
            given = Path(str(option)).expanduser()
            candidates = [given] if given.is_absolute() else [given, data_dir / given]
            for candidate in candidates:
                if candidate.is_file():
                    return candidate
            raise MissingDataError(f"{self.name}: annotation JSON not found at {' or '.join(map(str, candidates))}")
        folder = data_dir / "annotations"
        found = sorted_files(folder, [".json"]) if folder.is_dir() else []
        if len(found) != 1:
            what = "no JSON" if not found else f"{len(found)} JSONs ({', '.join(p.name for p in found)})"
            raise MissingDataError(f"{self.name}: {what} in {folder}; choose one with -o json=PATH")
        return found[0]

    def find_root(self, data_dir: Path) -> Path | None:
        self.json_path = self._json_path(data_dir)
        self._document = _load_document(self.json_path)  # kept for list_items, then dropped
        self.category_names = tuple(_category_names(self.json_path, self._document["categories"]).values())
        names = [str(image.get("file_name", "")) for image in self._document["images"]]
        for folder in (data_dir / self.json_path.stem, data_dir):
            # The folder that holds the listed images (any of them: a missing one is named when read).
            if folder.is_dir() and (not names or any((folder / name).is_file() for name in names)):
                return folder
        return None

    def export_name(self, config_name: str) -> str:
        return f"{config_name}_{self.json_path.stem}"

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        if not hasattr(self, "json_path"):
            self.json_path = self._json_path(root.parent)
        path = self.json_path
        # The parsed document is not kept on the source: sources are sent to worker processes.
        document = self.__dict__.pop("_document", None) or _load_document(path)
        names = _category_names(path, document["categories"])
        self.category_names = tuple(names.values())
        by_image: dict[Any, list[dict[str, Any]]] = {}
        annotation_ids: set[Any] = set()
        for annotation in document["annotations"]:
            if annotation.get("category_id") not in names:
                raise BadInputError(path, f"annotation {annotation.get('id')}: unknown category_id")
            if annotation.get("id") is not None:
                # COCO ids are unique per file; a repeat would give two objects one id.
                if annotation["id"] in annotation_ids:
                    raise BadInputError(path, f"annotation id {annotation['id']} occurs twice")
                annotation_ids.add(annotation["id"])
            by_image.setdefault(annotation.get("image_id"), []).append(
                {
                    "id": annotation.get("id"),
                    "segmentation": annotation.get("segmentation"),
                    "category": names[annotation["category_id"]],
                    "iscrowd": bool(annotation.get("iscrowd", 0)),
                }
            )
        splits: dict[str, list[Item]] = {}
        seen: set[Any] = set()
        for entry in document["images"]:
            number, file_name = entry.get("id"), str(entry.get("file_name", ""))
            if number in seen:
                raise BadInputError(path, f"image id {number} occurs twice")
            seen.add(number)
            split = str(entry.get("split") or "train")
            if not _SPLIT_NAME.fullmatch(split):
                raise BadInputError(path, f"image {file_name}: split name {split!r} is not a valid split name")
            image_id = str(PurePosixPath(file_name).with_suffix(""))
            splits.setdefault(split, []).append(
                Item(
                    image_id=image_id,
                    files={"image": str(root / file_name), "json": str(path)},
                    attrs={
                        "file_name": file_name,
                        "height": int(entry.get("height", 0)),
                        "width": int(entry.get("width", 0)),
                        "nuclei_class": entry.get("nuclei_class"),
                        "metadata": entry.get("metadata"),
                        "annotations": by_image.pop(number, []),
                    },
                )
            )
        if by_image:
            orphans = sum(len(v) for v in by_image.values())
            raise BadInputError(path, f"{orphans} annotation(s) refer to image ids not in 'images'")
        return splits

    def read(self, item: Item) -> Sample:
        json_path, image_path = Path(item.files["json"]), Path(item.files["image"])
        if image_path.suffix.lower() == ".png":
            pixels, png = read_png_verbatim(image_path)
        else:
            pixels, png = read_image(image_path), None
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        if (item.attrs["height"], item.attrs["width"]) != (height, width):
            raise BadInputError(
                json_path,
                f"image {item.attrs['file_name']}: the JSON says {item.attrs['width']}x{item.attrs['height']} "
                f"but {image_path} is {width}x{height}",
            )
        objects, categories, crowd = [], {}, {}
        for number, annotation in enumerate(item.attrs["annotations"], start=1):
            segmentation = _compressed(json_path, annotation, height, width)
            try:
                mask = rle.decode_masks([{"segmentation": segmentation}])
            except rle.RLEError as error:
                raise BadInputError(json_path, f"annotation {annotation['id']}: {error}") from None
            # Re-encode: canonical counts (identical to pycocotools.mask.encode), exact bbox/area.
            obj = rle.encode_masks(mask)[0]
            obj["id"] = number
            objects.append(obj)
            categories[number] = annotation["category"]
            crowd[number] = annotation["iscrowd"]
        return Sample(
            image_id=item.image_id,
            image=pixels,
            image_png=png,
            objects=objects,
            categories=categories,
            iscrowd=crowd,
            metadata=self._metadata(item),
        )

    def _metadata(self, item: Item) -> dict[str, Any]:
        recorded = item.attrs["metadata"]
        if isinstance(recorded, dict):  # our own export: the record's metadata, unchanged
            return {key: value for key, value in recorded.items() if key in METADATA_FIELDS}
        return {
            "source": f"{self.name} ({Path(item.files['json']).name})",
            "license": None,
            "nuclei_class": item.attrs["nuclei_class"],
            "upstream_path": item.attrs["file_name"],
        }


CONFIGS = (
    ConfigSpec(
        "coco",
        CocoSource,
        {},
        "Any COCO annotation JSON + image folder (a nuclei-collection export or the NucleiDetectron JSONs).",
    ),
)

