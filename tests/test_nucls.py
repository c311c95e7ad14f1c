"""NuCLS reader: objects from the CSV (polygons; boxes as iscrowd), the area outside the FOV as
an iscrowd 'ambiguous' region, class levels raw/main/super, the authors' folds, bad input."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util

from fixtures.nucls import DATASET, RAW, SLIDES, paint_order, write_nucls
from fixtures.records import image_pixels, split_records
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, MissingDataError, decode_masks
from nuclei_collection_builders.sources import config_classes, prepare
from nuclei_collection_builders.sources.nucls import slide_of

#: What each upstream name must become (the shared class vocabulary; docs/sources/nucls.md).
RAW_NAMES = {
    "tumor": "tumor",
    "fibroblast": "fibroblast",
    "lymphocyte": "lymphocyte",
    "plasma_cell": "plasma",
    "macrophage": "macrophage",
    "mitotic_figure": "mitotic figure",
    "vascular_endothelium": "endothelial",
    "myoepithelium": "myoepithelial",
    "apoptotic_body": "apoptotic body",
    "neutrophil": "neutrophil",
    "ductal_epithelium": "ductal epithelium",
    "eosinophil": "eosinophil",
    "unlabeled": "unlabeled",
}
MAIN_NAMES = {
    "tumor_nonMitotic": "tumor",
    "tumor_mitotic": "mitotic figure",
    "nonTILnonMQ_stromal": "stromal",
    "macrophage": "macrophage",
    "lymphocyte": "lymphocyte",
    "plasma_cell": "plasma",
    "other_nucleus": "other nucleus",
    "AMBIGUOUS": "ambiguous nucleus",
}
SUPER_NAMES = {
    "tumor_any": "tumor (any)",
    "nonTIL_stromal": "non-TIL stromal",
    "sTIL": "stromal TIL",
    "other_nucleus": "other nucleus",
    "AMBIGUOUS": "ambiguous nucleus",
}
PANNUKE = {
    "tumor": "neoplastic",
    "mitotic figure": "neoplastic",
    "fibroblast": "connective",
    "endothelial": "connective",
    "lymphocyte": "inflammatory",
    "plasma": "inflammatory",
    "macrophage": "inflammatory",
    "neutrophil": "inflammatory",
    "eosinophil": "inflammatory",
    "myoepithelial": "epithelial",
    "ductal epithelium": "epithelial",
    "apoptotic body": "dead",
    "unlabeled": "unclassified",
    "ambiguous": "ambiguous",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("nucls")
    return root, write_nucls(root)


def all_records(root, **options):
    prepared = prepare("NuCLS", root, options)
    records, reports = {}, {}
    for split in prepared.splits:
        records[split], reports[split] = split_records(prepared, split)
    return prepared, records, reports


def rle_of(mask: np.ndarray) -> str:
    return mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()


def test_pixel_exact_objects_boxes_and_outside_fov(tree):
    root, truth = tree
    _, records, _ = all_records(root)
    class_names = [c.name for c in config_classes("NuCLS")]
    seen = 0
    for split_records_ in records.values():
        for image_id, record in split_records_.items():
            fov = truth[image_id]
            objects = record["objects"]
            # one object per CSV row, in row order, then the area outside the FOV
            assert [o["id"] for o in objects] == list(range(1, len(fov.nuclei) + 2))
            decoded = decode_masks(objects)
            for nucleus, obj, mask in zip(fov.nuclei, objects, decoded):
                assert np.array_equal(mask, nucleus.mask), (image_id, obj["id"])
                assert obj["segmentation"]["counts"] == rle_of(nucleus.mask)
                encoded = mask_util.encode(np.asfortranarray(nucleus.mask.astype(np.uint8)))
                assert obj["area"] == int(mask_util.area(encoded))
                assert obj["bbox"] == pytest.approx(mask_util.toBbox(encoded).tolist())
                assert class_names[obj["category"]] == RAW_NAMES[nucleus.raw]
                assert obj["iscrowd"] == (nucleus.kind == "rectangle")
            outside = objects[-1]
            assert class_names[outside["category"]] == "ambiguous" and outside["iscrowd"]
            assert np.array_equal(decoded[-1], fov.outside_fov)
            assert outside["segmentation"]["counts"] == rle_of(fov.outside_fov)
            seen += 1
    assert seen == len(truth)


def test_objects_agree_with_the_mask_png(tree):
    """Cross-check: the CSV objects, painted as HistomicsTK paints them, give the mask PNG's
    instance pairs (ch2, ch3), class codes (ch1) and FOV (code 253) pixel for pixel."""
    root, truth = tree
    _, records, _ = all_records(root)
    for split_records_ in records.values():
        for image_id, record in split_records_.items():
            fov = truth[image_id]
            with Image.open(root / DATASET / "mask" / f"{image_id}.png") as image:
                upstream = np.asarray(image)
            height, width = upstream.shape[:2]
            decoded = decode_masks(record["objects"])[:, :height, :width]  # the mask may be a column short
            # HistomicsTK pastes each polygon half-open: without the column x = xmax and row y = ymax
            yy, xx = np.mgrid[:height, :width]
            painted = [decoded[i] & (xx < n.box[2]) & (yy < n.box[3]) for i, n in enumerate(fov.nuclei)]
            # ... so every nucleus touching its box's right or bottom edge has pixels the mask lacks
            assert all((decoded[i] & ~painted[i]).any() for i, n in enumerate(fov.nuclei) if n.box[2] < width)
            order = paint_order(fov)
            for rank, row in enumerate(order):
                later = np.zeros((height, width), dtype=bool)
                for other in order[rank + 1 :]:
                    later |= painted[other]
                visible = painted[row] & ~later
                pair = fov.nuclei[row].pair
                in_mask = (upstream[..., 1] == pair[0]) & (upstream[..., 2] == pair[1])
                assert np.array_equal(visible, in_mask), (image_id, row)
                assert (upstream[visible, 0] == RAW[fov.nuclei[row].raw][0]).all()
                # the official id (ch2 x ch3) is the same partition while pairs are (1, k)
                product = upstream[..., 1].astype(np.int32) * upstream[..., 2]
                assert np.array_equal(in_mask, product == pair[0] * pair[1])
            fov_pixels = upstream[..., 0] == 253
            rows, cols = np.nonzero(fov_pixels)
            inside = ~decoded[-1]
            assert np.array_equal(np.argwhere(inside)[[0, -1]], [[rows.min(), cols.min()], [rows.max(), cols.max()]])


def test_counts_and_metadata(tree):
    root, truth = tree
    _, records, reports = all_records(root)
    boxes = {
        split: sum(n.kind == "rectangle" for i in recs for n in truth[i].nuclei) for split, recs in records.items()
    }
    for split, report in reports.items():
        counts = report.counts()
        assert counts["rectangle kept as iscrowd box"] == boxes[split]
        assert counts.get("mask size differs from image", 0) == (1 if split == "train" else 0)
        assert not report.skipped
    record = next(iter(records["train"].values()))
    fov = truth[record["image_id"]]
    meta = record["metadata"]
    assert (meta["slide_id"], meta["patient_id"]) == (fov.slide, fov.slide[:12])
    assert (meta["organ"], meta["stain"], meta["modality"], meta["annotation"]) == (
        "breast",
        "H&E",
        "histology",
        "partial",
    )
    assert meta["mpp"] == pytest.approx(0.2) and meta["magnification"] is None
    assert meta["license"] == "CC0-1.0" and meta["collection"] is None
    assert meta["upstream_path"] == f"rgb/{record['image_id']}.png"
    assert np.array_equal(image_pixels(record), fov.rgb)
    upstream = (root / DATASET / "rgb" / f"{record['image_id']}.png").read_bytes()
    assert record["image"]["bytes"] == upstream  # stored verbatim


def test_header_only_csv_gives_a_record_with_only_the_outside_region(tree):
    root, truth = tree
    _, records, _ = all_records(root)
    (empty_id,) = [i for i, fov in truth.items() if not fov.nuclei]
    record = records[SLIDES[truth[empty_id].slide]][empty_id]
    assert len(record["objects"]) == 1 and record["objects"][0]["iscrowd"]


def test_class_table_vocabulary_and_pannuke_groups():
    classes = config_classes("NuCLS")
    assert [c.name for c in classes] == [*RAW_NAMES.values(), "ambiguous"]
    assert [c.upstream for c in classes[:-1]] == list(RAW_NAMES)
    assert {c.name: c.pannuke for c in classes} == PANNUKE
    assert [c.name for c in config_classes("NuCLS", {"classes": "main"})] == [*MAIN_NAMES.values(), "ambiguous"]
    assert [c.name for c in config_classes("NuCLS", {"classes": "super"})] == [*SUPER_NAMES.values(), "ambiguous"]


@pytest.mark.parametrize(("level", "names"), [("main", MAIN_NAMES), ("super", SUPER_NAMES)])
def test_main_and_super_levels(tree, level, names):
    root, truth = tree
    prepared, records, _ = all_records(root, classes=level)
    assert prepared.name == f"NuCLS_{level}"
    class_names = [c.name for c in config_classes("NuCLS", {"classes": level})]
    for recs in records.values():
        for image_id, record in recs.items():
            nuclei = truth[image_id].nuclei
            got = [class_names[o["category"]] for o in record["objects"][: len(nuclei)]]
            assert got == [names[getattr(n, level)] for n in nuclei]
    with pytest.raises(ValueError, match="classes must be one of"):
        prepare("NuCLS", root, {"classes": "fine"})


def test_folds(tree, tmp_path):
    root, truth = tree

    def slides(prepared, split):
        return {truth[item.image_id].slide for item in prepared.splits[split]}

    fold1 = prepare("NuCLS", root)
    assert fold1.name == "NuCLS" and set(fold1.splits) == {"train", "test"}
    assert slides(fold1, "train") == {s for s, w in SLIDES.items() if w == "train"}
    assert slides(fold1, "test") == {s for s, w in SLIDES.items() if w == "test"}
    fold2 = prepare("NuCLS", root, {"fold": "2"})
    assert fold2.name == "NuCLS_fold_2" and slides(fold2, "train") == slides(fold1, "test")
    everything = prepare("NuCLS", root, {"fold": "none"})
    assert everything.name == "NuCLS_all" and list(everything.splits) == ["train"]
    assert len(everything.splits["train"]) == len(truth)
    with pytest.raises(MissingDataError, match=r"fold_3_train\.csv.*-o fold=none"):
        prepare("NuCLS", root, {"fold": "3"})
    with pytest.raises(ValueError, match="option fold"):
        prepare("NuCLS", root, {"fold": "first"})

    # a slide in neither list is a counted skip; a slide in both lists is an error
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    splits_dir = copy / DATASET / "train_test_splits"
    test_csv = splits_dir / "fold_1_test.csv"
    test_csv.write_text("".join(line for line in test_csv.read_text().splitlines(True) if "OL-A66P" not in line))
    prepared = prepare("NuCLS", copy)
    skipped = [item for item in prepared.splits["train"] if item.attrs.get("skip_reason")]
    assert len(skipped) == 2 and all("TCGA-OL-A66P-DX1" in item.attrs["skip_reason"] for item in skipped)
    with open(splits_dir / "fold_1_train.csv", "a") as handle:
        handle.write("9,TCGA-BH-A0BL-DX1,BH,train,1\n")
    with pytest.raises(BadInputError, match=r"fold_1_test\.csv: line 2: slide TCGA-BH-A0BL-DX1 is in both"):
        prepare("NuCLS", copy)


def test_slide_and_prefix_from_file_names():
    stem = "TCGA-AN-A0XU-DX1_id-5ea40b25ddda5f83989991fd_left-32501_top-21485_bottom-21806_right-32812"
    assert slide_of(stem) == ("TCGA-AN-A0XU-DX1", None)
    assert slide_of(f"NP.3_U-control_{stem}") == ("TCGA-AN-A0XU-DX1", "NP.3_U-control")
    assert slide_of("ANCHFOV-12_TCGA-BH-A0BL-DX1_left-1_top-2_bottom-3_right-4") == ("TCGA-BH-A0BL-DX1", "ANCHFOV-12")
    assert slide_of("field_7") == (None, None)


def test_builds_and_loads(tree, tmp_path, monkeypatch):
    root, truth = tree
    loaded = build_and_load("NuCLS", root, tmp_path, monkeypatch)
    assert {split: len(recs) for split, recs in loaded.items()} == {"train": 4, "test": 4}
    _, records, _ = all_records(root)
    for split, recs in loaded.items():
        for record in recs:
            assert record["objects"] == records[split][record["image_id"]]["objects"]
            assert record["metadata"]["slide_id"] == truth[record["image_id"]].slide
    report = (tmp_path / "nuclei_collection" / ".nuclei_collection" / "NuCLS.json").read_text()
    assert "rectangle kept as iscrowd box" in report and "mask size differs from image" in report


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def fresh(tmp_path):
    truth = write_nucls(tmp_path)
    image_id = sorted(i for i, fov in truth.items() if SLIDES[fov.slide] == "train" and fov.nuclei)[0]
    return tmp_path, image_id, truth


def read_train(root, **options):
    prepared = prepare("NuCLS", root, options)
    return split_records(prepared, "train")


def _csv(root, image_id):
    return root / DATASET / "csv" / f"{image_id}.csv"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], r"truncated|malformed|columns expected|not a number"),
        (lambda b: b"", "empty file"),
        (lambda b: b"<!DOCTYPE html><html><body>Sign in</body></html>\n", "missing column"),
        (lambda b: b.replace(b"coords_y", b"coordsY", 1), "missing column.*coords_y"),
        (lambda b: b.replace(b",tumor,", b",tumour,", 1), "unknown raw_classification 'tumour'"),
        (lambda b: b.replace(b"polyline", b"point", 1), "unknown type 'point'"),
        (lambda b: b.replace(b'"\n', b',7"\n', 1), "line 2: coords_x has 9 values but coords_y 10"),
        (lambda b: b.replace(b',"', b',"x', 1), "coords_x is not a number"),
    ],
)
def test_damaged_csv_is_an_error_naming_it(fresh, damage, message):
    root, image_id, _ = fresh
    path = _csv(root, image_id)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(BadInputError, match=message) as error:
        read_train(root)
    assert f"{image_id}.csv" in str(error.value)


@pytest.mark.parametrize("folder", ["rgb", "mask"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "html"])
def test_damaged_png_is_an_error_naming_it(fresh, folder, damage):
    root, image_id, _ = fresh
    path = root / DATASET / folder / f"{image_id}.png"
    data = path.read_bytes()
    path.write_bytes(
        {"truncated": data[: len(data) // 2], "empty": b"", "html": b"<html>quota exceeded</html>"}[damage]
    )
    with pytest.raises(BadInputError, match=f"{folder}/{image_id}.png"):
        read_train(root)


def test_mask_of_another_size_or_kind_is_an_error(fresh):
    root, image_id, truth = fresh
    path = root / DATASET / "mask" / f"{image_id}.png"
    with Image.open(path) as image:
        mask = np.asarray(image)
    Image.fromarray(np.ascontiguousarray(mask[:-3])).save(path)
    with pytest.raises(BadInputError, match=r"mask size .* != image size"):
        read_train(root)
    Image.fromarray(mask[..., 0]).save(path)
    with pytest.raises(BadInputError, match="expected an 8-bit RGB mask"):
        read_train(root)


def test_missing_mask_or_fov_code_is_counted_and_leaves_no_outside_region(fresh):
    root, image_id, truth = fresh
    mask_path = root / DATASET / "mask" / f"{image_id}.png"
    with Image.open(mask_path) as image:
        mask = np.asarray(image).copy()
    mask[mask[..., 0] == 253] = 0
    Image.fromarray(mask).save(mask_path)
    records, report = read_train(root)
    assert report.counts()["no FOV in mask"] == 1
    assert len(records[image_id]["objects"]) == len(truth[image_id].nuclei)
    mask_path.unlink()
    records, report = read_train(root)
    assert report.counts()["no mask, FOV unknown"] == 1 and not report.skipped
    assert len(records[image_id]["objects"]) == len(truth[image_id].nuclei)


def test_image_without_csv_and_files_without_image_are_counted_skips(fresh):
    root, image_id, _ = fresh
    _csv(root, image_id).unlink()
    records, report = read_train(root)
    assert image_id not in records
    assert dict(report.skipped)[image_id] == f"rgb/{image_id}.png has no annotation csv/{image_id}.csv"
    (root / DATASET / "rgb" / f"{image_id}.png").unlink()
    records, report = read_train(root)
    assert f"mask/{image_id}.png has no image" in dict(report.skipped)[image_id]
    write_nucls(root)  # everything back, then only the image gone
    (root / DATASET / "rgb" / f"{image_id}.png").unlink()
    records, report = read_train(root)
    assert f"csv/{image_id}.csv and mask/{image_id}.png has no image" in dict(report.skipped)[image_id]


def test_rectangle_with_inverted_box_is_an_error(fresh):
    root, image_id, truth = fresh
    path = _csv(root, image_id)
    lines = path.read_text().splitlines(True)
    row = next(i for i, line in enumerate(lines) if ",rectangle," in line)
    cells = lines[row].split(",")
    at = cells.index("rectangle")
    cells[at + 1], cells[at + 3] = cells[at + 3], cells[at + 1]  # xmin <-> xmax
    lines[row] = ",".join(cells)
    path.write_text("".join(lines))
    with pytest.raises(BadInputError, match=rf"{image_id}\.csv: line {row + 1}: box xmin\.\.xmax .* inverted"):
        read_train(root)


def test_missing_layout_names_the_manual_download(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(MissingDataError, match="Google Drive") as error:
        prepare("NuCLS", tmp_path)
    assert "rgb/" in str(error.value) and "fold=none" in str(error.value)


def test_image_bytes_are_png_rgb(tree):
    root, truth = tree
    _, records, _ = all_records(root, fold="none")
    for record in records["train"].values():
        with Image.open(io.BytesIO(record["image"]["bytes"])) as image:
            assert image.format == "PNG" and image.mode == "RGB"
