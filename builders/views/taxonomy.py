"""Harmonised classes: map every config's categories onto one shared coarse taxonomy.

Every instance config keeps its own categories (``objects.category`` indexes
:data:`schema.CATEGORIES`). To train on a mix of configs with one ClassLabel, map them
onto a taxonomy of :data:`TAXONOMIES` (docs/views.md):

* ``binary``: ``nucleus`` for every nucleus (segmentation / detection without types).
* ``pannuke``: PanNuke's five classes; index 0-4 = PanNuke mask channels 0-4. A nucleus
  whose source gives no type (or only "other") becomes ``unclassified`` (index 5): give it
  zero weight in a classification loss. It is *not* PanNuke's channel 5, which is background.

Every taxonomy ends with ``ambiguous``: the don't-care regions some sources mark (MoNuSAC
ambiguous areas, NuInsSeg / CryoNuSeg vague areas). They are ``iscrowd`` objects and stay
in a class of their own in every taxonomy, so a harmonised dataset never counts them as
nuclei (not even under ``binary``); ignore them in losses and metrics as COCO does crowds.

Plain functions (:func:`category_lookup`, :func:`harmonise_objects`) for code that
assembles records itself (e.g. an interleaved ``all_nuclei`` mix), and :func:`harmonise`
for a loaded ``Dataset`` / ``IterableDataset`` / ``DatasetDict``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datasets import ClassLabel, Features, List

from ..schema import CATEGORIES, instance_features

#: taxonomy -> its class names (the ClassLabel of a harmonised dataset).
TAXONOMIES: dict[str, tuple[str, ...]] = {
    "binary": ("nucleus", "ambiguous"),
    "pannuke": ("neoplastic", "inflammatory", "connective", "dead", "epithelial", "unclassified", "ambiguous"),
}

#: Categories of don't-care regions (always iscrowd objects): their own class in every taxonomy.
DONT_CARE: tuple[str, ...] = ("ambiguous",)

#: category name -> PanNuke class. The schema's categories, plus the cell types other public
#: sets use, grouped as PanNuke groups them (Gamper et al. 2020), ready for new readers.
PANNUKE_CLASS: dict[str, str] = {
    "nucleus": "unclassified",
    "neoplastic": "neoplastic",
    "inflammatory": "inflammatory",
    "connective": "connective",
    "dead": "dead",
    "epithelial": "epithelial",
    # synonyms / finer types of other data sets
    "tumor": "neoplastic",
    "malignant_epithelial": "neoplastic",
    "lymphocyte": "inflammatory",
    "plasma_cell": "inflammatory",
    "neutrophil": "inflammatory",
    "eosinophil": "inflammatory",
    "macrophage": "inflammatory",
    "fibroblast": "connective",
    "endothelial": "connective",
    "muscle": "connective",
    "necrotic": "dead",
    "apoptotic": "dead",
    "healthy_epithelial": "epithelial",
    # the names appended to schema.CATEGORIES in 0.2.0 (Lizard, CoNSeP, MoNuSAC, ...)
    "plasma": "inflammatory",
    "healthy epithelial": "epithelial",
    "dysplastic/malignant epithelial": "neoplastic",
    "other": "unclassified",
    # don't-care regions are iscrowd objects: their own class, never a nucleus
    "ambiguous": "ambiguous",
}


def harmonised_name(category: str, taxonomy: str) -> str:
    """The class of ``taxonomy`` that category ``category`` (a name) maps to."""
    _check_taxonomy(taxonomy)
    if category in DONT_CARE:
        return category
    if taxonomy == "binary":
        return "nucleus"
    try:
        return PANNUKE_CLASS[category]
    except KeyError:
        raise KeyError(f"category {category!r} has no {taxonomy} class; add it to taxonomy.PANNUKE_CLASS") from None


def category_lookup(taxonomy: str, categories: Sequence[str] = CATEGORIES) -> list[int]:
    """``lookup[i]`` = index in ``TAXONOMIES[taxonomy]`` of category index ``i`` of ``categories``."""
    names = TAXONOMIES[_check_taxonomy(taxonomy)]
    return [names.index(harmonised_name(category, taxonomy)) for category in categories]


def harmonise_objects(
    objects: Sequence[Mapping[str, Any]], taxonomy: str, lookup: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Copies of ``objects`` (schema records) with ``category`` re-indexed into the taxonomy."""
    lookup = category_lookup(taxonomy) if lookup is None else lookup
    return [{**obj, "category": lookup[obj["category"]]} for obj in objects]


def harmonised_features(taxonomy: str, features: Features | None = None) -> Features:
    """``features`` (default: the instance schema) with the object category ClassLabel of ``taxonomy``."""
    features = instance_features() if features is None else features.copy()
    objects = features.get("objects")
    if not isinstance(objects, List) or "category" not in objects.feature:
        raise ValueError("harmonise works on instance records (objects with a category), not on tissue regions")
    item = dict(objects.feature)
    item["category"] = ClassLabel(names=list(TAXONOMIES[_check_taxonomy(taxonomy)]))
    features["objects"] = List(item)
    return features


def harmonise(dataset: Any, taxonomy: str = "binary") -> Any:
    """A Dataset / IterableDataset / DatasetDict of instance records with categories in ``taxonomy``.

    Only the ``objects`` column is rewritten (images are not decoded); the result's
    ``objects.category`` is a ClassLabel of ``TAXONOMIES[taxonomy]``, the same for every
    config, so harmonised configs concatenate / interleave without casting.
    """
    if isinstance(dataset, dict):  # DatasetDict, IterableDatasetDict or a plain dict of splits
        return type(dataset)({split: harmonise(part, taxonomy) for split, part in dataset.items()})
    lookup = category_lookup(taxonomy)
    features = harmonised_features(taxonomy, dataset.features)

    def remap(batch: list[list[dict[str, Any]]]) -> dict[str, list[list[dict[str, Any]]]]:
        return {"objects": [harmonise_objects(objects, taxonomy, lookup) for objects in batch]}

    return dataset.map(remap, input_columns="objects", batched=True, features=features)


def _check_taxonomy(taxonomy: str) -> str:
    if taxonomy not in TAXONOMIES:
        raise ValueError(f"unknown taxonomy {taxonomy!r}; known: {', '.join(TAXONOMIES)}")
    return taxonomy
