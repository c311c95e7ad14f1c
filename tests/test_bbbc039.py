"""BBBC039 reader: colour-coded masks decoded as skimage.measure.label does, official split lists
keyed by the full stem, 16-bit images, counted skips, the three-zip download path, real masks."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util
from skimage.measure import label as skimage_label

import nuclei_collection_builders.formats.bbbc as bbbc
import nuclei_collection_builders.sources.bbbc039 as bbbc039
from conftest import realdata_path
from fixtures.bbbc039 import FIELDS, LISTED_WITHOUT_IMAGE, write_bbbc039
from fixtures.records import image_pixels
from fixtures.shapes import canonical
from nuclei_collection import BadInputError, MissingDataError, build, decode_masks, decode_objects
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.sources import get_spec, prepare


def all_records(root):
    prepared = prepare("BBBC039", root)
    out = {}
    for split, items in prepared.splits.items():
        report = SplitReport()
        out[split] = (list(iter_split(prepared.source, items, report)), report)
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("bbbc039")
    fields = write_bbbc039(root / "BBBC039")
    return root, fields, all_records(root)


def test_colour_code_decoded_to_the_drawn_nuclei(tree):
    _, fields, splits = tree
    records = [r for recs, _ in splits.values() for r in recs]
    assert len(records) == 4
    for record in records:
        field = fields[record["image_id"]]
        stack = decode_masks(record["objects"])
        # exactly the drawn nuclei (touching ones included), and numbered as skimage.measure.label numbers them
        assert canonical(stack) == canonical([field.labels == v for v in range(1, field.labels.max() + 1)])
        assert np.array_equal(decode_objects(record["objects"], *field.code.shape), skimage_label(field.code))
        for obj, mask in zip(record["objects"], stack):
            assert obj["segmentation"]["counts"] == mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()
        # touching nuclei exist, so connected components of the foreground would have merged some
        assert skimage_label(field.code > 0).max() < len(record["objects"])


def test_splits_from_the_lists_keyed_by_full_stem(tree):
    _, _, splits = tree
    ids = {split: [r["image_id"] for r in recs] for split, (recs, _) in splits.items()}
    expected = {"train": [], "validation": [], "test": []}
    for stem, list_name in FIELDS.items():
        if list_name:
            expected[bbbc039.SPLIT_LISTS[list_name]].append(stem)
    assert ids == {split: sorted(stems) for split, stems in expected.items()}
    # same well and site, different GUID: two records in two splits
    assert [i[:14] for i in ids["train"]].count("IXMtest_F22_s6") == 1 and ids["validation"][0].startswith("IXMtest_F22_s6")
    unlisted = next(stem for stem, list_name in FIELDS.items() if list_name is None)
    assert [i for i, _ in splits["train"][1].skipped] == [unlisted]
    assert [i for i, _ in splits["test"][1].skipped] == [LISTED_WITHOUT_IMAGE]


def test_16_bit_image_and_metadata(tree):
    root, _, splits = tree
    record = splits["test"][0][0]
    pixels = image_pixels(record)
    assert pixels.dtype == np.uint16 and pixels.max() > 255
    with Image.open(root / "BBBC039" / "images" / f"{record['image_id']}.tif") as upstream:
        assert np.array_equal(pixels, np.asarray(upstream))
    meta = record["metadata"]
    assert (meta["stain"], meta["modality"], meta["license"], meta["annotation"]) == ("Hoechst", "fluorescence", "CC0-1.0", "complete")
    assert meta["upstream_path"] == f"images/{record['image_id']}.tif"


def test_overlap_with_dsb2018_declared():
    assert get_spec("BBBC039").overlaps == ("nuclei_stage1_train",)


def test_bad_masks_and_lists(tmp_path):
    write_bbbc039(tmp_path)
    stem = next(iter(FIELDS))
    mask = tmp_path / "masks" / f"{stem}.png"
    rgba = np.asarray(Image.open(mask)).copy()
    rgba[0, 0, 1] = 7
    Image.fromarray(rgba).save(mask)
    with pytest.raises(BadInputError, match="green or blue channel is not 0"):
        all_records(tmp_path)
    rgba[0, 0, 1] = 0
    Image.fromarray(rgba[:-2]).save(mask)
    with pytest.raises(BadInputError, match=r"\.png: mask size 84x58 != image size 84x60"):
        all_records(tmp_path)
    mask.write_bytes(b"<!DOCTYPE html><html>404</html>")
    with pytest.raises(BadInputError, match=f"{stem}.png"):
        all_records(tmp_path)
    (tmp_path / "metadata" / "test.txt").write_text(f"{stem}.png\n")
    with pytest.raises(BadInputError, match=r"test\.txt: line 1: .* is also listed in training\.txt"):
        all_records(tmp_path)
    (tmp_path / "metadata" / "test.txt").unlink()
    with pytest.raises(MissingDataError, match="test.txt is missing"):
        all_records(tmp_path)


def zip_tree(folder, archive, top):
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted((folder / top).rglob("*")):
            handle.write(path, path.relative_to(folder).as_posix())
        if top == "masks":  # masks.zip also carries macOS resource forks
            for path in sorted((folder / "__MACOSX").rglob("*")):
                handle.write(path, path.relative_to(folder).as_posix())


def test_three_zip_download_path(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    write_bbbc039(tmp_path / "raw")
    (served / "BBBC039").mkdir()
    digests = {}
    for top in ("images", "masks", "metadata"):
        zip_tree(tmp_path / "raw", served / "BBBC039" / f"{top}.zip", top)
        digests[f"{top}.zip"] = hashlib.sha256((served / "BBBC039" / f"{top}.zip").read_bytes()).hexdigest()
    monkeypatch.setattr(bbbc, "BBBC_DATA_URL", base_url)  # the real URL scheme, another host
    downloads = tuple(bbbc.bbbc_download("BBBC039", d.filename, digests[d.filename]) for d in bbbc039.BBBC039.downloads)
    monkeypatch.setattr(bbbc039.BBBC039, "downloads", downloads)
    (report,) = build("BBBC039", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert {split: stats["records"] for split, stats in report.splits.items()} == {"train": 2, "validation": 1, "test": 1}


def test_real_masks_decode_as_the_official_gist(tmp_path):
    """Real BBBC039 masks (a public copy; see docs/sources/bbbc039.md) decode exactly as skimage.measure.label."""
    real = realdata_path("bbbc039")
    images = sorted((real / "images").glob("*.tif"))[:12]
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for image in images:
        (tmp_path / "images" / image.name).symlink_to(image)
        (tmp_path / "masks" / f"{image.stem}.png").symlink_to(real / "masks" / f"{image.stem}.png")
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "training.txt").write_text("".join(f"{p.stem}.png\n" for p in images))
    for name in ("validation.txt", "test.txt"):
        (tmp_path / "metadata" / name).write_text("")
    records = all_records(tmp_path)["train"][0]
    assert len(records) == len(images)
    for record in records:
        with Image.open(real / "masks" / f"{record['image_id']}.png") as upstream:
            code = np.asarray(upstream)[..., 0]
        assert np.array_equal(decode_objects(record["objects"], record["height"], record["width"]), skimage_label(code))
