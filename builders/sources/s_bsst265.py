"""S-BSST265 (Kromp et al. 2020): annotated fluorescence images of nuclei (tissue sections, cytospins, cell lines).

Raw layout (BioStudies ``dataset.zip``, no top folder)::

    rawimages/<name>.tif                 nuclear image (grey; some stored as 3 identical channels)
    groundtruth/<name>.tif               instance label image, same name
    image_description.csv                ';'-separated: Image_Name;Diagnosis;Preparation;Train-/Testset split;
                                         Testset class;Magnification;Modality;Device;Software;...
    README.txt, groundtruth_svgs/, singlecell_groundtruth/, visualized_groundtruth/,
    visualized_singlecell_groundtruth/   not used

Names are ``Ganglioneuroblastoma_<n>``, ``Neuroblastoma_<n>``, ``normal_<n>``,
``otherspecimen_<n>``. Images and label images are paired by name; a label image without a
raw image (the zip has some) and a raw image without a label image are counted skips. The
split is the authors' suggested train/test split from ``image_description.csv`` (79 rows:
42 train, 37 test). Ids are the label values as published.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..base import BadInputError, ConfigSpec, Download, Item, MissingDataError, is_skipped_item, skipped_item
from ..catalog import SourceInfo
from ..formats.folder import FolderSource
from ..formats.naming import natural_key

CITATION = """@article{kromp2020annotated,
  title   = {An annotated fluorescence image dataset for training nuclear segmentation methods},
  author  = {Kromp, Florian and Bozsaky, Eva and Rifatbegovic, Fikret and Fischer, Lukas and Ambros, Magdalena and
             Berneder, Maria and Weiss, Tamara and Lazic, Daria and D{\\"o}rr, Wolfgang and Hanbury, Allan and
             Beiske, Klaus and others},
  journal = {Scientific Data},
  volume  = {7},
  number  = {1},
  pages   = {262},
  year    = {2020},
  doi     = {10.1038/s41597-020-00608-w}
}"""

RAW_DIR, LABEL_DIR, DESCRIPTION = "rawimages", "groundtruth", "image_description.csv"
#: image_description.csv columns this reader uses
NAME, SPLIT, TEST_CLASS, DIAGNOSIS, PREPARATION, MAGNIFICATION = (
    "Image_Name",
    "Train-/Testset split",
    "Testset class",
    "Diagnosis",
    "Preparation",
    "Magnification",
)
SPLITS = {"train": "train", "test": "test"}


def read_description(root: Path) -> dict[str, dict[str, str]]:
    """Image name -> row of ``image_description.csv`` (';'-separated, optional UTF-8 BOM)."""
    path = root / DESCRIPTION
    if not path.is_file():
        raise MissingDataError(
            f"S-BSST265: {path} is missing; it holds the authors' train/test split (it is part of dataset.zip)"
        )
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter=";"))
    except (UnicodeDecodeError, csv.Error) as error:
        raise BadInputError(path, f"not a readable ';'-separated CSV ({error})") from None
    if not rows or any(column not in rows[0] for column in (NAME, SPLIT)):
        raise BadInputError(path, f"expected the columns {NAME!r} and {SPLIT!r}")
    table: dict[str, dict[str, str]] = {}
    for line, row in enumerate(rows, start=2):
        name, split = (row.get(NAME) or "").strip(), (row.get(SPLIT) or "").strip().lower()
        if split not in SPLITS:
            raise BadInputError(path, f"line {line}: split {row.get(SPLIT)!r} of {name!r} is not train or test")
        if name in table:
            raise BadInputError(path, f"line {line}: {name!r} is listed twice")
        table[name] = {key: (value or "").strip() for key, value in row.items() if key}
    return table


def magnification_of(text: str) -> float | None:
    """``"63x"`` -> 63.0; anything else -> None (never a guess)."""
    match = re.fullmatch(r"(\d+(?:[.,]\d+)?)\s*[xX]", text.strip())
    return float(match.group(1).replace(",", ".")) if match else None


class SBSST265(FolderSource):
    info = SourceInfo(
        name="S-BSST265",
        title="Kromp et al. 2020: 79 fluorescence nucleus images (tumour sections, cytospins, cell line), the authors' train/test split",
        homepage="https://www.ebi.ac.uk/biostudies/studies/S-BSST265",
        citation=CITATION,
        license="CC0-1.0",  # stated in the dataset's README.txt
        doc="s_bsst265",
        modality="fluorescence",
        stain="DAPI",
        description=(
            "S-BSST265 (Kromp et al. 2020): 79 fluorescence images of nuclei (neuroblastoma and other tumour "
            "sections, cytospins, touch imprints, HaCaT cell line), 10x-63x, widefield and confocal; expert "
            "instance labels; the authors' train/test split."
        ),
    )
    downloads = (
        Download(
            url="https://www.ebi.ac.uk/biostudies/files/S-BSST265/dataset.zip",
            filename="dataset.zip",
            sha256="8285987ed4d57c46a46a55a33c1c085875ea41f429b59cde31d249741aa07ad1",
        ),
    )
    expected_layout = f"""
    <data_dir>/[dataset/]{RAW_DIR}/<name>.tif
    <data_dir>/[dataset/]{LABEL_DIR}/<name>.tif
    <data_dir>/[dataset/]{DESCRIPTION}
    """
    known_issues = (
        (
            "groundtruth/ holds label images without a raw image.",
            "Pairing is by name; each unpaired file is a counted skip (build report, card).",
        ),
        (
            "Some raw images are grey stored as 3 identical channels.",
            "Pixels are stored as decoded (3 channels stay 3 channels).",
        ),
        (
            "Magnification differs between images (10x-63x) and no pixel size is published.",
            "metadata.magnification per image from image_description.csv; mpp stays null.",
        ),
    )

    layout_markers = (RAW_DIR, LABEL_DIR)
    search_depth = 2
    image_dirs = (RAW_DIR,)
    image_pattern = RAW_DIR + r"/[^/]+(?i:\.tiff?)"
    annotation = LABEL_DIR + "/{stem}.tif"
    annotation_kind = "id_label_map"  # ids are upstream ids: kept, gaps included
    missing_annotation = "no label image {annotation} for {name}"
    metadata = {"modality": "fluorescence", "stain": "DAPI", "annotation": "complete"}

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        self._description = read_description(root)
        splits: dict[str, list[Item]] = {}
        for split, items in super().list_items(root).items():
            for item in items:
                row = self._description.get(item.attrs.get("stem", "")) if not is_skipped_item(item) else None
                if row is not None:  # the image's CSV row travels with the item (workers never re-list)
                    item = dataclasses.replace(item, attrs={**item.attrs, "description": row})
                elif split is None and not is_skipped_item(item):  # in no CSV row: no split, counted under train
                    item = skipped_item(item.image_id, f"{RAW_DIR}/{item.attrs['name']} is not in {DESCRIPTION}")
                splits.setdefault(split or "train", []).append(item)
        return splits

    def sort_key(self, fields: Mapping[str, str], path: Path, root: Path) -> Any:
        return natural_key(fields["stem"])

    def split_of(self, fields: Mapping[str, str]) -> Any:
        row = self._description.get(fields.get("stem", ""))
        return SPLITS[row[SPLIT].lower()] if row else None


    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict[str, Any]:
        row = item.attrs["description"]
        tissue = ", ".join(value for value in (row.get(DIAGNOSIS), row.get(PREPARATION)) if value) or None
        test_class = row.get(TEST_CLASS)
        return {
            "tissue": tissue,
            "magnification": magnification_of(row.get(MAGNIFICATION, "")),
            # the test-set class of the benchmark (GNB-I ... TS); '-' for training images
            "collection": test_class if test_class and test_class != "-" else None,
        }


CONFIGS = (
    ConfigSpec(
        "S-BSST265",
        SBSST265,
        {},
        "S-BSST265 (Kromp et al. 2020): 79 annotated fluorescence nucleus images, the authors' train/test split.",
        splits=("train", "test"),
    ),
)
