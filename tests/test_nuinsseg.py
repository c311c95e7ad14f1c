"""NuInsSeg reader: 'label masks modify' with upstream ids (gaps kept), never the summed masks,
vague areas as iscrowd objects, organ/species metadata, download path, bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util

import nuclei_collection_builders.sources.nuinsseg as nuinsseg
from fixtures.nuinsseg import ORPHAN, write_nuinsseg
from fixtures.records import image_pixels, records_of
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, build, decode_masks, decode_objects
from nuclei_collection_builders.sources import config_classes

#: this config's ClassLabel names (categories are per config: index = position)
CLASS_NAMES = [c.name for c in config_classes("NuInsSeg")]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("nuinsseg")
    patches = write_nuinsseg(root / "NuInsSeg")  # the zip's top folder: the reader looks below it
    records, report = records_of("NuInsSeg", root)
    return root, patches, records, report


def nuclei_and_crowd(record):
    nuclei = [o for o in record["objects"] if not o["iscrowd"]]
    crowd = [o for o in record["objects"] if o["iscrowd"]]
    return nuclei, crowd


def test_label_masks_modify_pixel_exact_with_upstream_ids(tree):
    _, patches, records, _ = tree
    assert len(records) == len(patches)
    gaps = 0
    for record in records:
        patch = patches[record["image_id"]]
        nuclei, _ = nuclei_and_crowd(record)
        ids = sorted(int(v) for v in np.unique(patch.modify) if v)
        assert [o["id"] for o in nuclei] == ids  # upstream ids, not renumbered
        gaps += ids != list(range(1, len(ids) + 1))
        assert np.array_equal(decode_objects(nuclei, record["height"], record["width"]), patch.modify)
        for obj in nuclei:
            expected = mask_util.encode(np.asfortranarray((patch.modify == obj["id"]).astype(np.uint8)))
            assert obj["segmentation"]["counts"] == expected["counts"].decode()
            assert CLASS_NAMES[obj["category"]] == "nucleus"
        # the summed masks differ on overlap pixels: the records must not follow them
        assert not np.array_equal(patch.summed, patch.modify)
    assert gaps == len(records)  # every generated patch has a swallowed ROI


def test_vague_areas_are_crowd_objects_after_the_nuclei(tree):
    _, patches, records, _ = tree
    with_crowd = 0
    for record in records:
        patch = patches[record["image_id"]]
        nuclei, crowd = nuclei_and_crowd(record)
        union = decode_masks(crowd).any(axis=0) if crowd else np.zeros_like(patch.vague)
        assert np.array_equal(union, patch.vague)
        assert all(CLASS_NAMES[o["category"]] == "ambiguous" for o in crowd)
        assert all(c["id"] > max(o["id"] for o in nuclei) for c in crowd)
        with_crowd += bool(crowd)
    assert with_crowd >= 2


def test_metadata_order_images_and_orphan(tree):
    root, patches, records, report = tree
    assert [r["image_id"] for r in records] == [
        "human_bladder_01",
        "human_bladder_02",
        "human_salivory_gland_1",
        "mouse_muscle_1",
        "mouse_muscle_2",
        "mouse_muscle_10",
    ]
    meta = {r["image_id"]: r["metadata"] for r in records}
    assert (meta["human_salivory_gland_1"]["organ"], meta["human_salivory_gland_1"]["collection"]) == (
        "salivary gland",
        "human",
    )
    assert (meta["mouse_muscle_10"]["organ"], meta["mouse_muscle_10"]["collection"]) == ("muscle", "mouse")
    first = meta["human_bladder_01"]
    assert (first["stain"], first["modality"], first["license"], first["annotation"]) == (
        "H&E",
        "histology",
        "CC-BY-4.0",
        "complete",
    )
    assert first["upstream_path"] == "human bladder/tissue images/human_bladder_01.png"
    assert first["magnification"] is None and first["mpp"] is None  # not published: null, never a guess
    # PNG stored verbatim: decoded pixels equal the upstream file
    raw = root / "NuInsSeg" / "human bladder" / "tissue images" / "human_bladder_01.png"
    assert records[0]["image"]["bytes"] == raw.read_bytes()
    assert image_pixels(records[0]).shape == (72, 72, 3)
    organ_dir, stem = ORPHAN
    assert report.skipped == [(stem, f"annotation {organ_dir}/label masks modify/{stem}.tif has no image (no record made)")]


def test_builds_and_loads_locally_and_streaming(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    write_nuinsseg(raw)
    loaded = build_and_load("NuInsSeg", raw, tmp_path, monkeypatch)
    assert len(loaded["train"]) == 6
    crowd = [o for r in loaded["train"] for o in r["objects"] if o["iscrowd"]]
    assert crowd and {CLASS_NAMES[o["category"]] for o in crowd} == {"ambiguous"}


def test_zenodo_download_path(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    write_nuinsseg(tmp_path / "raw" / "NuInsSeg")
    archive = served / "NuInsSeg.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted((tmp_path / "raw").rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(tmp_path / "raw").as_posix())
    (download,) = nuinsseg.NuInsSeg.downloads
    assert download.url == "https://zenodo.org/records/10518968/files/NuInsSeg.zip" and download.sha256 is None
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    served_download = dataclasses.replace(download, url=base_url + "NuInsSeg.zip", sha256=sha256)
    monkeypatch.setattr(nuinsseg.NuInsSeg, "downloads", (served_download,))
    (report,) = build("NuInsSeg", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["train"]["records"] == 6 and len(report.splits["train"]["skipped"]) == 1


def test_size_mismatch_and_non_label_image_are_errors(tmp_path):
    patches = write_nuinsseg(tmp_path)
    label = tmp_path / "human bladder" / "label masks modify" / "human_bladder_01.tif"
    Image.fromarray(patches["human_bladder_01"].modify[:-1]).save(label)
    with pytest.raises(BadInputError, match=r"human_bladder_01\.tif: label image size 72x71 != image size 72x72"):
        records_of("NuInsSeg", tmp_path)
    Image.fromarray(np.zeros((72, 72, 3), np.uint8)).save(label)
    with pytest.raises(BadInputError, match="human_bladder_01.tif: expected a grey label image"):
        records_of("NuInsSeg", tmp_path)


@pytest.mark.parametrize("target", ["label masks modify/human_bladder_02.tif", "vague areas/mask binary/human_bladder_02.png"])
def test_truncated_files_are_errors_naming_them(tmp_path, target):
    write_nuinsseg(tmp_path)
    path = tmp_path / "human bladder" / target
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(BadInputError, match=path.name.replace(".", r"\.")):
        records_of("NuInsSeg", tmp_path)


def test_image_without_label_mask_and_without_vague_mask(tmp_path):
    write_nuinsseg(tmp_path)
    (tmp_path / "mouse muscle" / "label masks modify" / "mouse_muscle_2.tif").unlink()
    (tmp_path / "human bladder" / "vague areas" / "mask binary" / "human_bladder_02.png").unlink()
    records, report = records_of("NuInsSeg", tmp_path)
    assert ("mouse_muscle_2", "no label mask mouse muscle/label masks modify/mouse_muscle_2.tif for mouse_muscle_2.png") in report.skipped
    record = next(r for r in records if r["image_id"] == "human_bladder_02")
    assert not any(o["iscrowd"] for o in record["objects"])  # no mask: no crowd objects, and a note says so
    assert any("human_bladder_02" in note and "no ambiguous-area mask" in note for note in report.notes)
