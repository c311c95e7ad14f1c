"""MoNuSAC on the real training XML in ../shared/realdata/monusac (issue 19).

``TCGA-B6-A0WZ-01Z-00-DX1_6.xml`` is a real MoNuSAC training annotation: four Annotations
(Epithelial and Macrophage without any Region, Lymphocyte with 3, Neutrophil with 2),
integer vertices, a repeated vertex in every polygon and a one-pixel spike (out to a vertex
and straight back) in Lymphocyte Region 3. Its own .tif could not be obtained:
``hasibzunair_experiment_x.tif`` is a real MoNuSAC-style RGBA LZW tif (1090x1170) of UNKNOWN
pairing, used only as the stand-in image that gives the frame size and pixels. The test
builds the challenge layout in a tmp dir with symlinks to both real files (no copies).

References are computed here, independently of the reader's rasteriser: each Region's
vertices are read with the standard library's ElementTree (the file is our own real sample,
not web input) and filled with ``skimage.draw.polygon`` (what MoNuSAC's own mask script
uses) and with PIL ``ImageDraw.polygon`` (fill + outline); both must equal our decoded RLE
pixel for pixel, and the RLE string must equal ``pycocotools.mask.encode``. The image is
compared with Pillow's decoding (tifffile needs imagecodecs for LZW, not installed).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pycocotools import mask as mask_util
from skimage.draw import polygon as skimage_polygon

from conftest import realdata_path
from fixtures.records import image_pixels
from nuclei_collection import decode_masks
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.sources import config_classes, prepare

SLIDE = "TCGA-B6-A0WZ-01Z-00-DX1"
STEM = f"{SLIDE}_6"
STAND_IN = "hasibzunair_experiment_x.tif"
CLASS_NAMES = [c.name for c in config_classes("MoNuSAC")]


@pytest.fixture(scope="module")
def real():
    return realdata_path("monusac")


@pytest.fixture(scope="module")
def record(real, tmp_path_factory):
    root = tmp_path_factory.mktemp("monusac_real")
    slide = root / "MoNuSAC_images_and_annotations" / SLIDE
    slide.mkdir(parents=True)
    (slide / f"{STEM}.xml").symlink_to(real / f"{STEM}.xml")
    (slide / f"{STEM}.tif").symlink_to(real / STAND_IN)  # stand-in image, pairing unknown
    prepared = prepare("MoNuSAC", root)
    report = SplitReport()
    (only,) = iter_split(prepared.source, prepared.splits["train"], report)
    assert set(prepared.splits) == {"train"} and not report.skipped and not report.notes
    return only


def xml_regions(real):
    """(class name, (n, 2) integer x/y vertices) per Region, in document order."""
    regions = []
    for annotation in ET.parse(real / f"{STEM}.xml").getroot().iter("Annotation"):
        name = annotation.find("Attributes/Attribute").get("Name")
        for region in annotation.iter("Region"):
            vertices = [(float(v.get("X")), float(v.get("Y"))) for v in region.iter("Vertex")]
            regions.append((name, np.array(vertices)))
    return regions


def skimage_fill(vertices, height, width):
    mask = np.zeros((height, width), bool)
    mask[skimage_polygon(vertices[:, 1], vertices[:, 0], (height, width))] = True
    return mask


def pil_fill(vertices, height, width):
    canvas = Image.new("1", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([tuple(v) for v in vertices], fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def test_one_object_per_region_classes_by_name(real, record):
    regions = xml_regions(real)
    assert [name for name, _ in regions] == ["Lymphocyte"] * 3 + ["Neutrophil"] * 2  # the empty Annotations add none
    assert [o["id"] for o in record["objects"]] == [1, 2, 3, 4, 5]
    assert [CLASS_NAMES[o["category"]] for o in record["objects"]] == ["lymphocyte"] * 3 + ["neutrophil"] * 2
    assert not any(o["iscrowd"] for o in record["objects"])


def test_polygons_pixel_exact_against_skimage_and_pil(real, record):
    height, width = record["height"], record["width"]
    regions = xml_regions(real)
    for obj, mask, (_, vertices) in zip(record["objects"], decode_masks(record["objects"]), regions):
        assert all(float(v).is_integer() for v in vertices.ravel())  # MoNuSAC vertices are whole pixels
        reference = skimage_fill(vertices, height, width)
        assert np.array_equal(mask, reference)
        assert np.array_equal(mask, pil_fill(vertices, height, width))
        assert obj["segmentation"]["counts"] == mask_util.encode(np.asfortranarray(reference.astype(np.uint8)))["counts"].decode()
        assert obj["area"] == int(reference.sum())


def test_repeated_vertices_and_the_spike_change_nothing(real, record):
    height, width = record["height"], record["width"]
    masks = decode_masks(record["objects"])
    repeated = spikes = 0
    for mask, (_, vertices) in zip(masks, xml_regions(real)):
        following = np.roll(vertices, -1, axis=0)
        duplicate = (vertices == following).all(axis=1)
        repeated += int(duplicate.sum())
        cleaned = vertices[~duplicate]  # the same outline without repeated vertices
        out_and_back = (np.roll(cleaned, 1, axis=0) == np.roll(cleaned, -1, axis=0)).all(axis=1)
        spikes += int(out_and_back.sum())
        assert np.array_equal(mask, skimage_fill(cleaned, height, width))
        if out_and_back.any():  # the spike (a zero-width excursion) neither adds nor removes a pixel
            without_spike = cleaned[~out_and_back]
            assert np.array_equal(mask, skimage_fill(without_spike, height, width))
            assert np.array_equal(mask, pil_fill(without_spike, height, width))
    assert repeated == 6 and spikes == 1


def test_metadata_and_stand_in_image(real, record):
    meta = record["metadata"]
    assert (meta["mpp"], meta["magnification"], meta["organ"]) == (pytest.approx(0.2485), 40.0, "breast")
    assert (meta["slide_id"], meta["patient_id"], meta["collection"]) == (SLIDE, "TCGA-B6-A0WZ", None)
    assert meta["upstream_path"] == f"MoNuSAC_images_and_annotations/{SLIDE}/{STEM}.tif"
    assert meta["license"] == "CC-BY-NC-SA-4.0" and meta["annotation"] == "complete"
    with Image.open(real / STAND_IN) as upstream:
        rgba = np.asarray(upstream)
    assert rgba.shape == (1170, 1090, 4) and (rgba[..., 3] == 255).all()
    assert np.array_equal(image_pixels(record), rgba[..., :3])  # constant alpha dropped, RGB kept
