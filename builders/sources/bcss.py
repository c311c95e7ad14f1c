"""Breast-cancer tissue regions of Amgad et al. 2019: BCSS (0.25 MPP) and the base-magnification ROIs.

Both configs hold the same 151 regions of interest (ROIs) of 151 TCGA breast-cancer slides,
annotated by crowdsourcing into 21 tissue classes; a mask pixel is a ground-truth code of
``meta/gtruth_codes.tsv`` and code 0 (``outside_roi``) is "don't care", not a class.

Raw layouts (one ROI = one mask PNG + one RGB PNG with the same file name)::

    BCSS, Google Drive release (0.25 MPP):
        [0_Public-data-Amgad2019_0.25MPP/]masks/<ROI>.png                 L, codes 0-21
        [0_Public-data-Amgad2019_0.25MPP/]rgbs_colorNormalized/<ROI>.png  RGB, colour-normalised
        [0_Public-data-Amgad2019_0.25MPP/]meta/gtruth_codes.tsv
    upstream download script: images/<ROI>.png instead of rgbs_colorNormalized/ (not normalised)

    <ROI> = <slide>_xmin<X>_ymin<Y>_MPP-0.2500 (BCSS) or ..._MAG-0 (base magnification),
    e.g. TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500; X, Y = ROI corner in the slide,
    base-magnification pixels.

* ``BCSS``: MPP from the file name (``MPP-0.2500``). Stored pixel magnification is the
  nominal one of that MPP (0.25 -> 40x, 0.5 -> 20x, else null); the slide's scan
  magnification comes from ``slide_magnifications.csv`` when present.
* ``CrowdsourcingDataset-Amgadetal2019``: base (scan) magnification; magnification and MPP
  come from ``slide_magnifications[_Amgadetal2019].csv`` (40x -> 0.25, 20x -> 0.5 um/px),
  never from file names (names can claim an MPP that is wrong for the 20x slides). Each
  mask must have the ROI's size in ``roiBounds.csv`` (base-magnification bounds), which
  proves the file really is at base magnification.
* Official split by institution: TCGA tissue source sites OL, LL, E2, EW, GM, S3 are
  ``test``, every other site ``train`` (site = the two characters after ``TCGA-``).
* Masks without an RGB of the same name stop the build with their count and names; the
  option ``masks_only=true`` builds masks without images instead (``image`` null).
* Options ``tile_size`` / ``tile_stride`` cut each ROI into tiles (``*_1024`` configs);
  tiles that are entirely don't care are dropped (see :mod:`tiles`).
* ROIs are large (up to 11293 x 11187 px at base magnification): reads raise Pillow's
  decompression-bomb limit to :data:`ROI_MAX_PIXELS`, for our reads only.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..base import (
    BadInputError,
    ConfigSpec,
    Item,
    MissingDataError,
    Sample,
    Source,
    option_bool,
    relative_posix,
    skipped_item,
    sorted_files,
)
from ..catalog import ClassInfo, SourceInfo
from ..raster import read_png_verbatim
from ..views.tiles import tile_semantic_sample

GITHUB = "https://github.com/PathologyDataScience/BCSS"
DRIVE_FOLDER = "https://drive.google.com/drive/folders/1zqbdkQF8i5cEmZOGmbdQm-EP8dRYtvss"
#: Top folder of the Google Drive release (0.25 MPP)
DRIVE_TOP = "0_Public-data-Amgad2019_0.25MPP"

CITATION_KEY = "amgad2019structured"
CITATION = """@article{amgad2019structured,
  title   = {Structured crowdsourcing enables convolutional segmentation of histology images},
  author  = {Amgad, Mohamed and Elfandy, Habiba and Hussein, Hagar and Atteya, Lamees A. and
             Elsebaie, Mai A. T. and Abo Elnasr, Lamia S. and Sakr, Rokia A. and Salem, Hazem S. E. and
             Ismail, Ahmed F. and Saad, Anas M. and Ahmed, Joumana and Elsebaie, Maha A. T. and
             Rahman, Mustafijur and Ruhban, Inas A. and Elgazar, Nada M. and Alagha, Yahya and
             Osman, Mohamed H. and Alhusseiny, Ahmed M. and Khalaf, Mariam M. and Younes, Abo-Alela F. and
             Abdulkarim, Ali and Younes, Duaa M. and Gadallah, Ahmed M. and Elkashash, Ahmad M. and
             Fala, Salma Y. and Zaki, Basma M. and Beezley, Jonathan and Chittajallu, Deepak R. and
             Manthey, David and Gutman, David A. and Cooper, Lee A. D.},
  journal = {Bioinformatics},
  volume  = {35},
  number  = {18},
  pages   = {3461--3467},
  year    = {2019},
  doi     = {10.1093/bioinformatics/btz083}
}"""

#: The licence applied to the records. Upstream contradicts itself (LICENSE_NOTE); CC BY 4.0
#: is the stricter reading: whoever follows it also satisfies CC0, not the other way round.
LICENSE = "CC-BY-4.0"
LICENSE_NOTE = (
    "Upstream licence statements conflict: the GitHub README of PathologyDataScience/BCSS "
    "(formerly CancerDataScience/CrowdsourcingDataset-Amgadetal2019) says CC0 1.0; the README of "
    "the Google Drive release (and of the 2019 repository) says CC BY 4.0. Both ask to cite "
    "Amgad et al. 2019. This collection applies CC-BY-4.0, the stricter of the two."
)
LICENSE_FLAG = (
    " Licence flag: upstream states CC0 1.0 (GitHub README) and CC BY 4.0 (Google Drive release "
    "README); records carry CC-BY-4.0, the stricter one, and both statements in metadata.license_note."
)
DONT_CARE_TEXT = (
    " Mask pixel = class code of gtruth_codes.tsv; code 0 (outside_roi) is don't care (outside the "
    "annotated region: zero weight in training and evaluation), never the class 'other'."
)

#: Institutions (TCGA tissue source sites) of the official test split (Amgad et al. 2019).
TEST_SITES: tuple[str, ...] = ("OL", "LL", "E2", "EW", "GM", "S3")

#: Pixel bound for our ROI reads: 2**28 = 268,435,456 px, about twice the largest ROI
#: (TCGA-D8-A142-DX1, 11293 x 11187 = 126,334,791 px at base magnification; 379 MB as RGB).
ROI_MAX_PIXELS = 2**28

#: Scan magnification -> microns per pixel (the conventional values of the upstream meta).
MPP_OF_MAGNIFICATION: dict[float, float] = {40.0: 0.25, 20.0: 0.5}
MAGNIFICATION_OF_MPP: dict[float, float] = {mpp: mag for mag, mpp in MPP_OF_MAGNIFICATION.items()}

#: RGB folders next to masks/, in order of preference (Drive release, then download script).
RGB_FOLDERS: tuple[str, ...] = ("rgbs_colorNormalized", "images")
#: Whether the RGBs of each folder are colour-normalised upstream.
COLOR_NORMALIZED = {"rgbs_colorNormalized": True, "images": False}

ROI_NAME = re.compile(
    r"^(?P<slide>TCGA-(?P<site>[0-9A-Z]{2})-(?P<participant>[0-9A-Z]{4})-DX\d+)"
    r"_xmin(?P<xmin>\d+)_ymin(?P<ymin>\d+)"
    r"(?:_(?:MPP-(?P<mpp>\d+(?:\.\d+)?)|MAG-(?P<mag>\d+(?:\.\d+)?))?)?$"
)

GTRUTH_CODES = "gtruth_codes.tsv"
SLIDE_MAGNIFICATIONS = ("slide_magnifications.csv", "slide_magnifications_Amgadetal2019.csv")
ROI_BOUNDS = ("roiBounds.csv",)


@dataclass(frozen=True)
class RoiName:
    """What an upstream ROI file name says."""

    slide_id: str  # e.g. TCGA-A1-A0SK-DX1
    site: str  # TCGA tissue source site, e.g. A1
    patient_id: str  # e.g. TCGA-A1-A0SK (also the key of slide_magnifications.csv)
    xmin: int
    ymin: int
    mpp: float | None  # from an MPP-<value> suffix, else None


def parse_roi_name(stem: str) -> RoiName | None:
    """Parse ``<slide>_xmin<X>_ymin<Y>[_MPP-<v>|_MAG-<v>]``; None if the name is not of that form."""
    match = ROI_NAME.match(stem)
    if match is None:
        return None
    slide = match.group("slide")
    return RoiName(
        slide_id=slide,
        site=match.group("site"),
        patient_id=slide[:12],
        xmin=int(match.group("xmin")),
        ymin=int(match.group("ymin")),
        mpp=float(match.group("mpp")) if match.group("mpp") else None,
    )


def official_split(site: str) -> str:
    return "test" if site in TEST_SITES else "train"


# --------------------------------------------------------------------------- meta files


def find_meta(root: Path, names: tuple[str, ...]) -> Path | None:
    """First of ``names`` in ``root/meta/`` or ``root/`` (the 2019 repository kept them at its root)."""
    for folder in (root / "meta", root):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def _read_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            delimiter = "\t" if path.suffix == ".tsv" else ","
            reader = csv.DictReader(handle, delimiter=delimiter)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise BadInputError(path, f"missing column(s) {missing}; header is {reader.fieldnames}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise BadInputError(path, f"cannot read: {error}") from None


def read_gtruth_codes(path: Path) -> dict[int, str]:
    """``gtruth_codes.tsv`` (``label<TAB>GT_code``) as code -> label."""
    codes: dict[int, str] = {}
    for row in _read_rows(path, ("label", "GT_code")):
        try:
            code = int(row["GT_code"])
        except (TypeError, ValueError):
            raise BadInputError(path, f"GT_code {row['GT_code']!r} is not an integer") from None
        if code in codes:
            raise BadInputError(path, f"code {code} is listed twice")
        codes[code] = row["label"]
    return codes


def check_gtruth_codes(path: Path) -> None:
    """Stop unless the data's code table equals the pinned :data:`GT_CODES`."""
    codes = read_gtruth_codes(path)
    pinned = dict(enumerate(GT_CODES))
    if codes != pinned:
        differences = [
            f"code {code}: data {codes.get(code)!r}, schema {pinned.get(code)!r}"
            for code in sorted(set(codes) | set(pinned))
            if codes.get(code) != pinned.get(code)
        ]
        raise BadInputError(
            path,
            "class codes differ from the 22 codes this collection's schema is built on ("
            + "; ".join(differences)
            + "); the records' ClassLabel would be wrong, so nothing is built",
        )


def read_slide_magnifications(path: Path) -> dict[str, float]:
    """``slide_magnifications*.csv``: patient id (first 12 characters of the slide) -> magnification."""
    magnifications = {}
    for row in _read_rows(path, ("", "magnification")):
        try:
            magnifications[row[""]] = float(row["magnification"])
        except (TypeError, ValueError):
            raise BadInputError(path, f"{row['']}: magnification {row['magnification']!r} is not a number") from None
    return magnifications


def read_roi_bounds(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """``roiBounds.csv`` (ints, or floats in the 2019 file): slide id -> (xmin, ymin, xmax, ymax)."""
    bounds = {}
    for row in _read_rows(path, ("", "xmin", "ymin", "xmax", "ymax")):
        try:
            bounds[row[""]] = tuple(int(float(row[k])) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError):
            raise BadInputError(path, f"{row['']}: bounds are not numbers: {row}") from None
    return bounds


def _as_size(name: str, value: Any) -> int | None:
    if value is None or str(value).lower() == "none":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"option {name} must be a positive integer (pixels) or None, got {value!r}")
    return value


# --------------------------------------------------------------------------- readers


#: Tissue-region classes of Amgad et al. 2019: index = ground-truth code = mask pixel value
#: (upstream ``meta/gtruth_codes.tsv``). Declared here because features must be known without
#: data (card, README, streaming); every build checks the data's tsv against it and stops on
#: any difference (:func:`check_gtruth_codes`). Code 0 ``outside_roi`` is "don't care" (pixels
#: outside the annotated ROI): zero weight in losses and metrics. It is NOT the class
#: ``other`` (code 21) and never gets a region.
GT_CODES: tuple[str, ...] = (
    "outside_roi",
    "tumor",
    "stroma",
    "lymphocytic_infiltrate",
    "necrosis_or_debris",
    "glandular_secretions",
    "blood",
    "exclude",
    "metaplasia_NOS",
    "fat",
    "plasma_cells",
    "other_immune_infiltrate",
    "mucoid_material",
    "normal_acinus_or_duct",
    "lymphatics",
    "undetermined",
    "nerve",
    "skin_adnexa",
    "blood_vessel",
    "angioinvasion",
    "dcis",
    "other",
)
#: What BCSS and the base-magnification ROIs share in their declared facts.
_FACTS = dict(
    homepage=GITHUB,
    citation=CITATION,
    license=LICENSE,
    license_note="upstream also says CC0 1.0: flagged",
    doc="bcss",
    modality="histology",
    stain="H&E",
    organ="breast",
    kind="semantic",
    classes=tuple(ClassInfo(name, code) for code, name in enumerate(GT_CODES)),
    metrics=("dice", "iou"),
)


class _AmgadROIs(Source):
    """Shared reader of the two configs; subclasses say where MPP and magnification come from."""
    #: tile_size/tile_stride: pixels (None = whole ROIs); masks_only: build without RGB;
    #: rgb_folder: folder name next to masks/ (None = first of RGB_FOLDERS present)
    default_options = {"tile_size": None, "tile_stride": None, "masks_only": False, "rgb_folder": None}
    candidate_subdirs: tuple[str, ...] = ("",)

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.tile_size = _as_size("tile_size", self.options["tile_size"])
        self.tile_stride = _as_size("tile_stride", self.options["tile_stride"])
        if self.tile_stride is not None and self.tile_size is None:
            raise ValueError(f"{self.name}: tile_stride needs tile_size")
        self.masks_only = option_bool("masks_only", self.options["masks_only"])

    # -- locating ----------------------------------------------------------------------
    def find_root(self, data_dir: Path) -> Path | None:
        for sub in self.candidate_subdirs:
            folder = data_dir / sub if sub else data_dir
            masks = folder / "masks"
            if masks.is_dir() and any(parse_roi_name(p.stem) for p in sorted_files(masks, [".png"])):
                return folder
        return None

    def _required_meta(self, root: Path, names: tuple[str, ...]) -> Path:
        path = find_meta(root, names)
        if path is None:
            raise MissingDataError(
                f"{self.name}: {' or '.join(names)} not found in {root / 'meta'} or {root}. "
                f"Copy the meta/ folder of {GITHUB} there."
            )
        return path

    def _rgb_folder(self, root: Path) -> Path | None:
        wanted = self.options["rgb_folder"]
        if wanted:
            folder = root / wanted
            if not folder.is_dir():
                raise MissingDataError(f"{self.name}: rgb_folder {folder} does not exist")
            return folder
        for name in RGB_FOLDERS:
            if (root / name).is_dir():
                return root / name
        return None

    # -- what the subclasses decide ----------------------------------------------------
    def resolution(self, roi: RoiName, path: Path) -> tuple[float | None, float | None]:
        """(mpp, magnification) of the stored pixels of this ROI."""
        raise NotImplementedError

    def load_meta(self, root: Path) -> None:
        """Read the meta files this config needs (once per listing; ``read`` only sees item attrs)."""
        path = find_meta(root, SLIDE_MAGNIFICATIONS)
        self.scan_magnifications = read_slide_magnifications(path) if path else {}

    def extra_attrs(self, roi: RoiName, mask_path: Path) -> dict[str, Any]:
        """Per-ROI facts from the meta files that ``read`` needs (kept in the item: picklable)."""
        return {}

    def check_size(self, item: Item, mask_path: Path, height: int, width: int) -> None:
        """Hook for per-ROI size checks (base magnification)."""

    # -- listing -------------------------------------------------------------------------
    def list_items(self, root: Path) -> dict[str, list[Item]]:
        check_gtruth_codes(self._required_meta(root, (GTRUTH_CODES,)))
        self.load_meta(root)
        masks: dict[str, Path] = {}
        ignored = []
        for path in sorted_files(root / "masks", [".png"]):
            if parse_roi_name(path.stem):
                masks[path.stem] = path
            else:
                ignored.append(path.name)
        rgb_folder = None if self.masks_only else self._rgb_folder(root)
        rgbs: dict[str, Path] = {}
        if not self.masks_only:
            if rgb_folder is None:
                raise MissingDataError(
                    f"{self.name}: no RGB folder ({' or '.join(RGB_FOLDERS)}) next to {root / 'masks'}. "
                    "Put the RGB images there, or build masks without images: --option masks_only=true"
                )
            rgbs = {p.stem: p for p in sorted_files(rgb_folder, [".png"])}
            missing = [stem for stem in masks if stem not in rgbs]
            if missing:
                raise BadInputError(
                    rgb_folder,
                    f"{len(missing)} of {len(masks)} masks have no RGB image of the same name here "
                    f"(first: {', '.join(missing[:5])}); download them, or build masks without images "
                    "with --option masks_only=true",
                )
        splits: dict[str, list[Item]] = {"train": [], "test": []}
        for stem, mask_path in masks.items():
            roi = parse_roi_name(stem)
            mpp, magnification = self.resolution(roi, mask_path)
            image_path = rgbs.get(stem)
            splits[official_split(roi.site)].append(
                Item(
                    image_id=stem,
                    files={"mask": str(mask_path), "image": str(image_path) if image_path else None},
                    attrs={
                        "root": str(root),
                        "roi": roi,
                        "mpp": mpp,
                        "magnification": magnification,
                        "scan_magnification": self.scan_magnifications.get(roi.patient_id),
                        "color_normalized": COLOR_NORMALIZED.get(rgb_folder.name) if rgb_folder else None,
                        **self.extra_attrs(roi, mask_path),
                    },
                )
            )
        # What cannot form a record is counted and named in the build report, never dropped
        # silently: RGB images without a mask (in the split their name gives) and mask PNGs
        # without an ROI name.
        for stem in sorted(set(rgbs) - set(masks)):
            roi = parse_roi_name(stem)
            reason = f"RGB image {rgb_folder.name}/{stem}.png has no mask masks/{stem}.png (no record made)"
            splits[official_split(roi.site) if roi else "train"].append(skipped_item(stem, reason))
        splits["train"] += [
            skipped_item(name, f"masks/{name} is not named like an ROI (<slide>_xmin<X>_ymin<Y>_...): not read")
            for name in ignored
        ]
        return {split: items for split, items in splits.items() if items}

    # -- reading -------------------------------------------------------------------------
    def read(self, item: Item) -> Sample:
        root = Path(item.attrs["root"])
        mask_path = Path(item.files["mask"])
        mask, mask_png = read_png_verbatim(mask_path, max_pixels=ROI_MAX_PIXELS)
        if mask.ndim != 2 or mask.dtype != np.uint8:
            raise BadInputError(
                mask_path, f"expected an 8-bit grey (mode L) mask of class codes, got {mask.dtype} {mask.shape}"
            )
        counts = np.bincount(mask.ravel(), minlength=256)
        foreign = np.flatnonzero(counts[len(GT_CODES) :]) + len(GT_CODES)
        if foreign.size:
            raise BadInputError(
                mask_path, f"pixel values {foreign.tolist()} are not ground-truth codes 0-{len(GT_CODES) - 1}"
            )
        self.check_size(item, mask_path, *mask.shape)
        image = image_png = None
        if item.files["image"] is not None:
            image_path = Path(item.files["image"])
            image, image_png = read_png_verbatim(image_path, max_pixels=ROI_MAX_PIXELS)
            if image.shape[:2] != mask.shape:
                raise BadInputError(
                    image_path,
                    f"RGB size {image.shape[1]}x{image.shape[0]} != mask size {mask.shape[1]}x{mask.shape[0]} "
                    f"({mask_path.name})",
                )
        roi: RoiName = item.attrs["roi"]
        metadata = {
            "source": self.name,
            "license": self.license,
            "license_note": LICENSE_NOTE,
            "citation_key": CITATION_KEY,
            "site": roi.site,
            "patient_id": roi.patient_id,
            "organ": "breast",
            "stain": "H&E",
            "modality": "histology",
            "scan_magnification": item.attrs["scan_magnification"],
            "color_normalized": item.attrs["color_normalized"],
            "upstream_path": relative_posix(Path(item.files["image"]), root) if item.files["image"] else None,
            "mask_path": relative_posix(mask_path, root),
            # lifted to the record's top-level roi / mpp / magnification
            "slide_id": roi.slide_id,
            "roi_xmin": roi.xmin,
            "roi_ymin": roi.ymin,
            "mpp": item.attrs["mpp"],
            "magnification": item.attrs["magnification"],
        }
        return Sample(
            image_id=item.image_id, image=image, image_png=image_png, mask=mask, mask_png=mask_png, metadata=metadata
        )

    def samples(self, item: Item) -> Iterator[Sample]:
        sample = self.read(item)
        if self.tile_size is None:
            yield sample
        else:
            yield from tile_semantic_sample(sample, self.tile_size, self.tile_stride)


class BCSS(_AmgadROIs):
    info = SourceInfo(
        name="BCSS",
        title="BCSS tissue regions (Amgad et al. 2019), 151 ROIs at 0.25 µm/px, semantic masks (22 codes, 0 = don't care)",
        mpp=0.25,
        description=(
            "Breast Cancer Semantic Segmentation (Amgad et al. 2019): 151 regions of interest from 151 "
            "TCGA breast-cancer slides at 0.25 microns per pixel, crowdsourced tissue-region masks "
            "(21 classes). Official split by institution (test sites OL, LL, E2, EW, GM, S3)."
            + DONT_CARE_TEXT
            + LICENSE_FLAG
        ),
        **_FACTS,
    )
    candidate_subdirs = ("", DRIVE_TOP)
    expected_layout = f"""
    <data_dir>/[{DRIVE_TOP}/]masks/<slide>_xmin<X>_ymin<Y>_MPP-0.2500.png     (L, codes 0-21)
    <data_dir>/[{DRIVE_TOP}/]rgbs_colorNormalized/<same name>.png          (RGB; or images/)
    <data_dir>/[{DRIVE_TOP}/]meta/gtruth_codes.tsv                          (+ slide_magnifications.csv, optional)
    """
    manual_instructions = f"""
BCSS is published on Google Drive, which has no direct download link. By hand:
  1. Open {DRIVE_FOLDER} in a browser.
  2. Right-click the folder {DRIVE_TOP} > Download. Drive zips it, split into several
     parts for a folder this large ({DRIVE_TOP}-<date>-001.zip, -002.zip, ...): download every part.
  3. Unzip all parts into one folder; they fill the same tree:
         mkdir -p ~/raw/BCSS && for z in {DRIVE_TOP}*.zip; do unzip -n "$z" -d ~/raw/BCSS; done
  4. Check that ~/raw/BCSS/{DRIVE_TOP}/ holds masks/, rgbs_colorNormalized/ and meta/gtruth_codes.tsv
     (151 masks, 151 RGBs). If meta/gtruth_codes.tsv is missing, copy meta/ from {GITHUB}.
  5. nuclei-collection build BCSS --data-dir ~/raw/BCSS --out ./nuclei_collection
Without Drive: {GITHUB} has a download script (girder API) that writes masks/ and images/ at a chosen
MPP (configs.py: MPP = 0.25); point --data-dir at its SAVEPATH after copying meta/ there.
"""

    def resolution(self, roi: RoiName, path: Path) -> tuple[float | None, float | None]:
        if roi.mpp is None:
            raise BadInputError(
                path,
                "file name has no MPP-<value> suffix, so its resolution is unknown; BCSS needs the resampled "
                "ROIs (..._MPP-0.2500.png). Base-magnification files (..._MAG-0.png) belong to the config "
                "CrowdsourcingDataset-Amgadetal2019.",
            )
        return roi.mpp, MAGNIFICATION_OF_MPP.get(round(roi.mpp, 4))


class CrowdsourcingAmgad2019(_AmgadROIs):
    info = SourceInfo(
        name="CrowdsourcingDataset-Amgadetal2019",
        title="the BCSS ROIs at base magnification (40x / 20x from slide_magnifications.csv)",
        mpp="per slide (0.25 or 0.5)",
        magnification="per slide (40 or 20)",
        description=(
            "The BCSS regions of interest (Amgad et al. 2019) at the slides' base (scan) magnification: "
            "40x (0.25 um/px) for 137 slides, 20x (0.5 um/px) for 14, from slide_magnifications.csv. "
            "Official split by institution (test sites OL, LL, E2, EW, GM, S3)." + DONT_CARE_TEXT + LICENSE_FLAG
        ),
        **_FACTS,
    )
    expected_layout = """
    <data_dir>/masks/<slide>_xmin<X>_ymin<Y>_MAG-0.png     (L, codes 0-21, base magnification)
    <data_dir>/images/<same name>.png                      (RGB, base magnification)
    <data_dir>/meta/gtruth_codes.tsv, roiBounds.csv, slide_magnifications.csv
                                                           (or slide_magnifications_Amgadetal2019.csv)
    """
    manual_instructions = f"""
The base-magnification ROIs are not in the Google Drive release; the upstream script fetches them
from the public Digital Slide Archive (girder API, needs a free account or the API key in configs.py):
  1. git clone {GITHUB} && cd BCSS
  2. pip install girder_client pillow numpy scikit-image imageio
  3. In configs.py set MPP = None, MAG = None (base magnification), SAVEPATH = '<raw dir>',
     PIPELINE = ('images', 'masks'), SLIDES_TO_KEEP = None
  4. python download_crowdsource_dataset.py    (writes <raw dir>/images and <raw dir>/masks, *_MAG-0.png)
  5. cp -r meta '<raw dir>/meta'                 (gtruth_codes.tsv, roiBounds.csv, slide_magnifications.csv)
  6. nuclei-collection build CrowdsourcingDataset-Amgadetal2019 --data-dir '<raw dir>' --out ./nuclei_collection
Masks only: the figshare links in meta/roiBounds.csv (column mask_link) are the base-magnification masks;
save each as masks/<slide>_xmin<X>_ymin<Y>_MAG-0.png and add --option masks_only=true.
"""
    #: Allowed difference between a mask's size and its roiBounds.csv box (rounding of the region request).
    SIZE_TOLERANCE = 1

    def load_meta(self, root: Path) -> None:
        path = self._required_meta(root, SLIDE_MAGNIFICATIONS)
        self.magnification_table = path
        self.scan_magnifications = read_slide_magnifications(path)
        self.bounds_table = self._required_meta(root, ROI_BOUNDS)
        self.roi_bounds = read_roi_bounds(self.bounds_table)

    def resolution(self, roi: RoiName, path: Path) -> tuple[float | None, float | None]:
        magnification = self.scan_magnifications.get(roi.patient_id)
        if magnification is None:
            raise BadInputError(self.magnification_table, f"no magnification for slide {roi.patient_id} ({path.name})")
        mpp = MPP_OF_MAGNIFICATION.get(magnification)
        if mpp is None:
            raise BadInputError(
                self.magnification_table,
                f"{roi.patient_id}: magnification {magnification} has no known MPP (known: {MPP_OF_MAGNIFICATION})",
            )
        return mpp, magnification

    def extra_attrs(self, roi: RoiName, mask_path: Path) -> dict[str, Any]:
        bounds = self.roi_bounds.get(roi.slide_id)
        if bounds is None:
            raise BadInputError(mask_path, f"slide {roi.slide_id} is not in {self.bounds_table}")
        if bounds[:2] != (roi.xmin, roi.ymin):
            raise BadInputError(
                mask_path, f"name says xmin {roi.xmin}, ymin {roi.ymin}; {self.bounds_table} says {bounds[:2]}"
            )
        return {"bounds": bounds}

    def check_size(self, item: Item, mask_path: Path, height: int, width: int) -> None:
        xmin, ymin, xmax, ymax = item.attrs["bounds"]
        if abs(width - (xmax - xmin)) > self.SIZE_TOLERANCE or abs(height - (ymax - ymin)) > self.SIZE_TOLERANCE:
            raise BadInputError(
                mask_path,
                f"size {width}x{height} is not the base-magnification ROI size {xmax - xmin}x{ymax - ymin} of "
                "roiBounds.csv: this file is resampled (use the BCSS config for 0.25 MPP files)",
            )


#: Option sets of the tiled configs: 1024 px tiles, stride 1024 (no overlap, no padding).
TILED_1024: Mapping[str, Any] = {"tile_size": 1024, "tile_stride": 1024}
TILED_NOTE = (
    " Tiled: 1024 x 1024 px tiles, stride 1024 (no overlap), edge tiles cut short by the ROI border "
    "(no padding); tiles entirely outside_roi dropped; metadata.tile_x / tile_y = offset in the ROI."
)

CONFIGS = (
    ConfigSpec("BCSS", BCSS, {}, BCSS.description, splits=("train", "test")),
    ConfigSpec("BCSS_1024", BCSS, TILED_1024, BCSS.description + TILED_NOTE, splits=("train", "test")),
    ConfigSpec(
        "CrowdsourcingDataset-Amgadetal2019",
        CrowdsourcingAmgad2019,
        {},
        CrowdsourcingAmgad2019.description,
        splits=("train", "test"),
    ),
    ConfigSpec(
        "CrowdsourcingDataset-Amgadetal2019_1024",
        CrowdsourcingAmgad2019,
        TILED_1024,
        CrowdsourcingAmgad2019.description + TILED_NOTE,
        splits=("train", "test"),
    ),
)
