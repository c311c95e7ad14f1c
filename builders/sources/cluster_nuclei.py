"""cluster_nuclei: clustered nuclei of the ImageJ IHC toolbox (Shu, Qiu & Ilyas).

Raw layout (``cluster nuclei.zip`` from Dropbox; the folder name has a space)::

    cluster nuclei/original/<stem>.<ext>        the image
    cluster nuclei/label/<stem>(label).bmp      the same image with pure red (255, 0, 0) outlines

Each image gets the objects enclosed by its red outlines (:func:`raster.fill_outlines`:
holes filled, touching outlines kept apart, outlines open at the image border dropped).
Only exactly (255, 0, 0) counts as outline. Images are stored as decoded (lossless PNG);
the modality is derived from the pixels like DSB2018's. Whether every nucleus of an
image is outlined is not documented upstream, so ``metadata.annotation`` stays null.
"""

from __future__ import annotations

import numpy as np

from ..base import ConfigSpec, Download, Item
from ..catalog import SourceInfo
from ..formats.folder import FolderSource
from ..formats.modality import modality_of

TOP_FOLDER = "cluster nuclei"
OUTLINE_RED = (255, 0, 0)
LABEL_SUFFIX = "(label).bmp"

CITATION = """@misc{shu_ihc_toolbox,
  title        = {{IHC} toolbox (ImageJ plugin), cluster nuclei data set},
  author       = {Shu, Jie and Qiu, Guoping and Ilyas, Mohammad},
  howpublished = {\\url{https://imagej.nih.gov/ij/plugins/ihc-toolbox/index.html}},
  note         = {Data: https://www.dropbox.com/s/9knzkp9g9xt6ipb/cluster\\%20nuclei.zip}
}"""


class ClusterNuclei(FolderSource):
    info = SourceInfo(
        name="cluster nuclei (IHC toolbox)",
        title="IHC toolbox clustered nuclei, red outlines filled into instances",
        homepage="https://imagej.nih.gov/ij/plugins/ihc-toolbox/index.html",
        citation=CITATION,
        # No licence is stated upstream.
        license="unknown",
        doc="cluster_nuclei",
        modality="brightfield",
        stain="IHC",
        description="Clustered nuclei from the ImageJ IHC toolbox (Shu, Qiu, Ilyas): images with red nucleus outlines.",
    )
    downloads = (
        # dl=1 makes Dropbox send the file itself (dl=0 is its HTML preview page).
        Download(
            url="https://www.dropbox.com/s/9knzkp9g9xt6ipb/cluster%20nuclei.zip?dl=1", filename="cluster nuclei.zip"
        ),
    )
    expected_layout = """
    <data_dir>/[cluster nuclei/]original/<stem>.<ext>
    <data_dir>/[cluster nuclei/]label/<stem>(label).bmp     (pure red outlines)
    """
    #: min_area: drop filled objects smaller than this many pixels (1 keeps all)
    default_options = {"min_area": 1}

    layout_markers = ("original", "label")
    image_dirs = ("original",)
    image_pattern = r"original/[^/]+"
    annotation = "label/{stem}" + LABEL_SUFFIX
    annotation_kind = "colour_outlines"
    outline_colour, outline_colour_name = OUTLINE_RED, "red"
    missing_annotation = "no {annotation} next to {name}"

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict:
        return {"modality": modality_of(pixels)}


CONFIGS = (
    ConfigSpec(
        "cluster_nuclei", ClusterNuclei, {}, "IHC toolbox clustered nuclei: red outline drawings filled into instances."
    ),
)
