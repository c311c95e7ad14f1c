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
    assert category_lookup("binary") == [0] * len(schema.CATEGORIES)
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
    assert stream.features["objects"].feature["category"].names[-1] == "unclassified"


def test_semantic_records_have_no_categories_to_harmonise():
    with pytest.raises(ValueError, match="instance records"):
        harmonised_features("binary", schema.semantic_features())
