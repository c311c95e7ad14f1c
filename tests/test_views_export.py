"""Views through every consumer: parquet export + load_dataset (local, streaming), the
datasets builder, the CLI, the card; --target-mpp on a source with a known mpp."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from datasets import load_dataset

import nuclei_collection
from conftest import realdata_path
from nuclei_collection import NucleiCollection, build, main
from nuclei_collection_builders import sources as registry
from nuclei_collection_builders.base import ConfigSpec
from nuclei_collection_builders.sources.dsb2018 import DSB2018StageTrain


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


@pytest.fixture(scope="module")
def exported(synthetic_dsb, tmp_path_factory):
    """The base config, a tiled view and a rescaled view of the same raw data in one export."""
    out = tmp_path_factory.mktemp("views") / "nuclei_collection"
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=out)
    (tiles,) = build("nuclei_stage1_train", data_dir=synthetic_dsb, out=out, view={"tile": 128, "stride": 96})
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=out, view={"scale": 0.5})
    return out, tiles


def test_views_load_locally_and_streaming(exported, monkeypatch):
    out, report = exported
    assert report.name == "nuclei_stage1_train_tiles128_stride96"
    monkeypatch.chdir(out.parent)
    base = load_dataset(out.name, "nuclei_stage1_train", split="train")
    for name in ("nuclei_stage1_train_tiles128_stride96", "nuclei_stage1_train_scale0.5"):
        local = load_dataset(out.name, name, split="train")
        streamed = list(load_dataset(out.name, name, split="train", streaming=True))
        assert len(local) == len(streamed) > 0
        assert local.features == base.features  # one schema: views mix with anything
        for a, b in zip(local, streamed):
            assert a["image_id"] == b["image_id"] and a["objects"] == b["objects"] and a["metadata"] == b["metadata"]
    tiles = load_dataset(out.name, "nuclei_stage1_train_tiles128_stride96", split="train")
    assert len(tiles) == report.splits["train"]["records"] > len(base)
    assert {t["metadata"]["parent_image_id"] for t in tiles} == set(base["image_id"])
    halved = load_dataset(out.name, "nuclei_stage1_train_scale0.5", split="train")
    for before, after in zip(base, halved):
        assert (after["width"], after["height"]) == (round(before["width"] / 2), round(before["height"] / 2))
        assert after["image"].mode == "RGBA" and after["metadata"]["scale"] == 0.5
        assert len(after["objects"]) == len(before["objects"])


def test_report_and_card_list_the_views(exported):
    out, report = exported
    stats = report.splits["train"]
    saved = json.loads((out / ".nuclei_collection" / f"{report.name}.json").read_text())
    assert saved["view"] == {
        "of": "nuclei_stage1_train",
        "description": "128 px tiles, stride 96, clipped pieces under 16 px dropped",
        "tile": 128,
        "stride": 96,
        "min_area": 16,
    }
    assert saved["splits"]["train"]["counts"] == stats["counts"]
    assert stats["counts"]["tile_pieces_dropped"] > 0
    assert "view" not in json.loads((out / ".nuclei_collection" / "nuclei_stage1_train.json").read_text())
    readme = (out / "README.md").read_text()
    assert "## Views" in readme
    assert (
        "| `nuclei_stage1_train_tiles128_stride96` | `nuclei_stage1_train` | "
        "128 px tiles, stride 96, clipped pieces under 16 px dropped |" in readme
    )
    assert "| `nuclei_stage1_train_scale0.5` | `nuclei_stage1_train` | resampled by x0.5 |" in readme
    assert "- **View** of `nuclei_stage1_train`: resampled by x0.5" in readme
    assert f"  - counted: tile_pieces_dropped {stats['counts']['tile_pieces_dropped']}" in readme


def test_view_export_is_identical_for_any_num_proc(synthetic_dsb, tmp_path):
    view = {"scale": 0.7, "tile": 100}
    (one,) = build("nuclei_stage1_train", data_dir=synthetic_dsb, out=tmp_path / "a", view=view)
    (two,) = build("nuclei_stage1_train", data_dir=synthetic_dsb, out=tmp_path / "b", view=view, num_proc=2)
    assert one.splits["train"]["counts"] == two.splits["train"]["counts"]  # counted notes survive pickling
    name = "nuclei_stage1_train_scale0.7_tiles100"
    assert digest(tmp_path / "a" / name) == digest(tmp_path / "b" / name) != {}


def test_cli_flags(synthetic_dsb, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["build", "nuclei_stage1_train", "--data-dir", str(synthetic_dsb), "--out", str(out), "--tile", "200"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "nuclei_stage1_train_tiles200: view of nuclei_stage1_train (200 px tiles, stride 200" in printed
    assert (out / "nuclei_stage1_train_tiles200").is_dir()
    code = main(
        ["build", "nuclei_stage1_train", "--data-dir", str(synthetic_dsb), "--out", str(out), "--target-mpp", "0.5"]
    )
    error = capsys.readouterr().err
    assert code == 2 and "nuclei_stage1_train: --target-mpp needs" in error and "--scale" in error
    assert not (out / "nuclei_stage1_train_mpp0.5").exists()
    with pytest.raises(SystemExit):
        main(["build", "nuclei_stage1_train", "--target-mpp", "0.5", "--scale", "0.5"])
    assert main(["build", "nuclei_stage1_train", "--data-dir", str(synthetic_dsb), "--stride", "64"]) == 2
    assert "give tile as well" in capsys.readouterr().err


def test_isbi2009_real_views_through_the_builder_and_load(tmp_path):
    data = realdata_path("isbi2009")
    builder = NucleiCollection(
        config_name="2009_ISBI_2DNuclei", data_dir=str(data), cache_dir=str(tmp_path), view={"tile": 512}
    )
    builder.download_and_prepare()
    tiles = builder.as_dataset(split="train")
    streamed = list(builder.as_streaming_dataset(split="train"))
    assert len(tiles) == len(streamed) == 30
    assert [r["image_id"] for r in tiles] == [r["image_id"] for r in streamed]
    assert tiles[4]["objects"] == streamed[4]["objects"]
    # Same raw data without a view: a different cache entry, the whole images.
    whole = nuclei_collection.load("2009_ISBI_2DNuclei", data_dir=data, split="train", cache_dir=tmp_path)
    assert len(whole) == 4
    halved = nuclei_collection.load(
        "2009_ISBI_2DNuclei", data_dir=data, split="train", cache_dir=tmp_path, view={"scale": 0.5}
    )
    assert [(r["width"], r["height"]) for r in halved] == [(675, 515), (675, 515), (672, 512), (672, 512)]


def test_isbi2009_real_views_export_and_load(tmp_path, monkeypatch):
    data = realdata_path("isbi2009")
    out = tmp_path / "nuclei_collection"
    build("2009_ISBI_2DNuclei", data_dir=data, out=out, view={"scale": 0.5, "tile": 256})
    monkeypatch.chdir(tmp_path)
    name = "2009_ISBI_2DNuclei_scale0.5_tiles256"
    local = load_dataset("nuclei_collection", name, split="train")
    streamed = list(load_dataset("nuclei_collection", name, split="train", streaming=True))
    # gnf 675 x 515 after halving: 3 x 3 tiles (the last row 3 px tall); ic100 672 x 512: 3 x 2.
    assert len(local) == len(streamed) == 2 * 9 + 2 * 6
    assert sorted({(r["width"], r["height"]) for r in local if r["image_id"].startswith("gnf")}) == [
        (163, 3),
        (163, 256),
        (256, 3),
        (256, 256),
    ]
    assert all(r["metadata"]["scale"] == 0.5 and r["metadata"]["collection"] in ("gnf", "ic100") for r in local)


class HistologyLike(DSB2018StageTrain):
    """The DSB reader with a known pixel size, standing in for a histology source."""

    def read(self, item):
        sample = super().read(item)
        sample.metadata.update(mpp=0.25, magnification=40.0)
        return sample


def test_target_mpp_on_a_source_with_known_mpp(synthetic_dsb, tmp_path, monkeypatch):
    monkeypatch.setitem(registry.CONFIG_SPECS, "histology_like", ConfigSpec("histology_like", HistologyLike))
    out = tmp_path / "nuclei_collection"
    (report,) = build("histology_like", data_dir=synthetic_dsb, out=out, view={"target_mpp": 0.5})
    assert report.name == "histology_like_mpp0.5" and report.view["target_mpp"] == 0.5
    monkeypatch.chdir(tmp_path)
    loaded = load_dataset("nuclei_collection", "histology_like_mpp0.5", split="train")
    streamed = list(load_dataset("nuclei_collection", "histology_like_mpp0.5", split="train", streaming=True))
    assert len(loaded) == len(streamed) == 12
    for record in loaded:
        meta = record["metadata"]
        assert (meta["mpp"], meta["scale"], meta["magnification"]) == (0.5, 0.5, 20.0)
        assert meta["parent_image_id"] == record["image_id"]
        assert np.asarray(record["image"]).shape == (record["height"], record["width"], 4)
        assert record["width"] in (128, 160, 174) and len(record["objects"]) > 0


def test_views_do_not_touch_the_base_export(exported):
    out, _ = exported
    base = load_dataset("parquet", data_files=str(out / "nuclei_stage1_train" / "*.parquet"), split="train")
    assert all(r["metadata"]["parent_image_id"] is None and r["metadata"]["tile_x"] is None for r in base)
    assert not any(o["truncated"] for r in base for o in r["objects"])
    assert np.all([r["metadata"]["scale"] is None for r in base])
