"""Harmonised classes: map every config's categories onto one shared coarse taxonomy.

Every instance config keeps its own categories (``objects.category`` is a ClassLabel of the
classes its source declares, builders/catalog.py). To train on a mix of configs with one
ClassLabel, map them onto a taxonomy of :data:`TAXONOMIES` (docs/views.md):

* ``binary``: ``nucleus`` for every nucleus (segmentation / detection without types).
* ``pannuke``: PanNuke's five classes; index 0-4 = PanNuke mask channels 0-4. A nucleus
  whose source gives no type (or only "other") becomes ``unclassified`` (index 5): give it
  zero weight in a classification loss. It is *not* PanNuke's channel 5, which is background.

Every taxonomy ends with ``ambiguous``: the don't-care regions some sources mark (MoNuSAC
ambiguous areas, NuInsSeg vague areas). They are ``iscrowd`` objects and stay in a class
of their own in every taxonomy, so a harmonised dataset never counts them as nuclei (not
even under ``binary``); ignore them in losses and metrics as COCO does crowds.

The mapping is not kept here: each class's group is declared once, in its source's class
table (``ClassInfo.pannuke``), and read from the shared vocabulary (:mod:`..catalog`).

Plain functions (:func:`category_lookup`, :func:`harmonise_objects`) for code that
assembles records itself (e.g. an interleaved ``all_nuclei`` mix), and :func:`harmonise`
for a loaded ``Dataset`` / ``IterableDataset`` / ``DatasetDict``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datasets import ClassLabel, Features, List

from ..catalog import TAXONOMIES, taxonomy_class
from ..schema import instance_features

__all__ = ["TAXONOMIES", "category_lookup", "harmonise", "harmonise_objects", "harmonised_features", "harmonised_name"]


def harmonised_name(category: str, taxonomy: str) -> str:
    """The class of ``taxonomy`` that category ``category`` (a name) maps to."""
    return taxonomy_class(category, _check_taxonomy(taxonomy))


def category_lookup(taxonomy: str, categories: Sequence[str]) -> list[int]:
    """``lookup[i]`` = index in ``TAXONOMIES[taxonomy]`` of category index ``i`` of ``categories``."""
    names = TAXONOMIES[_check_taxonomy(taxonomy)]
    return [names.index(harmonised_name(category, taxonomy)) for category in categories]


def harmonise_objects(
    objects: Sequence[Mapping[str, Any]], taxonomy: str, categories: Sequence[str] | None = None,
    lookup: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Copies of ``objects`` (records of a config with class names ``categories``) with
    ``category`` re-indexed into the taxonomy (give ``lookup`` instead to reuse one)."""
    if lookup is None:
        if categories is None:
            raise ValueError("harmonise_objects needs the config's class names (categories) or a lookup")
        lookup = category_lookup(taxonomy, categories)
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
    lookup = category_lookup(taxonomy, _category_names(dataset.features))
    features = harmonised_features(taxonomy, dataset.features)

    def remap(batch: list[list[dict[str, Any]]]) -> dict[str, list[list[dict[str, Any]]]]:
        return {"objects": [harmonise_objects(objects, taxonomy, lookup=lookup) for objects in batch]}

    return dataset.map(remap, input_columns="objects", batched=True, features=features)


def _category_names(features: Features | None) -> list[str]:
    """The class names of a dataset's ``objects.category`` ClassLabel."""
    objects = (features or {}).get("objects")
    if not isinstance(objects, List) or not isinstance(objects.feature.get("category"), ClassLabel):
        raise ValueError("harmonise works on instance records (objects with a category), not on tissue regions")
    return list(objects.feature["category"].names)


def _check_taxonomy(taxonomy: str) -> str:
    if taxonomy not in TAXONOMIES:
        raise ValueError(f"unknown taxonomy {taxonomy!r}; known: {', '.join(TAXONOMIES)}")
    return taxonomy
