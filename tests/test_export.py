"""Parquet export: load_dataset reads it (local + streaming), atomic, deterministic, no stale data."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from datasets import load_dataset
from PIL import Image

import nuclei_collection_builders.exporters.parquet as export_module
from nuclei_collection import build, decode_masks


def digest_tree(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def exported(synthetic_dsb, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "nuclei_collection"
    build(["nuclei_stage1_train", "nuclei_stage_1_local_val_split"], data_dir=synthetic_dsb, out=out)
    return out


def test_layout_and_readme(exported):
    assert sorted(p.name for p in (exported / "nuclei_stage1_train").iterdir()) == ["train-00000-of-00001.parquet"]
    header = yaml.safe_load((exported / "README.md").read_text().split("---")[1])
    names = [c["config_name"] for c in header["configs"]]
    assert names == ["nuclei_stage1_train", "nuclei_stage_1_local_val_split"]
    assert header["configs"][1]["data_files"] == [
        {"split": "validation", "path": "nuclei_stage_1_local_val_split/validation-*.parquet"}
    ]
    info = {i["config_name"]: i for i in header["dataset_info"]}
    assert info["nuclei_stage1_train"]["splits"][0]["num_examples"] == 12


def test_load_dataset_local_and_streaming_identical(exported, monkeypatch):
    monkeypatch.chdir(exported.parent)
    local = load_dataset(exported.name, "nuclei_stage1_train", split="train")
    streamed = list(load_dataset(exported.name, "nuclei_stage1_train", split="train", streaming=True))
    assert len(local) == len(streamed) == 12
    for a, b in zip(local, streamed):
        assert a["image_id"] == b["image_id"]
        assert a["objects"] == b["objects"]
        assert a["metadata"] == b["metadata"]
        assert np.array_equal(np.asarray(a["image"]), np.asarray(b["image"]))
    record = local[0]
    assert record["image"].mode == "RGBA"
    assert decode_masks(record["objects"]).shape == (len(record["objects"]), record["height"], record["width"])
    assert local.features["objects"].feature["category"].names[0] == "nucleus"


def test_rerun_adds_configs_and_keeps_others(exported, synthetic_dsb):
    before = digest_tree(exported / "nuclei_stage1_train")
    build("nuclei_stage_1_local_train_split", data_dir=synthetic_dsb, out=exported)
    assert digest_tree(exported / "nuclei_stage1_train") == before
    header = yaml.safe_load((exported / "README.md").read_text().split("---")[1])
    assert len(header["configs"]) == 3


def test_rebuild_is_byte_identical_and_independent_of_num_proc(synthetic_dsb, tmp_path):
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=tmp_path / "a")
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=tmp_path / "b", num_proc=2)
    assert digest_tree(tmp_path / "a") == digest_tree(tmp_path / "b")


def test_num_shards_and_row_groups(synthetic_dsb, tmp_path):
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=tmp_path, num_shards=4)
    shards = sorted((tmp_path / "nuclei_stage1_train").glob("*.parquet"))
    assert [p.name for p in shards] == [f"train-{i:05d}-of-00004.parquet" for i in range(4)]
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in shards) == 12
    # byte-limited shards and row groups
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=tmp_path / "small", max_shard_size="40KB")
    small = sorted((tmp_path / "small" / "nuclei_stage1_train").glob("*.parquet"))
    assert len(small) > 1
    for path in small:
        metadata = pq.ParquetFile(path).metadata
        for g in range(metadata.num_row_groups):
            assert metadata.row_group(g).num_rows <= export_module.ROW_GROUP_MAX_ROWS


def test_changed_raw_file_is_picked_up(tmp_path):
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    raw = tmp_path / "raw"
    (image_id,) = write_dsb2018_stage1_train(raw, n_images=1, seed=5)
    build("nuclei_stage1_train", data_dir=raw, out=tmp_path / "out")
    mask = sorted((raw / image_id / "masks").glob("*.png"))[0]
    pixels = np.zeros_like(np.array(Image.open(mask)))
    pixels[0:3, 0:3] = 255
    Image.fromarray(pixels).save(mask)
    build("nuclei_stage1_train", data_dir=raw, out=tmp_path / "out")
    table = pq.read_table(next((tmp_path / "out" / "nuclei_stage1_train").glob("*.parquet")))
    first = table.column("objects")[0].as_py()[0]
    assert first["area"] == 9


def test_failed_build_leaves_previous_export_untouched(synthetic_dsb, tmp_path, monkeypatch):
    out = tmp_path / "out"
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=out)
    before = digest_tree(out)

    calls = {"n": 0}
    original = export_module._ShardedParquetWriter.write

    def failing_write(self, encoded):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device")
        return original(self, encoded)

    monkeypatch.setattr(export_module._ShardedParquetWriter, "write", failing_write)
    with pytest.raises(OSError, match="No space"):
        build("nuclei_stage1_train", data_dir=synthetic_dsb, out=out)
    assert digest_tree(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]


def test_skipped_items_are_counted(tmp_path):
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    raw = tmp_path / "raw"
    ids = write_dsb2018_stage1_train(raw, n_images=3, seed=2)
    shutil.rmtree(raw / ids[1] / "masks")
    (report,) = build("nuclei_stage1_train", data_dir=raw, out=tmp_path / "out")
    stats = report.splits["train"]
    assert stats["records"] == 2
    assert stats["skipped"][0][0] == ids[1]
    assert "skipped items: 1" in (tmp_path / "out" / "README.md").read_text()


def test_id_folder_without_image_is_a_counted_skip_logged_once(tmp_path, caplog, capsys):
    """Issue 15: a DSB id folder with masks/ but no images/ vanished from the build without a word."""
    from nuclei_collection import main
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    raw = tmp_path / "raw"
    ids = write_dsb2018_stage1_train(raw, n_images=3, seed=2)
    shutil.rmtree(raw / ids[1] / "images")
    masks = len(list((raw / ids[1] / "masks").glob("*.png")))
    with caplog.at_level(logging.DEBUG, logger="nuclei_collection"):
        assert main(["build", "nuclei_stage1_train", "--data-dir", str(raw), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "nuclei_stage1_train/train: 2 images" in printed and "1 skipped" in printed
    reason = f"id folder {ids[1]}/ has masks/ ({masks} mask PNG(s)) but no images/{ids[1]}.png"
    report = json.loads((tmp_path / "out" / ".nuclei_collection" / "nuclei_stage1_train.json").read_text())
    assert report["splits"]["train"]["records"] == 2
    assert report["splits"]["train"]["skipped"] == [[ids[1], reason]]
    assert f"{ids[1]}: {reason}" in (tmp_path / "out" / "README.md").read_text()
    # Named once as a warning (the end-of-split summary), not once per item and again at the end.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum(ids[1] in message for message in warnings) == 1, warnings


@pytest.mark.parametrize("text, expected", [("500MB", 500 * 2**20), ("1.5GiB", int(1.5 * 2**30)), ("1000", 1000)])
def test_parse_size(text, expected):
    assert export_module.parse_size(text) == expected


def test_public_export_dispatches_to_every_format(synthetic_dsb, tmp_path):
    import nuclei_collection

    (report,) = nuclei_collection.export("nuclei_stage1_train", tmp_path / "pq", data_dir=synthetic_dsb)
    assert report.splits["train"]["records"] == 12
    coco = nuclei_collection.export("nuclei_stage1_train", tmp_path / "coco", format="coco", data_dir=synthetic_dsb)
    assert coco.images == 12 and (tmp_path / "coco" / "annotations" / "nuclei_stage1_train.json").is_file()
    manifest = nuclei_collection.export(
        "nuclei_stage1_train", tmp_path / "im", format="imagemask", data_dir=synthetic_dsb, seed=1
    )
    assert sum(folder["images"] for folder in manifest["folders"].values()) == 12
    with pytest.raises(ValueError, match="unknown export format"):
        nuclei_collection.export("nuclei_stage1_train", tmp_path / "x", format="tiff", data_dir=synthetic_dsb)


def test_split_report_counts_crowd_regions_apart_from_nuclei():
    from nuclei_collection_builders.pipeline import SplitReport

    report = SplitReport(class_names=("nucleus", "ambiguous", "neutrophil"))
    objects = [{"category": 0, "iscrowd": False}, {"category": 1, "iscrowd": True}, {"category": 2, "iscrowd": False}]
    report.add({"width": 4, "height": 3, "objects": objects})
    assert (report.objects, report.crowd) == (2, 1)
    assert dict(report.categories) == {"nucleus": 1, "neutrophil": 1}
