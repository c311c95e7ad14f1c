"""PUMA reader: GeoJSON nucleus polygons (PUMA) and tissue polygons (PUMA_tissue), pixel for pixel.

The fixture (tests/fixtures/puma.py) writes the upstream layout with shapes whose pixel
sets have closed forms (rectangles, diamonds, a hole, a MultiPolygon, a nucleus cut by the
border); every record is decoded and compared with those masks and with pycocotools.
"""

from __future__ import annotations

import io
import json
import re
import shutil

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image
from pycocotools import mask as mask_util
from scipy import ndimage

from fixtures.puma import GRIDS, IMAGES_DIR, NUCLEI_DIR, TISSUE_CODES, TISSUE_DIR, write_puma, write_raw
from fixtures.records import image_pixels, records_of
from nuclei_collection import BadInputError, MissingDataError, build, decode_masks
from nuclei_collection_builders import rle
from nuclei_collection_builders.catalog import taxonomy_class
from nuclei_collection_builders.sources import get_spec, prepare
from nuclei_collection_builders.sources import puma as puma_reader

#: Upstream nucleus name -> collection category (the mapping under test, written out by hand).
EXPECTED_CATEGORY = {
    "nuclei_stroma": ("connective", "connective"),
    "nuclei_tumor": ("neoplastic", "neoplastic"),
    "nuclei_plasma_cell": ("plasma", "inflammatory"),
    "nuclei_histiocyte": ("macrophage", "inflammatory"),
    "nuclei_lymphocyte": ("lymphocyte", "inflammatory"),
    "nuclei_melanophage": ("melanophage", "inflammatory"),
    "nuclei_neutrophil": ("neutrophil", "inflammatory"),
    "nuclei_endothelium": ("endothelial", "connective"),
    "nuclei_epithelium": ("epithelial", "epithelial"),
    "nuclei_apoptosis": ("dead", "dead"),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("puma")
    return root, write_puma(root)


def coco_counts(mask: np.ndarray) -> str:
    return mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()


# --------------------------------------------------------------------------- nuclei


@pytest.mark.parametrize("grid", GRIDS)
def test_nuclei_pixel_exact_in_file_order(tree, grid):
    root, truth = tree
    records, report = records_of("PUMA", root, vertices=grid)
    assert [r["image_id"] for r in records] == list(truth)  # natural order; ROI 103 (.tiff) included
    assert not report.skipped
    names = get_spec("PUMA").make_source().class_names()
    for record in records:
        roi = truth[record["image_id"]]
        assert (record["height"], record["width"]) == (roi.height, roi.width)
        objects = record["objects"]
        assert [o["id"] for o in objects] == list(range(1, len(roi.nuclei) + 1))
        decoded = decode_masks(objects)
        for obj, shape, mask in zip(objects, roi.nuclei, decoded):
            expected = shape.masks[grid]
            assert np.array_equal(mask, expected), (record["image_id"], obj["id"], shape.name)
            assert obj["segmentation"]["counts"] == coco_counts(expected)
            assert obj["area"] == int(expected.sum())
            assert names[obj["category"]] == EXPECTED_CATEGORY[shape.name][0]
            assert not obj["iscrowd"]
        # overlapping nuclei stay overlapping (each object its own RLE)
        assert (decoded.sum(axis=0) > 1).any()


def test_multipolygon_is_one_nucleus_and_holes_are_respected(tree):
    root, truth = tree
    roi = truth["training_set_metastatic_roi_001"]
    multi = next(i for i, s in enumerate(roi.nuclei) if s.geometry["type"] == "MultiPolygon")
    holed = next(
        i for i, s in enumerate(roi.nuclei) if len(s.geometry["coordinates"]) == 2 and s.geometry["type"] == "Polygon"
    )
    # hole ring (23, 14)-(27, 18) in a nucleus (20, 12)-(30, 20)
    records, _ = records_of("PUMA", root, vertices="centre")
    masks = decode_masks(records[0]["objects"])
    assert ndimage.label(masks[multi])[1] == 2  # two parts, one object
    assert not masks[holed][15:18, 24:27].any()  # pixels strictly inside the hole are not the nucleus
    assert masks[holed][14, 23:28].all() and masks[holed][18, 23:28].all()  # pixels on the hole's edge are
    records, _ = records_of("PUMA", root)  # corners: the hole covers pixels whose centres lie in it
    masks = decode_masks(records[0]["objects"])
    assert ndimage.label(masks[multi])[1] == 2
    assert not masks[holed][14:18, 23:27].any() and masks[holed][12:20, 20:30].sum() == 80 - 16


def test_the_two_vertex_readings_differ_by_half_a_pixel(tree):
    root, truth = tree
    corner, _ = records_of("PUMA", root)
    centre, _ = records_of("PUMA", root, vertices="centre")
    # a w x h rectangle ring covers w x h pixels read as corners, (w + 1) x (h + 1) read as centres
    first = truth["training_set_metastatic_roi_001"].nuclei[0]
    (x0, y0), (x1, _), (_, y1) = first.geometry["coordinates"][0][:3]
    assert corner[0]["objects"][0]["area"] == (x1 - x0) * (y1 - y0)
    assert centre[0]["objects"][0]["area"] == (x1 - x0 + 1) * (y1 - y0 + 1)
    assert corner[0]["objects"][0]["bbox"] == [x0, y0, x1 - x0, y1 - y0]
    assert prepare("PUMA", root).name == "PUMA"
    assert prepare("PUMA", root, {"vertices": "centre"}).name == "PUMA_centre_vertices"
    assert prepare("PUMA_tissue", root, {"vertices": "centre"}).name == "PUMA_tissue_centre_vertices"
    with pytest.raises(ValueError, match="vertices must be one of"):
        prepare("PUMA", root, {"vertices": "pixel"})


def test_images_rgb_without_the_constant_fourth_channel_and_metadata(tree):
    root, truth = tree
    records, _ = records_of("PUMA", root)
    for record in records:
        roi = truth[record["image_id"]]
        assert np.array_equal(image_pixels(record), roi.rgb)
    meta = {r["image_id"]: r["metadata"] for r in records}
    primary, metastatic = meta["training_set_primary_roi_001"], meta["training_set_metastatic_roi_103"]
    assert metastatic["upstream_path"] == f"{IMAGES_DIR}/training_set_metastatic_roi_103.tiff"
    assert (primary["tissue"], primary["organ"]) == ("primary melanoma", "skin")
    assert (metastatic["tissue"], metastatic["organ"]) == ("metastatic melanoma", None)  # site not given upstream
    assert primary["mpp"] == pytest.approx(0.23) and primary["magnification"] == 40.0
    assert (primary["stain"], primary["modality"], primary["annotation"]) == ("H&E", "histology", "complete")
    assert primary["license"] == "CC0-1.0" and primary["source"] == "PUMA"


def test_class_table_uses_the_shared_vocabulary():
    classes = get_spec("PUMA").make_source().classes()
    assert {c.upstream: (c.name, c.pannuke) for c in classes} == EXPECTED_CATEGORY
    for name, group in EXPECTED_CATEGORY.values():
        assert taxonomy_class(name, "pannuke") == group
    assert [c.upstream for c in classes] == list(EXPECTED_CATEGORY)  # torch-em's order, codes 1-10


@pytest.mark.parametrize("grid", GRIDS)
def test_border_nucleus_clipped_and_counted(tree, grid):
    root, truth = tree
    records, report = records_of("PUMA", root, vertices=grid)
    # the last nucleus of every ROI pokes out of the frame: clipped, and counted once per ROI
    assert report.counts()["feature beyond the pixel frame"] == len(truth)
    for record in records:
        roi = truth[record["image_id"]]
        assert decode_masks(record["objects"])[-1].sum() == roi.nuclei[-1].masks[grid].sum() > 0


def test_tissue_tiling_the_frame_is_not_beyond_it_under_the_corner_reading(tree):
    root, truth = tree
    _, corner = records_of("PUMA_tissue", root)
    _, centre = records_of("PUMA_tissue", root, vertices="centre")
    # vertices at x = width, y = height are the frame's far corners, not beyond it
    assert "feature beyond the pixel frame" not in corner.counts()
    assert centre.counts()["feature beyond the pixel frame"] == 2 * len(truth)  # stroma and tumour reach y = h


def test_one_split_train(tree):
    root, _ = tree
    for config in ("PUMA", "PUMA_tissue"):
        prepared = prepare(config, root)
        assert list(prepared.splits) == ["train"] == list(get_spec(config).splits)


# --------------------------------------------------------------------------- tissue


@pytest.mark.parametrize("grid", GRIDS)
def test_tissue_mask_pixel_exact(tree, grid):
    root, truth = tree
    records, report = records_of("PUMA_tissue", root, vertices=grid)
    assert [r["image_id"] for r in records] == list(truth) and not report.skipped
    names = get_spec("PUMA_tissue").make_source().class_names()
    assert names[0] == "ambiguous" and [names[code] for code in TISSUE_CODES.values()] == list(TISSUE_CODES)
    for record in records:
        expected = truth[record["image_id"]].tissue_mask(grid)
        mask = np.asarray(Image.open(io.BytesIO(record["mask"]["bytes"])))
        assert np.array_equal(mask, expected)
        assert (expected[:4] == 0).all()  # the strip covered by no polygon is don't care (code 0)
        painted = np.zeros_like(expected)
        for region in record["regions"]:
            code = region["category"]
            assert code != 0 and region["segmentation"]["counts"] == coco_counts(expected == code)
            painted[rle.decode_masks([region])[0]] = code
        assert np.array_equal(painted, expected)
        assert np.array_equal(image_pixels(record), truth[record["image_id"]].rgb)
        assert record["metadata"]["mask_path"] == f"{TISSUE_DIR}/{record['image_id']}_tissue.geojson"
    # the blood vessel diamond overlaps stroma and tumour: counted, later feature wins
    assert report.counts()["tissue overlap pixels"] > 0


# --------------------------------------------------------------------------- bad input


def _fresh(tmp_path, annotations=("nuclei",)):
    return write_puma(tmp_path, annotations=annotations)


def _geojson(tmp_path, stem="training_set_metastatic_roi_002"):
    return tmp_path / NUCLEI_DIR / f"{stem}_nuclei.geojson"


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "not valid JSON"),
        (b'{"type": "FeatureCollection", "features": [{"type": "Feat', "not valid JSON"),
        (b"<!DOCTYPE html><html><body>Zenodo error</body></html>", "not valid JSON"),
        (b'{"type": "Feature"}', "expected a GeoJSON FeatureCollection"),
        (b'{"type": "FeatureCollection"}', "no 'features' list"),
    ],
)
def test_damaged_geojson_is_an_error_naming_the_file(tmp_path, content, reason):
    _fresh(tmp_path)
    _geojson(tmp_path).write_bytes(content)
    with pytest.raises(BadInputError, match=rf"training_set_metastatic_roi_002_nuclei\.geojson.*{reason}"):
        records_of("PUMA", tmp_path)


def _edit_feature(tmp_path, edit, index=2):
    path = _geojson(tmp_path)
    document = json.loads(path.read_text())
    edit(document["features"][index])
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda f: f["properties"].pop("classification"), "feature 2 has no properties.classification.name"),
        (
            lambda f: f["properties"]["classification"].update(name="nuclei_mitosis"),
            "unknown class name 'nuclei_mitosis'",
        ),
        (lambda f: f["properties"].update(classification="{not json"), "neither an object nor JSON"),
        (lambda f: f.update(geometry={"type": "Point", "coordinates": [3, 4]}), "geometry type 'Point'"),
        (lambda f: f.update(geometry=None), "geometry type None"),
        (lambda f: f["geometry"]["coordinates"][0].__setitem__(1, ["a", 2]), "not \\[x, y\\] numbers"),
        (lambda f: f["geometry"].update(coordinates=[[[1, 1], [2, 2]]]), "fewer than 3 positions"),
    ],
)
def test_bad_features_are_errors_naming_file_and_feature(tmp_path, edit, reason):
    _fresh(tmp_path)
    _edit_feature(tmp_path, edit)
    with pytest.raises(BadInputError, match=rf"roi_002_nuclei\.geojson: .*{reason}"):
        records_of("PUMA", tmp_path)


def test_tissue_name_in_a_nuclei_file_is_unknown(tmp_path):
    _fresh(tmp_path)
    _edit_feature(tmp_path, lambda f: f["properties"]["classification"].update(name="tissue_tumor"))
    with pytest.raises(BadInputError, match=r"unknown class name 'tissue_tumor'; known: nuclei_stroma"):
        records_of("PUMA", tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "empty", "html"])
def test_damaged_roi_is_an_error_naming_it(tmp_path, damage):
    _fresh(tmp_path)
    path = tmp_path / IMAGES_DIR / "training_set_metastatic_roi_103.tiff"
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 3], "empty": b"", "html": b"<html>error</html>"}[damage])
    with pytest.raises(BadInputError, match=r"training_set_metastatic_roi_103\.tiff"):
        records_of("PUMA", tmp_path)


def test_missing_partners_and_stray_files_are_counted_skips(tmp_path):
    truth = _fresh(tmp_path)
    (tmp_path / IMAGES_DIR / "training_set_metastatic_roi_002.tif").unlink()  # annotation without image
    _geojson(tmp_path, "training_set_primary_roi_001").unlink()  # image without annotation
    (tmp_path / NUCLEI_DIR / "README.txt").write_text("notes")
    (tmp_path / IMAGES_DIR / "thumbs.db").write_bytes(b"\x00")
    records, report = records_of("PUMA", tmp_path)
    assert [r["image_id"] for r in records] == ["training_set_metastatic_roi_001", "training_set_metastatic_roi_103"]
    reasons = dict(report.skipped)
    assert set(reasons) == {
        "training_set_metastatic_roi_002",
        "training_set_primary_roi_001",
        "README.txt",
        "thumbs.db",
    }
    assert (
        "training_set_metastatic_roi_002_nuclei.geojson has no ROI image" in reasons["training_set_metastatic_roi_002"]
    )
    assert "training_set_primary_roi_001.tif has no annotation" in reasons["training_set_primary_roi_001"]
    assert "README.txt is not named <ROI>_nuclei.geojson" in reasons["README.txt"]
    assert len(truth) == 4


def test_missing_annotation_folder_names_it(tmp_path):
    _fresh(tmp_path, annotations=("nuclei",))
    with pytest.raises(MissingDataError, match=rf"no {TISSUE_DIR}/ next to {IMAGES_DIR}/"):
        prepare("PUMA_tissue", tmp_path)
    shutil.rmtree(tmp_path / IMAGES_DIR)
    with pytest.raises(MissingDataError, match="zenodo.org/records/15050523"):
        prepare("PUMA", tmp_path)


def test_same_stem_as_tif_and_tiff_is_an_error(tmp_path):
    _fresh(tmp_path)
    shutil.copy(
        tmp_path / IMAGES_DIR / "training_set_metastatic_roi_103.tiff",
        tmp_path / IMAGES_DIR / "training_set_metastatic_roi_103.tif",
    )
    with pytest.raises(BadInputError, match="two ROI images with the stem 'training_set_metastatic_roi_103'"):
        prepare("PUMA", tmp_path)


def test_non_constant_fourth_channel_is_kept_with_a_note(tmp_path):
    truth = _fresh(tmp_path)
    path = tmp_path / IMAGES_DIR / "training_set_metastatic_roi_001.tif"
    rgba = np.asarray(Image.open(path)).copy()
    rgba[0, 0, 3] = 7
    Image.fromarray(rgba).save(path, format="TIFF")
    records, report = records_of("PUMA", tmp_path)
    assert np.array_equal(image_pixels(records[0]), rgba) and report.counts()["alpha kept"] == 1
    assert np.array_equal(image_pixels(records[1]), truth["training_set_metastatic_roi_002"].rgb)


def test_empty_feature_collection_is_a_record_without_nuclei(tmp_path):
    _fresh(tmp_path)
    _geojson(tmp_path).write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    records, report = records_of("PUMA", tmp_path)
    assert records[1]["objects"] == [] and not report.skipped


def test_classification_as_json_text_reads_like_the_dict(tmp_path):
    truth = _fresh(tmp_path)
    path = _geojson(tmp_path)
    document = json.loads(path.read_text())
    for feature in document["features"]:
        if isinstance(feature["properties"]["classification"], dict):  # one is text already
            feature["properties"]["classification"] = json.dumps(feature["properties"]["classification"])
    path.write_text(json.dumps(document))
    records, _ = records_of("PUMA", tmp_path)
    names = get_spec("PUMA").make_source().class_names()
    roi = truth["training_set_metastatic_roi_002"]
    assert [names[o["category"]] for o in records[1]["objects"]] == [EXPECTED_CATEGORY[s.name][0] for s in roi.nuclei]


def test_layout_found_with_each_zip_unpacked_into_a_folder_of_its_name(tmp_path):
    truth = write_puma(tmp_path / "staging")  # "unzip X.zip -d X": every top folder twice
    for folder in (IMAGES_DIR, NUCLEI_DIR, TISSUE_DIR):
        (tmp_path / "raw" / folder).mkdir(parents=True)
        shutil.move(tmp_path / "staging" / folder, tmp_path / "raw" / folder / folder)
    for config in ("PUMA", "PUMA_tissue"):
        records, report = records_of(config, tmp_path / "raw")
        assert [r["image_id"] for r in records] == list(truth) and not report.skipped


# --------------------------------------------------------------------------- downloads, registry, round trip


def test_downloads_are_the_zenodo_zips_with_checksums():
    for reader, annotation in ((puma_reader.PUMA, NUCLEI_DIR), (puma_reader.PUMATissue, TISSUE_DIR)):
        assert [d.filename for d in reader.downloads] == [f"{IMAGES_DIR}.zip", f"{annotation}.zip"]
        for download in reader.downloads:
            assert download.url == f"https://zenodo.org/records/15050523/files/{download.filename}"
            assert re.fullmatch(r"[0-9a-f]{64}", download.sha256)


@pytest.mark.parametrize("config", ["PUMA", "PUMA_tissue"])
def test_write_raw_builds_every_config(tmp_path, config):
    write_raw(tmp_path, config)
    records, report = records_of(config, tmp_path)
    assert len(records) == 4 and not report.skipped


def test_build_load_dataset_and_streaming_round_trip(tree, tmp_path, monkeypatch):
    root, truth = tree
    build(["PUMA", "PUMA_tissue"], data_dir=root, out=tmp_path / "nuclei_collection")
    monkeypatch.chdir(tmp_path)
    local = load_dataset("nuclei_collection", "PUMA", split="train")
    streamed = list(load_dataset("nuclei_collection", "PUMA", split="train", streaming=True))
    assert len(local) == len(streamed) == len(truth)
    names = local.features["objects"].feature["category"].names
    for a, b in zip(local, streamed):
        roi = truth[a["image_id"]]
        assert a["objects"] == b["objects"] and a["metadata"] == b["metadata"]
        assert np.array_equal(np.asarray(a["image"]), roi.rgb) and np.array_equal(np.asarray(b["image"]), roi.rgb)
        for obj, mask, shape in zip(a["objects"], decode_masks(a["objects"]), roi.nuclei):
            expected = shape.masks["corner"]
            assert np.array_equal(mask, expected) and names[obj["category"]] == EXPECTED_CATEGORY[shape.name][0]
    tissue = load_dataset("nuclei_collection", "PUMA_tissue", split="train")
    tissue_streamed = list(load_dataset("nuclei_collection", "PUMA_tissue", split="train", streaming=True))
    assert [r["image_id"] for r in tissue] == [r["image_id"] for r in tissue_streamed] == list(truth)
    for a, b in zip(tissue, tissue_streamed):
        expected = truth[a["image_id"]].tissue_mask()
        assert np.array_equal(np.asarray(a["mask"]), expected) and np.array_equal(np.asarray(b["mask"]), expected)
        assert a["regions"] == b["regions"]
