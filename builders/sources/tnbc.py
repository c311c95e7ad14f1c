"""TNBC_NucleiSegmentation (Naylor et al. 2018, Zenodo record 1175282).

Raw layout (``TNBC_NucleiSegmentation.zip``)::

    TNBC_NucleiSegmentation/Slide_<PP>/<PP>_<k>.png    512x512 RGBA H&E crop (alpha unused)
    TNBC_NucleiSegmentation/GT_<PP>/<PP>_<k>.png       binary nucleus mask, same name
    __MACOSX/...                                       ignored

``PP`` (01..11) is the patient, and each patient contributed one slide, so ``patient_id``
= ``slide_id`` = ``PP``. The ground truth is binary: instances are its 8-connected
components, so nuclei that touch in the mask become one object (documented, unavoidable).

Alpha: the RGBA slides carry a constant alpha of 255, so the image is stored as RGB (no
information lost). A slide whose alpha is not constant keeps RGBA, with a note.
"""

from __future__ import annotations

import numpy as np

from ..base import ConfigSpec, Download, Item
from ..catalog import SourceInfo
from ..formats.folder import FolderSource
from ..formats.histology import HE_METADATA
from ..formats.pixels import without_constant_alpha

CITATION = """@article{naylor2019segmentation,
  title   = {Segmentation of Nuclei in Histopathology Images by Deep Regression of the Distance Map},
  author  = {Naylor, Peter and La{\\'e}, Marick and Reyal, Fabien and Walter, Thomas},
  journal = {IEEE Transactions on Medical Imaging},
  volume  = {38},
  number  = {2},
  pages   = {448--459},
  year    = {2019},
  doi     = {10.1109/TMI.2018.2865709}
}
@dataset{naylor2018tnbc,
  title     = {{TNBC} Nuclei Segmentation dataset},
  author    = {Naylor, Peter and La{\\'e}, Marick and Reyal, Fabien and Walter, Thomas},
  publisher = {Zenodo},
  year      = {2018},
  doi       = {10.5281/zenodo.1175282}
}"""

class TNBC(FolderSource):
    info = SourceInfo(
        name="TNBC_NucleiSegmentation",
        title="TNBC (Naylor et al.): 50 H&E crops, binary masks -> connected components",
        homepage="https://zenodo.org/records/1175282",
        citation=CITATION,
        # Stated on the dataset's v1.1 Zenodo record (2579118); see docs/sources/tnbc.md.
        license="CC-BY-4.0",
        doc="tnbc",
        modality="histology",
        stain="H&E",
        organ="breast",
        magnification=40.0,
        description=(
            "TNBC (Naylor et al.): 50 H&E crops of 512x512 from 11 triple-negative breast cancer patients "
            "(one slide each), binary nucleus masks split into connected components (touching nuclei merge)."
        ),
    )
    downloads = (
        Download(
            url="https://zenodo.org/records/1175282/files/TNBC_NucleiSegmentation.zip",
            filename="TNBC_NucleiSegmentation.zip",
            sha256="da708c3a988f4ad4b9bbb9283b387faf703f0bc0e5e689927306bd27ea13a57f",
        ),
    )
    expected_layout = """
    <data_dir>/[TNBC_NucleiSegmentation/]Slide_<PP>/<PP>_<k>.png   (RGBA H&E)
    <data_dir>/[TNBC_NucleiSegmentation/]GT_<PP>/<PP>_<k>.png      (binary mask)
    """

    layout_markers = ("Slide_*",)
    image_pattern = r"Slide_(?P<patient>\d+)/[^/]+(?i:\.png)"
    annotation = "GT_{patient}/{name}"
    annotation_kind = "binary_mask"
    missing_annotation = "no mask {annotation} for {name}"
    metadata = {**HE_METADATA, "organ": "breast", "magnification": 40.0, "annotation": "complete"}

    def image_pixels(self, item: Item) -> tuple[np.ndarray, bytes | None, list[str]]:
        pixels, png, notes = super().image_pixels(item)
        pixels, alpha_notes = without_constant_alpha(pixels, item.image_id)
        return pixels, png, notes + alpha_notes

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict:
        # One slide per patient: the two ids coincide.
        return {"slide_id": item.attrs["patient"], "patient_id": item.attrs["patient"]}


CONFIGS = (
    ConfigSpec(
        "TNBC_NucleiSegmentation",
        TNBC,
        {},
        "TNBC: 50 H&E crops (11 patients), nuclei from binary masks by connected components.",
    ),
)
