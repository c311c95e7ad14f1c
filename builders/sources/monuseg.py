"""MoNuSeg (Kumar et al. 2017; MICCAI 2018 challenge): TIFF tiles + Aperio XML polygons.

Raw layout (the two official zips, unpacked side by side)::

    MoNuSeg 2018 Training Data/Tissue Images/<TCGA id>.tif     1000x1000 RGB, LZW or PackBits
    MoNuSeg 2018 Training Data/Annotations/<TCGA id>.xml       Aperio ImageScope XML
    MoNuSegTestData/<TCGA id>.tif + <TCGA id>.xml
    (__MACOSX/ in the train zip is ignored; the 2017 release spells "Tissue images")

Each ``Annotations/Annotation/Regions/Region`` is one nucleus: its ``Vertices/Vertex X= Y=``
polygon is rasterised with :func:`raster.rasterize_polygon` (rule in that module and in
docs/sources/monuseg.md) into its own RLE object, so overlapping nuclei stay overlapping.
Object ids are 1..N in document order of the Regions. ``MicronsPerPixel`` on the root
element becomes ``metadata.mpp``; the organ comes from the TCGA tissue source site code.

The current train zip holds 37 images: the 30 of Kumar et al. 2017 plus 7 added later.
``subset="all"`` (default) keeps all 37 (the official archive as published) and marks
each image's ``metadata.collection`` (``kumar2017`` or ``monuseg2018_extra``);
``subset="classic"`` keeps only the 30.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import rle
from ..base import (
    ConfigSpec,
    Item,
    Sample,
    SkipItem,
    Source,
    is_junk,
    relative_posix,
    search_dirs,
    skipped_item,
    sorted_files,
)
from ..catalog import SourceInfo
from ..formats.aperio import parse_aperio
from ..formats.histology import he_metadata
from ..formats.polygons import crop_runs, rasterize_polygon
from ..raster import read_image

CITATION = """@article{kumar2017dataset,
  title   = {A Dataset and a Technique for Generalized Nuclear Segmentation for Computational Pathology},
  author  = {Kumar, Neeraj and Verma, Ruchika and Sharma, Sanuj and Bhargava, Surabhi and
             Vahadane, Abhishek and Sethi, Amit},
  journal = {IEEE Transactions on Medical Imaging},
  volume  = {36},
  number  = {7},
  pages   = {1550--1560},
  year    = {2017},
  doi     = {10.1109/TMI.2017.2677499}
}
@article{kumar2020multiorgan,
  title   = {A Multi-Organ Nucleus Segmentation Challenge},
  author  = {Kumar, Neeraj and Verma, Ruchika and Anand, Deepak and Zhou, Yanning and others},
  journal = {IEEE Transactions on Medical Imaging},
  volume  = {39},
  number  = {5},
  pages   = {1380--1391},
  year    = {2020},
  doi     = {10.1109/TMI.2019.2947628}
}"""

TRAIN_DIR = "MoNuSeg 2018 Training Data"
TEST_DIR = "MoNuSegTestData"
TISSUE_DIRS = ("Tissue Images", "Tissue images")  # 2018 zip / 2017 release

#: The 30 training images of Kumar et al. 2017 (the classic MoNuSeg training set).
KUMAR2017_TRAIN = frozenset(
    f"TCGA-{code}"
    for code in (
        "A7-A13E-01Z-00-DX1 A7-A13F-01Z-00-DX1 AR-A1AK-01Z-00-DX1 AR-A1AS-01Z-00-DX1 E2-A1B5-01Z-00-DX1 "
        "E2-A14V-01Z-00-DX1 B0-5711-01Z-00-DX1 HE-7128-01Z-00-DX1 HE-7129-01Z-00-DX1 HE-7130-01Z-00-DX1 "
        "B0-5710-01Z-00-DX1 B0-5698-01Z-00-DX1 18-5592-01Z-00-DX1 38-6178-01Z-00-DX1 49-4488-01Z-00-DX1 "
        "50-5931-01Z-00-DX1 21-5784-01Z-00-DX1 21-5786-01Z-00-DX1 G9-6336-01Z-00-DX1 G9-6348-01Z-00-DX1 "
        "G9-6356-01Z-00-DX1 G9-6363-01Z-00-DX1 CH-5767-01Z-00-DX1 G9-6362-01Z-00-DX1 DK-A2I6-01A-01-TS1 "
        "G2-A2EK-01A-02-TSB AY-A8YK-01A-01-TS1 NH-A8F7-01A-01-TS1 KB-A93J-01A-01-TS1 RD-A8N9-01A-01-TS1"
    ).split()
)

#: TCGA tissue source site code (barcode characters 6-7) -> organ of the site's TCGA study.
#: Covers every site in the MoNuSeg train and test sets. Note: MoNuSeg's organ list calls
#: the 18/21/38/49/50 images "liver"; those sites contributed lung studies (LUSC, LUAD),
#: so the code table says lung (see docs/sources/monuseg.md).
TCGA_SITE_ORGAN: dict[str, str] = {
    "18": "lung",  # LUSC
    "21": "lung",  # LUSC
    "38": "lung",  # LUAD
    "44": "lung",  # LUAD
    "49": "lung",  # LUAD
    "50": "lung",  # LUAD
    "69": "lung",  # LUAD
    "A7": "breast",  # BRCA
    "AC": "breast",  # BRCA
    "AO": "breast",  # BRCA
    "AR": "breast",  # BRCA
    "E2": "breast",  # BRCA
    "2Z": "kidney",  # KIRP
    "B0": "kidney",  # KIRC
    "GL": "kidney",  # KIRP
    "HE": "kidney",  # KIRP
    "IZ": "kidney",  # KIRP
    "CH": "prostate",  # PRAD
    "EJ": "prostate",  # PRAD
    "G9": "prostate",  # PRAD
    "HC": "prostate",  # PRAD
    "CU": "bladder",  # BLCA
    "DK": "bladder",  # BLCA
    "G2": "bladder",  # BLCA
    "ZF": "bladder",  # BLCA
    "A6": "colon",  # COAD
    "AY": "colon",  # COAD
    "NH": "colon",  # COAD
    "KB": "stomach",  # STAD
    "RD": "stomach",  # STAD
    "FG": "brain",  # LGG
    "HT": "brain",  # LGG
}

MAGNIFICATION = 40.0  # all MoNuSeg tiles were cut from 40x TCGA slides


def organ_of(tcga_id: str) -> str | None:
    """Organ from the tissue source site code of a TCGA barcode (None if unknown)."""
    parts = tcga_id.split("-")
    return TCGA_SITE_ORGAN.get(parts[1]) if len(parts) > 2 and parts[0] == "TCGA" else None


def parse_aperio_xml(path: Path) -> tuple[float | None, list[np.ndarray]]:
    """(MicronsPerPixel or None, [(n, 2) float64 vertex arrays, one per Region, in file order])."""
    mpp, regions = parse_aperio(path)
    return mpp, [region.vertices for region in regions]


class MoNuSeg(Source):
    info = SourceInfo(
        name="MoNuSeg",
        title="MoNuSeg: 37 train (30 Kumar et al. + 7 later) / 14 test H&E tiles, polygon nuclei (manual download)",
        homepage="https://monuseg.grand-challenge.org/Data/",
        citation=CITATION,
        license="CC-BY-NC-SA-4.0",
        doc="monuseg",
        modality="histology",
        stain="H&E",
        organ="breast, kidney, liver, prostate, bladder, colon, stomach, lung, brain",
        mpp=0.252,
        magnification=40.0,
        metrics=("aji", "pq", "dice", "f1"),
        description=(
            "MoNuSeg (Kumar et al. 2017, MICCAI 2018 challenge): 1000x1000 H&E tiles from 40x TCGA slides "
            "of several organs, every nucleus outlined as a polygon (overlaps kept). Train: 37 images "
            "(the 30 of Kumar et al. + 7 added later), test: 14."
        ),
    )
    manual_instructions = """
MoNuSeg is hosted on Google Drive (no direct download). Download both zips by hand from
https://monuseg.grand-challenge.org/Data/ :
    "MoNuSeg 2018 Training Data.zip"  (Drive id 1ZgqFJomqQGNnsx7w7QBzQQMVA16lbVCA,
        sha256 25d3d3185bb2970b397cafa72eb664c9b4d24294aee382e7e3df9885affce742)
    "MoNuSegTestData.zip"             (Drive id 1NKkSQ5T0ZNQ8aUhh0a8Dt2YKYCQXIViw,
        sha256 13e522387ae8b1bcc0530e13ff9c7b4d91ec74959ef6f6e57747368d7ee6f88a)
unzip both into one folder and pass that folder with --data-dir.
"""
    expected_layout = f"""
    <data_dir>/{TRAIN_DIR}/Tissue Images/<TCGA id>.tif
    <data_dir>/{TRAIN_DIR}/Annotations/<TCGA id>.xml
    <data_dir>/{TEST_DIR}/<TCGA id>.tif + <TCGA id>.xml
    """
    #: subset: "all" (37 train images as published) | "classic" (the 30 of Kumar et al. 2017)
    default_options = {"subset": "all"}

    def __init__(self, **options):
        super().__init__(**options)
        if self.options["subset"] not in ("all", "classic"):
            raise ValueError(f"{self.name}: subset must be 'all' or 'classic', got {self.options['subset']!r}")

    def find_root(self, data_dir: Path) -> Path | None:
        for folder in search_dirs(data_dir):
            if (folder / TRAIN_DIR).is_dir() or (folder / TEST_DIR).is_dir():
                return folder
        return None

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        splits: dict[str, list[Item]] = {}
        train = root / TRAIN_DIR
        tissue = next((train / name for name in TISSUE_DIRS if (train / name).is_dir()), None)
        if tissue is not None:
            items = self._pairs(root, tissue, train / "Annotations", "train")
            if self.options["subset"] == "classic":
                items = [item for item in items if item.image_id in KUMAR2017_TRAIN]
            splits["train"] = items
        if (root / TEST_DIR).is_dir():
            splits["test"] = self._pairs(root, root / TEST_DIR, root / TEST_DIR, "test")
        return splits

    @staticmethod
    def _pairs(root: Path, image_dir: Path, xml_dir: Path, split: str) -> list[Item]:
        items = []
        for image in sorted_files(image_dir, [".tif", ".tiff"]):
            if is_junk(image):
                continue
            items.append(
                Item(
                    image_id=image.stem,
                    files={"image": str(image), "xml": str(xml_dir / f"{image.stem}.xml")},
                    attrs={"root": str(root), "split": split},
                )
            )
        # An annotation file whose image is missing cannot become a record: a counted skip, by name.
        listed = {item.image_id for item in items}
        return items + [
            skipped_item(xml.stem, f"annotation {relative_posix(xml, root)} has no TIFF image (no record made)")
            for xml in sorted_files(xml_dir, [".xml"])
            if not is_junk(xml) and xml.stem not in listed
        ]

    def read(self, item: Item) -> Sample:
        image_path, xml_path = Path(item.files["image"]), Path(item.files["xml"])
        if not xml_path.is_file():
            raise SkipItem(item.image_id, f"no annotation file {xml_path.name} next to {image_path.name}")
        pixels = read_image(image_path)
        height, width = pixels.shape[:2]
        mpp, polygons = parse_aperio_xml(xml_path)
        starts, lengths, notes = [], [], []
        for index, polygon in enumerate(polygons):
            placed = rasterize_polygon(polygon[:, 0], polygon[:, 1], height, width)
            if placed is None:
                # Counted, never silent: a region entirely outside the frame or too thin to cover a pixel centre.
                notes.append(f"empty region skipped: {item.image_id} Region {index + 1} covers no pixel centre")
                continue
            object_starts, object_lengths = crop_runs(*placed, height)
            starts.append(object_starts)
            lengths.append(object_lengths)
        # One vectorised encode for all regions; overlapping regions stay separate objects.
        objects = rle.encode_runs(starts, lengths, height, width)
        if item.attrs["split"] == "test":
            collection = "monuseg2018_test"
        else:
            collection = "kumar2017" if item.image_id in KUMAR2017_TRAIN else "monuseg2018_extra"
        metadata = he_metadata(
            self,
            organ=organ_of(item.image_id),
            magnification=MAGNIFICATION,
            mpp=mpp,
            slide_id=item.image_id,
            patient_id=item.image_id[:12] if item.image_id.startswith("TCGA-") else None,
            annotation="complete",
            collection=collection,
            upstream_path=relative_posix(image_path, Path(item.attrs["root"])),
        )
        return Sample(image_id=item.image_id, image=pixels, objects=objects, metadata=metadata, notes=notes)


CONFIGS = (
    ConfigSpec(
        "nucleisegmentationbenchmark",
        MoNuSeg,
        {"subset": "all"},
        "MoNuSeg: 37 train (30 Kumar et al. + 7 later additions) and 14 test H&E tiles, polygon nuclei.",
        splits=("train", "test"),
    ),
)
