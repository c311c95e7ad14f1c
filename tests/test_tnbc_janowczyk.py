"""TNBC and Janowczyk readers (binary masks -> connected components) on generated trees,
plus their download paths against a server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from fixtures.histology import write_janowczyk, write_tnbc
from fixtures.roundtrip import build_and_load
from nuclei_collection import build, decode_masks
from nuclei_collection_builders.base import Download
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.janowczyk import JanowczykNuclei
from nuclei_collection_builders.sources.tnbc import TNBC


def assert_components_of(mask_path, record):
    """Objects == 8-connected components of the binary mask, pixel for pixel."""
    binary = np.array(Image.open(mask_path)) > 0
    labels, n = ndimage.label(binary, structure=np.ones((3, 3)))
    assert len(record["objects"]) == n
    for k, mask in enumerate(decode_masks(record["objects"]), start=1):
        assert np.array_equal(mask, labels == k)


def test_tnbc_builds_loads_and_is_pixel_exact(tmp_path, monkeypatch):
    ids = write_tnbc(tmp_path / "raw")
    loaded = build_and_load("TNBC_NucleiSegmentation", tmp_path / "raw", tmp_path, monkeypatch)
    records = loaded["train"]
    assert [r["image_id"] for r in records] == ids == ["01_1", "01_2", "01_3", "02_1", "02_2"]  # no __MACOSX junk
    top = tmp_path / "raw" / "TNBC_NucleiSegmentation"
    for record in records:
        patient = record["image_id"].split("_")[0]
        assert_components_of(top / f"GT_{patient}" / f"{record['image_id']}.png", record)
        upstream = np.array(Image.open(top / f"Slide_{patient}" / f"{record['image_id']}.png"))
        assert record["image"].mode == "RGB"  # constant alpha dropped, RGB identical
        assert np.array_equal(np.asarray(record["image"]), upstream[..., :3])
        metadata = record["metadata"]
        assert metadata["patient_id"] == metadata["slide_id"] == patient
        assert (metadata["organ"], metadata["annotation"], metadata["license"]) == ("breast", "complete", "CC-BY-4.0")


def test_tnbc_touching_nuclei_merge_and_varying_alpha_is_kept(tmp_path):
    write_tnbc(tmp_path, counts=(1,))
    slide = tmp_path / "TNBC_NucleiSegmentation" / "Slide_01" / "01_1.png"
    gt = tmp_path / "TNBC_NucleiSegmentation" / "GT_01" / "01_1.png"
    mask = np.zeros((128, 128), np.uint8)
    mask[10:20, 10:20] = 255
    mask[20:30, 12:22] = 255  # touches the first square: one component
    Image.fromarray(mask).save(gt)
    pixels = np.array(Image.open(slide))
    pixels[0, 0, 3] = 7
    Image.fromarray(pixels).save(slide)
    prepared = prepare("TNBC_NucleiSegmentation", tmp_path)
    report = SplitReport()
    (record,) = iter_split(prepared.source, prepared.splits["train"], report)
    assert len(record["objects"]) == 1 and record["objects"][0]["area"] == 200
    assert np.array(Image.open(io.BytesIO(record["image"]["bytes"]))).shape[2] == 4
    assert report.counts() == {"alpha kept": 1}


def test_janowczyk_partial_with_and_without_top_folder(tmp_path, monkeypatch):
    ids = write_janowczyk(tmp_path / "flat")
    loaded = build_and_load("nuclei_partial_annotations", tmp_path / "flat", tmp_path, monkeypatch)
    records = loaded["train"]
    assert [r["image_id"] for r in records] == ids
    for record in records:
        assert record["metadata"]["annotation"] == "partial"
        assert record["metadata"]["patient_id"] == record["image_id"].split("_")[0]
        assert_components_of(tmp_path / "flat" / f"{record['image_id']}_mask.png", record)
    card = (tmp_path / "nuclei_collection" / "README.md").read_text()
    assert "PARTIAL annotations (unlabelled != background)" in card
    nested_ids = write_janowczyk(tmp_path / "nested" / "nuclei", n_images=2)
    nested = prepare("nuclei_partial_annotations", tmp_path / "nested")
    assert [i.image_id for i in nested.splits["train"]] == nested_ids


def test_janowczyk_missing_mask_is_a_counted_skip(tmp_path):
    ids = write_janowczyk(tmp_path)
    (tmp_path / f"{ids[1]}_mask.png").unlink()
    prepared = prepare("nuclei_partial_annotations", tmp_path)
    report = SplitReport()
    assert len(list(iter_split(prepared.source, prepared.splits["train"], report))) == 2
    assert report.skipped == [(ids[1], f"no mask {ids[1]}_mask.png for {ids[1]}_original.tif")]


def serve(monkeypatch, source_class, served, base_url, filename):
    sha = hashlib.sha256((served / filename).read_bytes()).hexdigest()
    monkeypatch.setattr(source_class, "downloads", (Download(base_url + filename, filename, sha),))


def test_tnbc_download_path(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    raw = tmp_path / "raw"
    write_tnbc(raw)
    with zipfile.ZipFile(served / "TNBC_NucleiSegmentation.zip", "w") as archive:
        for path in sorted(raw.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(raw).as_posix())  # with the __MACOSX junk, like upstream
    serve(monkeypatch, TNBC, served, base_url, "TNBC_NucleiSegmentation.zip")
    (report,) = build("TNBC_NucleiSegmentation", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["train"]["records"] == 5


def test_janowczyk_download_path(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    write_janowczyk(tmp_path / "raw")
    with tarfile.open(served / "nuclei.tgz", "w:gz") as archive:
        for path in sorted((tmp_path / "raw").iterdir()):
            archive.add(path, path.name)  # flat, as upstream
    serve(monkeypatch, JanowczykNuclei, served, base_url, "nuclei.tgz")
    (report,) = build("nuclei_partial_annotations", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["train"]["records"] == 3


@pytest.mark.parametrize("config", ["TNBC_NucleiSegmentation", "nuclei_partial_annotations"])
def test_missing_data_names_url(tmp_path, config):
    from nuclei_collection import MissingDataError

    with pytest.raises(MissingDataError, match="expected layout was not found") as error:
        prepare(config, tmp_path)
    assert ("zenodo.org" in str(error.value)) or ("andrewjanowczyk.com" in str(error.value))
