"""GLySAC reader: pixel-exact objects from inst_map, the paper's 3 classes grouped from the raw
codes as the authors' code does (inst_type first, type_map otherwise), .png and .tif copies,
bad input, and a build -> load_dataset -> streaming round trip."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pycocotools import mask as mask_util

from fixtures.glysac import CLASS_NAMES, GROUPS, write_glysac
from fixtures.matlabels import column, load_mat, rewrite_mat, save_png, truncate
from fixtures.records import image_pixels, split_records
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, MissingDataError, decode_objects
from nuclei_collection_builders.sources import get_spec, prepare
from nuclei_collection_builders.sources.glysac import GROUP_OF_CODE


def all_records(root):
    prepared = prepare("GLySAC", root)
    records, counts, skipped = {}, {}, []
    for split in prepared.splits:
        by_id, report = split_records(prepared, split)
        records.update({image_id: (split, record) for image_id, record in by_id.items()})
        for kind, n in report.counts().items():
            counts[kind] = counts.get(kind, 0) + n
        skipped += report.skipped
    return records, counts, skipped


@pytest.mark.parametrize("image_format", ["png", "tif"])
def test_every_tile_pixel_exact_with_the_papers_classes(tmp_path, image_format):
    truth = write_glysac(tmp_path, image_format)
    records, counts, skipped = all_records(tmp_path)
    assert not skipped and sorted(records) == sorted(truth)
    class_names = get_spec("GLySAC").make_source().class_names()
    assert class_names == CLASS_NAMES
    expected_counts = {"empty ground truth": 1}
    for tile in truth.values():
        for kind, n in tile.notes.items():
            expected_counts[kind] = expected_counts.get(kind, 0) + n
    assert counts == expected_counts
    for name, (split, record) in records.items():
        tile = truth[name]
        assert split == tile.split
        assert np.array_equal(image_pixels(record), tile.image)  # RGBA with alpha 255 stored as RGB
        height, width = tile.label_map.shape
        assert np.array_equal(decode_objects(record["objects"], height, width), tile.label_map)
        assert [o["id"] for o in record["objects"]] == sorted(tile.classes)
        for obj in record["objects"]:
            reference = mask_util.encode(np.asfortranarray((tile.label_map == obj["id"]).astype(np.uint8)))
            assert obj["segmentation"]["counts"] == reference["counts"].decode("ascii")
            assert obj["area"] == int(mask_util.area(reference))
            assert np.allclose(obj["bbox"], mask_util.toBbox(reference))
            assert class_names[obj["category"]] == tile.classes[obj["id"]]
        meta = record["metadata"]
        assert meta["upstream_path"] == tile.image_path.relative_to(tmp_path / "glysac_dataset").as_posix()
        assert (meta["organ"], meta["stain"], meta["license"], meta["mpp"], meta["magnification"]) == (
            "stomach",
            "H&E",
            "not stated upstream",
            None,
            None,
        )
    assert records["AGC5_tumor_3"][1]["objects"] == []


def test_raw_code_table_is_the_authors_grouping():
    # QuIIL/Sonnet compute_stats.py: 1, 2, 9, 10 -> Other; 4-7 -> Lymphocyte; 3, 8 -> Epithelial
    assert GROUP_OF_CODE == GROUPS
    assert sorted(GROUP_OF_CODE) == list(range(1, 11))
    declared = {c.name: c.upstream for c in get_spec("GLySAC").info.classes}
    assert declared == {"other": "1, 2, 9, 10", "epithelial": "3, 8", "lymphocyte": "4, 5, 6, 7"}


def test_layout_without_top_folder_and_lower_case_folders(tmp_path):
    truth = write_glysac(tmp_path, top="")
    (tmp_path / "Train").rename(tmp_path / "train")
    records, _, _ = all_records(tmp_path)
    assert sorted(records) == sorted(truth)
    assert records["AGC1_tumor_1"][1]["metadata"]["upstream_path"] == "train/Images/AGC1_tumor_1.png"


# ----------------------------------------------------------------------------- bad input


def mat_of(root, name):
    return root / "glysac_dataset" / ("Train" if name.startswith("AGC1") else "Test") / "Labels" / f"{name}.mat"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"type_map": "code 11"}, r"'type_map' holds codes \[11\], not one of 1\.\.10"),
        ({"inst_type": "code 0"}, r"'inst_type' of instance 1 is 0, not one of the codes 1\.\.10"),
        ({"inst_type": "code 12"}, r"'inst_type' of instance 1 is 12, not one of the codes 1\.\.10"),
        ({"inst_type": "short"}, r"'inst_type' has 2 rows but inst_map's largest id is \d+"),
        ({"type_map": None}, r"missing key\(s\) \['type_map'\]"),
        ({"inst_map": None}, r"missing key\(s\) \['inst_map'\]"),
        ({"type_map": "wrong size"}, r"'type_map' size 10x10 != image size 64x56"),
    ],
    ids=[
        "type_map code 11",
        "inst_type 0",
        "inst_type 12",
        "inst_type too short",
        "no type_map",
        "no inst_map",
        "type_map size",
    ],
)
def test_bad_label_contents_are_errors_naming_the_mat_file(tmp_path, change, message):
    write_glysac(tmp_path)
    path = mat_of(tmp_path, "AGC1_tumor_1")
    arrays = load_mat(path)
    ((key, what),) = change.items()
    if what == "code 11":
        type_map = arrays["type_map"].copy()
        type_map[0, 0] = 11
        rewrite_mat(path, type_map=type_map)
    elif what in ("code 0", "code 12"):
        inst_type = arrays["inst_type"].copy()
        inst_type[0, 0] = int(what.split()[1])
        rewrite_mat(path, inst_type=inst_type)
    elif what == "short":
        rewrite_mat(path, inst_type=arrays["inst_type"][:2])
    elif what == "wrong size":
        rewrite_mat(path, type_map=np.zeros((10, 10), np.int32))
    else:
        rewrite_mat(path, **{key: None})
    with pytest.raises(BadInputError, match=rf"AGC1_tumor_1\.mat: {message}"):
        all_records(tmp_path)


def test_without_inst_type_an_instance_without_any_code_is_an_error(tmp_path):
    truth = write_glysac(tmp_path)
    path = mat_of(tmp_path, "AGC1_tumor_2")
    arrays = load_mat(path)
    type_map = arrays["type_map"].copy()
    type_map[arrays["inst_map"] == 3] = 0
    rewrite_mat(path, type_map=type_map)
    with pytest.raises(BadInputError, match=r"AGC1_tumor_2\.mat: instance\(s\) \[3\] have no type_map code"):
        all_records(tmp_path)
    # with an inst_type column the same file reads, classes from inst_type
    codes = [next(c for c, g in GROUPS.items() if g == truth["AGC1_tumor_2"].classes[v]) for v in range(1, 9)]
    rewrite_mat(path, inst_type=column(codes, np.int32))
    records, _, _ = all_records(tmp_path)
    objects = records["AGC1_tumor_2"][1]["objects"]
    assert [CLASS_NAMES[o["category"]] for o in objects] == [truth["AGC1_tumor_2"].classes[o["id"]] for o in objects]


@pytest.mark.parametrize("damage", ["truncated", "empty", "html"])
def test_damaged_mat_and_image_files_are_errors_naming_them(tmp_path, damage):
    truth = write_glysac(tmp_path)
    for path in (truth["AGC5_tumor_1"].mat_path, truth["AGC5_tumor_1"].image_path):
        original = path.read_bytes()
        if damage == "truncated":
            truncate(path)
        elif damage == "empty":
            path.write_bytes(b"")
        else:
            path.write_text("<!DOCTYPE html><html><title>Google Drive - Quota exceeded</title></html>")
        with pytest.raises(BadInputError, match=path.name.replace(".", r"\.")):
            all_records(tmp_path)
        path.write_bytes(original)


def test_missing_partner_files_are_counted_skips(tmp_path):
    truth = write_glysac(tmp_path)
    truth["AGC1_tumor_2"].mat_path.unlink()  # an image without its labels
    truth["AGC5_tumor_1"].image_path.unlink()  # labels without their image
    records, _, skipped = all_records(tmp_path)
    assert sorted(records) == sorted(set(truth) - {"AGC1_tumor_2", "AGC5_tumor_1"})
    assert sorted(skipped) == [
        ("AGC1_tumor_2", "no label file AGC1_tumor_2.mat for AGC1_tumor_2.png"),
        ("AGC5_tumor_1", "no image AGC5_tumor_1.png or .tif for Labels/AGC5_tumor_1.mat"),
    ]


def test_a_tile_in_two_formats_is_an_error(tmp_path):
    truth = write_glysac(tmp_path)
    png = truth["AGC1_tumor_1"].image_path
    shutil.copy(png, png.with_suffix(".tif"))
    with pytest.raises(BadInputError, match=r"AGC1_tumor_1\.(png|tif): AGC1_tumor_1\.(png|tif) is the same tile"):
        prepare("GLySAC", tmp_path)


def test_non_constant_alpha_is_kept_with_a_note(tmp_path):
    truth = write_glysac(tmp_path)
    tile = truth["AGC5_tumor_1"]
    alpha = np.full(tile.image.shape[:2], 255, np.uint8)
    alpha[:, :8] = 100
    save_png(tile.image_path, np.dstack([tile.image, alpha]))
    records, counts, _ = all_records(tmp_path)
    assert image_pixels(records["AGC5_tumor_1"][1]).shape[2] == 4 and counts["alpha kept"] == 1


def test_build_load_dataset_and_streaming_round_trip(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    truth = write_glysac(raw, "tif")
    loaded = build_and_load("GLySAC", raw, tmp_path, monkeypatch)
    assert {split: sorted(r["image_id"] for r in rows) for split, rows in loaded.items()} == {
        "train": ["AGC1_tumor_1", "AGC1_tumor_10", "AGC1_tumor_2"],
        "test": ["AGC5_tumor_1", "AGC5_tumor_3"],
    }
    for rows in loaded.values():
        for row in rows:
            tile = truth[row["image_id"]]
            assert np.array_equal(np.asarray(row["image"]), tile.image)
            assert np.array_equal(decode_objects(row["objects"], row["height"], row["width"]), tile.label_map)
            assert [CLASS_NAMES[o["category"]] for o in row["objects"]] == [
                tile.classes[o["id"]] for o in row["objects"]
            ]


def test_no_data_gives_the_manual_steps(tmp_path):
    with pytest.raises(MissingDataError, match="1g1_xYFWgp3cRLKrlSwD2U5JDjooC0yHp"):
        prepare("GLySAC", tmp_path)
