"""Views of the histology configs with a known mpp: MoNuSeg (real sample) and PanNuke
(generated folds). Their readers are merged from another branch: each test skips, saying
so, only while its config is not registered."""

from __future__ import annotations

import pytest
from datasets import load_dataset

from conftest import realdata_path
from fixtures.views import assert_tiles_reassemble, split_records
from nuclei_collection import build
from nuclei_collection_builders import sources as registry

MONUSEG = "nucleisegmentationbenchmark"
PANNUKE = "PanNuke_fold1"


def require(config: str) -> None:
    if config not in registry.CONFIG_SPECS:
        pytest.skip(f"config {config!r} is not registered on this branch: its reader comes with another branch")


def assert_resampled_to(base: list[dict], scaled: list[dict], target_mpp: float) -> None:
    """Every record at ``target_mpp``: size, mpp, scale, magnification, and every nucleus kept."""
    assert [r["image_id"] for r in scaled] == [r["image_id"] for r in base]
    for before, after in zip(base, scaled):
        mpp = before["metadata"]["mpp"]
        factor = mpp / target_mpp
        meta = after["metadata"]
        assert meta["mpp"] == pytest.approx(target_mpp) and meta["scale"] == pytest.approx(factor)
        assert (after["width"], after["height"]) == (
            int(before["width"] * factor + 0.5),
            int(before["height"] * factor + 0.5),
        )
        if before["metadata"]["magnification"] is not None:
            assert meta["magnification"] == pytest.approx(before["metadata"]["magnification"] * factor)
        assert [(o["id"], o["category"]) for o in after["objects"]] == [
            (o["id"], o["category"]) for o in before["objects"]
        ]
        assert all(o["area"] >= 1 for o in after["objects"])
        total_before = sum(o["area"] for o in before["objects"])
        total_after = sum(o["area"] for o in after["objects"])
        assert total_after == pytest.approx(total_before * factor**2, rel=0.1)


# --------------------------------------------------------------------------- MoNuSeg (real sample)


@pytest.fixture(scope="module")
def monuseg():
    require(MONUSEG)
    data = realdata_path("monuseg")
    return data, split_records(MONUSEG, data)[0]


def test_monuseg_real_tiles_reassemble_exactly(monuseg):
    data, base = monuseg
    tiles, report = split_records(MONUSEG, data, view={"tile": 256, "min_area": 0})
    assert set(tiles) == set(base) and not report.counts()
    for split, records in base.items():
        assert len(tiles[split]) == 16 * len(records)  # 1000 px: tiles at 0, 256, 512, 768
        assert_tiles_reassemble(records, tiles[split])  # overlapping polygons included


def test_monuseg_real_target_mpp(monuseg):
    data, base = monuseg
    assert all(r["metadata"]["mpp"] is not None for records in base.values() for r in records)
    scaled, report = split_records(MONUSEG, data, view={"target_mpp": 0.5})
    for split, records in base.items():
        assert_resampled_to(records, scaled[split], 0.5)
    # Nuclei under half an output pixel are counted and kept as one pixel, never lost.
    areas = {(r["image_id"], o["id"]): o["area"] for records in scaled.values() for r in records for o in r["objects"]}
    rescued = [n for n in report.notes if n.startswith("rescale_tiny_kept: ")]
    for note in rescued:
        image_id = note.split(": ")[1]
        for object_id in note.split("(ids ")[1].rstrip(")").split(", "):
            assert areas[(image_id, int(object_id))] == 1
    assert report.counts().get("rescale_tiny_kept", 0) == sum(n.count for n in rescued)


def test_monuseg_real_view_builds_and_loads(monuseg, tmp_path, monkeypatch):
    data, base = monuseg
    (report,) = build(MONUSEG, data_dir=data, out=tmp_path / "nuclei_collection", view={"target_mpp": 0.5, "tile": 256})
    assert report.name == f"{MONUSEG}_mpp0.5_tiles256" and report.view["of"] == MONUSEG
    monkeypatch.chdir(tmp_path)
    for split in base:
        local = load_dataset("nuclei_collection", report.name, split=split)
        streamed = list(load_dataset("nuclei_collection", report.name, split=split, streaming=True))
        assert len(local) == len(streamed) == 4 * len(base[split])  # ~505 px: 2 x 2 tiles
        assert all(r["metadata"]["mpp"] == pytest.approx(0.5) for r in local)


# --------------------------------------------------------------------------- PanNuke (generated folds)


@pytest.fixture(scope="module")
def pannuke(tmp_path_factory):
    require(PANNUKE)
    from fixtures.pannuke import write_fold  # the PanNuke branch's fixture generator

    root = tmp_path_factory.mktemp("pannuke")
    write_fold(root, 1, 6, "warwick", seed=11)
    base = split_records(PANNUKE, root)[0]
    mpps = {r["metadata"]["mpp"] for records in base.values() for r in records}
    assert mpps == {0.25}, f"PanNuke records must carry metadata.mpp 0.25 (40x) for --target-mpp, got {mpps}"
    return root, base


def test_pannuke_target_mpp_keeps_classes_and_every_nucleus(pannuke):
    root, base = pannuke
    scaled, _ = split_records(PANNUKE, root, view={"target_mpp": 0.5})
    for split, records in base.items():
        assert_resampled_to(records, scaled[split], 0.5)
        assert {(r["width"], r["height"]) for r in scaled[split]} == {(128, 128)}


def test_pannuke_tiles_reassemble_exactly(pannuke):
    root, base = pannuke
    tiles, _ = split_records(PANNUKE, root, view={"tile": 100, "min_area": 0})
    for split, records in base.items():
        assert len(tiles[split]) == 9 * len(records)  # 256 px: tiles at 0, 100, 200
        assert_tiles_reassemble(records, tiles[split])


def test_pannuke_view_builds_and_loads(pannuke, tmp_path, monkeypatch):
    root, base = pannuke
    (report,) = build(PANNUKE, data_dir=root, out=tmp_path / "nuclei_collection", view={"target_mpp": 0.5, "tile": 64})
    assert report.name == f"{PANNUKE}_mpp0.5_tiles64"
    monkeypatch.chdir(tmp_path)
    for split, records in base.items():
        local = load_dataset("nuclei_collection", report.name, split=split)
        streamed = list(load_dataset("nuclei_collection", report.name, split=split, streaming=True))
        assert len(local) == len(streamed) == 4 * len(records)
        assert local.features["objects"].feature["category"].names[0] == "neoplastic"  # index = PanNuke channel
