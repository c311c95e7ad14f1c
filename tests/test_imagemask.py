"""ImageMask export: layout, masks equal the records' objects, seeded split, atomic, CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from fixtures.histology import write_tnbc
from fixtures.pannuke import write_fold
from nuclei_collection import decode_masks, decode_objects, main
from nuclei_collection_builders.exporters.imagemask import assign_folders, export_imagemask, parse_split
from nuclei_collection_builders.pipeline import iter_split
from nuclei_collection_builders.sources import prepare


@pytest.fixture(scope="module")
def pannuke_raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("pannuke_raw")
    write_fold(root, 1, 8, "warwick", seed=5)
    write_fold(root, 2, 4, "warwick", seed=6)
    write_fold(root, 3, 4, "kaggle", seed=7)
    return root


def tree_digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def records_by_id(config, data_dir):
    prepared = prepare(config, data_dir)
    return {r["image_id"]: r for items in prepared.splits.values() for r in iter_split(prepared.source, items)}


def test_instance_masks_equal_the_records(pannuke_raw, tmp_path):
    manifest = export_imagemask("PanNuke", tmp_path / "im", data_dir=pannuke_raw, split="0.5,0.25,0.25", seed=3)
    records = records_by_id("PanNuke", pannuke_raw)
    seen = []
    for folder in ("train", "valid", "test"):
        names = sorted(p.name for p in (tmp_path / "im" / folder / "images").iterdir())
        assert names == sorted(p.name for p in (tmp_path / "im" / folder / "masks").iterdir())
        assert manifest["folders"][folder]["images"] == len(names)
        for name in names:
            record = records[name[:-4]]
            assert (tmp_path / "im" / folder / "images" / name).read_bytes() == record["image"]["bytes"]
            mask = np.array(Image.open(tmp_path / "im" / folder / "masks" / name))
            assert mask.dtype == np.uint8  # ids <= 255 here
            assert np.array_equal(mask, decode_objects(record["objects"], record["height"], record["width"]))
            seen.append(name[:-4])
    assert sorted(seen) == sorted(records)
    assert [manifest["folders"][f]["images"] for f in ("train", "valid", "test")] == [8, 4, 4]  # 16 * (.5, .25, .25)
    assert (
        manifest["folders"]["train"]["hidden_overlap_pixels"]
        + manifest["folders"]["valid"]["hidden_overlap_pixels"]
        + manifest["folders"]["test"]["hidden_overlap_pixels"]
        > 0
    )  # PanNuke class overlaps cannot be shown


def test_class_masks_and_upstream_split(pannuke_raw, tmp_path):
    manifest = export_imagemask("PanNuke", tmp_path / "im", data_dir=pannuke_raw, split="upstream", mask="class")
    assert {f: v["images"] for f, v in manifest["folders"].items()} == {"train": 8, "valid": 4, "test": 4}
    assert sorted(p.stem for p in (tmp_path / "im" / "valid" / "masks").iterdir())[0] == "fold2_0000"
    records = records_by_id("PanNuke", pannuke_raw)
    for path in sorted((tmp_path / "im" / "train" / "masks").iterdir()):
        record = records[path.stem]
        expected = np.zeros((256, 256), np.uint8)
        for obj, mask in zip(record["objects"], decode_masks(record["objects"]) if record["objects"] else []):
            expected[mask] = obj["category"] + 1
        assert np.array_equal(np.array(Image.open(path)), expected)
    # Values are the config's category index + 1 (PanNuke: channel + 1), listed in the manifest.
    saved = json.loads((tmp_path / "im" / "imagemask.json").read_text())
    assert saved["class_values"] == {"neoplastic": 1, "inflammatory": 2, "connective": 3, "dead": 4, "epithelial": 5}
    assert saved["split"] == "upstream" and saved["folders"]["train"]["annotation"] == {"complete": 7, "none": 1}


def test_split_is_seeded_reproducible_and_order_free():
    ids = [f"img{k:03d}" for k in range(50)]
    split = assign_folders(ids, (0.8, 0.1, 0.1), seed=4)
    assert assign_folders(list(reversed(ids)), (0.8, 0.1, 0.1), seed=4) == split
    assert sorted(split.values()).count("train") == 40 and list(split.values()).count("valid") == 5
    assert assign_folders(ids, (0.8, 0.1, 0.1), seed=5) != split
    assert parse_split("upstream") is None and parse_split(None) == (0.8, 0.1, 0.1)
    with pytest.raises(ValueError, match="summing to 1"):
        parse_split("0.5,0.2,0.2")


def test_sixteen_bit_instance_masks(tmp_path):
    record = {"image_id": "x", "height": 4, "width": 300, "objects": []}
    from nuclei_collection_builders.exporters.imagemask import instance_mask_png
    from nuclei_collection_builders.rle import encode_label_map

    label_map = np.arange(1, 1201, dtype=np.int32).reshape(4, 300)
    record["objects"] = encode_label_map(label_map)
    png, hidden = instance_mask_png(record)
    (tmp_path / "m.png").write_bytes(png)
    decoded = np.array(Image.open(tmp_path / "m.png"))
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, label_map) and hidden == 0


def test_cli_is_reproducible_and_atomic(tmp_path, capsys, monkeypatch):
    write_tnbc(tmp_path / "raw", counts=(4, 3))
    args = ["export-imagemask", "TNBC_NucleiSegmentation", "--data-dir", str(tmp_path / "raw"), "--seed", "9"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "TNBC_NucleiSegmentation -> train: 6 images" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    # A failure half-way leaves the previous export untouched and no staging folder behind.
    before = tree_digest(tmp_path / "a")
    import nuclei_collection_builders.exporters.imagemask as imagemask

    def explode(record):
        raise RuntimeError("disk full")

    monkeypatch.setitem(imagemask.MASK_WRITERS, "instance", explode)
    with pytest.raises(RuntimeError):
        export_imagemask("TNBC_NucleiSegmentation", tmp_path / "a", data_dir=tmp_path / "raw")
    assert tree_digest(tmp_path / "a") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "raw"]


def test_annotation_without_image_is_listed_and_moves_no_other_image(tmp_path):
    """A mask left without its image is reported (``unpaired``) and takes no part in the split
    rule: the folders are exactly those of the same tree without that mask."""
    write_tnbc(tmp_path / "raw", counts=(4, 3))
    image = sorted((tmp_path / "raw" / "TNBC_NucleiSegmentation").glob("Slide_*/*.png"))[0]
    annotation = f"GT_{image.parent.name.split('_')[1]}/{image.name}"
    image.unlink()
    manifest = export_imagemask("TNBC_NucleiSegmentation", tmp_path / "with", data_dir=tmp_path / "raw")
    assert manifest["unpaired"] == [[image.stem, f"annotation {annotation} has no image (no record made)"]]
    (tmp_path / "raw" / "TNBC_NucleiSegmentation" / annotation).unlink()
    clean = export_imagemask("TNBC_NucleiSegmentation", tmp_path / "without", data_dir=tmp_path / "raw")
    assert "unpaired" not in clean and manifest["folders"] == clean["folders"]
    with_digest, without_digest = tree_digest(tmp_path / "with"), tree_digest(tmp_path / "without")
    del with_digest["imagemask.json"], without_digest["imagemask.json"]
    assert with_digest == without_digest
