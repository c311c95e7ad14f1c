"""Download path of the DSB test stages and labels=csv, against a server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from test_download import zip_tree

from fixtures.dsb2018 import write_stage1_train_labels, write_stage_test
from nuclei_collection import build, decode_masks
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.base import Download
from nuclei_collection_builders.pipeline import iter_split
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.dsb2018 import DSB2018Stage2Test, DSB2018StageTest, DSB2018StageTrain


def serve(served, base_url, images_dir, csv_path, zip_name, sha256_known=True):
    """Zip the id folders (no top folder, like BBBC038) and serve them with the CSV."""
    zip_tree(images_dir, served / zip_name)
    (served / csv_path.name).write_bytes(csv_path.read_bytes())
    digest = hashlib.sha256((served / zip_name).read_bytes()).hexdigest() if sha256_known else None
    return (
        Download(base_url + zip_name, zip_name, digest),
        Download(base_url + csv_path.name, csv_path.name),  # no known checksum: logged
    )


def test_stage1_test_downloads(http_server, tmp_path, monkeypatch, caplog):
    base_url, served = http_server
    fixture = write_stage_test(tmp_path / "gen", n_images=3, seed=8, n_absent=1)
    downloads = serve(served, base_url, fixture.images_dir, fixture.csv_path, "stage1_test.zip")
    monkeypatch.setattr(DSB2018StageTest, "downloads", downloads)
    with caplog.at_level(logging.WARNING, logger="nuclei_collection"):
        (report,) = build("nuclei_stage_1_test", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["test"]["records"] == 3
    assert report.splits["test"]["objects"] == sum(len(m) for m in fixture.truth.values())
    assert "stage1_solution.csv: no known sha256" in caplog.text
    # The absent image's rows: a counted skip in the build report and in the end-of-split log.
    ((absent_id, reason),) = report.splits["test"]["skipped"]
    assert reason.startswith(f"{fixture.absent_rows} row(s) in stage1_solution.csv but no image folder {absent_id}/")
    # The log groups such rows into one line naming examples; the build report keeps each reason.
    assert "absent (e.g. " + absent_id in caplog.text


def test_stage2_downloads_and_records_match_truth(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    fixture = write_stage_test(
        tmp_path / "gen", "stage2_test_final", "stage2_solution_final.csv", 5, 9, "Private", n_ignored=2
    )
    downloads = serve(served, base_url, fixture.images_dir, fixture.csv_path, "stage2_test_final.zip", False)
    monkeypatch.setattr(DSB2018Stage2Test, "downloads", downloads)
    prepared = prepare("nuclei_stage_2_test", cache_dir=tmp_path / "cache")
    records = list(iter_split(prepared.source, prepared.splits["test"]))
    assert len(records) == 5
    for record in records:
        truth = fixture.truth.get(record["image_id"])
        if truth is None:
            assert record["metadata"]["annotation"] == "none" and record["objects"] == []
        else:
            assert np.array_equal(decode_masks(record["objects"]), truth)


def test_stage1_train_csv_labels_download_both_files(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    raw = tmp_path / "gen"
    write_dsb2018_stage1_train(raw, n_images=3, seed=6)
    n_rows = write_stage1_train_labels(raw, tmp_path / "stage1_train_labels.csv")
    zip_download, csv_download = serve(served, base_url, raw, tmp_path / "stage1_train_labels.csv", "stage1_train.zip")
    monkeypatch.setattr(DSB2018StageTrain, "downloads", (zip_download,))
    monkeypatch.setattr(DSB2018StageTrain, "labels_download", csv_download)
    (report,) = build(
        "nuclei_stage1_train", out=tmp_path / "out", cache_dir=tmp_path / "cache", options={"labels": "csv"}
    )
    assert report.name == "nuclei_stage1_train_csv_labels"
    assert report.splits["train"]["records"] == 3 and report.splits["train"]["objects"] == n_rows
    # labels=masks needs only the zip
    assert DSB2018StageTrain().downloads == (zip_download,)
