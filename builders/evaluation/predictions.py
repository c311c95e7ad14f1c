"""Prediction readers: the formats models write, matched to the ground truth by ``image_id``.

:func:`open_predictions` picks the reader from what ``path`` is:

* a folder holding ``.nuclei_collection/`` -> :class:`ExportPredictions`: a parquet export in
  this collection's schema (``OUT/<config>/<split>-*.parquet``, e.g. a model's output written
  with :func:`~..schema.to_record`); objects keep their ``category``;
* any other folder -> :class:`LabelMapFolder`: one file per image, ``<image_id>.png`` (8- or
  16-bit grey, or palette: index = label), ``.tif`` / ``.tiff`` or ``.npy`` (integer array,
  ``allow_pickle=False``); an ``image_id`` with ``/`` is a sub-folder. Instance configs: a
  label map (0 = background, any positive ids); semantic configs: class codes. Classes of
  instances (for mPQ): an optional ``<image_id>.classes.json`` ``{"<label>": class}``, the
  class as a name of the config's class list (e.g. ``"neoplastic"``) or as an index into it
  (``Source.classes()``: PanNuke 0 = neoplastic ... 4 = epithelial);
* a ``.json`` file -> :class:`CocoResults`: a COCO results list (``image_id``,
  ``segmentation`` as RLE or polygons, ``score``, ``category_id`` = the config's class
  index + 1 as in our COCO export), e.g. Detectron2's ``coco_instances_results.json``, or a COCO dict with
  ``annotations`` (and ``images``). ``image_id`` is our string id, or the image number of our
  COCO export: numbers are mapped through an ``images`` list (``coco_images=`` the export's
  ``annotations/<config>.json``, or the file's own) by ``file_name`` minus its extension;
* a ``.npy`` file -> :class:`PanNukeMasks`: PanNuke's own ``masks.npy`` (N, H, W, 6)
  (channels 0-4 the classes neoplastic, inflammatory, connective, dead, epithelial; 5
  background), one patch read at a time, patch k = the split's k-th record; a channel's
  objects get the config's class of that name (none when the config has no such class);
* (Python only) a mapping ``{image_id: label map | object list | class-code map}`` ->
  :class:`MappingPredictions`.

Every reader answers :meth:`PredictionReader.take` for one ground-truth record and
:meth:`PredictionReader.leftover` (predictions never taken) at the end. Bad input raises
:class:`~..base.BadInputError` naming the file and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from .. import raster, rle
from ..base import BadInputError, NucleiCollectionError, is_junk
from ..catalog import TAXONOMIES
from ..exporters.build import REPORT_DIR, load_reports
from ..exporters.shards import split_shards
from ..npy import NpyArray, exact_cast

#: Label-map file suffixes of :class:`LabelMapFolder` (lower case; matched case-insensitively).
LABEL_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".npy")
#: Sidecar with the class of each label: ``<image_id>.classes.json``.
CLASSES_SUFFIX = ".classes.json"
#: PanNuke ``masks.npy``: channels 0-4 are the ``pannuke`` taxonomy's first five classes, 5 is background.
PANNUKE_CHANNEL_CLASSES: tuple[str, ...] = TAXONOMIES["pannuke"][:5]
MASK_CHANNELS = len(PANNUKE_CHANNEL_CLASSES) + 1


@dataclass
class Prediction:
    """One image's prediction, normalised.

    Instance configs: ``objects`` in the schema's form (``id``, ``segmentation`` COCO RLE with
    str counts, ``category`` = index into the config's class list or None when the format
    has no class, ``score``
    only when the format gives one). Semantic configs: ``codes`` (h, w) class codes.
    ``origin`` is the file (and entry) it came from, for error messages.
    """

    image_id: str
    origin: str
    objects: list[dict[str, Any]] | None = None
    codes: np.ndarray | None = None


class PredictionReader:
    """Base of the readers. ``kind`` is the config's kind: ``instance`` or ``semantic``;
    ``class_names`` the config's class list (predicted classes are indexes into it)."""

    #: what the reader reads, for the report
    format: str = ""

    def __init__(self, path: Path | str, kind: str, class_names: Sequence[str] = ()):
        self.path = Path(path)
        self.kind = kind
        self.class_names = tuple(class_names)
        self._taken: set[str] = set()

    def take(self, position: int, image_id: str, height: int, width: int) -> Prediction | None:
        """The prediction of record ``position`` of the split (id ``image_id``), None when absent."""
        raise NotImplementedError

    def discard(self, position: int, image_id: str) -> None:
        """Record ``position`` is not scored (e.g. ``annotation=none``): its prediction is known, unused."""
        self._taken.add(image_id)

    def known_ids(self) -> set[str]:
        """Image ids this reader has predictions for (empty for positional formats)."""
        return set()

    def leftover(self, n_records: int) -> list[str]:
        """Predictions never taken (images unknown to the split), after ``n_records`` records."""
        return sorted(self.known_ids() - self._taken)


# --------------------------------------------------------------------------- helpers


def _instance_objects(label_map: np.ndarray, origin: str, categories: Mapping[int, int] | None) -> list[dict[str, Any]]:
    """Schema objects of a label map (one per label value, in label order), with classes when given."""
    objects = rle.encode_label_map(label_map)
    if categories is not None:
        unclassed = [obj["id"] for obj in objects if obj["id"] not in categories]
        if unclassed:
            raise BadInputError(origin, f"labels {unclassed[:10]} have no class in the classes file")
    for obj in objects:
        obj["category"] = None if categories is None else categories[obj["id"]]
    return objects


def category_index(value: Any, origin: str, class_names: Sequence[str]) -> int:
    """The config's class index of a predicted class given as an index (``0``) or a name (``"neoplastic"``)."""
    if not class_names:
        raise BadInputError(origin, f"class {value!r} given, but this config declares no object classes")
    if isinstance(value, str):
        if value not in class_names:
            raise BadInputError(
                origin, f"unknown class name {value!r}; this config's classes: {', '.join(class_names)}"
            )
        return class_names.index(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= int(value) < len(class_names):
        return int(value)
    raise BadInputError(
        origin,
        f"class {value!r} is neither a class name nor an index 0..{len(class_names) - 1} "
        f"of this config's classes ({', '.join(class_names)})",
    )


def integer_map(values: np.ndarray, origin: str) -> np.ndarray:
    """A 2-D non-negative integer array from a decoded label file (floats must hold whole numbers)."""
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.ndim != 2:
        raise BadInputError(origin, f"expected a single-channel (h, w) map, got shape {values.shape}")
    if values.dtype == bool:
        return values.astype(np.uint8)
    if np.issubdtype(values.dtype, np.integer):
        if np.issubdtype(values.dtype, np.signedinteger) and values.size and values.min() < 0:
            raise BadInputError(origin, f"negative values (min {values.min()}); 0 is background")
        return values
    if np.issubdtype(values.dtype, np.floating):
        return exact_cast(values, np.int32, origin, "map")
    raise BadInputError(origin, f"dtype {values.dtype} is not an integer label or class-code map")


def read_label_file(path: Path, height: int, width: int) -> np.ndarray:
    """A label / class-code map from a PNG, TIFF or NPY file (pixel values kept as they are)."""
    origin = str(path)
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise BadInputError(path, f"not a readable .npy array (allow_pickle=False): {error}") from None
        if not isinstance(values, np.ndarray):
            raise BadInputError(path, "expected one array, got an archive")
        return integer_map(values, origin)
    try:
        with Image.open(path) as image:
            if image.mode == "P":  # palette PNG (VOC style): the index is the label / code
                image.load()
                return integer_map(np.asarray(image), origin)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        pass  # read_image below names the problem
    # The truth's size is the largest a valid prediction can have (BCSS ROIs pass Pillow's limit).
    values = raster.read_image(path, max_pixels=max(height * width, 1))
    return integer_map(values, origin)


def check_size(origin: str, image_id: str, got: tuple[int, int], height: int, width: int) -> None:
    if tuple(got) != (height, width):
        raise BadInputError(
            origin,
            f"image {image_id!r}: prediction is {got[1]}x{got[0]} (w x h), ground truth is {width}x{height}",
        )


def _strip_suffix(name: str) -> str:
    suffix = Path(name).suffix
    return name[: -len(suffix)] if suffix else name


# --------------------------------------------------------------------------- label-map folder


class LabelMapFolder(PredictionReader):
    """``<image_id>.png|.tif|.tiff|.npy`` files (+ optional ``<image_id>.classes.json``)."""

    format = "label-map folder"

    def __init__(self, path: Path | str, kind: str, class_names: Sequence[str] = ()):
        super().__init__(path, kind, class_names)
        self.files: dict[str, Path] = {}
        self.classes: dict[str, Path] = {}
        for file in sorted(self.path.rglob("*")):
            relative = file.relative_to(self.path)
            if not file.is_file() or any(is_junk(Path(part)) for part in relative.parts):
                continue
            name = relative.as_posix()
            if name.lower().endswith(CLASSES_SUFFIX):
                self.classes[name[: -len(CLASSES_SUFFIX)]] = file
                continue
            if file.suffix.lower() not in LABEL_SUFFIXES:
                continue  # READMEs, logs ... next to the predictions
            image_id = _strip_suffix(name)
            if image_id in self.files:
                raise BadInputError(
                    file, f"a second prediction for image {image_id!r} (also {self.files[image_id].name})"
                )
            self.files[image_id] = file
        stray = sorted(set(self.classes) - set(self.files))
        if stray:
            raise BadInputError(self.classes[stray[0]], f"classes file without a label map for image {stray[0]!r}")
        if not self.files:
            raise BadInputError(
                self.path, f"no prediction files ({', '.join(LABEL_SUFFIXES)}) in this folder or below it"
            )

    def known_ids(self) -> set[str]:
        return set(self.files)

    def _categories(self, image_id: str) -> dict[int, int] | None:
        path = self.classes.get(image_id)
        if path is None:
            return None
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadInputError(path, f"not a readable JSON file: {error}") from None
        if not isinstance(table, dict):
            raise BadInputError(path, 'expected a JSON object {"<label>": class name or index}')
        categories = {}
        for label, value in table.items():
            if not str(label).isdigit():
                raise BadInputError(path, f"key {label!r} is not a label number")
            categories[int(label)] = category_index(value, str(path), self.class_names)
        return categories

    def take(self, position: int, image_id: str, height: int, width: int) -> Prediction | None:
        path = self.files.get(image_id)
        if path is None:
            return None
        self._taken.add(image_id)
        values = read_label_file(path, height, width)
        check_size(str(path), image_id, values.shape, height, width)
        if self.kind == "semantic":
            return Prediction(image_id, str(path), codes=values)
        return Prediction(image_id, str(path), objects=_instance_objects(values, str(path), self._categories(image_id)))


# --------------------------------------------------------------------------- COCO results


def _coco_image_names(images: Any, origin: Path) -> dict[int, str]:
    """COCO image number -> our image id (``file_name`` without its extension)."""
    if not isinstance(images, list):
        raise BadInputError(origin, "'images' must be a list of {id, file_name}")
    names = {}
    for entry in images:
        try:
            number, file_name = int(entry["id"]), str(entry["file_name"])
        except (KeyError, TypeError, ValueError):
            raise BadInputError(origin, f"image entry {entry!r} needs 'id' and 'file_name'") from None
        names[number] = _strip_suffix(file_name)
    return names


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInputError(path, f"not a readable JSON file: {error}") from None


class CocoResults(PredictionReader):
    """A COCO results list (Detectron2 ``coco_instances_results.json``) or a COCO dict."""

    format = "COCO results JSON"

    def __init__(
        self, path: Path | str, kind: str, coco_images: Path | str | None = None, class_names: Sequence[str] = ()
    ):
        super().__init__(path, kind, class_names)
        if kind != "instance":
            raise NucleiCollectionError(f"{path}: COCO results hold instances; a semantic config needs class-code maps")
        data = _read_json(self.path)
        names: dict[int, str] | None = None
        if isinstance(data, dict):
            if "annotations" not in data:
                raise BadInputError(self.path, "a COCO dict needs an 'annotations' list (or give the results list)")
            if "images" in data:
                names = _coco_image_names(data["images"], self.path)
            data = data["annotations"]
        if not isinstance(data, list):
            raise BadInputError(self.path, "expected a list of results {image_id, segmentation, score, category_id}")
        if coco_images is not None:
            annotations = _read_json(Path(coco_images))
            if not isinstance(annotations, dict) or "images" not in annotations:
                raise BadInputError(coco_images, "expected a COCO annotations JSON with an 'images' list")
            names = _coco_image_names(annotations["images"], Path(coco_images))
        self.entries: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for index, entry in enumerate(data):
            where = f"{self.path} [entry {index}]"
            if not isinstance(entry, dict) or "image_id" not in entry or "segmentation" not in entry:
                raise BadInputError(where, "each result needs 'image_id' and 'segmentation'")
            self.entries.setdefault(self._image_id(entry["image_id"], names, where), []).append((index, entry))

    @staticmethod
    def _image_id(value: Any, names: dict[int, str] | None, where: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if names is None:
                raise BadInputError(
                    where,
                    f"image_id {value} is a COCO image number: give the COCO export's annotations JSON "
                    "(coco_images=... / --coco-images annotations/<config>.json) to map numbers to image ids",
                )
            if value not in names:
                raise BadInputError(where, f"image_id {value} is not an image number of the COCO images list")
            return names[value]
        raise BadInputError(where, f"image_id {value!r} is neither an image id string nor a COCO image number")

    def known_ids(self) -> set[str]:
        return set(self.entries)

    def take(self, position: int, image_id: str, height: int, width: int) -> Prediction | None:
        entries = self.entries.get(image_id)
        if entries is None:
            return None
        self._taken.add(image_id)
        objects = []
        for index, entry in entries:
            where = f"{self.path} [entry {index}]"
            obj: dict[str, Any] = {
                "id": len(objects) + 1,
                "segmentation": self._rle(entry["segmentation"], image_id, height, width, where),
                "category": None,
            }
            if entry.get("category_id") is not None:
                category_id = entry["category_id"]
                classes = self.class_names
                if (
                    isinstance(category_id, bool)
                    or not isinstance(category_id, int)
                    or not 1 <= category_id <= len(classes)
                ):
                    raise BadInputError(
                        where,
                        f"category_id {category_id!r} is not 1..{len(classes)} (the config's class index + 1, "
                        f"as our COCO export writes; classes: {', '.join(classes) or 'none declared'})",
                    )
                obj["category"] = category_id - 1
            if entry.get("score") is not None:
                try:
                    obj["score"] = float(entry["score"])
                except (TypeError, ValueError):
                    raise BadInputError(where, f"score {entry['score']!r} is not a number") from None
            objects.append(obj)
        return Prediction(image_id, str(self.path), objects=objects)

    @staticmethod
    def _rle(segmentation: Any, image_id: str, height: int, width: int, where: str) -> dict[str, Any]:
        """Compressed RLE with str counts from RLE (compressed or not) or polygons."""
        from pycocotools import mask as mask_utils

        try:
            if isinstance(segmentation, dict):
                size = [int(v) for v in segmentation["size"]]
                check_size(where, image_id, (size[0], size[1]), height, width)
                counts = segmentation["counts"]
                if isinstance(counts, list):  # uncompressed RLE
                    segmentation = mask_utils.frPyObjects(segmentation, height, width)
                    counts = segmentation["counts"]
                counts = counts.decode("ascii") if isinstance(counts, bytes) else str(counts)
                rle.decode_counts({"size": size, "counts": counts})  # validates the string
                return {"size": size, "counts": counts}
            if isinstance(segmentation, list) and segmentation:
                polygons = [[float(v) for v in polygon] for polygon in segmentation]
                if any(len(p) < 6 or len(p) % 2 for p in polygons):
                    raise BadInputError(where, "a polygon needs at least 3 (x, y) points")
                merged = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
                return {"size": [height, width], "counts": merged["counts"].decode("ascii")}
        except BadInputError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise BadInputError(where, f"unreadable segmentation: {error}") from None
        raise BadInputError(where, "segmentation must be RLE {size, counts} or a list of polygons")


# --------------------------------------------------------------------------- parquet export


class ExportPredictions(PredictionReader):
    """Records of a parquet export in this collection's schema (one config, one split)."""

    format = "parquet export"

    def __init__(
        self,
        path: Path | str,
        kind: str,
        config: str,
        split: str,
        pred_config: str | None = None,
        class_names: Sequence[str] = (),
    ):
        super().__init__(path, kind, class_names)
        reports = load_reports(self.path)
        if pred_config is None:
            pred_config = config if config in reports or len(reports) != 1 else next(iter(reports))
        if pred_config not in reports:
            raise BadInputError(
                self.path, f"config {pred_config!r} is not exported here (exported: {', '.join(reports) or 'none'})"
            )
        report = reports[pred_config]
        if report["source"]["kind"] != kind:
            raise BadInputError(self.path, f"{pred_config} holds {report['source']['kind']} records, not {kind}")
        if split not in report["splits"]:
            raise BadInputError(self.path / pred_config, f"no split {split!r} (splits: {', '.join(report['splits'])})")
        self.column = "objects" if kind == "instance" else "mask"
        # The export's categories index its own class list: carried over by name; a class
        # the truth's config does not have becomes None (class-agnostic for that object).
        exported = tuple(report["source"].get("classes") or ())
        self.category_map: dict[int, int | None] | None = None
        if exported and exported != self.class_names:
            self.category_map = {
                k: self.class_names.index(name) if name in self.class_names else None for k, name in enumerate(exported)
            }
        self.index: dict[str, tuple[Path, int, int]] = {}
        for shard in split_shards(self.path / pred_config, split):
            parquet = pq.ParquetFile(shard)
            for group in range(parquet.metadata.num_row_groups):
                ids = parquet.read_row_group(group, columns=["image_id"]).column("image_id").to_pylist()
                for row, image_id in enumerate(ids):
                    if image_id in self.index:
                        raise BadInputError(shard, f"image {image_id!r} occurs twice in the prediction export")
                    self.index[image_id] = (shard, group, row)
        self._cached: tuple[tuple[Path, int], list[Any]] | None = None

    def known_ids(self) -> set[str]:
        return set(self.index)

    def _value(self, shard: Path, group: int, row: int) -> Any:
        # Predictions usually come in the truth's order: one row group read serves many rows.
        if self._cached is None or self._cached[0] != (shard, group):
            table = pq.ParquetFile(shard).read_row_group(group, columns=[self.column])
            self._cached = ((shard, group), table.column(self.column).to_pylist())
        return self._cached[1][row]

    def take(self, position: int, image_id: str, height: int, width: int) -> Prediction | None:
        where = self.index.get(image_id)
        if where is None:
            return None
        self._taken.add(image_id)
        shard, group, row = where
        origin = f"{shard} [{image_id}]"
        value = self._value(shard, group, row)
        if self.kind == "semantic":
            codes = raster.read_image(origin, data=value["bytes"], max_pixels=max(height * width, 1))
            codes = integer_map(codes, origin)
            check_size(origin, image_id, codes.shape, height, width)
            return Prediction(image_id, origin, codes=codes)
        objects = [dict(obj) for obj in value or []]
        for obj in objects:
            size = obj["segmentation"]["size"]
            check_size(origin, image_id, (int(size[0]), int(size[1])), height, width)
            if self.category_map is not None and obj.get("category") is not None:
                obj["category"] = self.category_map.get(int(obj["category"]))
        return Prediction(image_id, origin, objects=objects)


# --------------------------------------------------------------------------- PanNuke masks.npy


class PanNukeMasks(PredictionReader):
    """PanNuke's ``masks.npy`` (N, H, W, 6): patch k is the prediction of the split's k-th record.

    One object per (channel, instance id) pair, as the PanNuke reader reads the truth (ids
    repeat across channels; an id may cover several components).
    """

    format = "PanNuke masks.npy"

    def __init__(self, path: Path | str, kind: str, class_names: Sequence[str] = ()):
        super().__init__(path, kind, class_names)
        # channel -> the config's class of that name (None: the config has no such class)
        self.channel_class = [
            self.class_names.index(name) if name in self.class_names else None for name in PANNUKE_CHANNEL_CLASSES
        ]
        if kind != "instance":
            raise NucleiCollectionError(
                f"{path}: PanNuke masks hold instances; a semantic config needs class-code maps"
            )
        self.array = NpyArray.open(self.path)
        if len(self.array.shape) != 4 or self.array.shape[3] != MASK_CHANNELS:
            raise BadInputError(
                self.path, f"expected PanNuke masks (N, H, W, {MASK_CHANNELS}), got shape {self.array.shape}"
            )

    def take(self, position: int, image_id: str, height: int, width: int) -> Prediction | None:
        if position >= len(self.array):
            raise BadInputError(
                self.path, f"holds {len(self.array)} patches; the split has more images (first without: {image_id!r})"
            )
        check_size(f"{self.path} [{position}]", image_id, self.array.shape[1:3], height, width)
        origin = f"{self.path} [{position}]"
        ids = exact_cast(self.array.read(position), np.int32, str(self.path), f"patch {position}")
        objects: list[dict[str, Any]] = []
        for channel, category in enumerate(self.channel_class):
            plane = ids[..., channel]
            if not plane.any():
                continue
            for obj in rle.encode_label_map(plane):
                obj["id"] = len(objects) + 1
                obj["category"] = category
                objects.append(obj)
        return Prediction(image_id, origin, objects=objects)

    def leftover(self, n_records: int) -> list[str]:
        if len(self.array) > n_records:
            return [f"patch {k}" for k in range(n_records, len(self.array))]
        return []


# --------------------------------------------------------------------------- in memory


class MappingPredictions(PredictionReader):
    """``{image_id: label map (h, w) | list of schema objects | class-code map}`` (Python API)."""

    format = "mapping"

    def __init__(self, mapping: Mapping[str, Any], kind: str, class_names: Sequence[str] = ()):
        super().__init__("<predictions mapping>", kind, class_names)
        self.mapping = mapping

    def known_ids(self) -> set[str]:
        return set(self.mapping)

    def take(self, position: int, image_id: str, height: int, width: int) -> Prediction | None:
        if image_id not in self.mapping:
            return None
        self._taken.add(image_id)
        value = self.mapping[image_id]
        origin = f"predictions[{image_id!r}]"
        if isinstance(value, np.ndarray):
            values = integer_map(value, origin)
            check_size(origin, image_id, values.shape, height, width)
            if self.kind == "semantic":
                return Prediction(image_id, origin, codes=values)
            return Prediction(image_id, origin, objects=_instance_objects(values, origin, None))
        if self.kind == "semantic":
            raise BadInputError(origin, "a semantic prediction is an (h, w) array of class codes")
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise BadInputError(origin, f"expected a label map or a list of objects, got {type(value).__name__}")
        objects = []
        for k, obj in enumerate(value):
            if not isinstance(obj, Mapping) or "segmentation" not in obj:
                raise BadInputError(origin, f"object {k} has no 'segmentation'")
            size = obj["segmentation"]["size"]
            check_size(origin, image_id, (int(size[0]), int(size[1])), height, width)
            normalised = {"id": k + 1, **dict(obj)}
            if normalised.get("category") is not None:
                normalised["category"] = category_index(
                    normalised["category"], f"{origin} object {k}", self.class_names
                )
            objects.append(normalised)
        return Prediction(image_id, origin, objects=objects)


# --------------------------------------------------------------------------- choosing a reader


def open_predictions(
    predictions: Path | str | Mapping[str, Any],
    kind: str,
    config: str,
    split: str,
    coco_images: Path | str | None = None,
    pred_config: str | None = None,
    class_names: Sequence[str] = (),
) -> PredictionReader:
    """The reader for ``predictions`` (see the module docstring for the formats).

    ``class_names``: the config's object classes (``Source.class_names()``); predicted
    classes are names of it or indexes into it.
    """
    if isinstance(predictions, Mapping):
        return MappingPredictions(predictions, kind, class_names)
    path = Path(predictions).expanduser()
    if not path.exists():
        raise BadInputError(path, "no such file or folder (predictions)")
    if path.is_dir():
        if (path / REPORT_DIR).is_dir():
            return ExportPredictions(path, kind, config, split, pred_config, class_names)
        return LabelMapFolder(path, kind, class_names)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return CocoResults(path, kind, coco_images, class_names)
    if suffix == ".npy":
        return PanNukeMasks(path, kind, class_names)
    raise BadInputError(
        path,
        "unknown prediction format: give a folder of label maps, a parquet export folder, a COCO results "
        ".json or PanNuke masks .npy",
    )
