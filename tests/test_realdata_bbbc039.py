"""BBBC039 on the 8 real fields of ../shared/realdata/bbbc039 (issue 19).

The real sample holds ``images/`` (uint16 TIFF) and ``masks/`` (RGBA colour-coded PNG) of 9
files: A02_s1, the two empty fields L10_s6 and F13_s7, both GUIDs of F22_s6 and of P07_s8,
and J03_s4 / N18_s5, where one nucleus is two 4-connected pieces touching diagonally
(8-connected 131 / 130 nuclei, 4-connected 132 / 131). The upstream ``metadata/*.txt`` lists
are not part of the sample: the tree built in a tmp dir (symlinks to the real files, never
copies) gets lists derived from the peer CSVs beside the sample (their names came from the
official test / validation lists; every other field goes to training).

References are computed here, independently of the reader: nuclei are
``skimage.measure.label`` of the red channel (the BBBC039 authors' decoding, 8-connected,
its own numbering), images are read with tifffile, RLE strings come from
``pycocotools.mask.encode``.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile
from PIL import Image
from pycocotools import mask as mask_util
from skimage.measure import label as skimage_label

from conftest import realdata_path
from fixtures.records import image_pixels
from nuclei_collection import decode_masks, decode_objects
from nuclei_collection_builders.pipeline import EMPTY_GROUND_TRUTH, SplitReport, iter_split
from nuclei_collection_builders.sources import prepare

EMPTY_FIELDS = ("IXMtest_F13_s7", "IXMtest_L10_s6")
#: field -> (8-connected nuclei, 4-connected pieces), as the sample's README states
DIAGONAL_FIELDS = {"IXMtest_J03_s4": (131, 132), "IXMtest_N18_s5": (130, 131)}
PEER_LISTS = {"peer_test_names_ngt4conn.csv": "test.txt", "peer_validation_names_ngt4conn.csv": "validation.txt"}


def peer_rows(real, name):
    with (real / name).open(newline="", encoding="utf-8") as handle:
        return [(row[0], int(row[1])) for row in csv.reader(handle) if row]


@pytest.fixture(scope="module")
def real():
    return realdata_path("bbbc039")


@pytest.fixture(scope="module")
def tree(real, tmp_path_factory):
    """The upstream layout around the real files (symlinks) with lists derived from the peer CSVs."""
    root = tmp_path_factory.mktemp("bbbc039_real") / "BBBC039"
    for folder in ("images", "masks", "metadata"):
        (root / folder).mkdir(parents=True)
    stems = sorted(path.stem for path in (real / "images").glob("*.tif"))
    for stem in stems:
        (root / "images" / f"{stem}.tif").symlink_to(real / "images" / f"{stem}.tif")
        (root / "masks" / f"{stem}.png").symlink_to(real / "masks" / f"{stem}.png")
    listed = {}
    for peer, list_name in PEER_LISTS.items():
        for name, _ in peer_rows(real, peer):
            if name in stems:
                listed[name] = list_name
    for list_name in ("training.txt", *PEER_LISTS.values()):
        names = [stem for stem in stems if listed.get(stem, "training.txt") == list_name]
        (root / "metadata" / list_name).write_text("".join(f"{name}.png\n" for name in names))
    return root, stems, listed


@pytest.fixture(scope="module")
def records(tree):
    root, _, _ = tree
    prepared = prepare("BBBC039", root.parent)
    out = {}
    for split, items in prepared.splits.items():
        report = SplitReport()
        out[split] = ([record for record in iter_split(prepared.source, items, report)], report)
    return out


def red_code(real, stem):
    with Image.open(real / "masks" / f"{stem}.png") as mask:
        pixels = np.asarray(mask)
    assert pixels.shape == (520, 696, 4) and not pixels[..., 1:3].any() and (pixels[..., 3] == 255).all()
    return pixels[..., 0]


def all_records(records):
    return {r["image_id"]: r for recs, _ in records.values() for r in recs}


def test_every_real_field_is_a_record_in_its_listed_split(tree, records):
    _, stems, listed = tree
    expected = {"train": [], "validation": [], "test": []}
    for stem in stems:
        expected[{"training.txt": "train", "validation.txt": "validation", "test.txt": "test"}[listed.get(stem, "training.txt")]].append(stem)
    assert {split: [r["image_id"] for r in recs] for split, (recs, _) in records.items()} == expected
    assert all(not report.skipped for _, report in records.values())
    assert len(stems) == 9 and expected["test"] == sorted(s for s in stems if s.startswith("IXMtest_P07_s8"))


def test_nuclei_pixel_exact_against_skimage_label_and_pycocotools(real, records):
    for image_id, record in all_records(records).items():
        reference = skimage_label(red_code(real, image_id))  # 8-connected, numbered by skimage
        assert [o["id"] for o in record["objects"]] == list(range(1, int(reference.max()) + 1))
        assert np.array_equal(decode_objects(record["objects"], 520, 696), reference), image_id
        for obj, mask in zip(record["objects"], decode_masks(record["objects"]) if record["objects"] else []):
            expected = reference == obj["id"]
            assert np.array_equal(mask, expected)
            assert obj["segmentation"]["counts"] == mask_util.encode(np.asfortranarray(expected.astype(np.uint8)))["counts"].decode()
            assert obj["area"] == int(expected.sum()) and not obj["iscrowd"]


def test_diagonally_touching_pieces_are_one_nucleus(real, records):
    by_id = all_records(records)
    for prefix, (eight, four) in DIAGONAL_FIELDS.items():
        (image_id,) = [i for i in by_id if i.startswith(prefix)]
        code = red_code(real, image_id)
        four_connected = sum(int(skimage_label(code == v, connectivity=1).max()) for v in np.unique(code) if v)
        assert (len(by_id[image_id]["objects"]), four_connected) == (eight, four)
        # exactly one record object is two 4-connected pieces (joined at a corner)
        pieces = [int(skimage_label(mask, connectivity=1).max()) for mask in decode_masks(by_id[image_id]["objects"])]
        assert sorted(pieces)[-2:] == [1, 2] and pieces.count(2) == 1


def test_empty_fields_are_kept_and_counted(records):
    by_id = all_records(records)
    empty = sorted(i for i, r in by_id.items() if not r["objects"])
    assert [i[:14] for i in empty] == list(EMPTY_FIELDS)
    counted = {split: report.counts().get(EMPTY_GROUND_TRUTH, 0) for split, (_, report) in records.items()}
    assert counted == {"train": 1, "validation": 1, "test": 0}  # F13_s7 (training), L10_s6 (validation)
    for image_id in empty:
        assert by_id[image_id]["metadata"]["annotation"] == "complete"


def test_same_well_and_site_twice_gives_two_records(records):
    by_id = all_records(records)
    for prefix in ("IXMtest_F22_s6", "IXMtest_P07_s8"):
        twins = sorted(i for i in by_id if i.startswith(prefix))
        assert len(twins) == 2
        first, second = (decode_objects(by_id[i]["objects"], 520, 696) > 0 for i in twins)
        assert not np.array_equal(first, second)  # two acquisitions, two different masks


def test_counts_agree_with_the_peer_4_connected_counts(real, records):
    """The peer CSVs' per-image counts (4-connected) equal ours wherever 4- and 8-connectivity agree."""
    by_id = all_records(records)
    compared = 0
    for peer in PEER_LISTS:
        for name, four_connected in peer_rows(real, peer):
            if name in by_id:
                assert len(by_id[name]["objects"]) == four_connected, name
                compared += 1
    assert compared == 5


def test_16_bit_images_stored_losslessly(real, records):
    for image_id, record in all_records(records).items():
        upstream = tifffile.imread(real / "images" / f"{image_id}.tif")
        pixels = image_pixels(record)
        assert upstream.dtype == np.uint16 and pixels.dtype == np.uint16
        assert np.array_equal(pixels, upstream), image_id
        meta = record["metadata"]
        assert (meta["stain"], meta["modality"], meta["license"]) == ("Hoechst", "fluorescence", "CC0-1.0")
        assert meta["upstream_path"] == f"images/{image_id}.tif"
