"""The one record schema of the collection, and the one function that fills it.

All instance configs share :func:`instance_features` exactly, so any two of them can be
concatenated or interleaved without casting. Missing values are null, never a made-up
default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from datasets import ClassLabel, Features, Image, List, Value

from . import rle
from .base import BadInputError, Sample
from .raster import encode_png

#: Object categories. "nucleus" is the generic class of sources without cell types; the
#: next five are PanNuke's classes (its mask channels 0-4, channel 5 is background); the rest
#: were appended for the next wave (Lizard, CoNSeP, MoNuSAC, ...). Only ever APPEND: the
#: index of a name is stored in every export, so reordering would silently relabel them.
#: "ambiguous" marks don't-care regions (always iscrowd objects, never counted as nuclei).
CATEGORIES: tuple[str, ...] = (
    "nucleus",
    "neoplastic",
    "inflammatory",
    "connective",
    "dead",
    "epithelial",
    # collection version 0.2.0
    "neutrophil",
    "lymphocyte",
    "plasma",
    "eosinophil",
    "other",
    "healthy epithelial",
    "dysplastic/malignant epithelial",
    "fibroblast",
    "muscle",
    "endothelial",
    "macrophage",
    "ambiguous",
)

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
METADATA_FIELDS: dict[str, Value | List] = {
    "source": Value("string"),  # upstream data set, e.g. "DSB2018 (BBBC038)"
    "organ": Value("string"),
    "tissue": Value("string"),
    "stain": Value("string"),  # e.g. "H&E", "Hoechst", "DAPI"
    "modality": Value("string"),  # fluorescence | brightfield | histology
    "magnification": Value("float32"),  # objective magnification, e.g. 40.0
    "mpp": Value("float32"),  # microns per pixel
    "slide_id": Value("string"),
    "patient_id": Value("string"),
    "nuclei_class": Value("string"),  # DSB-style appearance class, e.g. purple_purple_320_256_sparse
    "annotation": Value("string"),  # one of ANNOTATION_STATES
    "license": Value("string"),  # SPDX id of the upstream licence
    "upstream_path": Value("string"),  # image path relative to the raw data root (posix)
    "collection": Value("string"),  # sub-collection within a source (e.g. ISBI2009 gnf / ic100)
    "z_plane": Value("int32"),  # focal plane of z-stacks (BBBC006)
    "parent_image_id": Value("string"),  # image_id of the source image of a tile / view
    "tile_x": Value("int32"),  # offset of a tile in its source image (tiled views)
    "tile_y": Value("int32"),
    "scale": Value("float32"),  # resampling factor of rescaled views (1.0 = original pixels)
    # the field's other channel images (e.g. BBBC007 actin): channel name + upstream path (posix)
    "other_channels": List({"name": Value("string"), "path": Value("string")}),
}


def instance_features() -> Features:
    """Features of every instance config (SPEC section 3)."""
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
                    "category": ClassLabel(names=list(CATEGORIES)),
                    "iscrowd": Value("bool"),
                    # True when a view (tile) cut the object at its border
                    "truncated": Value("bool"),
                }
            ),
            "metadata": dict(METADATA_FIELDS),
        }
    )


def complete_metadata(metadata: Mapping[str, Any], fields: Mapping[str, Value] = METADATA_FIELDS) -> dict[str, Any]:
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


def to_record(sample: Sample) -> dict[str, Any]:
    """Turn a reader's Sample into a record of :func:`instance_features`."""
    objects = sample_objects(sample)
    ids = [obj["id"] for obj in objects]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        where = sample.metadata.get("upstream_path") or sample.image_id
        raise BadInputError(where, f"object id(s) {repeated[:5]} occur more than once in one image")
    categories = sample.categories
    crowd = sample.iscrowd or {}
    truncated = sample.truncated or {}
    for obj in objects:
        name = categories if isinstance(categories, str) else categories.get(obj["id"])
        if name not in CATEGORIES:
            raise ValueError(f"{sample.image_id}: object {obj['id']} has unknown category {name!r}")
        obj["category"] = CATEGORIES.index(name)
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

#: Tissue-region classes of BCSS / Amgad et al. 2019: index = ground-truth code = mask pixel
#: value (upstream ``meta/gtruth_codes.tsv``). Pinned here because Features must be known
#: without data (card, README, streaming); every build checks the data's tsv against this
#: list and stops on any difference (see ``bcss.check_gtruth_codes``).
#: Code 0 ``outside_roi`` is "don't care" (pixels outside the annotated ROI): give it zero
#: weight in losses and metrics. It is NOT the class ``other`` (code 21) and never gets a region.
GT_CODES: tuple[str, ...] = (
    "outside_roi",
    "tumor",
    "stroma",
    "lymphocytic_infiltrate",
    "necrosis_or_debris",
    "glandular_secretions",
    "blood",
    "exclude",
    "metaplasia_NOS",
    "fat",
    "plasma_cells",
    "other_immune_infiltrate",
    "mucoid_material",
    "normal_acinus_or_duct",
    "lymphatics",
    "undetermined",
    "nerve",
    "skin_adnexa",
    "blood_vessel",
    "angioinvasion",
    "dcis",
    "other",
)
DONT_CARE_CODE = 0

#: Per-record metadata of semantic configs. ``slide_id``, ``roi_xmin``, ``roi_ymin``, ``mpp``
#: and ``magnification`` given by a reader go to the top-level ``roi`` / ``mpp`` /
#: ``magnification`` fields instead (:data:`SEMANTIC_TOP_LEVEL`).
SEMANTIC_METADATA_FIELDS: dict[str, Value] = {
    "source": Value("string"),
    "license": Value("string"),  # SPDX id applied to the record
    "license_note": Value("string"),  # conflicting or extra upstream licence statements, verbatim sources
    "citation_key": Value("string"),  # BibTeX key of the source's citation
    "site": Value("string"),  # TCGA tissue source site (institution) code, the split key
    "patient_id": Value("string"),
    "organ": Value("string"),
    "stain": Value("string"),
    "modality": Value("string"),
    "scan_magnification": Value("float32"),  # objective magnification of the scanned slide
    "color_normalized": Value("bool"),  # RGB colour-normalised upstream (null when unknown / no RGB)
    "upstream_path": Value("string"),  # RGB path relative to the raw data root (posix)
    "mask_path": Value("string"),  # mask path relative to the raw data root (posix)
    "tile_x": Value("int32"),  # offset of a tile in its ROI, in stored pixels (tiled configs)
    "tile_y": Value("int32"),
}
SEMANTIC_TOP_LEVEL = ("slide_id", "roi_xmin", "roi_ymin", "mpp", "magnification")


def semantic_features() -> Features:
    """Features of every semantic (tissue region) config (SPEC section 3)."""
    return Features(
        {
            "image": Image(),
            "mask": Image(),  # mode L, pixel = ground-truth code (index into GT_CODES)
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
                    "category": ClassLabel(names=list(GT_CODES)),
                    "segmentation": {"size": List(Value("int32"), length=2), "counts": Value("string")},
                    "area": Value("int64"),
                }
            ),
            "metadata": dict(SEMANTIC_METADATA_FIELDS),
        }
    )


def to_semantic_record(sample: Sample) -> dict[str, Any]:
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
        if obj["id"] >= len(GT_CODES):
            raise ValueError(f"{sample.image_id}: mask code {obj['id']} is not one of the {len(GT_CODES)} codes")
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


def record_parts(record: Mapping[str, Any]) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """(objects or regions, names of their category ids) of a record of either kind."""
    if "regions" in record:
        return record["regions"], GT_CODES
    return record["objects"], CATEGORIES


#: What the per-record list counts, per kind (build summaries, card).
COUNT_NOUN: dict[str, str] = {"instance": "nuclei", "semantic": "regions"}

#: Source kind -> (features factory, Sample -> record). New record kinds register here.
KINDS: dict[str, tuple] = {
    "instance": (instance_features, to_record),
    "semantic": (semantic_features, to_semantic_record),
}


def features_for_kind(kind: str) -> Features:
    try:
        return KINDS[kind][0]()
    except KeyError:
        raise ValueError(f"unknown source kind {kind!r}; known: {sorted(KINDS)}") from None


def record_for(kind: str, sample: Sample) -> dict[str, Any]:
    return KINDS[kind][1](sample)
