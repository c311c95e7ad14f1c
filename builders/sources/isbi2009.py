"""2009_ISBI_2DNuclei: Coelho, Shariff & Murphy's hand-segmented nuclei (Murphy lab tgz).

Raw layout (``2009_ISBI_2DNuclei_code_data.tgz``; unpacked with or without its top
folder ``2009_ISBI_2DNuclei_code_data/``)::

    data/images/dna-images/{gnf,ic100}/dna-<n>.png     grey stored as RGB (R = G = B)
    data/preprocessed-data/{gnf,ic100}/dna-<n>.png     label image, L, 0 = background, 1..N

gnf (U2OS, 1349x1030) and ic100 (NIH3T3, 1344x1024) are the two collections with
labels (``metadata.collection``); ``ksr`` has none and is not read. The label images
are the ones the authors' ``extract-data.py`` derived from the GIMP ``.xcf`` drawings
(the .xcf files are not read). The image PNG is stored byte for byte.

Images without a label image (gnf dna-31, gnf dna-43, ic100 dna-25 upstream): option
``unannotated`` = ``skip`` (default, counted skips; 97 records) or ``keep``
(``annotation="none"``, no objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..base import ConfigSpec, Download, Item, MissingDataError
from ..catalog import SourceInfo
from ..formats.folder import FolderSource

TOP_FOLDER = "2009_ISBI_2DNuclei_code_data"
IMAGES_DIR = "data/images/dna-images"
LABELS_DIR = "data/preprocessed-data"
COLLECTIONS = ("gnf", "ic100")

CITATION = """@inproceedings{coelho2009nuclear,
  title     = {Nuclear segmentation in microscope cell images: a hand-segmented dataset and comparison of algorithms},
  author    = {Coelho, Luis Pedro and Shariff, Aabid and Murphy, Robert F.},
  booktitle = {2009 IEEE International Symposium on Biomedical Imaging: From Nano to Macro (ISBI)},
  pages     = {518--521},
  year      = {2009},
  doi       = {10.1109/ISBI.2009.5193098}
}"""


class ISBI2009Nuclei(FolderSource):
    info = SourceInfo(
        name="2009_ISBI_2DNuclei (Coelho et al.)",
        title="Coelho et al. 2009, gnf + ic100 hand-segmented label images",
        homepage="https://murphylab.web.cmu.edu/data/2009_ISBI_Nuclei.html",
        citation=CITATION,
        # No licence is stated upstream; the authors ask to cite the paper.
        license="unknown",
        license_note="no licence stated: cite the paper",
        doc="isbi2009",
        modality="fluorescence",
        stain="Hoechst (DNA)",
        organ="U2OS and NIH3T3 cells",
        description=(
            "Coelho, Shariff & Murphy (ISBI 2009): hand-segmented nuclei in U2OS (gnf) and NIH3T3 (ic100) "
            "fluorescence images, 97 labelled images."
        ),
    )
    downloads = (
        Download(
            url="https://murphylab.web.cmu.edu/data/2009_ISBI_2DNuclei_code_data.tgz",
            filename="2009_ISBI_2DNuclei_code_data.tgz",
        ),
    )
    manual_instructions = """
    If the download fails (the host's TLS certificate has been reported broken), fetch
    2009_ISBI_2DNuclei_code_data.tgz from https://murphylab.web.cmu.edu/data/2009_ISBI_Nuclei.html
    by hand, unpack it and pass the folder with --data-dir.
    """
    expected_layout = """
    <data_dir>/[2009_ISBI_2DNuclei_code_data/]data/images/dna-images/{gnf,ic100}/dna-<n>.png
    <data_dir>/[2009_ISBI_2DNuclei_code_data/]data/preprocessed-data/{gnf,ic100}/dna-<n>.png
    """
    #: unannotated: "skip" images without a label image (default) or "keep" them (annotation "none")
    default_options = {"unannotated": "skip"}

    layout_markers = (IMAGES_DIR,)
    image_dirs = (IMAGES_DIR,)
    image_pattern = IMAGES_DIR + r"/(?P<collection>gnf|ic100)/dna-(?P<n>\d+)\.png"
    image_id_template = "{collection}-{stem}"
    annotation = LABELS_DIR + "/{collection}/{name}"
    annotation_kind = "label_map"
    missing_annotation = f"no label image in {LABELS_DIR}/ (unannotated upstream)"
    metadata = {"modality": "fluorescence", "annotation": "complete"}
    png_verbatim = True

    def sort_key(self, fields: Mapping[str, str], path: Path, root: Path) -> Any:
        return COLLECTIONS.index(fields["collection"]), int(fields["n"])

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict:
        return {"collection": item.attrs["collection"]}

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        if not (root / LABELS_DIR).is_dir():
            raise MissingDataError(
                self.missing_message(
                    root,
                    f"{LABELS_DIR}/ is missing: this reader uses the label images the authors' extract-data.py "
                    "derives from the .xcf drawings (github.com/luispedro/Coelho2009_ISBI_NuclearSegmentation has them)",
                )
            )
        return super().list_items(root)


CONFIGS = (
    ConfigSpec(
        "2009_ISBI_2DNuclei",
        ISBI2009Nuclei,
        {},
        "Coelho et al. ISBI 2009 hand-segmented nuclei (gnf U2OS, ic100 NIH3T3), label images of preprocessed-data.",
    ),
)
