"""The shared read skeleton (PairedFilesSource) and the registry of annotation kinds.

A reader module registers its own annotation kind, here a test module does: a colour label
image whose 24-bit RGB value is the upstream id (R + 256 G + 65536 B), ids with gaps and
above 65535. It must work end to end (listing, counted skips, records, parquet round trip)
pixel for pixel, with RLE strings identical to pycocotools. An unknown kind must be a clear
error naming the reader and the known kinds. MatTileSource readers go through the same
skeleton: ``item_metadata(item, pixels)`` and counted skips for a missing ``.mat``.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pycocotools.mask as mask_util
import pytest
import scipy.io
from PIL import Image

from nuclei_collection_builders import rle
from nuclei_collection_builders.base import BadInputError, ConfigSpec, CountedNote, Item, SkipItem, is_skipped_item
from nuclei_collection_builders.catalog import SourceInfo
from nuclei_collection_builders.formats.folder import (
    ANNOTATION_KINDS,
    FolderSource,
    PairedFilesSource,
    register_annotation_kind,
)
from nuclei_collection_builders.formats.instances import label_instances, renumber
from nuclei_collection_builders.formats.matfile import MatTileSource, load_mat, mat_label_map, tile_items
from nuclei_collection_builders.pipeline import SplitReport, features_for, iter_split, prepare
from nuclei_collection_builders.raster import read_image

KIND = "test_rgb_id_map"


@register_annotation_kind(KIND)
def rgb_id_map(source: FolderSource, item: Item, shape: tuple[int, int]):
    """Upstream id = R + 256 G + 65536 B of an RGB label image; ids renumbered 1..N."""
    path = item.files["annotation"]
    pixels = read_image(path)
    if pixels.ndim != 3 or pixels.shape[:2] != tuple(shape):
        raise BadInputError(path, f"expected an RGB label image of size {shape}, got shape {pixels.shape}")
    ids = (
        pixels[..., 0].astype(np.int64)
        + (pixels[..., 1].astype(np.int64) << 8)
        + (pixels[..., 2].astype(np.int64) << 16)
    )
    label_map, upstream, changed = renumber(ids)
    notes = [f"ids {upstream.tolist()} renumbered 1..{len(upstream)}"] if changed else []
    return {"label_map": label_map}, notes, None


class RGBIdFolder(FolderSource):
    info = SourceInfo(
        name="test-rgb-ids",
        title="test reader of RGB-coded label images",
        homepage="",
        citation="",
        license="CC0-1.0",
        doc="none",
        modality="fluorescence",
    )
    default_options = {"unannotated": "skip"}
    layout_markers = ("images",)
    image_pattern = r"images/(?P<plate>p\d)_[^/]+\.png"
    annotation = "labels/{stem}.png"
    annotation_kind = KIND
    missing_annotation = "no label image {annotation} for {name}"
    metadata = {"modality": "fluorescence", "annotation": "complete"}

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict:
        return {"slide_id": item.attrs["plate"], "tissue": f"{pixels.shape[1]}x{pixels.shape[0]}"}


def _disc_masks(shape: tuple[int, int], centres: list[tuple[int, int, int]]) -> list[np.ndarray]:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return [(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r for cy, cx, r in centres]


def _rgb_of_ids(label_map: np.ndarray) -> np.ndarray:
    return np.dstack([(label_map >> shift) & 0xFF for shift in (0, 8, 16)]).astype(np.uint8)


def write_rgb_tree(root: Path) -> dict[str, list[np.ndarray]]:
    """images/<plate>_<n>.png + labels/<same name>.png; one image without labels, one orphan label."""
    rng = np.random.default_rng(11)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    shape = (40, 56)
    truth: dict[str, list[np.ndarray]] = {}
    cases = {
        # upstream ids with gaps, one above 65535 (needs the B channel), not in id order spatially
        "p1_a": ([(10, 10, 6), (28, 40, 7), (12, 44, 5)], [70000, 3, 512]),
        # already 1..N: ids kept as they are
        "p2_b": ([(20, 15, 8), (20, 40, 8)], [1, 2]),
    }
    for stem, (centres, ids) in cases.items():
        masks = _disc_masks(shape, centres)
        label_map = np.zeros(shape, dtype=np.int64)
        for upstream_id, mask in zip(ids, masks):
            label_map[mask] = upstream_id
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / "images" / f"{stem}.png")
        Image.fromarray(_rgb_of_ids(label_map)).save(root / "labels" / f"{stem}.png")
        order = np.argsort(ids)  # the schema's ids follow increasing upstream id
        truth[stem] = [masks[i] for i in order]
    Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(root / "images" / "p3_unlabelled.png")
    Image.fromarray(np.zeros((*shape, 3), dtype=np.uint8)).save(root / "labels" / "p9_orphan.png")
    return truth


def _spec(**options) -> ConfigSpec:
    return ConfigSpec("test_rgb_ids", RGBIdFolder, options, "test config")


def test_registered_kind_end_to_end_pixel_exact(tmp_path):
    truth = write_rgb_tree(tmp_path / "raw")
    prepared = prepare(_spec(), tmp_path / "raw")
    (items,) = prepared.splits.values()
    report = SplitReport()
    records = list(iter_split(prepared.source, items, report))

    assert [r["image_id"] for r in records] == ["p1_a", "p2_b"]
    assert sorted(report.skipped) == [
        ("p3_unlabelled", "no label image labels/p3_unlabelled.png for p3_unlabelled.png"),
        ("p9_orphan", "annotation labels/p9_orphan.png has no image (no record made)"),
    ]
    assert any("ids [3, 512, 70000] renumbered 1..3" in note for note in report.notes)

    # through Arrow / parquet and back, as an export stores it
    dataset = datasets.Dataset.from_list(records, features=features_for(prepared.source))
    dataset.to_parquet(tmp_path / "out.parquet")
    stored = datasets.Dataset.from_parquet(str(tmp_path / "out.parquet"), features=features_for(prepared.source))
    for record in stored:
        masks = truth[record["image_id"]]
        assert [obj["id"] for obj in record["objects"]] == list(range(1, len(masks) + 1))
        for obj, mask in zip(record["objects"], masks):
            segmentation = {"size": obj["segmentation"]["size"], "counts": obj["segmentation"]["counts"].encode()}
            assert np.array_equal(mask_util.decode(segmentation).astype(bool), mask)
            assert segmentation["counts"] == mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"]
            assert obj["area"] == int(mask.sum())
        assert np.array_equal(rle.decode_masks(record["objects"]), np.stack(masks))
        plate = record["image_id"].split("_")[0]
        assert record["metadata"]["slide_id"] == plate  # item_metadata(item, pixels) of the skeleton
        assert record["metadata"]["tissue"] == "56x40"
        assert record["metadata"]["annotation"] == "complete"
        assert record["metadata"]["upstream_path"] == f"images/{record['image_id']}.png"


def test_registered_kind_keeps_unannotated_image_when_asked(tmp_path):
    write_rgb_tree(tmp_path / "raw")
    source = _spec(unannotated="keep").make_source()
    items = source.list_items(source.locate(tmp_path / "raw"))["train"]
    (unlabelled,) = [item for item in items if item.image_id == "p3_unlabelled"]
    sample = source.read(unlabelled)
    assert sample.objects == [] and sample.metadata["annotation"] == "none"


def test_registered_kind_bad_annotation_names_the_file(tmp_path):
    write_rgb_tree(tmp_path / "raw")
    grey = tmp_path / "raw" / "labels" / "p1_a.png"
    Image.fromarray(np.zeros((40, 56), dtype=np.uint8)).save(grey)
    source = _spec().make_source()
    items = source.list_items(source.locate(tmp_path / "raw"))["train"]
    with pytest.raises(BadInputError, match="p1_a.png: expected an RGB label image"):
        source.read(items[0])


def test_unknown_kind_names_the_reader_and_the_known_kinds():
    class Misdeclared(RGBIdFolder):
        annotation_kind = "rgb_id_mapp"

    with pytest.raises(TypeError) as raised:
        Misdeclared()
    message = str(raised.value)
    assert "Misdeclared (test-rgb-ids)" in message and "'rgb_id_mapp'" in message
    for name in ("label_map", "id_label_map", "binary_mask", "outlines", "instance_files", "colour_outlines", KIND):
        assert name in message
    assert "register_annotation_kind" in message


def test_a_kind_name_is_registered_once():
    def other_label_map(source, item, shape):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="'label_map' is already registered"):
        register_annotation_kind("label_map")(other_label_map)
    assert ANNOTATION_KINDS["label_map"].read is not other_label_map
    register_annotation_kind(KIND)(rgb_id_map)  # the same function again (a module reload): allowed
    assert ANNOTATION_KINDS[KIND].read is rgb_id_map


# -- MatTileSource on the same skeleton --------------------------------------------------------
class TinyMatTiles(MatTileSource):
    info = SourceInfo(
        name="test-mat-tiles",
        title="test reader of PNG tiles + .mat labels",
        homepage="",
        citation="",
        license="CC0-1.0",
        doc="none",
        modality="histology",
    )
    metadata = {"stain": "H&E", "annotation": "complete"}

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        return {"train": tile_items(root, root / "Images", root / "Labels")}

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict:
        return {"tissue": "bright" if pixels.mean() > 127 else "dark"}

    def mat_instances(self, path: Path, shape: tuple[int, int], item: Item):
        inst_map = mat_label_map(load_mat(path, ("inst_map",)), "inst_map", path, shape)
        return label_instances(inst_map, "nucleus", item.image_id, "tiny")


def test_mat_tiles_share_the_skeleton(tmp_path):
    assert MatTileSource.read is PairedFilesSource.read is FolderSource.read
    (tmp_path / "Images").mkdir()
    (tmp_path / "Labels").mkdir()
    shape = (24, 30)
    masks = _disc_masks(shape, [(6, 6, 4), (16, 20, 5)])
    inst_map = np.zeros(shape, dtype=np.float64)  # MATLAB doubles
    inst_map[masks[0]], inst_map[masks[1]] = 7, 4  # gaps: renumbered 1..2 in upstream id order
    Image.fromarray(np.full((*shape, 3), 200, dtype=np.uint8)).save(tmp_path / "Images" / "t1.png")
    scipy.io.savemat(tmp_path / "Labels" / "t1.mat", {"inst_map": inst_map})
    Image.fromarray(np.full((*shape, 3), 20, dtype=np.uint8)).save(tmp_path / "Images" / "t2.png")  # no .mat

    source = TinyMatTiles()
    first, second = source.list_items(tmp_path)["train"]
    sample = source.read(first)
    assert sample.metadata["tissue"] == "bright" and sample.metadata["upstream_path"] == "Images/t1.png"
    assert sample.image_png == (tmp_path / "Images" / "t1.png").read_bytes()  # tile stored verbatim
    assert np.array_equal(rle.decode_masks(rle.encode_label_map(sample.label_map)), np.stack([masks[1], masks[0]]))
    (note,) = sample.notes  # kept as the CountedNote it is (no image-id prefix turning it into text)
    assert isinstance(note, CountedNote) and (note.kind, note.count) == ("tiny ids renumbered", 1)
    with pytest.raises(SkipItem, match="no label file t2.mat for t2.png"):
        source.read(second)
    assert not is_skipped_item(second)
