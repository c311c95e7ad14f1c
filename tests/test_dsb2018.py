"""DSB2018 stage1_train reader: pixel-exact on the real samples, split determinism."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image

from conftest import realdata_path
from nuclei_collection import decode_masks
from nuclei_collection_builders.formats.modality import modality_of
from nuclei_collection_builders.pipeline import iter_split
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.dsb2018 import DSB2018StageTrain, local_split


def check_against_mask_files(root, records):
    """Every object equals its mask PNG pixel for pixel; counts, bbox, area agree with pycocotools."""
    total = 0
    for record in records:
        mask_files = sorted((root / record["image_id"] / "masks").glob("*.png"))
        assert len(record["objects"]) == len(mask_files)
        decoded = decode_masks(record["objects"])
        for obj, mask, path in zip(record["objects"], decoded, mask_files):
            upstream = np.array(Image.open(path)) > 0
            assert np.array_equal(mask, upstream), path
            ref = mask_util.encode(np.asfortranarray(upstream.astype(np.uint8)))
            assert obj["segmentation"]["counts"] == ref["counts"].decode()
            assert obj["bbox"] == mask_util.toBbox(ref).tolist()
            assert obj["area"] == int(upstream.sum())
        total += len(mask_files)
    return total


def test_real_stage1_train_is_pixel_exact():
    data = realdata_path("dsb2018")
    prepared = prepare("nuclei_stage1_train", data)
    records = list(iter_split(prepared.source, prepared.splits["train"]))
    assert len(records) == 7
    n_masks = check_against_mask_files(data / "stage1_train", records)
    assert n_masks == 205
    for record in records:
        image_path = data / "stage1_train" / record["image_id"] / "images" / f"{record['image_id']}.png"
        assert record["image"]["bytes"] == image_path.read_bytes()  # stored verbatim, RGBA kept
        assert record["metadata"]["license"] == "CC0-1.0"
        assert record["metadata"]["upstream_path"] == f"{record['image_id']}/images/{record['image_id']}.png"
        assert record["metadata"]["modality"] in ("fluorescence", "brightfield", "histology")


def test_synthetic_tree_round_trips_with_overlaps(synthetic_dsb):
    prepared = prepare("nuclei_stage1_train", synthetic_dsb)
    records = list(iter_split(prepared.source, prepared.splits["train"]))
    check_against_mask_files(synthetic_dsb / "stage1_train", records)
    overlapping = sum(decode_masks(r["objects"]).sum(axis=0).max() > 1 for r in records)
    assert overlapping > 0  # overlaps kept as separate objects


def test_modality_rule_on_synthetic_pixels():
    from nuclei_collection_builders.app.synthetic import synthetic_images

    for image in synthetic_images(6, seed=3):
        assert modality_of(image.pixels) == image.modality


def test_local_split_is_stratified_seeded_and_order_independent():
    modalities = {f"{k:03d}": ["fluorescence", "brightfield", "histology"][k % 3] for k in range(30)}
    val = local_split(modalities, 0.2, 2018)
    assert local_split(dict(reversed(list(modalities.items()))), 0.2, 2018) == val
    assert len(val) == 6
    for modality in set(modalities.values()):
        assert sum(modalities[i] == modality for i in val) == 2
    assert local_split(modalities, 0.2, 1) != val


def test_local_splits_partition_the_train_set(synthetic_dsb):
    train = prepare("nuclei_stage_1_local_train_split", synthetic_dsb).splits
    val = prepare("nuclei_stage_1_local_val_split", synthetic_dsb).splits
    assert list(train) == ["train"] and list(val) == ["validation"]
    train_ids = {i.image_id for i in train["train"]}
    val_ids = {i.image_id for i in val["validation"]}
    everything = {i.image_id for i in prepare("nuclei_stage1_train", synthetic_dsb).splits["train"]}
    assert train_ids | val_ids == everything and not train_ids & val_ids
    assert len(val_ids) == round(0.2 * 4) * 3  # 4 images per modality


def test_listing_is_sorted(synthetic_dsb):
    items = prepare("nuclei_stage1_train", synthetic_dsb).splits["train"]
    assert [i.image_id for i in items] == sorted(i.image_id for i in items)
    for item in items:
        assert list(item.files["masks"]) == sorted(item.files["masks"])


def test_missing_data_error_names_layout_and_url(tmp_path):
    from nuclei_collection import MissingDataError

    with pytest.raises(MissingDataError) as error:
        prepare("nuclei_stage1_train", tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message
    assert "<id>/images/<id>.png" in message
    assert "https://data.broadinstitute.org/bbbc/BBBC038/stage1_train.zip" in message


def test_mask_with_wrong_size_names_the_file(tmp_path):
    from nuclei_collection import BadInputError
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    (image_id,) = write_dsb2018_stage1_train(tmp_path, n_images=1, seed=1)
    bad = sorted((tmp_path / image_id / "masks").glob("*.png"))[0]
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(bad)
    source = DSB2018StageTrain()
    (item,) = source.list_items(tmp_path)["train"]
    with pytest.raises(BadInputError, match=bad.name):
        source.read(item)
