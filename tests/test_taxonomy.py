"""Harmonised classes: every config's categories map onto one shared ClassLabel."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import concatenate_datasets

import nuclei_collection
from conftest import realdata_path
from nuclei_collection import NucleiCollection, Sample, schema
from nuclei_collection_builders.views.taxonomy import (
    TAXONOMIES,
    category_lookup,
    harmonise,
    harmonise_objects,
    harmonised_features,
    harmonised_name,
)


@pytest.mark.parametrize("taxonomy", sorted(TAXONOMIES))
def test_every_schema_category_has_a_class(taxonomy):
    lookup = category_lookup(taxonomy)
    assert len(lookup) == len(schema.CATEGORIES)
    assert all(0 <= index < len(TAXONOMIES[taxonomy]) for index in lookup)


def test_the_mappings():
    # Every nucleus is "nucleus"; the don't-care category keeps a class of its own.
    binary = category_lookup("binary")
    assert binary == [1 if name == "ambiguous" else 0 for name in schema.CATEGORIES]
    assert TAXONOMIES["binary"] == ("nucleus", "ambiguous")
    pannuke = TAXONOMIES["pannuke"]
    # PanNuke's own classes keep PanNuke's channel order; an untyped nucleus is "unclassified".
    assert pannuke[:5] == schema.CATEGORIES[1:6]
    assert {name: pannuke[i] for name, i in zip(schema.CATEGORIES[:6], category_lookup("pannuke"))} == {
        "nucleus": "unclassified",
        "neoplastic": "neoplastic",
        "inflammatory": "inflammatory",
        "connective": "connective",
        "dead": "dead",
        "epithelial": "epithelial",
    }
    assert harmonised_name("lymphocyte", "pannuke") == "inflammatory"
    with pytest.raises(KeyError, match="add it to taxonomy.PANNUKE_CLASS"):
        harmonised_name("mitotic_figure", "pannuke")
    with pytest.raises(ValueError, match="unknown taxonomy 'coarse'; known: binary, pannuke"):
        category_lookup("coarse")


def test_harmonise_objects_of_a_typed_record():
    masks = np.zeros((3, 8, 8), dtype=bool)
    masks[0, :2], masks[1, 3:5], masks[2, 6:] = True, True, True
    sample = Sample(
        image_id="typed",
        image=np.zeros((8, 8, 3), np.uint8),
        masks=masks,
        metadata={},
        categories={1: "neoplastic", 2: "nucleus", 3: "dead"},
    )
    objects = schema.to_record(sample)["objects"]
    assert [o["category"] for o in harmonise_objects(objects, "pannuke")] == [0, 5, 3]
    assert [o["category"] for o in harmonise_objects(objects, "binary")] == [0, 0, 0]
    assert [o["category"] for o in objects] == [1, 0, 4]  # the input is not modified


def test_mixed_configs_share_one_class_label(synthetic_dsb, tmp_path):
    isbi = nuclei_collection.load(
        "2009_ISBI_2DNuclei", data_dir=realdata_path("isbi2009"), split="train", cache_dir=tmp_path
    )
    dsb = nuclei_collection.load("nuclei_stage1_train", data_dir=synthetic_dsb, cache_dir=tmp_path)  # DatasetDict
    for taxonomy in TAXONOMIES:
        mixed = concatenate_datasets([harmonise(isbi, taxonomy), harmonise(dsb, taxonomy)["train"]])
        label = mixed.features["objects"].feature["category"]
        assert label.names == list(TAXONOMIES[taxonomy])
        expected = "nucleus" if taxonomy == "binary" else "unclassified"
        assert {label.int2str(o["category"]) for r in mixed for o in r["objects"]} == {expected}
        assert len(mixed) == len(isbi) + len(dsb["train"])
    assert harmonise(isbi, "binary")[0]["objects"][0]["segmentation"] == isbi[0]["objects"][0]["segmentation"]


def test_harmonise_a_stream(synthetic_dsb, tmp_path):
    builder = NucleiCollection(config_name="nuclei_stage1_train", data_dir=str(synthetic_dsb), cache_dir=str(tmp_path))
    stream = harmonise(builder.as_streaming_dataset(split="train"), "pannuke")
    first = next(iter(stream))
    assert {o["category"] for o in first["objects"]} == {5}
    assert stream.features["objects"].feature["category"].names[5] == "unclassified"


def test_semantic_records_have_no_categories_to_harmonise():
    with pytest.raises(ValueError, match="instance records"):
        harmonised_features("binary", schema.semantic_features())


#: Every category appended in collection version 0.2.0 and its PanNuke class (docs/views.md).
NEW_CLASSES_TO_PANNUKE = {
    "neutrophil": "inflammatory",
    "lymphocyte": "inflammatory",
    "plasma": "inflammatory",
    "eosinophil": "inflammatory",
    "other": "unclassified",
    "healthy epithelial": "epithelial",
    "dysplastic/malignant epithelial": "neoplastic",
    "fibroblast": "connective",
    "muscle": "connective",
    "endothelial": "connective",
    "macrophage": "inflammatory",
    "ambiguous": "ambiguous",
}


def test_the_categories_of_version_0_2_0_are_appended_not_inserted():
    # Indices stored in older exports stay valid: the first six names never move.
    assert schema.CATEGORIES[:6] == ("nucleus", "neoplastic", "inflammatory", "connective", "dead", "epithelial")
    assert schema.CATEGORIES[6:] == tuple(NEW_CLASSES_TO_PANNUKE)


@pytest.mark.parametrize("category", sorted(NEW_CLASSES_TO_PANNUKE))
def test_each_new_class_maps_as_documented(category):
    assert harmonised_name(category, "pannuke") == NEW_CLASSES_TO_PANNUKE[category]
    expected_binary = "ambiguous" if category == "ambiguous" else "nucleus"
    assert harmonised_name(category, "binary") == expected_binary


def test_lizard_and_consep_records_harmonise():
    # A Lizard-like and a CoNSeP-like record (every class once), through the schema.
    lizard = ["neutrophil", "epithelial", "lymphocyte", "plasma", "eosinophil", "connective"]
    consep = [
        "other",
        "inflammatory",
        "healthy epithelial",
        "dysplastic/malignant epithelial",
        "fibroblast",
        "muscle",
        "endothelial",
    ]
    pannuke = TAXONOMIES["pannuke"]
    for names, expected in (
        (lizard, ["inflammatory", "epithelial", "inflammatory", "inflammatory", "inflammatory", "connective"]),
        (
            consep,
            ["unclassified", "inflammatory", "epithelial", "neoplastic", "connective", "connective", "connective"],
        ),
    ):
        label_map = np.zeros((4, 2 * len(names)), dtype=np.int32)
        for k in range(len(names)):
            label_map[:, 2 * k] = k + 1
        sample = Sample(
            image_id="typed",
            image=np.zeros((*label_map.shape, 3), np.uint8),
            label_map=label_map,
            metadata={},
            categories={k + 1: name for k, name in enumerate(names)},
        )
        objects = schema.to_record(sample)["objects"]
        assert [pannuke[o["category"]] for o in harmonise_objects(objects, "pannuke")] == expected
        assert {o["category"] for o in harmonise_objects(objects, "binary")} == {0}


def test_ambiguous_regions_never_become_nuclei():
    masks = np.zeros((3, 6, 6), dtype=bool)
    masks[0, :2], masks[1, 2:4], masks[2, 4:] = True, True, True
    sample = Sample(
        image_id="with_dont_care",
        image=np.zeros((6, 6, 3), np.uint8),
        masks=masks,
        metadata={},
        categories={1: "lymphocyte", 2: "ambiguous", 3: "macrophage"},
        iscrowd={2: True},
    )
    objects = schema.to_record(sample)["objects"]
    for taxonomy, names in TAXONOMIES.items():
        harmonised = harmonise_objects(objects, taxonomy)
        crowd = [o for o in harmonised if o["iscrowd"]]
        assert [names[o["category"]] for o in crowd] == ["ambiguous"]
        assert all(names[o["category"]] != "ambiguous" for o in harmonised if not o["iscrowd"])


def test_an_older_export_casts_to_the_new_class_label():
    # What the card tells users of a 0.1.x export: cast_column with the new ClassLabel, indices unchanged.
    from datasets import ClassLabel, Dataset, List

    new = schema.instance_features()
    old = new.copy()
    item = dict(old["objects"].feature)
    item["category"] = ClassLabel(names=list(schema.CATEGORIES[:6]))
    old["objects"] = List(item)
    obj = {
        "id": 1,
        "segmentation": {"size": [1, 1], "counts": "01"},
        "bbox": [0.0, 0.0, 1.0, 1.0],
        "area": 1,
        "category": 5,
        "iscrowd": False,
        "truncated": False,
    }
    record = {"image": None, "image_id": "a", "width": 1, "height": 1, "objects": [obj], "metadata": {}}
    record["metadata"] = {name: None for name in new["metadata"]}
    older = Dataset.from_list([record], features=old)
    cast = older.cast_column("objects", new["objects"])
    assert cast.features["objects"].feature["category"].names == list(schema.CATEGORIES)
    assert cast[0]["objects"][0]["category"] == 5 == schema.CATEGORIES.index("epithelial")
