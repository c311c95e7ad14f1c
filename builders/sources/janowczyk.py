"""Janowczyk & Madabhushi 2016, deep-learning tutorial use case 1: nuclei (PARTIAL labels).

Raw layout (``nuclei.tgz``, flat; some copies sit in a top ``nuclei/`` folder)::

    <patient>_500_f<5 digits>_original.tif    2000x2000 RGB H&E (ER+ breast cancer, 40x)
    <patient>_500_f<5 digits>_mask.png        binary mask of the annotated nuclei

Annotation is PARTIAL: only some nuclei of each image were outlined, so an unlabelled
pixel is NOT background. Every record carries ``metadata.annotation = "partial"``; do not
train a background class on unlabelled pixels. Instances are the 8-connected components
of the mask (touching nuclei merge).
"""

from __future__ import annotations

import numpy as np

from ..base import ConfigSpec, Download, Item
from ..catalog import SourceInfo
from ..formats.folder import FolderSource
from ..formats.histology import HE_METADATA

CITATION = """@article{janowczyk2016deep,
  title   = {Deep learning for digital pathology image analysis: A comprehensive tutorial with selected use cases},
  author  = {Janowczyk, Andrew and Madabhushi, Anant},
  journal = {Journal of Pathology Informatics},
  volume  = {7},
  number  = {1},
  pages   = {29},
  year    = {2016},
  doi     = {10.4103/2153-3539.186902}
}"""

class JanowczykNuclei(FolderSource):
    info = SourceInfo(
        name="Janowczyk nuclei (partial annotations)",
        title="Janowczyk & Madabhushi 2016 nuclei, PARTIAL annotations (unlabelled != background)",
        homepage="http://andrewjanowczyk.com/use-case-1-nuclei-segmentation/",
        citation=CITATION,
        license="not stated upstream",
        doc="janowczyk",
        modality="histology",
        stain="H&E",
        organ="breast (ER+ breast cancer)",
        magnification=40.0,
        metrics=("f1_annotated",),
        annotation="partial",
        description=(
            "Janowczyk & Madabhushi 2016 nuclei use case: 2000x2000 H&E tiles of ER+ breast cancer at 40x "
            "with PARTIAL nucleus annotations: unlabelled pixels are not background (annotation=partial)."
        ),
    )
    # http, not https: the host's certificate has been a problem for other downloaders; the
    # pinned sha256 guards the bytes either way.
    downloads = (
        Download(
            url="http://andrewjanowczyk.com/wp-static/nuclei.tgz",
            filename="nuclei.tgz",
            sha256="cb881c29d9f0ae5ad1d953160a4e00be70af329e0351eed614d51b4b66c65e6b",
        ),
    )
    expected_layout = """
    <data_dir>/[nuclei/]<patient>_500_f<NNNNN>_original.tif
    <data_dir>/[nuclei/]<patient>_500_f<NNNNN>_mask.png   (binary, partial annotation)
    """

    layout_markers = ("*_original.tif*",)
    search_depth = 1
    image_pattern = r"(?P<base>(?P<patient>[^_/]+)_[^/]*)_original(?i:\.tiff?)"
    image_id_template = "{base}"
    annotation = "{base}_mask.png"
    annotation_kind = "binary_mask"
    missing_annotation = "no mask {annotation} for {name}"
    # PARTIAL: an unlabelled pixel is not background.
    metadata = {**HE_METADATA, "organ": "breast", "magnification": 40.0, "annotation": "partial"}

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict:
        return {"patient_id": item.attrs["patient"]}


CONFIGS = (
    ConfigSpec(
        "nuclei_partial_annotations",
        JanowczykNuclei,
        {},
        "Janowczyk & Madabhushi 2016 nuclei: 2000x2000 H&E, PARTIAL annotations (unlabelled != background).",
    ),
)
