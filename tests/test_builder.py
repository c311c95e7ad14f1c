"""NucleiCollection as a datasets builder, and the load() convenience call."""

from __future__ import annotations

import numpy as np
from PIL import Image

import nuclei_collection
from nuclei_collection import NucleiCollection


def test_download_and_prepare_and_streaming_agree(synthetic_dsb, tmp_path):
    builder = NucleiCollection(config_name="nuclei_stage1_train", data_dir=str(synthetic_dsb), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    dataset = builder.as_dataset(split="train")
    streamed = list(builder.as_streaming_dataset(split="train"))
    assert len(dataset) == len(streamed) == 12
    assert [r["image_id"] for r in dataset] == [r["image_id"] for r in streamed]
    assert dataset[3]["objects"] == streamed[3]["objects"]
    assert dataset.info.license == "CC0-1.0"


def test_load_helper_with_splits_and_num_proc(synthetic_dsb, tmp_path):
    val = nuclei_collection.load(
        "nuclei_stage_1_local_val_split", data_dir=synthetic_dsb, split="validation", cache_dir=tmp_path
    )
    assert len(val) == 3
    both = nuclei_collection.load("nuclei_stage1_train", data_dir=synthetic_dsb, cache_dir=tmp_path, num_proc=2)
    assert len(both["train"]) == 12


def test_builder_cache_is_invalidated_when_raw_files_change(tmp_path):
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    raw = tmp_path / "raw"
    (image_id,) = write_dsb2018_stage1_train(raw, n_images=1, seed=9)
    first = nuclei_collection.load("nuclei_stage1_train", data_dir=raw, split="train", cache_dir=tmp_path / "c")
    n_before = len(first[0]["objects"])
    mask = sorted((raw / image_id / "masks").glob("*.png"))[0]
    mask.unlink()
    second = nuclei_collection.load("nuclei_stage1_train", data_dir=raw, split="train", cache_dir=tmp_path / "c")
    assert len(second[0]["objects"]) == n_before - 1
    assert np.asarray(Image.open(sorted((raw / image_id / "masks").glob("*.png"))[0])).max() == 255
