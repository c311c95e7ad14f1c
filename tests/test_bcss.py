"""BCSS and CrowdsourcingDataset-Amgadetal2019: pixel-exact on the real masks, splits, tiles, export.

Real: the 4 BCSS masks and the meta files of ../shared/realdata (symlinked into the tree).
Generated: the RGB images (the real sample has none; same names and sizes as the masks),
one test-site ROI for BCSS, and the base-magnification ROIs of Amgad 2019 (sizes from the
real roiBounds.csv, magnifications from the real slide_magnifications csv).
"""

from __future__ import annotations

import csv

import numpy as np
import pyarrow.parquet as pq
import pycocotools.mask as mask_util
import pytest
from datasets import load_dataset
from PIL import Image

import nuclei_collection_builders.exporters.parquet as export_module
from conftest import realdata_path
from fixtures.bcss import code_mask, write_amgad2019_tree, write_bcss_tree, write_png
from nuclei_collection import BadInputError, MissingDataError, build, decode_objects
from nuclei_collection_builders import raster
from nuclei_collection_builders.pipeline import iter_split
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.bcss import (
    GT_CODES,
    ROI_MAX_PIXELS,
    TEST_SITES,
    check_gtruth_codes,
    official_split,
    parse_roi_name,
    read_gtruth_codes,
)

#: A real test-site ROI name (roiBounds.csv); its mask is generated (not in the real sample).
OL_ROI = "TCGA-OL-A5RW-DX1_xmin5772_ymin6839_MPP-0.2500"
#: Base-magnification ROIs for Amgad 2019: (slide id, scan magnification in the real csv).
AMGAD_ROIS = (("TCGA-A7-A4SE-DX1", 40.0), ("TCGA-HN-A2NL-DX1", 20.0), ("TCGA-OL-A5RW-DX1", 40.0))


def real_mask_names() -> list[str]:
    return sorted(p.name for p in realdata_path("bcss", "masks").iterdir())


def roi_bounds(realdata) -> dict[str, tuple[int, int, int, int]]:
    with open(realdata / "crowdsourcing_amgad2019" / "meta" / "roiBounds.csv", newline="") as handle:
        return {
            r[""]: tuple(int(float(r[k])) for k in ("xmin", "ymin", "xmax", "ymax")) for r in csv.DictReader(handle)
        }


def upstream_codes(realdata) -> dict[int, str]:
    return read_gtruth_codes(realdata / "bcss" / "meta" / "gtruth_codes.tsv")


def check_semantic_record(record, mask: np.ndarray, names: dict[int, str]) -> None:
    """Regions partition the annotated pixels: each one is its code's pixels, named from the tsv."""
    assert (record["height"], record["width"]) == mask.shape
    present = sorted(int(c) for c in np.unique(mask) if c != 0)
    regions = record["regions"]
    assert [r["category"] for r in regions] == present
    for region in regions:
        code = region["category"]
        assert GT_CODES[code] == names[code]
        upstream = mask == code
        assert region["area"] == int(upstream.sum())
        reference = mask_util.encode(np.asfortranarray(upstream.astype(np.uint8)))
        assert region["segmentation"]["counts"] == reference["counts"].decode()
    painted = decode_objects([{"id": r["category"], "segmentation": r["segmentation"]} for r in regions], *mask.shape)
    assert np.array_equal(painted, mask)


@pytest.fixture(scope="module")
def realdata():
    return realdata_path("bcss").parent


@pytest.fixture(scope="module")
def bcss_raw(realdata, tmp_path_factory):
    """Drive layout: the 4 real masks (symlinks) + one generated test-site ROI, generated RGBs."""
    data_dir = tmp_path_factory.mktemp("bcss_raw")
    ol_mask = code_mask(860, 1015, (2, 1, 3), dont_care=(300, 400), seed=3)
    write_bcss_tree(data_dir, realdata, real_mask_names(), [(OL_ROI, ol_mask)])
    return data_dir


@pytest.fixture(scope="module")
def bcss_export(bcss_raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("bcss_out") / "nuclei_collection"
    reports = build(["BCSS", "BCSS_1024"], data_dir=bcss_raw, out=out)
    return out, {r.name: r for r in reports}


@pytest.fixture(scope="module")
def amgad_raw(realdata, tmp_path_factory):
    root = tmp_path_factory.mktemp("amgad_raw") / "raw"
    bounds = roi_bounds(realdata)
    rois = []
    for k, (slide, _) in enumerate(AMGAD_ROIS):
        xmin, ymin, xmax, ymax = bounds[slide]
        mask = code_mask(ymax - ymin, xmax - xmin, (1, 2, 9, 4)[k:], dont_care=(700, 600), seed=k)
        rois.append((f"{slide}_xmin{xmin}_ymin{ymin}_MAG-0", mask))
    return write_amgad2019_tree(root, realdata, rois)


# --------------------------------------------------------------------------- names, codes, splits


def test_pinned_codes_equal_the_real_tsv_of_both_releases(realdata):
    for folder in ("bcss", "crowdsourcing_amgad2019"):
        path = realdata / folder / "meta" / "gtruth_codes.tsv"
        check_gtruth_codes(path)
        assert read_gtruth_codes(path) == dict(enumerate(GT_CODES))
    assert GT_CODES[0] == "outside_roi" and GT_CODES[21] == "other"


def test_changed_code_table_stops_the_build(tmp_path):
    root = write_bcss_tree(tmp_path, realdata_path("bcss").parent, real_mask_names()[:1], rgb_folder=None)
    tsv = root / "meta" / "gtruth_codes.tsv"
    text = tsv.read_text().replace("other\t21", "other_tissue\t21")
    tsv.unlink()
    tsv.write_text(text)
    with pytest.raises(BadInputError, match="code 21: data 'other_tissue', schema 'other'") as error:
        prepare("BCSS", tmp_path, {"masks_only": True})
    assert "gtruth_codes.tsv" in str(error.value)


@pytest.mark.parametrize(
    "stem, expected",
    [
        ("TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500", ("TCGA-A1-A0SK-DX1", "A1", 45749, 25055, 0.25)),
        ("TCGA-OL-A5RW-DX1_xmin5772_ymin6839_MAG-0", ("TCGA-OL-A5RW-DX1", "OL", 5772, 6839, None)),
        ("TCGA-E2-A14P-DX1_xmin1_ymin2_", ("TCGA-E2-A14P-DX1", "E2", 1, 2, None)),  # 2019 script names
        ("TCGA-S3-AA15-DX1_xmin1_ymin2", ("TCGA-S3-AA15-DX1", "S3", 1, 2, None)),
    ],
)
def test_roi_names(stem, expected):
    roi = parse_roi_name(stem)
    assert (roi.slide_id, roi.site, roi.xmin, roi.ymin, roi.mpp) == expected
    assert roi.patient_id == roi.slide_id[:12]


@pytest.mark.parametrize(
    "stem", ["mask", "TCGA-A1-A0SK-DX1", "TCGA-A1-A0SK-DX1_xmin1_ymin2_MPP-", "TCGA-A1-A0SK_xmin1_ymin2"]
)
def test_roi_names_rejected(stem):
    assert parse_roi_name(stem) is None


def test_official_split_covers_every_real_roi(realdata):
    with open(realdata / "bcss" / "meta" / "roiBounds.csv", newline="") as handle:
        slides = [row[""] for row in csv.DictReader(handle)]
    rois = [parse_roi_name(f"{slide}_xmin0_ymin0") for slide in slides]
    assert all(rois), "every upstream slide id has the parsed form"
    splits = [official_split(roi.site) for roi in rois]
    assert (splits.count("train"), splits.count("test")) == (106, 45)
    assert {roi.site for roi in rois if official_split(roi.site) == "test"} == set(TEST_SITES)


# --------------------------------------------------------------------------- BCSS, real masks


def test_bcss_listing_and_split(bcss_raw):
    splits = prepare("BCSS", bcss_raw).splits
    assert [i.image_id for i in splits["train"]] == [n[: -len(".png")] for n in real_mask_names()]
    assert [i.image_id for i in splits["test"]] == [OL_ROI]


def test_bcss_records_are_pixel_exact_on_the_real_masks(bcss_raw, realdata):
    prepared = prepare("BCSS", bcss_raw)
    names = upstream_codes(realdata)
    root = prepared.root
    records = list(iter_split(prepared.source, prepared.splits["train"]))
    assert len(records) == 4
    for record in records:
        mask_file = realdata / "bcss" / "masks" / f"{record['image_id']}.png"
        rgb_file = root / "rgbs_colorNormalized" / f"{record['image_id']}.png"
        assert record["mask"]["bytes"] == mask_file.read_bytes()  # stored verbatim
        assert record["image"]["bytes"] == rgb_file.read_bytes()
        check_semantic_record(record, np.asarray(Image.open(mask_file)), names)
        roi = parse_roi_name(record["image_id"])
        assert record["roi"] == {"slide_id": roi.slide_id, "xmin": roi.xmin, "ymin": roi.ymin}
        assert (record["mpp"], record["magnification"]) == (0.25, 40.0)
        metadata = record["metadata"]
        assert metadata["site"] == roi.site and metadata["patient_id"] == roi.patient_id
        assert metadata["scan_magnification"] == 40.0  # these 4 slides are 40x in slide_magnifications.csv
        assert metadata["color_normalized"] is True
        assert metadata["license"] == "CC-BY-4.0"
        assert "CC0 1.0" in metadata["license_note"] and "CC BY 4.0" in metadata["license_note"]
        assert metadata["mask_path"] == f"masks/{record['image_id']}.png"
        assert metadata["upstream_path"] == f"rgbs_colorNormalized/{record['image_id']}.png"
        assert metadata["tile_x"] is None


def test_bcss_reads_above_pillows_default_limit_only_for_its_own_reads(bcss_raw, monkeypatch):
    """A real mask (8.4 Mpx) against a lowered global limit: plain reads fail, ROI reads pass."""
    prepared = prepare("BCSS", bcss_raw, {"masks_only": True})
    item = prepared.splits["train"][0]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(BadInputError, match="too large"):
        raster.read_image(item.files["mask"])
    assert prepared.source.read(item).mask.shape == (2467, 3394)
    assert Image.MAX_IMAGE_PIXELS == 1_000_000  # restored


def test_pixel_limit_is_explicit_and_restored(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (10_000, 9_000)).save(path, compress_level=1)  # 90 Mpx > Pillow's 89.5 Mpx
    default = Image.MAX_IMAGE_PIXELS
    with pytest.raises(BadInputError, match="too large"):
        raster.read_image(path)
    assert raster.read_image(path, max_pixels=ROI_MAX_PIXELS).shape == (9_000, 10_000)
    with pytest.raises(BadInputError, match="too large"):
        raster.read_image(path, max_pixels=50_000_000)
    assert Image.MAX_IMAGE_PIXELS == default


def test_masks_without_rgb_are_a_counted_error_or_a_masks_only_build(realdata, tmp_path):
    names = real_mask_names()
    root = write_bcss_tree(tmp_path, realdata, names[:2])
    (root / "rgbs_colorNormalized" / names[1]).unlink()
    with pytest.raises(BadInputError, match=r"1 of 2 masks have no RGB") as error:
        prepare("BCSS", tmp_path)
    assert names[1][: -len(".png")] in str(error.value) and "masks_only=true" in str(error.value)
    prepared = prepare("BCSS", tmp_path, {"masks_only": "true"})  # as the CLI passes it
    records = list(iter_split(prepared.source, prepared.splits["train"]))
    assert [r["image"] for r in records] == [None, None]
    for record in records:
        check_semantic_record(
            record,
            np.asarray(Image.open(realdata / "bcss" / "masks" / f"{record['image_id']}.png")),
            upstream_codes(realdata),
        )
        assert record["metadata"]["upstream_path"] is None and record["metadata"]["color_normalized"] is None


def test_bad_masks_name_the_file(realdata, tmp_path):
    root = write_bcss_tree(tmp_path, realdata, (), [(OL_ROI, code_mask(40, 50, (1, 2)))], rgb_folder=None)
    mask_file = root / "masks" / f"{OL_ROI}.png"
    write_png(mask_file, np.full((40, 50), 22, np.uint8))
    prepared = prepare("BCSS", tmp_path, {"masks_only": True})
    with pytest.raises(BadInputError, match=r"pixel values \[22\] are not ground-truth codes") as error:
        prepared.source.read(prepared.splits["test"][0])
    assert mask_file.name in str(error.value)
    write_png(mask_file, np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(BadInputError, match="8-bit grey"):
        prepared.source.read(prepared.splits["test"][0])
    base = root / "masks" / "TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MAG-0.png"
    write_png(base, code_mask(40, 50, (1,)))
    with pytest.raises(BadInputError, match="CrowdsourcingDataset-Amgadetal2019"):
        prepare("BCSS", tmp_path, {"masks_only": True})


def test_missing_data_gives_the_drive_instructions(tmp_path):
    with pytest.raises(MissingDataError) as error:
        prepare("BCSS", tmp_path)
    message = str(error.value)
    assert "https://drive.google.com/drive/folders/1zqbdkQF8i5cEmZOGmbdQm-EP8dRYtvss" in message
    assert "0_Public-data-Amgad2019_0.25MPP" in message and "unzip" in message


# --------------------------------------------------------------------------- export + load


def test_export_loads_locally_and_streaming(bcss_export, realdata, monkeypatch):
    out, reports = bcss_export
    monkeypatch.chdir(out.parent)
    names = upstream_codes(realdata)
    local = load_dataset(out.name, "BCSS", split="train")
    streamed = list(load_dataset(out.name, "BCSS", split="train", streaming=True))
    assert len(local) == len(streamed) == 4
    category = local.features["regions"].feature["category"]
    assert category.names == list(GT_CODES)
    for a, b in zip(local, streamed):
        assert a["regions"] == b["regions"] and a["metadata"] == b["metadata"] and a["roi"] == b["roi"]
        assert a["mask"].mode == "L" and a["image"].mode == "RGB"
        mask = np.asarray(a["mask"])
        assert np.array_equal(mask, np.asarray(Image.open(realdata / "bcss" / "masks" / f"{a['image_id']}.png")))
        assert np.array_equal(mask, np.asarray(b["mask"]))
        assert np.array_equal(np.asarray(a["image"]), np.asarray(b["image"]))
        check_semantic_record(a, mask, names)
        for region in a["regions"]:  # the ClassLabel of the loaded features names each code as the tsv does
            assert category.int2str(region["category"]) == names[region["category"]]
    test = load_dataset(out.name, "BCSS", split="test")
    assert test["image_id"] == [OL_ROI]
    stats = reports["BCSS"].splits
    assert (stats["train"]["records"], stats["test"]["records"]) == (4, 1)
    assert stats["train"]["objects"] == 21  # codes per real mask: 5 + 4 + 7 + 5


def test_tiles_reassemble_to_the_real_rois(bcss_export, bcss_raw, realdata, monkeypatch):
    out, reports = bcss_export
    monkeypatch.chdir(out.parent)
    tiles = load_dataset(out.name, "BCSS_1024", split="train", streaming=True)
    rois: dict[str, list] = {}
    for record in tiles:
        rois.setdefault(record["image_id"].rsplit("_tile_", 1)[0], []).append(record)
    assert sorted(rois) == [n[: -len(".png")] for n in real_mask_names()]
    names = upstream_codes(realdata)
    counts = {}
    for roi, records in rois.items():
        mask = np.asarray(Image.open(realdata / "bcss" / "masks" / f"{roi}.png"))
        rgb = np.asarray(
            Image.open(bcss_raw / "0_Public-data-Amgad2019_0.25MPP" / "rgbs_colorNormalized" / f"{roi}.png")
        )
        mask_back, rgb_back = np.zeros_like(mask), np.zeros_like(rgb)
        for record in records:
            x, y = record["metadata"]["tile_x"], record["metadata"]["tile_y"]
            assert record["image_id"] == f"{roi}_tile_x{x}_y{y}" and x % 1024 == 0 and y % 1024 == 0
            tile_mask = np.asarray(record["mask"])
            assert tile_mask.shape == (min(1024, mask.shape[0] - y), min(1024, mask.shape[1] - x))
            check_semantic_record(record, tile_mask, names)
            mask_back[y : y + tile_mask.shape[0], x : x + tile_mask.shape[1]] = tile_mask
            rgb_back[y : y + tile_mask.shape[0], x : x + tile_mask.shape[1]] = np.asarray(record["image"])
            assert record["roi"]["slide_id"] == roi.split("_")[0]
        assert np.array_equal(mask_back, mask) and np.array_equal(rgb_back, rgb)
        counts[roi] = len(records)
    # no 0 pixels in the real masks: nothing dropped, ceil(w/1024) * ceil(h/1024) tiles each
    assert sorted(counts.values()) == [12, 12, 12, 15]
    assert reports["BCSS_1024"].splits["train"]["records"] == 51


def test_card_flags_dont_care_licence_and_counts_regions(bcss_export):
    out, _ = bcss_export
    readme = (out / "README.md").read_text()
    assert "**don't care**" in readme and "not** the class `other`" in readme
    assert "CC0 1.0 (GitHub README) and CC BY 4.0 (Google Drive release README)" in readme
    assert "4 images, 21 regions" in readme
    assert "semantic-segmentation" in readme.split("---")[1]


def test_row_groups_stay_small(bcss_export, bcss_raw, tmp_path, monkeypatch):
    out, _ = bcss_export
    for path in sorted(out.glob("*/*.parquet")):
        metadata = pq.ParquetFile(path).metadata
        for g in range(metadata.num_row_groups):
            assert metadata.row_group(g).total_byte_size < export_module.ROW_GROUP_MAX_BYTES
    # With a limit below two ROIs, the writer must cut a row group after every ROI.
    limit = 1_200_000
    monkeypatch.setattr(export_module, "ROW_GROUP_MAX_BYTES", limit)
    build("BCSS", data_dir=bcss_raw, out=tmp_path)
    metadata = pq.ParquetFile(next((tmp_path / "BCSS").glob("train-*.parquet"))).metadata
    sizes = [metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups)]
    assert metadata.num_row_groups == 4
    assert all(size < 2 * limit for size in sizes), sizes


# --------------------------------------------------------------------------- Amgad 2019


def test_amgad2019_resolution_comes_from_the_magnification_csv(amgad_raw):
    prepared = prepare("CrowdsourcingDataset-Amgadetal2019", amgad_raw)
    assert {s: [i.image_id[:16] for i in items] for s, items in prepared.splits.items()} == {
        "train": ["TCGA-A7-A4SE-DX1", "TCGA-HN-A2NL-DX1"],
        "test": ["TCGA-OL-A5RW-DX1"],
    }
    by_slide = {}
    for items in prepared.splits.values():
        for record in iter_split(prepared.source, items):
            by_slide[record["roi"]["slide_id"]] = record
            mask = np.asarray(Image.open(amgad_raw / record["metadata"]["mask_path"]))
            check_semantic_record(record, mask, dict(enumerate(GT_CODES)))
            assert record["metadata"]["color_normalized"] is False  # images/ of the download script
    for slide, magnification in AMGAD_ROIS:
        record = by_slide[slide]
        assert record["magnification"] == record["metadata"]["scan_magnification"] == magnification
        assert record["mpp"] == {40.0: 0.25, 20.0: 0.5}[magnification]


def test_amgad2019_ignores_the_mpp_in_file_names_and_checks_base_size(amgad_raw, realdata, tmp_path):
    xmin, ymin, xmax, ymax = roi_bounds(realdata)["TCGA-HN-A2NL-DX1"]
    base = code_mask(ymax - ymin, xmax - xmin, (1, 2))
    stem = f"TCGA-HN-A2NL-DX1_xmin{xmin}_ymin{ymin}_MPP-0.2500"  # a wrong MPP claim in the name
    root = write_amgad2019_tree(tmp_path / "ok", realdata, [(stem, base)])
    prepared = prepare("CrowdsourcingDataset-Amgadetal2019", root)
    (record,) = iter_split(prepared.source, prepared.splits["train"])
    assert (record["mpp"], record["magnification"]) == (0.5, 20.0)
    resampled = code_mask((ymax - ymin) // 2, (xmax - xmin) // 2, (1, 2))
    root = write_amgad2019_tree(tmp_path / "resampled", realdata, [(stem, resampled)])
    prepared = prepare("CrowdsourcingDataset-Amgadetal2019", root)
    with pytest.raises(BadInputError, match="not the base-magnification ROI size 1048x1284"):
        prepared.source.read(prepared.splits["train"][0])


def test_amgad2019_needs_its_meta(amgad_raw, tmp_path):
    root = tmp_path / "raw"
    (root / "meta").mkdir(parents=True)
    for folder in ("masks", "images"):
        (root / folder).symlink_to(amgad_raw / folder)
    (root / "meta" / "gtruth_codes.tsv").symlink_to((amgad_raw / "meta" / "gtruth_codes.tsv").resolve())
    with pytest.raises(MissingDataError, match="slide_magnifications"):
        prepare("CrowdsourcingDataset-Amgadetal2019", root)
    with pytest.raises(MissingDataError, match="MPP = None, MAG = None"):
        prepare("CrowdsourcingDataset-Amgadetal2019", tmp_path / "nothing-here")


def test_amgad2019_tiles_drop_dont_care_and_reassemble(amgad_raw, tmp_path, monkeypatch):
    size = 256
    prepared = prepare("CrowdsourcingDataset-Amgadetal2019_1024", amgad_raw, {"tile_size": size, "tile_stride": size})
    item = prepared.splits["train"][0]
    full = prepared.source.read(item)
    tiles = list(prepared.source.samples(item))
    offsets = [(t.metadata["tile_x"], t.metadata["tile_y"]) for t in tiles]
    expected = [
        (x, y)
        for y in range(0, full.height, size)
        for x in range(0, full.width, size)
        if full.mask[y : y + size, x : x + size].any()
    ]
    assert offsets == expected and len(expected) < -(-full.height // size) * -(-full.width // size)
    assert "tiles dropped (entirely outside_roi)" in tiles[0].notes[0]
    mask_back, rgb_back = np.zeros_like(full.mask), np.zeros_like(full.image)
    for tile in tiles:
        x, y = tile.metadata["tile_x"], tile.metadata["tile_y"]
        mask_back[y : y + tile.height, x : x + tile.width] = tile.mask
        rgb_back[y : y + tile.height, x : x + tile.width] = tile.image
    assert np.array_equal(mask_back, full.mask)  # dropped tiles were all 0
    kept = mask_back.astype(bool)
    for x, y in offsets:
        kept[y : y + size, x : x + size] = True
    assert np.array_equal(rgb_back[kept], full.image[kept])
    # the whole path: export + load of both Amgad configs
    out = tmp_path / "nuclei_collection"
    build(
        ["CrowdsourcingDataset-Amgadetal2019", "CrowdsourcingDataset-Amgadetal2019_1024"], data_dir=amgad_raw, out=out
    )
    monkeypatch.chdir(tmp_path)
    whole = load_dataset("nuclei_collection", "CrowdsourcingDataset-Amgadetal2019", split="train")
    tiled = load_dataset("nuclei_collection", "CrowdsourcingDataset-Amgadetal2019_1024", split="train", streaming=True)
    assert len(whole) == 2
    annotated_windows = sum(
        bool(np.asarray(r["mask"])[y : y + 1024, x : x + 1024].any())
        for r in whole
        for y in range(0, r["height"], 1024)
        for x in range(0, r["width"], 1024)
    )
    assert sum(1 for _ in tiled) == annotated_windows


def test_tiling_rules():
    from nuclei_collection_builders.views.tiles import tile_offsets, tile_windows

    assert tile_offsets(3394, 1024, 1024) == [0, 1024, 2048, 3072]
    assert tile_offsets(1024, 1024, 1024) == [0]
    assert tile_offsets(1000, 1024, 1024) == [0]
    assert tile_offsets(1100, 1024, 512) == [0, 512]
    assert tile_windows(1100, 2100, 1024, 1024)[-1] == (2048, 1024, 52, 76)
    with pytest.raises(ValueError, match="no tile"):
        tile_offsets(100, 10, 20)


def test_masks_only_build_exports_with_a_preview(realdata, tmp_path):
    names = real_mask_names()
    root = write_bcss_tree(tmp_path / "raw", realdata, names[:1])
    for rgb in (root / "rgbs_colorNormalized").glob("*.png"):
        rgb.unlink()
    (report,) = build("BCSS", data_dir=tmp_path / "raw", out=tmp_path / "out", options={"masks_only": True})
    assert report.splits["train"]["records"] == 1
    preview = Image.open(tmp_path / "out" / report.preview)
    assert preview.mode == "RGB" and preview.width > 0
