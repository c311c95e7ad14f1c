"""CryoNuSeg (Mahbod et al. 2021): 30 H&E patches of frozen sections, 10 organs, three annotation sets.

Raw layout (the Kaggle archive "segmentation-of-nuclei-in-cryosectioned-he-images")::

    tissue images/Human_<Organ>_<NN>.tif                                         512x512 H&E
    Annotator 1 (biologist)/label masks modify/<stem>.tif                        uint16 ids
    Annotator 1 (biologist second round of manual marks up)/
        Annotator 1 (biologist second round of manual marks up)/label masks modify/<stem>.tif
    Annotator 2 (bioinformatician)/Annotator 2 (bioinformatician)/label masks modify/<stem>.tif
    (each annotator folder also holds 'label masks', 'mask binary', ... of the Matlab generator)

The two later annotation sets sit in doubly nested folders upstream; a singly nested copy
is accepted too. Option ``annotator``: ``1`` (default, the set the paper evaluates on),
``1-round2`` (the biologist's second round) or ``2`` (the bioinformatician); a non-default
annotator is exported under its own name (``CryoNuSeg_annotator_2``).

Records: the TIFF (constant alpha dropped), nuclei from ``label masks modify`` with the
upstream ids (the summed ``label masks`` are never used). Patient, slide and pixel size of
every patch come from the authors' ``Selected_WSIs.xlsx`` (table below). Where the sheet
gives no pixel size (Human_Testes_01), it comes from the tissue TIFF's resolution tag (ImageJ
calibration in microns), counted in the build report as ``mpp from TIFF resolution tag``; a
tag that disagrees with the sheet by more than 1 % is counted too (the sheet's value is
kept). No official split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..base import BadInputError, ConfigSpec, CountedNote, Item, MissingDataError, Sample, logger, option_choice
from ..catalog import SourceInfo
from ..formats.folder import FolderSource
from ..formats.histology import HE_METADATA
from ..formats.label_masks import LABEL_MASKS_MODIFY
from ..formats.pixels import without_constant_alpha

CITATION = """@article{mahbod2021cryonuseg,
  title   = {{CryoNuSeg}: A dataset for nuclei instance segmentation of cryosectioned {H\\&E}-stained histological images},
  author  = {Mahbod, Amirreza and Schaefer, Gerald and Bancher, Benjamin and L{\\"o}w, Christine and
             Dorffner, Georg and Ecker, Rupert and Ellinger, Isabella},
  journal = {Computers in Biology and Medicine},
  volume  = {132},
  pages   = {104349},
  year    = {2021},
  doi     = {10.1016/j.compbiomed.2021.104349}
}"""

IMAGES_DIR = "tissue images"
_ROUND2 = "Annotator 1 (biologist second round of manual marks up)"
_BIOINFORMATICIAN = "Annotator 2 (bioinformatician)"
#: option value -> annotation folders to try, in order: as upstream nests it, nested once; for
#: annotator 1 also the flat layout of an older Kaggle version ("label masks modify" beside
#: "tissue images", no annotator folders: one annotation set, taken to be annotator 1's).
ANNOTATORS: dict[str, tuple[str, ...]] = {
    "1": ("Annotator 1 (biologist)", ""),
    "1-round2": (f"{_ROUND2}/{_ROUND2}", _ROUND2),
    "2": (f"{_BIOINFORMATICIAN}/{_BIOINFORMATICIAN}", _BIOINFORMATICIAN),
}

#: Organ code of the file names -> organ (README: the 10 organs of the data set).
ORGANS = {
    "AdrenalGland": "adrenal gland",
    "Larynx": "larynx",
    "LymphNodes": "lymph node",
    "Mediastinum": "mediastinum",
    "Pancreas": "pancreas",
    "Pleura": "pleura",
    "Skin": "skin",
    "Testes": "testis",
    "Thymus": "thymus",
    "ThyroidGland": "thyroid gland",
}

#: Patch -> (TCGA patient, GDC file id of the slide, microns per pixel of the slide), from
#: masih4/CryoNuSeg ``Selected_WSIs.xlsx`` (columns TCGA, URL, Pixel-Dimensions); the
#: spreadsheet gives no pixel size for Human_Testes_01. All slides were scanned at 40x.
WSI: dict[str, tuple[str, str, float | None]] = {
    "Human_AdrenalGland_01": ("TCGA-TT-A6YO", "31a0bdbe-f277-4c51-af05-ede0a8603026", 0.2485),
    "Human_AdrenalGland_02": ("TCGA-S7-A7WO", "a655a313-6717-42ec-82e6-81a134bba253", 0.2525),
    "Human_AdrenalGland_03": ("TCGA-SQ-A6I6", "6e8d9cfc-c814-4a36-af78-066cd0f256b6", 0.2457),
    "Human_Larynx_01": ("TCGA-QK-AA3J", "93acfce6-80dc-470b-955c-56ec832a78f2", 0.2265),
    "Human_Larynx_02": ("TCGA-F7-A622", "29e9112b-5fd2-44c6-8149-055d054198d9", 0.2468),
    "Human_Larynx_03": ("TCGA-CV-A45Y", "5d37d097-e3d1-4e62-b781-ca38a7b30ea3", 0.2456),
    "Human_LymphNodes_01": ("TCGA-G8-6324", "421597a8-b30c-4cc6-bcc1-342bf11e8d34", 0.254),
    "Human_LymphNodes_02": ("TCGA-GR-A4D6", "a81b3446-3ba5-4e53-b468-7cc5cc2e9695", 0.2485),
    "Human_LymphNodes_03": ("TCGA-D3-A2JB", "096c4f6c-eb39-40ba-a08b-7c62cf0d720a", 0.2468),
    "Human_Mediastinum_01": ("TCGA-YT-A95H", "c823f71c-8efc-403a-9b2d-be14bbcc0432", 0.2525),
    "Human_Mediastinum_02": ("TCGA-XM-A8RF", "00df5d3a-36e1-4010-af6a-d02749c6a77c", 0.2525),
    "Human_Mediastinum_03": ("TCGA-ZB-A969", "422d54ca-7144-4bd8-9e2d-92b7cf28b4c2", 0.2525),
    "Human_Pancreas_01": ("TCGA-3A-A9IV", "65c715c9-e89b-4690-a636-6374f900010f", 0.2527),
    "Human_Pancreas_02": ("TCGA-FZ-5920", "ee2ea0b3-b37c-475c-b1ad-f4c3742c2ba5", 0.2462),
    "Human_Pancreas_03": ("TCGA-2J-AABI", "a6526009-e143-4480-8cfd-51d774de2b67", 0.2525),
    "Human_Pleura_01": ("TCGA-MQ-A4LI", "08d922e9-ec24-4fcf-b888-e85280360143", 0.2485),
    "Human_Pleura_02": ("TCGA-ZN-A9VW", "e5b82c50-e9c6-4953-946f-39e96e06e680", 0.2527),
    "Human_Pleura_03": ("TCGA-YS-A95B", "c6eb609d-b8ed-4fca-919f-051acd98dcdd", 0.2527),
    "Human_Skin_01": ("TCGA-EE-A17Y", "ac57c1b9-6b63-4c2d-998b-3b3ce4f3b11f", 0.248),
    "Human_Skin_02": ("TCGA-D9-A4Z3", "c7c0813b-8725-4732-94a8-0530ce458313", 0.2468),
    "Human_Skin_03": ("TCGA-GN-A4U5", "e2bd9d6c-4b7e-4c89-b9c3-caf59e6e231b", 0.2456),
    "Human_Testes_01": ("TCGA-SN-A84W", "7029eb08-98ff-491b-ab01-8cd8ce47793c", None),
    "Human_Testes_02": ("TCGA-ZM-AA0N", "1bf64423-2f3a-4a73-b2c8-88d18938a0ab", 0.2525),
    "Human_Testes_03": ("TCGA-YU-A90Q", "7c03fd1d-e93d-4038-9180-96309be465e3", 0.2525),
    "Human_Thymus_01": ("TCGA-XH-A853", "295975d7-485a-47fd-a461-a9397ab7e55c", 0.2527),
    "Human_Thymus_02": ("TCGA-3S-AAYX", "b0bdba82-2f8b-44f6-8d1b-64446397744c", 0.2527),
    "Human_Thymus_03": ("TCGA-3G-AB0Q", "49fc9c2f-a6f8-4164-b1cc-597ce9413f4c", 0.2527),
    "Human_ThyroidGland_01": ("TCGA-BJ-A0Z2", "dcd1abbe-6cb5-457b-9a57-beb8e54e5ebd", 0.2505),
    "Human_ThyroidGland_02": ("TCGA-DE-A4MC", "22302153-69aa-40ee-bee4-63c5ef093a46", 0.248),
    "Human_ThyroidGland_03": ("TCGA-CE-A481", "92787891-ac10-40a0-bfde-82f14eef50cb", 0.2456),
}

#: Counted-note kinds of the pixel size (build report ``counts``): where the tag was used,
#: and where tag and sheet disagree (by more than MPP_TOLERANCE, relative; the sheet wins).
TIFF_MPP_NOTE = "mpp from TIFF resolution tag"
MPP_DISAGREEMENT_NOTE = "mpp of sheet and TIFF tag disagree"
MPP_TOLERANCE = 0.01

#: TIFF tags: XResolution, ResolutionUnit (1 none, 2 inch, 3 cm), ImageDescription.
_X_RESOLUTION, _RESOLUTION_UNIT, _IMAGE_DESCRIPTION = 282, 296, 270
#: ImageJ's calibration unit as written in ImageDescription ("unit=\\u00B5m" in CryoNuSeg).
_MICRON_UNITS = frozenset({"\\u00b5m", "\u00b5m", "um", "micron", "microns"})


def tiff_mpp(path: Path) -> float | None:
    """Microns per pixel from a TIFF's XResolution, or None when the tags do not say.

    XResolution is pixels per unit. The unit is the micron when ImageJ calibrated the image
    (ResolutionUnit "none" + ``unit=...`` in ImageDescription: CryoNuSeg's tissue TIFFs) or
    the centimetre (ResolutionUnit 3). Inches are not trusted: 72 dpi is many writers'
    default and says nothing about the specimen (the label masks carry it). The value is
    rounded to 6 significant digits (the tag holds 1/mpp with 7: 3.960396 -> 0.2525).
    """
    try:
        with Image.open(path) as image:  # reads the header only, no pixels
            tags = getattr(image, "tag_v2", None)
            if tags is None:
                return None
            x_resolution, unit = tags.get(_X_RESOLUTION), tags.get(_RESOLUTION_UNIT, 2)
            description = str(tags.get(_IMAGE_DESCRIPTION, ""))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise BadInputError(path, f"cannot read the TIFF resolution tags ({error})") from None
    try:
        pixels_per_unit = float(x_resolution) if x_resolution is not None else 0.0
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not np.isfinite(pixels_per_unit) or pixels_per_unit <= 0:
        return None
    imagej_unit = next(
        (line.split("=", 1)[1].strip().lower() for line in description.splitlines() if line.startswith("unit=")), None
    )
    if unit == 1 and imagej_unit in _MICRON_UNITS:
        microns = 1.0 / pixels_per_unit
    elif unit == 3:
        microns = 1e4 / pixels_per_unit
    else:
        return None
    return float(f"{microns:.6g}")


class CryoNuSeg(FolderSource):
    info = SourceInfo(
        name="CryoNuSeg",
        title="CryoNuSeg (Mahbod et al. 2021): 30 frozen-section H&E patches, 10 organs, 3 annotations",
        homepage="https://github.com/masih4/CryoNuSeg",
        citation=CITATION,
        license="not stated upstream",
        doc="cryonuseg",
        modality="histology",
        stain="H&E (frozen sections)",
        organ="10 human organs",
        magnification=40.0,
        metrics=("aji", "pq", "dice", "f1"),
        description=(
            "CryoNuSeg (Mahbod et al. 2021): 30 H&E patches (512x512) of frozen sections from 10 organs "
            "(TCGA, 40x), nuclei from 'label masks modify' (upstream ids kept); three annotation sets, "
            "option annotator (default: annotator 1, first round, as the paper)."
        ),
    )
    manual_instructions = """
CryoNuSeg is on Kaggle (a login is needed): open
https://www.kaggle.com/datasets/ipateam/segmentation-of-nuclei-in-cryosectioned-he-images, click
"Download", unzip the archive and pass the folder that holds "tissue images/" and the
"Annotator ..." folders (or a folder up to two levels above it) with --data-dir.
"""
    expected_layout = f"""
    <data_dir>/{IMAGES_DIR}/Human_<Organ>_<NN>.tif
    <data_dir>/Annotator 1 (biologist)/{LABEL_MASKS_MODIFY}/Human_<Organ>_<NN>.tif
    <data_dir>/{_ROUND2}/{_ROUND2}/{LABEL_MASKS_MODIFY}/...   (annotator=1-round2)
    <data_dir>/{_BIOINFORMATICIAN}/{_BIOINFORMATICIAN}/{LABEL_MASKS_MODIFY}/...   (annotator=2)
    """
    known_issues = (
        (
            "'label masks' add overlapping nuclei together (sum of ids).",
            "Only 'label masks modify' (maximum of ids) is read; ids kept as upstream, gaps included.",
        ),
        (
            "Three annotation sets (two annotators, one of them twice); two sit in doubly nested folders.",
            "Option annotator=1|1-round2|2 (default 1, as the paper); nested once or twice both work.",
        ),
        ("No official train/test split.", "One split 'train'."),
    )
    #: annotator: "1" (biologist, first round; default), "1-round2" (biologist, second round), "2" (bioinformatician)
    default_options = {"annotator": "1"}

    layout_markers = (IMAGES_DIR,)
    image_dirs = (IMAGES_DIR,)
    image_pattern = rf"{IMAGES_DIR}/(?:Human_(?P<organ_code>[A-Za-z]+)_\d+|[^/]+)(?i:\.tiff?)"
    annotation_kind = "id_label_map"  # ids are upstream ids: kept, gaps included (no ambiguous-area masks published)
    missing_annotation = "no label mask {annotation} for {name}"
    metadata = {**HE_METADATA, "magnification": 40.0, "annotation": "complete"}

    def __init__(self, **options: Any):
        super().__init__(**options)
        option_choice(self.name, "annotator", self.options["annotator"], tuple(ANNOTATORS))

    def export_name(self, config_name: str) -> str:
        # Another annotator's labels are another data set: never replace the default export.
        annotator = self.options["annotator"]
        return config_name if annotator == "1" else f"{config_name}_annotator_{annotator.replace('-', '_')}"

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        candidates = ANNOTATORS[self.options["annotator"]]
        folder = next((name for name in candidates if (root / name / LABEL_MASKS_MODIFY).is_dir()), None)
        if folder is None:
            raise MissingDataError(
                self.missing_message(
                    root, f"'{candidates[0]}/{LABEL_MASKS_MODIFY}/' (annotator={self.options['annotator']}) is missing"
                )
            )
        if not folder:
            logger.warning("CryoNuSeg: flat layout (no annotator folders, an older Kaggle version): read as annotator 1")
        self.annotation = f"{folder}/{LABEL_MASKS_MODIFY}/{{stem}}.tif".lstrip("/")
        return super().list_items(root)

    def image_pixels(self, item: Item) -> tuple[np.ndarray, bytes | None, list[str]]:
        pixels, png, notes = super().image_pixels(item)
        pixels, alpha_notes = without_constant_alpha(pixels, item.image_id)
        return pixels, png, notes + alpha_notes

    def read(self, item: Item) -> Sample:
        sample = super().read(item)
        sheet_mpp = sample.metadata.get("mpp")
        tag_mpp = tiff_mpp(Path(item.files["image"]))
        if sheet_mpp is None and tag_mpp is not None:
            sample.metadata["mpp"] = tag_mpp
            sample.notes.append(
                CountedNote(TIFF_MPP_NOTE, 1, f"{item.image_id}: {tag_mpp:g} um/px (Selected_WSIs.xlsx gives none)")
            )
        elif sheet_mpp is not None and tag_mpp is not None and abs(tag_mpp - sheet_mpp) > MPP_TOLERANCE * sheet_mpp:
            sample.notes.append(
                CountedNote(
                    MPP_DISAGREEMENT_NOTE,
                    1,
                    f"{item.image_id}: sheet {sheet_mpp:g}, TIFF tag {tag_mpp:g} um/px (the sheet's value is kept)",
                )
            )
        return sample

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict[str, Any]:
        patient, slide, mpp = WSI.get(item.attrs["stem"], (None, None, None))
        return {
            "organ": ORGANS.get(item.attrs.get("organ_code", "")),
            "patient_id": patient,
            "slide_id": slide,
            "mpp": mpp,
            # the annotation set, e.g. "Annotator 1 (biologist)": the folder above 'label masks modify'
            # (null for the flat layout, which does not say whose annotations it holds)
            "collection": (item.attrs["annotation"].split("/")[-3:-2] or [None])[0],
        }


CONFIGS = (
    ConfigSpec(
        "CryoNuSeg",
        CryoNuSeg,
        {},
        "CryoNuSeg: 30 H&E frozen-section patches of 10 organs, nuclei of annotator 1 (option annotator).",
    ),
)
