"""Harmonised classes: every config's categories map onto one shared ClassLabel.

The mapping is data: each source declares its classes with their PanNuke group
(``SourceInfo.classes``); the taxonomy, the docs table and these tests derive from it.
"""

from __future__ import annotations

import numpy as np
import pytest
from datasets import concatenate_datasets

import nuclei_collection
from conftest import realdata_path
from nuclei_collection import NucleiCollection, Sample, schema
from nuclei_collection_builders import catalog
from nuclei_collection_builders.catalog import ClassInfo
from nuclei_collection_builders.exporters.card import CATEGORIES_0_2
from nuclei_collection_builders.pipeline import features_for
from nuclei_collection_builders.sources import CONFIG_SPECS, SOURCES
from nuclei_collection_builders.views.taxonomy import (
    TAXONOMIES,
    category_lookup,
    harmonise,
    harmonise_objects,
    harmonised_features,
    harmonised_name,
)

INSTANCE_SOURCES = [info for info in SOURCES if info.kind == "instance"]
PANNUKE_NAMES = ("neoplastic", "inflammatory", "connective", "dead", "epithelial")


@pytest.mark.parametrize("taxonomy", sorted(TAXONOMIES))
@pytest.mark.parametrize("info", INSTANCE_SOURCES, ids=lambda info: info.name)
def test_every_declared_class_has_a_class_in_every_taxonomy(info, taxonomy):
    lookup = category_lookup(taxonomy, info.class_names)
    assert len(lookup) == len(info.classes)
    for declared, index in zip(info.classes, lookup):
        expected = "ambiguous" if declared.crowd else ("nucleus" if taxonomy == "binary" else declared.pannuke)
        assert TAXONOMIES[taxonomy][index] == expected


def test_the_mappings():
    assert TAXONOMIES["binary"] == ("nucleus", "ambiguous")
    # PanNuke's own classes keep PanNuke's channel order: harmonising PanNuke changes no index.
    assert TAXONOMIES["pannuke"][:5] == PANNUKE_NAMES
    assert category_lookup("pannuke", PANNUKE_NAMES) == [0, 1, 2, 3, 4]
    assert harmonised_name("nucleus", "pannuke") == "unclassified"
    assert harmonised_name("lymphocyte", "pannuke") == "inflammatory"
    assert harmonised_name("dysplastic/malignant epithelial", "pannuke") == "neoplastic"
    with pytest.raises(KeyError, match="declared by no source"):
        harmonised_name("mitotic_figure_nobody_declares", "pannuke")
    with pytest.raises(ValueError, match="unknown taxonomy 'coarse'; known: binary, pannuke"):
        category_lookup("coarse", ["nucleus"])


def test_one_name_keeps_one_group_across_sources():
    with pytest.raises(ValueError, match="one name means one cell type"):
        catalog.register_classes([ClassInfo("lymphocyte", 9, "connective")], "a careless reader")
    with pytest.raises(ValueError, match="crowd classes and only they"):
        ClassInfo("blur", None, "ambiguous")


def test_every_export_carries_only_its_own_classes():
    # Categories are per config: a config's ClassLabel is its source's declared classes, so a
    # class added to another source never changes this config's features (or bytes).
    for name, spec in CONFIG_SPECS.items():
        source = spec.make_source()
        features = features_for(source)
        field = features["objects" if source.kind == "instance" else "regions"].feature["category"]
        assert field.names == list(source.class_names()), name
    untyped = features_for(CONFIG_SPECS["TNBC_NucleiSegmentation"].make_source())
    assert untyped == schema.instance_features(("nucleus",))


def test_exports_of_version_0_2_still_harmonise():
    # 0.2.0 exports carry one 18-name ClassLabel; every name is declared by a source today.
    for taxonomy in TAXONOMIES:
        assert len(category_lookup(taxonomy, CATEGORIES_0_2)) == len(CATEGORIES_0_2)


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
    names = ("nucleus", *PANNUKE_NAMES)
    objects = schema.to_record(sample, names)["objects"]
    assert [o["category"] for o in harmonise_objects(objects, "pannuke", names)] == [0, 5, 3]
    assert [o["category"] for o in harmonise_objects(objects, "binary", names)] == [0, 0, 0]
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
        harmonised_features("binary", schema.semantic_features(("outside", "tumor")))


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
        objects = schema.to_record(sample, names)["objects"]
        assert [pannuke[o["category"]] for o in harmonise_objects(objects, "pannuke", names)] == expected
        assert {o["category"] for o in harmonise_objects(objects, "binary", names)} == {0}


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
    classes = ("lymphocyte", "ambiguous", "macrophage")
    objects = schema.to_record(sample, classes)["objects"]
    for taxonomy, names in TAXONOMIES.items():
        harmonised = harmonise_objects(objects, taxonomy, classes)
        crowd = [o for o in harmonised if o["iscrowd"]]
        assert [names[o["category"]] for o in crowd] == ["ambiguous"]
        assert all(names[o["category"]] != "ambiguous" for o in harmonised if not o["iscrowd"])
