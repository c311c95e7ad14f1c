"""NuInsSeg on the authors' real label files in ../shared/realdata/nuinsseg_nuc_eval (issue 19).

The sample (masih4/nuc_eval ``examples/``) holds two ``label masks modify``-style uint16
PackBits TIFFs (``human_bladder_01``: 24 ids, ``human_bladder_02``: 3 ids) and their
ambiguous-area masks (PNG, L {0, 255}), but NO tissue images. The test therefore builds the
raw tree the reader expects in a tmp dir: ``human bladder/label masks modify/<stem>.tif`` and
``human bladder/vague areas/mask binary/<stem>.png`` are symlinks to the real files (never
copies), and ``human bladder/tissue images/<stem>.png`` are generated stand-in RGB images of
the labels' size (512x512), so only the annotations are real. That the authors' evaluation
``amb_masks`` are the release's ``vague areas/mask binary`` files is an assumption (same
image names, same 0/255 PNG form).

References are computed here, independently of the reader: labels read with tifffile (the
reader uses Pillow), nuclei = ``labels == id`` (upstream ids), crowd regions = the 8-connected
components of the ambiguous mask by ``scipy.ndimage.label`` (numbered after the highest
nucleus id, in scipy's raster order), RLE strings from ``pycocotools.mask.encode``.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image
from pycocotools import mask as mask_util
from scipy import ndimage

from conftest import realdata_path
from fixtures.records import records_of
from nuclei_collection import decode_masks, decode_objects
from nuclei_collection_builders.sources import config_classes

STEMS = ("human_bladder_01", "human_bladder_02")
ORGAN_DIR = "human bladder"
CLASS_NAMES = [c.name for c in config_classes("NuInsSeg")]


@pytest.fixture(scope="module")
def real():
    return realdata_path("nuinsseg_nuc_eval")


@pytest.fixture(scope="module")
def loaded(real, tmp_path_factory):
    root = tmp_path_factory.mktemp("nuinsseg_real") / "NuInsSeg"
    organ = root / ORGAN_DIR
    for folder in ("tissue images", "label masks modify", "vague areas/mask binary"):
        (organ / folder).mkdir(parents=True)
    rng = np.random.default_rng(19)
    for stem in STEMS:
        (organ / "label masks modify" / f"{stem}.tif").symlink_to(real / f"{stem}.tif")
        (organ / "vague areas" / "mask binary" / f"{stem}.png").symlink_to(real / "amb_masks" / f"{stem}.png")
        height, width = tifffile.imread(real / f"{stem}.tif").shape
        stand_in = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)  # no real tissue image published
        Image.fromarray(stand_in).save(organ / "tissue images" / f"{stem}.png")
    records, report = records_of("NuInsSeg", root.parent)
    return root, {r["image_id"]: r for r in records}, report


def reference(real, stem):
    labels = tifffile.imread(real / f"{stem}.tif")
    with Image.open(real / "amb_masks" / f"{stem}.png") as mask:
        ambiguous = np.asarray(mask)
    assert labels.dtype == np.uint16 and ambiguous.dtype == np.uint8 and set(np.unique(ambiguous)) <= {0, 255}
    crowd, n_crowd = ndimage.label(ambiguous > 0, structure=np.ones((3, 3), bool))  # 8-connected
    return labels, crowd, n_crowd


def split_objects(record):
    return [o for o in record["objects"] if not o["iscrowd"]], [o for o in record["objects"] if o["iscrowd"]]


def test_both_real_label_files_become_records(loaded):
    _, records, report = loaded
    assert sorted(records) == list(STEMS) and not report.skipped
    assert [len(split_objects(records[s])[0]) for s in STEMS] == [24, 3]
    for stem in STEMS:
        meta = records[stem]["metadata"]
        assert (meta["organ"], meta["collection"], meta["annotation"]) == ("bladder", "human", "complete")


def test_nuclei_pixel_exact_with_upstream_ids(real, loaded):
    _, records, _ = loaded
    for stem in STEMS:
        labels, _, _ = reference(real, stem)
        nuclei, _ = split_objects(records[stem])
        assert [o["id"] for o in nuclei] == [int(v) for v in np.unique(labels) if v]
        assert np.array_equal(decode_objects(nuclei, *labels.shape), labels.astype(np.int32))
        for obj, mask in zip(nuclei, decode_masks(nuclei)):
            expected = labels == obj["id"]
            assert np.array_equal(mask, expected)
            assert obj["segmentation"]["counts"] == mask_util.encode(np.asfortranarray(expected.astype(np.uint8)))["counts"].decode()
            assert CLASS_NAMES[obj["category"]] == "nucleus"


def test_crowd_regions_are_the_8_connected_components_of_the_ambiguous_mask(real, loaded):
    _, records, _ = loaded
    for stem in STEMS:
        labels, crowd, n_crowd = reference(real, stem)
        nuclei, regions = split_objects(records[stem])
        assert len(regions) == n_crowd >= 1
        first = int(labels.max()) + 1
        assert [o["id"] for o in regions] == list(range(first, first + n_crowd))  # after every nucleus id
        for component, (obj, mask) in enumerate(zip(regions, decode_masks(regions)), start=1):
            expected = crowd == component
            assert np.array_equal(mask, expected), (stem, component)
            assert obj["segmentation"]["counts"] == mask_util.encode(np.asfortranarray(expected.astype(np.uint8)))["counts"].decode()
            assert CLASS_NAMES[obj["category"]] == "ambiguous" and obj["area"] == int(expected.sum())
    # on the real human_bladder_01 the ambiguous area covers labelled nuclei: both are kept, each its own object
    labels, crowd, _ = reference(real, "human_bladder_01")
    assert ((crowd > 0) & (labels > 0)).any()
