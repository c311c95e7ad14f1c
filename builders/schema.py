"""The one record schema of the collection, and the one function that fills it.

All instance configs share :func:`instance_features` exactly, so any two of them can be
concatenated or interleaved without casting. Missing values are null, never a made-up
default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import rle
from .base import BadInputError, Sample
from .raster import encode_png

if TYPE_CHECKING:  # datasets costs ~0.5 s to import: built lazily, so `list` and `--help` stay fast
    from datasets import Features


def _feature(spec: Any) -> Any:
    """A datasets feature from its short spec: "string" -> Value, [{...}] -> List of structs, {...} -> struct."""
    from datasets import List, Value

    if isinstance(spec, str):
        return Value(spec)
    if isinstance(spec, list):
        return List(_feature(spec[0]))
    return {name: _feature(inner) for name, inner in spec.items()}


#: Object categories are per config (docs/schema.md): ``objects.category`` is a ClassLabel of
#: the classes the config's source declares (``SourceInfo.classes`` in builders/catalog.py),
#: so a class added to one source never changes another config's export. "nucleus" is the
#: class of sources without cell types; "ambiguous" marks don't-care regions (always iscrowd).
DEFAULT_CLASSES: tuple[str, ...] = ("nucleus",)

#: metadata["annotation"]: complete = every nucleus is labelled; partial = unlabelled pixels
#: are NOT background (do not train a background class on them); none = no labels at all.
ANNOTATION_STATES: tuple[str, ...] = ("complete", "partial", "none")

def float32_text(value: float) -> str:
    """The shortest text that reads back as the same float32: ``0.252``, not ``0.25200000405311584``.

    ``mpp``, ``magnification`` and ``scale`` are stored as float32 (docs/design.md says why);
    read back they are Python floats carrying float32 rounding. Everything that prints them
    (``show``, ``stats``, the card) goes through this.
    """
    return np.format_float_positional(np.float32(value), unique=True, trim="-")


#: Per-image metadata: name -> Arrow type. Every field is nullable.
#: (short specs, see :func:`_feature`; built into features only when a writer needs them)
METADATA_FIELDS: dict[str, Any] = {
    "source": "string",  # upstream data set, e.g. "DSB2018 (BBBC038)"
    "organ": "string",
    "tissue": "string",
    "stain": "string",  # e.g. "H&E", "Hoechst", "DAPI"
    "modality": "string",  # fluorescence | brightfield | histology
    "magnification": "float32",  # objective magnification, e.g. 40.0
    "mpp": "float32",  # microns per pixel
    "slide_id": "string",
    "patient_id": "string",
    "nuclei_class": "string",  # DSB-style appearance class, e.g. purple_purple_320_256_sparse
    "annotation": "string",  # one of ANNOTATION_STATES
    "license": "string",  # SPDX id of the upstream licence
    "upstream_path": "string",  # image path relative to the raw data root (posix)
    "collection": "string",  # sub-collection within a source (e.g. ISBI2009 gnf / ic100)
    "z_plane": "int32",  # focal plane of z-stacks (BBBC006)
    "parent_image_id": "string",  # image_id of the source image of a tile / view
    "tile_x": "int32",  # offset of a tile in its source image (tiled views)
    "tile_y": "int32",
    "scale": "float32",  # resampling factor of rescaled views (1.0 = original pixels)
    # the field's other channel images (e.g. BBBC007 actin): channel name + upstream path (posix)
    "other_channels": [{"name": "string", "path": "string"}],
}


def instance_features(class_names: Sequence[str] = DEFAULT_CLASSES) -> Features:
    """Features of an instance config whose objects have ``class_names`` (SPEC section 3).

    All instance configs share every field but the category ClassLabel; configs with the
    same classes concatenate as they are, others after ``harmonise`` (docs/views.md).
    """
    from datasets import ClassLabel, Features, Image, List, Value

    return Features(
        {
            "image": Image(),
            "image_id": Value("string"),
            "width": Value("int32"),
            "height": Value("int32"),
            "objects": List(
                {
                    "id": Value("int32"),
                    "segmentation": {"size": List(Value("int32"), length=2), "counts": Value("string")},
                    "bbox": List(Value("float32"), length=4),
                    "area": Value("int64"),
                    "category": ClassLabel(names=list(class_names)),
                    "iscrowd": Value("bool"),
                    # True when a view (tile) cut the object at its border
                    "truncated": Value("bool"),
                }
            ),
            "metadata": _feature(METADATA_FIELDS),
        }
    )


def complete_metadata(metadata: Mapping[str, Any], fields: Mapping[str, Any] = METADATA_FIELDS) -> dict[str, Any]:
    """All metadata fields, unknown keys rejected (they would be silently dropped otherwise)."""
    unknown = sorted(set(metadata) - set(fields))
    if unknown:
        raise KeyError(f"unknown metadata field(s) {unknown}; add them to the schema's metadata fields first")
    annotation = metadata.get("annotation")
    if annotation is not None and annotation not in ANNOTATION_STATES:
        raise ValueError(f"metadata annotation must be one of {ANNOTATION_STATES}, got {annotation!r}")
    return {name: metadata.get(name) for name in fields}


def sample_objects(sample: Sample) -> list[dict[str, Any]]:
    """RLE objects of a sample, whichever instance form the reader used."""
    given = [x is not None for x in (sample.label_map, sample.masks, sample.objects)]
    if sum(given) > 1:
        raise ValueError(f"{sample.image_id}: give exactly one of label_map, masks, objects")
    if sample.label_map is not None:
        if sample.label_map.shape != (sample.height, sample.width):
            raise ValueError(
                f"{sample.image_id}: label map shape {sample.label_map.shape} != image {sample.image.shape[:2]}"
            )
        return rle.encode_label_map(sample.label_map)
    if sample.masks is not None:
        if sample.masks.shape[1:] != (sample.height, sample.width) and len(sample.masks):
            raise ValueError(
                f"{sample.image_id}: mask shape {sample.masks.shape[1:]} != image {sample.image.shape[:2]}"
            )
        return rle.encode_masks(sample.masks)
    objects = []
    for index, obj in enumerate(sample.objects or []):
        segmentation = obj["segmentation"]
        if [int(v) for v in segmentation["size"]] != [sample.height, sample.width]:
            raise ValueError(f"{sample.image_id}: object RLE size {segmentation['size']} != image size")
        counts = segmentation["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if "bbox" in obj and "area" in obj:
            bbox, area = obj["bbox"], obj["area"]
        else:
            # One decode per object is the honest way to derive bbox/area of foreign RLE.
            derived = rle.encode_masks(rle.decode_masks([{"segmentation": segmentation}]))[0]
            bbox, area = derived["bbox"], derived["area"]
        objects.append(
            {
                "id": int(obj.get("id", index + 1)),
                "segmentation": {"size": [sample.height, sample.width], "counts": counts},
                "bbox": bbox,
                "area": area,
            }
        )
    return objects


def to_record(sample: Sample, class_names: Sequence[str] = DEFAULT_CLASSES) -> dict[str, Any]:
    """Turn a reader's Sample into a record of :func:`instance_features` with ``class_names``."""
    objects = sample_objects(sample)
    ids = [obj["id"] for obj in objects]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        where = sample.metadata.get("upstream_path") or sample.image_id
        raise BadInputError(where, f"object id(s) {repeated[:5]} occur more than once in one image")
    categories = sample.categories
    index_of = {name: index for index, name in enumerate(class_names)}
    crowd = sample.iscrowd or {}
    truncated = sample.truncated or {}
    for obj in objects:
        name = categories if isinstance(categories, str) else categories.get(obj["id"])
        if name not in index_of:
            raise ValueError(
                f"{sample.image_id}: object {obj['id']} has category {name!r}, which this config does not declare "
                f"({', '.join(class_names)})"
            )
        obj["category"] = index_of[name]
        obj["iscrowd"] = bool(crowd.get(obj["id"], False))
        obj["truncated"] = bool(truncated.get(obj["id"], False))
        obj["bbox"] = [float(v) for v in obj["bbox"]]
        obj["area"] = int(obj["area"])
    return {
        "image": _png_value(sample.image, sample.image_png),
        "image_id": sample.image_id,
        "width": sample.width,
        "height": sample.height,
        "objects": objects,
        "metadata": complete_metadata(sample.metadata),
    }


# --------------------------------------------------------------------------- semantic configs

#: Semantic configs: mask pixel value = ground-truth code = index of the source's declared
#: classes (BCSS: ``meta/gtruth_codes.tsv``). Code 0 is "don't care" (pixels outside the
#: annotated ROI): give it zero weight in losses and metrics; it never gets a region.
DONT_CARE_CODE = 0

#: Per-record metadata of semantic configs. ``slide_id``, ``roi_xmin``, ``roi_ymin``, ``mpp``
#: and ``magnification`` given by a reader go to the top-level ``roi`` / ``mpp`` /
#: ``magnification`` fields instead (:data:`SEMANTIC_TOP_LEVEL`).
SEMANTIC_METADATA_FIELDS: dict[str, Any] = {
    "source": "string",
    "license": "string",  # SPDX id applied to the record
    "license_note": "string",  # conflicting or extra upstream licence statements, verbatim sources
    "citation_key": "string",  # BibTeX key of the source's citation
    "site": "string",  # TCGA tissue source site (institution) code, the split key
    "patient_id": "string",
    "organ": "string",
    "stain": "string",
    "modality": "string",
    "scan_magnification": "float32",  # objective magnification of the scanned slide
    "color_normalized": "bool",  # RGB colour-normalised upstream (null when unknown / no RGB)
    "upstream_path": "string",  # RGB path relative to the raw data root (posix)
    "mask_path": "string",  # mask path relative to the raw data root (posix)
    "tile_x": "int32",  # offset of a tile in its ROI, in stored pixels (tiled configs)
    "tile_y": "int32",
}
SEMANTIC_TOP_LEVEL = ("slide_id", "roi_xmin", "roi_ymin", "mpp", "magnification")


def semantic_features(class_names: Sequence[str]) -> Features:
    """Features of a semantic (tissue region) config with codes ``class_names`` (SPEC section 3)."""
    from datasets import ClassLabel, Features, Image, List, Value

    return Features(
        {
            "image": Image(),
            "mask": Image(),  # mode L, pixel = ground-truth code (index into the class names)
            "image_id": Value("string"),
            "width": Value("int32"),
            "height": Value("int32"),
            # ROI position in the slide, base-magnification pixels (as in the upstream name)
            "roi": {"slide_id": Value("string"), "xmin": Value("int32"), "ymin": Value("int32")},
            "mpp": Value("float32"),  # microns per stored pixel
            "magnification": Value("float32"),  # magnification of the stored pixels
            "regions": List(
                {
                    # code 0 outside_roi = don't care: it never appears as a region
                    "category": ClassLabel(names=list(class_names)),
                    "segmentation": {"size": List(Value("int32"), length=2), "counts": Value("string")},
                    "area": Value("int64"),
                }
            ),
            "metadata": _feature(SEMANTIC_METADATA_FIELDS),
        }
    )


def to_semantic_record(sample: Sample, class_names: Sequence[str]) -> dict[str, Any]:
    """Turn a semantic Sample (class-code ``mask``) into a record of :func:`semantic_features`.

    One region per code present except 0 (don't care), in code order, from one pass over
    the mask; the regions partition the annotated pixels, so painting each region with its
    code gives the mask back exactly.
    """
    mask = sample.mask
    if mask is None or mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"{sample.image_id}: a semantic sample needs an (h, w) uint8 mask of class codes")
    if sample.image is not None and sample.image.shape[:2] != mask.shape:
        raise ValueError(f"{sample.image_id}: mask shape {mask.shape} != image {sample.image.shape[:2]}")
    regions = []
    for obj in rle.encode_label_map(mask):
        if obj["id"] >= len(class_names):
            raise ValueError(f"{sample.image_id}: mask code {obj['id']} is not one of the {len(class_names)} codes")
        regions.append({"category": obj["id"], "segmentation": obj["segmentation"], "area": int(obj["area"])})
    values = dict(sample.metadata)
    top = {key: values.pop(key, None) for key in SEMANTIC_TOP_LEVEL}
    metadata = complete_metadata(values, SEMANTIC_METADATA_FIELDS)
    return {
        "image": _png_value(sample.image, sample.image_png),
        "mask": _png_value(mask, sample.mask_png),
        "image_id": sample.image_id,
        "width": sample.width,
        "height": sample.height,
        "roi": {"slide_id": top["slide_id"], "xmin": top["roi_xmin"], "ymin": top["roi_ymin"]},
        "mpp": top["mpp"],
        "magnification": top["magnification"],
        "regions": regions,
        "metadata": metadata,
    }


def _png_value(pixels: np.ndarray | None, png: bytes | None) -> dict[str, Any] | None:
    """Image feature value: the upstream PNG bytes when given, else a lossless encode; None stays None."""
    if pixels is None:
        return None
    return {"bytes": png if png is not None else encode_png(pixels), "path": None}


def record_parts(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The objects (instance records) or regions (semantic records) of a record."""
    return record["regions"] if "regions" in record else record["objects"]


#: What the per-record list counts, per kind (build summaries, card).
COUNT_NOUN: dict[str, str] = {"instance": "nuclei", "semantic": "regions"}

#: Source kind -> (features factory, (Sample, class names) -> record). New record kinds register here.
KINDS: dict[str, tuple] = {
    "instance": (instance_features, to_record),
    "semantic": (semantic_features, to_semantic_record),
}


def features_for_kind(kind: str, class_names: Sequence[str]) -> Features:
    try:
        return KINDS[kind][0](class_names)
    except KeyError:
        raise ValueError(f"unknown source kind {kind!r}; known: {sorted(KINDS)}") from None


def record_for(kind: str, sample: Sample, class_names: Sequence[str]) -> dict[str, Any]:
    return KINDS[kind][1](sample, class_names)
