"""Training views: tiles (exact reassembly, truncation, min-area drops) and rescaling
(filters, per-object coverage masks, tiny nuclei counted), on real and generated data."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import realdata_path
from fixtures.bbbc006 import write_bbbc006
from fixtures.records import image_pixels
from fixtures.views import assert_tiles_reassemble, block_majority, object_pixels, split_records
from nuclei_collection import Sample, decode_masks, decode_objects, schema
from nuclei_collection_builders.base import CountedNote
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.dsb2018 import DSB2018StageTrain
from nuclei_collection_builders.views import ViewError, ViewSource, ViewSpec
from nuclei_collection_builders.views.resample import resample_image, rescale_instance_sample
from nuclei_collection_builders.views.tiles import DEFAULT_MIN_AREA, tile_instance_sample, tile_windows


def only_split(records_by_split):
    (records,) = records_by_split.values()
    return records


# --------------------------------------------------------------------------- view settings and names


@pytest.mark.parametrize(
    "view, suffix",
    [
        ({"tile": 512}, "_tiles512"),
        ({"tile": 512, "stride": 512, "min_area": DEFAULT_MIN_AREA}, "_tiles512"),
        ({"tile": 256, "stride": 128}, "_tiles256_stride128"),
        ({"tile": 256, "min_area": 0}, "_tiles256_min0"),
        ({"target_mpp": 0.5}, "_mpp0.5"),
        ({"scale": 0.25, "tile": 128}, "_scale0.25_tiles128"),
        ({"target_mpp": 0.5, "tile": 256, "stride": 200}, "_mpp0.5_tiles256_stride200"),
    ],
)
def test_export_names(view, suffix):
    assert ViewSpec.of(view).suffix() == suffix
    # The settings recorded in reports give the same view back.
    assert ViewSpec.of(ViewSpec.of(view).options()).suffix() == suffix


@pytest.mark.parametrize(
    "view, message",
    [
        ({"tile": 256, "stride": 300}, "stride must be 1..tile"),
        ({"stride": 64}, "apply to tiles"),
        ({"min_area": 3}, "apply to tiles"),
        ({"tile": 0}, "tile must be >= 1"),
        ({"tile": 256.0}, "integer number of pixels"),
        ({"target_mpp": 0.5, "scale": 0.5}, "not both"),
        ({"scale": -1.0}, "positive number"),
        ({"scale": float("nan")}, "positive number"),
        ({"tiles": 256}, "unknown view option"),
    ],
)
def test_bad_views_are_refused(view, message):
    with pytest.raises(ValueError, match=message):
        ViewSpec.of(view)


def test_no_view_means_the_reader_itself(synthetic_dsb):
    assert ViewSpec.of(None) is None and ViewSpec.of({"tile": None, "scale": None}) is None
    plain = prepare("nuclei_stage1_train", synthetic_dsb, view={})
    assert type(plain.source) is DSB2018StageTrain and plain.view is None  # zero-overhead path
    viewed = prepare("nuclei_stage1_train", synthetic_dsb, view={"tile": 128})
    assert isinstance(viewed.source, ViewSource) and viewed.name == "nuclei_stage1_train_tiles128"
    assert viewed.source.license == plain.source.license and viewed.source.options == plain.source.options
    assert viewed.view == {
        "of": "nuclei_stage1_train",
        "description": f"128 px tiles, stride 128, clipped pieces under {DEFAULT_MIN_AREA} px dropped",
        "tile": 128,
        "stride": 128,
        "min_area": DEFAULT_MIN_AREA,
    }


def test_a_view_of_a_variant_keeps_the_variant_name():
    csv = prepare("nuclei_stage1_train", realdata_path("dsb2018"), {"labels": "csv"}, view={"scale": 0.5})
    assert csv.name == "nuclei_stage1_train_csv_labels_scale0.5"
    assert csv.view["of"] == "nuclei_stage1_train_csv_labels"


def test_semantic_configs_refuse_views(tmp_path):
    with pytest.raises(ViewError, match="BCSS: views .* apply to instance configs.*BCSS_1024"):
        prepare("BCSS", tmp_path, view={"tile": 512})


# --------------------------------------------------------------------------- tiles


def test_isbi2009_real_tiles_reassemble_exactly():
    data = realdata_path("isbi2009")
    base = only_split(split_records("2009_ISBI_2DNuclei", data)[0])
    tiles, report = split_records("2009_ISBI_2DNuclei", data, view={"tile": 512, "min_area": 0})
    tiles = only_split(tiles)
    # gnf 1349 x 1030 and ic100 1344 x 1024: 3 x 3 and 3 x 2 tiles, edge tiles cut short.
    assert len(tiles) == 9 + 9 + 6 + 6 and not report.counts()
    assert_tiles_reassemble(base, tiles)
    by_parent = {r["image_id"]: r for r in base}
    pixels = {r["image_id"]: image_pixels(r) for r in base}
    labels = {r["image_id"]: decode_objects(r["objects"], r["height"], r["width"]) for r in base}
    for tile in tiles:
        meta = tile["metadata"]
        parent = by_parent[meta["parent_image_id"]]
        x, y, w, h = meta["tile_x"], meta["tile_y"], tile["width"], tile["height"]
        assert tile["image_id"] == f"{parent['image_id']}_tile_x{x}_y{y}"
        assert (w, h) == (min(512, parent["width"] - x), min(512, parent["height"] - y))
        assert np.array_equal(image_pixels(tile), pixels[parent["image_id"]][y : y + h, x : x + w])
        # Label map crop: pixel-exact, ids of the parent kept, truncated iff cut.
        crop = labels[parent["image_id"]][y : y + h, x : x + w]
        assert np.array_equal(decode_objects(tile["objects"], h, w), crop)
        areas = {o["id"]: o["area"] for o in parent["objects"]}
        for obj in tile["objects"]:
            assert obj["truncated"] == (obj["area"] < areas[obj["id"]])
        assert meta["collection"] == parent["metadata"]["collection"] and meta["scale"] is None


@pytest.fixture(scope="module", params=["real", "synthetic"])
def dsb_data(request, synthetic_dsb):
    return realdata_path("dsb2018") if request.param == "real" else synthetic_dsb


def test_dsb_tiles_reassemble_with_overlapping_objects(dsb_data):
    base = only_split(split_records("nuclei_stage1_train", dsb_data)[0])
    tiles = only_split(split_records("nuclei_stage1_train", dsb_data, view={"tile": 100, "min_area": 0})[0])
    assert_tiles_reassemble(base, tiles)
    assert any(o["truncated"] for t in tiles for o in t["objects"])


def test_dsb_overlapping_tiles_are_window_crops_with_counted_drops(dsb_data):
    """stride < size: every tile holds exactly (object mask ∩ window) for every object,
    except clipped pieces under min_area, which are gone and counted."""
    base = only_split(split_records("nuclei_stage1_train", dsb_data)[0])
    view = {"tile": 96, "stride": 64}
    tiles, report = split_records("nuclei_stage1_train", dsb_data, view=view)
    tiles = only_split(tiles)
    by_parent = {}
    for tile in tiles:
        by_parent.setdefault(tile["metadata"]["parent_image_id"], []).append(tile)
    expected_drops = 0
    for record in base:
        masks = decode_masks(record["objects"])
        ids = [o["id"] for o in record["objects"]]
        windows = tile_windows(record["height"], record["width"], 96, 64)
        assert [(t["metadata"]["tile_x"], t["metadata"]["tile_y"]) for t in by_parent[record["image_id"]]] == [
            (x, y) for x, y, _, _ in windows
        ]
        for tile, (x, y, w, h) in zip(by_parent[record["image_id"]], windows):
            got = {o["id"]: o for o in tile["objects"]}
            for object_id, mask in zip(ids, masks):
                piece = mask[y : y + h, x : x + w]
                area = int(piece.sum())
                cut = area < mask.sum()
                if area == 0 or (cut and area < DEFAULT_MIN_AREA):
                    expected_drops += area > 0
                    assert object_id not in got
                    continue
                assert np.array_equal(decode_masks([got[object_id]])[0], piece)
                assert got[object_id]["truncated"] == cut and got[object_id]["area"] == area
    assert report.counts().get("tile_pieces_dropped", 0) == expected_drops
    dropped_notes = [n for n in report.notes if isinstance(n, CountedNote)]
    assert all(n.startswith("tile_pieces_dropped: ") and "_tile_x" in n for n in dropped_notes)
    if dsb_data.name == "dsb2018":
        assert expected_drops > 0  # the real sample does cut small pieces at this grid


def test_tile_larger_than_image_is_the_image(synthetic_dsb):
    base = only_split(split_records("nuclei_stage1_train", synthetic_dsb)[0])
    tiles = only_split(split_records("nuclei_stage1_train", synthetic_dsb, view={"tile": 4096})[0])
    assert len(tiles) == len(base)
    for record, tile in zip(base, tiles):
        assert tile["image_id"] == record["image_id"] + "_tile_x0_y0"
        assert np.array_equal(image_pixels(tile), image_pixels(record))
        assert [dict(o, truncated=False) for o in tile["objects"]] == record["objects"]
        assert not any(o["truncated"] for o in tile["objects"])


def test_tiling_keeps_overlaps_categories_and_prior_truncation():
    masks = np.zeros((3, 40, 40), dtype=bool)
    masks[0, 5:25, 5:25] = True
    masks[1, 15:35, 15:35] = True  # overlaps object 1 across the tile border at 20
    masks[2, 30:33, 30:33] = True
    sample = Sample(
        image_id="s",
        image=np.zeros((40, 40), np.uint16),
        masks=masks,
        metadata={},
        categories={1: "neoplastic", 2: "inflammatory", 3: "dead"},
        iscrowd={3: True},
        truncated={3: True},
    )
    tiles = list(tile_instance_sample(sample, 20, min_area=0))
    assert [t.image_id for t in tiles] == ["s_tile_x0_y0", "s_tile_x20_y0", "s_tile_x0_y20", "s_tile_x20_y20"]
    pannuke_names = ("neoplastic", "inflammatory", "connective", "dead", "epithelial")
    records = [schema.to_record(t, pannuke_names) for t in tiles]
    last = records[3]
    assert [(o["id"], o["truncated"], o["iscrowd"]) for o in last["objects"]] == [
        (1, True, False),
        (2, True, False),
        (3, True, True),
    ]
    assert [pannuke_names[o["category"]] for o in last["objects"]] == ["neoplastic", "inflammatory", "dead"]
    stack = decode_masks(last["objects"])
    assert (stack[0] & stack[1]).sum() == 25  # the overlap 15:25 x 15:25 is 5 x 5 in this tile
    assert records[0]["image"]["bytes"] != b"" and image_pixels(records[0]).dtype == np.uint16


# --------------------------------------------------------------------------- rescaling


def _sample(masks: np.ndarray, image: np.ndarray | None = None, **metadata) -> Sample:
    image = np.zeros(masks.shape[1:], np.uint8) if image is None else image
    return Sample(image_id="s", image=image, masks=masks, metadata=metadata)


def test_integer_upscale_replicates_pixels_exactly():
    rng = np.random.default_rng(1)
    masks = rng.random((4, 13, 17)) > 0.6
    image = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    for factor in (2, 3):
        scaled = rescale_instance_sample(_sample(masks, image), float(factor))
        record = schema.to_record(scaled)
        assert (record["height"], record["width"]) == (13 * factor, 17 * factor)
        expected = np.stack([np.kron(m, np.ones((factor, factor), dtype=bool)) for m in masks])
        assert np.array_equal(decode_masks(record["objects"]), expected)
        assert [o["id"] for o in record["objects"]] == [1, 2, 3, 4] and not scaled.notes
        pixels = image_pixels(record)
        assert pixels.dtype == np.uint8 and pixels.min() >= image.min() and pixels.max() <= image.max()


def test_halving_is_block_majority_and_tiny_nuclei_are_kept_and_counted():
    masks = np.zeros((4, 20, 24), dtype=bool)
    masks[0, 2:12, 3:15] = True
    masks[1, 8:18, 10:22] = True  # overlaps object 1
    masks[2, 15, 1] = True  # 1 px: covers a quarter of one output pixel
    masks[3, 0:3, 20:21] = True  # thin 3 x 1 line: never more than half of an output pixel
    scaled = rescale_instance_sample(_sample(masks, mpp=0.25, magnification=40.0), 0.5)
    record = schema.to_record(scaled)
    got = decode_masks(record["objects"])
    assert np.array_equal(got[0], block_majority(masks[0], 2))
    assert np.array_equal(got[1], block_majority(masks[1], 2))
    assert (got[0] & got[1]).any()  # overlapping objects stay overlapping
    assert got[2].sum() == 1 and got[2][7, 0]  # kept as its best-covered pixel
    assert got[3].sum() == 1 and got[3][0, 10]
    (note,) = scaled.notes
    assert note.kind == "rescale_tiny_kept" and note.count == 2 and "ids 3, 4" in note
    meta = record["metadata"]
    assert (meta["mpp"], meta["scale"], meta["magnification"], meta["parent_image_id"]) == (0.5, 0.5, 20.0, "s")
    # rows 2:12 -> blocks 1-5; columns 3:15 -> blocks 2-6 (blocks 1 and 7 are only half covered)
    assert record["objects"][0]["bbox"] == [2.0, 1.0, 5.0, 5.0] and record["objects"][0]["area"] == 25


@pytest.mark.parametrize("factor", [0.37, 0.8, 1.6, 2.5])
def test_masks_are_exact_area_coverage_over_one_half(factor):
    """Independent exact coverage: supersample each mask on the common grid (kron by the
    output size), sum every output pixel's footprint (block of the input size)."""
    rng = np.random.default_rng(5)
    masks = rng.random((5, 11, 13)) > 0.55
    scaled = rescale_instance_sample(_sample(masks), factor)
    got = decode_masks(schema.to_record(scaled)["objects"])
    out_h, out_w = got.shape[1:]
    tiny = {int(i) for n in scaled.notes for i in n.split("(ids ")[1].rstrip(")").split(", ")}
    for index, mask in enumerate(masks):
        fine = np.kron(mask, np.ones((out_h, out_w), dtype=np.int64))
        covered = fine.reshape(out_h, 11, out_w, 13).sum(axis=(1, 3))
        expected = 2 * covered > 11 * 13
        if index + 1 in tiny:
            assert not expected.any() and got[index].sum() == 1
            assert covered[got[index]] == covered.max()
        else:
            assert np.array_equal(got[index], expected), index


@pytest.mark.parametrize("factor", [0.37, 0.8])
def test_shrunk_masks_and_image_share_one_footprint(synthetic_dsb, factor):
    """A 16-bit image of one nucleus (65535 inside) shrinks to its coverage: its pixels over
    half way are exactly the object's resampled mask (ties at 1/2 aside)."""
    record = only_split(split_records("nuclei_stage1_train", synthetic_dsb)[0])[1]
    masks = decode_masks(record["objects"])
    scaled = rescale_instance_sample(_sample(masks), factor)
    got = decode_masks(schema.to_record(scaled)["objects"])
    height, width = got.shape[1:]
    tiny = {int(i) for n in scaled.notes for i in n.split("(ids ")[1].rstrip(")").split(", ")}
    for index, mask in enumerate(masks):
        shrunk = resample_image(mask.astype(np.uint16) * 65535, height, width).astype(np.int64)
        if index + 1 in tiny:
            assert got[index].sum() == 1 and shrunk.max() <= 32768
            continue
        clear = np.abs(2 * shrunk - 65535) > 2
        assert np.array_equal(got[index][clear], (shrunk > 32767)[clear]), index


@pytest.mark.parametrize("shape, out", [((12, 15), (5, 7)), ((40, 60), (20, 30)), ((9, 11), (9, 4))])
def test_shrinking_is_exact_area_averaging(shape, out):
    """Independent reference: supersample on the common grid, average each footprint."""
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 65536, shape, dtype=np.uint16)
    fine = np.kron(pixels.astype(np.int64), np.ones(out, dtype=np.int64))
    mean = fine.reshape(out[0], shape[0], out[1], shape[1]).sum(axis=(1, 3)) / (shape[0] * shape[1])
    assert np.array_equal(resample_image(pixels, *out), np.rint(mean).astype(np.uint16))


def test_image_filters_keep_dtype_and_range():
    rng = np.random.default_rng(3)
    grey16 = rng.integers(100, 4096, (40, 60), dtype=np.uint16)  # 12-bit data in 16-bit
    halved = resample_image(grey16, 20, 30)
    assert halved.dtype == np.uint16
    assert np.array_equal(halved, np.rint(grey16.reshape(20, 2, 30, 2).mean(axis=(1, 3))).astype(np.uint16))
    doubled = resample_image(grey16, 80, 120)
    assert doubled.dtype == np.uint16 and grey16.min() <= doubled.min() and doubled.max() <= grey16.max()
    rgba = np.concatenate([rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), np.full((40, 60, 1), 255, np.uint8)], 2)
    odd = resample_image(rgba, 17, 25)
    assert odd.dtype == np.uint8 and odd.shape == (17, 25, 4) and (odd[..., 3] == 255).all()
    with pytest.raises(ValueError, match="uint8 or uint16"):
        resample_image(grey16.astype(np.float32), 20, 30)


def test_bbbc006_rescale_keeps_16_bit(tmp_path):
    tree = write_bbbc006(tmp_path / "BBBC006", planes=(16,))
    base = only_split(split_records("BBBC006", tree.root)[0])
    halved, report = split_records("BBBC006", tree.root, view={"scale": 0.5})
    halved = only_split(halved)
    assert [r["image_id"] for r in halved] == [r["image_id"] for r in base]
    for before, after in zip(base, halved):
        upstream, pixels = image_pixels(before), image_pixels(after)
        assert pixels.dtype == np.uint16 and pixels.shape == (260, 348)
        assert pixels.max() <= upstream.max() <= 4095
        assert np.array_equal(pixels, np.rint(upstream.reshape(260, 2, 348, 2).mean(axis=(1, 3))))
        assert len(after["objects"]) == len(before["objects"])  # none vanished
        for obj, mask in zip(after["objects"], decode_masks(before["objects"])):
            got = decode_masks([obj])[0]
            assert np.array_equal(got, block_majority(mask, 2)) or got.sum() == 1
        assert after["metadata"]["scale"] == 0.5 and after["metadata"]["z_plane"] == 16
    vanishing = sum(not block_majority(m, 2).any() for r in base for m in decode_masks(r["objects"] or []))
    assert report.counts().get("rescale_tiny_kept", 0) == vanishing


def test_isbi2009_real_rescale_preserves_every_nucleus():
    data = realdata_path("isbi2009")
    base = only_split(split_records("2009_ISBI_2DNuclei", data)[0])
    for factor, tiny_expected in ((0.5, False), (0.05, True)):
        scaled, report = split_records("2009_ISBI_2DNuclei", data, view={"scale": factor})
        scaled = only_split(scaled)
        for before, after in zip(base, scaled):
            assert [o["id"] for o in after["objects"]] == [o["id"] for o in before["objects"]]
            assert all(o["area"] >= 1 for o in after["objects"])
            assert (after["width"], after["height"]) == (
                int(before["width"] * factor + 0.5),
                int(before["height"] * factor + 0.5),
            )
            assert after["metadata"]["mpp"] is None and after["metadata"]["scale"] == pytest.approx(factor)
        assert bool(report.counts().get("rescale_tiny_kept")) == tiny_expected


def test_rescale_then_tile(synthetic_dsb):
    scaled = only_split(split_records("nuclei_stage1_train", synthetic_dsb, view={"scale": 2.0})[0])
    both, _ = split_records("nuclei_stage1_train", synthetic_dsb, view={"scale": 2.0, "tile": 200, "min_area": 0})
    both = only_split(both)
    assert_tiles_reassemble(scaled, both)
    assert all(t["metadata"]["scale"] == 2.0 for t in both)
    for tile in both:
        assert tile["image_id"].startswith(tile["metadata"]["parent_image_id"] + "_tile_x")
    # tile offsets are in the rescaled image's pixels
    assert {t["metadata"]["tile_x"] for t in both} >= {0, 200, 400}


def test_target_mpp_needs_a_known_mpp(synthetic_dsb):
    prepared = prepare("nuclei_stage1_train", synthetic_dsb, view={"target_mpp": 0.5})
    (items,) = prepared.splits.values()
    with pytest.raises(ViewError, match=r"nuclei_stage1_train: --target-mpp needs .*metadata\.mpp.*--scale"):
        list(prepared.source.samples(items[0]))


def test_object_pixels_helper_is_row_major():
    record = schema.to_record(_sample(np.eye(3, dtype=bool)[None]))
    assert object_pixels(record, 3)[1].tolist() == [0, 4, 8]
