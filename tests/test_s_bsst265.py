"""S-BSST265 reader: pairing by name with counted skips both ways, label ids kept, the authors'
split from image_description.csv, per-image metadata, image dtypes as stored, download path."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util

import nuclei_collection_builders.sources.s_bsst265 as s_bsst265
from fixtures.records import image_pixels
from fixtures.s_bsst265 import NO_LABEL, ORPHAN_LABEL, RGB_IMAGE, UINT16_IMAGE, write_s_bsst265
from nuclei_collection import BadInputError, MissingDataError, build, decode_objects
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.sources import prepare


def all_records(root):
    prepared = prepare("S-BSST265", root)
    out = {}
    for split, items in prepared.splits.items():
        report = SplitReport()
        out[split] = (list(iter_split(prepared.source, items, report)), report)
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("s_bsst265")
    truth = write_s_bsst265(root)
    return root, truth, all_records(root)


def test_labels_pixel_exact_with_upstream_ids(tree):
    _, truth, splits = tree
    records = [r for recs, _ in splits.values() for r in recs]
    assert len(records) == 5
    for record in records:
        expected = truth[record["image_id"]]
        assert [o["id"] for o in record["objects"]] == [int(v) for v in np.unique(expected) if v]
        assert np.array_equal(decode_objects(record["objects"], record["height"], record["width"]), expected)
        for obj in record["objects"]:
            encoded = mask_util.encode(np.asfortranarray((expected == obj["id"]).astype(np.uint8)))
            assert obj["segmentation"]["counts"] == encoded["counts"].decode()


def test_split_from_description_and_counted_skips(tree):
    _, _, splits = tree
    ids = {split: [r["image_id"] for r in recs] for split, (recs, _) in splits.items()}
    assert ids == {"train": ["Ganglioneuroblastoma_0", "Neuroblastoma_2", "Neuroblastoma_10"], "test": ["normal_34", "otherspecimen_4"]}
    skipped = dict(splits["train"][1].skipped)
    assert skipped.keys() == {NO_LABEL, ORPHAN_LABEL}
    assert "groundtruth/normal_3.tif" in skipped[NO_LABEL]
    assert f"groundtruth/{ORPHAN_LABEL}.tif has no image" in skipped[ORPHAN_LABEL]


def test_metadata_per_image(tree):
    _, _, splits = tree
    meta = {r["image_id"]: r["metadata"] for recs, _ in splits.values() for r in recs}
    assert (meta["normal_34"]["magnification"], meta["normal_34"]["collection"]) == (10.0, "NC-II")
    assert meta["normal_34"]["tissue"] == "normal (HaCaT), cellline cytospin"
    assert (meta["Neuroblastoma_2"]["magnification"], meta["Neuroblastoma_2"]["collection"]) == (63.0, None)
    first = meta["Ganglioneuroblastoma_0"]
    assert (first["license"], first["modality"], first["stain"], first["mpp"]) == ("CC0-1.0", "fluorescence", "DAPI", None)
    assert first["upstream_path"] == "rawimages/Ganglioneuroblastoma_0.tif"


def test_images_stored_as_decoded(tree):
    root, _, splits = tree
    for recs, _ in splits.values():
        for record in recs:
            with Image.open(root / "rawimages" / f"{record['image_id']}.tif") as upstream:
                expected = np.asarray(upstream)
            stored = image_pixels(record)
            assert np.array_equal(stored, expected.astype(stored.dtype)) and stored.shape == expected.shape
            if record["image_id"] == UINT16_IMAGE:
                assert stored.dtype == np.uint16
            if record["image_id"] == RGB_IMAGE:
                assert stored.shape[2] == 3


def test_description_problems(tmp_path):
    write_s_bsst265(tmp_path)
    csv = tmp_path / "image_description.csv"
    text = csv.read_bytes().decode()
    csv.write_bytes(text.replace(";train;", ";training;", 1).encode())
    with pytest.raises(BadInputError, match=r"image_description\.csv: line 2: split 'training'"):
        all_records(tmp_path)
    csv.write_bytes(text.replace("Image_Name", "Name").encode())
    with pytest.raises(BadInputError, match="expected the columns 'Image_Name'"):
        all_records(tmp_path)
    csv.write_bytes(text.encode("utf-16"))
    with pytest.raises(BadInputError, match="image_description.csv"):
        all_records(tmp_path)
    csv.unlink()
    with pytest.raises(MissingDataError, match="train/test split"):
        all_records(tmp_path)


def test_image_not_in_description_is_a_counted_skip(tmp_path):
    write_s_bsst265(tmp_path)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "rawimages" / "normal_99.tif")
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "groundtruth" / "normal_99.tif")
    skipped = dict(all_records(tmp_path)["train"][1].skipped)
    assert "rawimages/normal_99.tif is not in image_description.csv" in skipped["normal_99"]


def test_bad_label_images(tmp_path):
    truth = write_s_bsst265(tmp_path)
    label = tmp_path / "groundtruth" / "normal_34.tif"
    Image.fromarray(truth["normal_34"][:, :-3]).save(label)
    with pytest.raises(BadInputError, match=r"normal_34\.tif: label image size 57x36 != image size 60x36"):
        all_records(tmp_path)
    label.write_bytes(label.read_bytes()[:50])
    with pytest.raises(BadInputError, match=r"normal_34\.tif"):
        all_records(tmp_path)


def test_download_path_without_top_folder(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    write_s_bsst265(tmp_path / "raw")
    archive = served / "dataset.zip"
    with zipfile.ZipFile(archive, "w") as handle:  # the BioStudies zip has no top folder
        for path in sorted((tmp_path / "raw").rglob("*")):
            handle.write(path, path.relative_to(tmp_path / "raw").as_posix())
    (download,) = s_bsst265.SBSST265.downloads
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    served_download = dataclasses.replace(download, url=base_url + "dataset.zip", sha256=sha256)
    monkeypatch.setattr(s_bsst265.SBSST265, "downloads", (served_download,))
    (report,) = build("S-BSST265", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert {split: stats["records"] for split, stats in report.splits.items()} == {"train": 3, "test": 2}
    # a wrong checksum is refused
    monkeypatch.setattr(s_bsst265.SBSST265, "downloads", (dataclasses.replace(served_download, sha256="0" * 64),))
    with pytest.raises(BadInputError, match="sha256"):
        build("S-BSST265", out=tmp_path / "out2", cache_dir=tmp_path / "cache2")
