"""Build -> load_dataset(OUT, cfg) -> streaming, for the next-wave sources whose own test files
check the reader but not the exported round trip (the others do it in their own files)."""

from __future__ import annotations

import pytest

from fixtures.bbbc039 import write_bbbc039
from fixtures.cryonuseg import write_cryonuseg
from fixtures.records import split_records
from fixtures.roundtrip import build_and_load
from fixtures.s_bsst265 import write_s_bsst265
from nuclei_collection_builders.sources import prepare

WRITERS = {"CryoNuSeg": write_cryonuseg, "BBBC039": write_bbbc039, "S-BSST265": write_s_bsst265}


@pytest.mark.parametrize("config", sorted(WRITERS))
def test_export_loads_back_as_the_reader_produced_it(config, tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    WRITERS[config](raw)
    prepared = prepare(config, raw)
    loaded = build_and_load(config, raw, tmp_path, monkeypatch)
    assert sorted(loaded) == sorted(split for split, items in prepared.splits.items() if items)
    for split, records in loaded.items():
        expected, _ = split_records(prepared, split)
        assert [r["image_id"] for r in records] == list(expected)
        for record in records:
            want = expected[record["image_id"]]
            got = [(o["id"], o["segmentation"]["counts"], o["category"], o["iscrowd"]) for o in record["objects"]]
            assert got == [(o["id"], o["segmentation"]["counts"], o["category"], o["iscrowd"]) for o in want["objects"]]
            assert record["metadata"]["license"] == want["metadata"]["license"] is not None
