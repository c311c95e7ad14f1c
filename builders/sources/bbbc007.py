"""BBBC007v1: Drosophila Kc167 cells, DNA + actin images with hand-drawn outlines.

Raw layout (two zips)::

    BBBC007_v1_images/<folder>/<name>.tif       8-bit grey (some stored as 3 channels)
    BBBC007_v1_outlines/<folder>/<name>.tif     1-bit, white 1-px outlines, NOT filled

16 fields, each a DNA/actin pair. The channel is in the file name, in one of three forms
(DNA first): ``<stem>d.tif`` / ``<stem>f.tif`` (e.g. ``A9/A9 p10d.tif``, names with
spaces), ``<stem>_D_<n>UL.tif`` / ``<stem>_F_<n>UL.tif``, and ``<stem>d0.tif`` /
``<stem>d1.tif`` (e.g. ``f113/AS_09125_040701150004_A02f00d0.tif``). The outline file
named like the DNA image holds the nuclei (the one named like the actin image holds
cells and is not used).

Records: the DNA image (pixels as stored, 3-channel files stay 3-channel), nuclei from
:func:`raster.fill_outlines` (enclosed regions, holes filled, touching outlines kept
apart, outlines open at the image border dropped), the actin image in
``metadata.other_channels``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..base import ConfigSpec, Item, logger, sorted_dirs, sorted_files
from ..formats.bbbc import LJOSA_CITATION, BBBCSource, bbbc_download, bbbc_info, channel_entries
from ..formats.folder import FolderSource

SET_ID = "BBBC007"
IMAGES_DIR = "BBBC007_v1_images"
OUTLINES_DIR = "BBBC007_v1_outlines"

#: DNA image names, in the three upstream forms (tried in this order): ``<stem>d0.tif`` (actin
#: ``<stem>d1.tif``), ``<stem>_D_<n>UL.tif`` (actin ``<stem>_F_<m>UL.tif``), ``<stem>d.tif``
#: (actin ``<stem>f.tif``).
DNA_NAME = r"(?:(?P<d0>.+)d0|(?P<ul>.+)_D_\d+UL|(?P<d>.+)d)\.tif"
ACTIN_UL = re.compile(r"^(?P<stem>.+)_F_\d+UL\.tif$")

CITATION = (
    """@inproceedings{jones2005voronoi,
  title     = {Voronoi-Based Segmentation of Cells on Image Manifolds},
  author    = {Jones, Thouis R. and Carpenter, Anne E. and Golland, Polina},
  booktitle = {Computer Vision for Biomedical Image Applications (CVBIA), ICCV 2005 workshop},
  series    = {Lecture Notes in Computer Science},
  volume    = {3765},
  pages     = {535--543},
  year      = {2005},
  doi       = {10.1007/11569541_54}
}

"""
    + LJOSA_CITATION
)


def actin_partner(folder: Path, fields: Mapping[str, str]) -> Path | None:
    """The actin image of a DNA image (``fields``: the DNA_NAME groups), or None."""
    if "d0" in fields:
        candidate = folder / f"{fields['d0']}d1.tif"
    elif "d" in fields:
        candidate = folder / f"{fields['d']}f.tif"
    else:
        matches = [p for p in sorted_files(folder, [".tif"]) if (m := ACTIN_UL.match(p.name)) and m["stem"] == fields["ul"]]
        return matches[-1] if matches else None
    return candidate if candidate.is_file() else None


class BBBC007(BBBCSource, FolderSource):
    info = bbbc_info(
        SET_ID,
        title="BBBC007v1 Drosophila Kc167, DNA images, 1-px outlines filled into instances",
        citation=CITATION,
        doc="bbbc007",
        stain="Hoechst (DNA)",
        organ="Drosophila Kc167 cells",
        description=(
            "BBBC007v1: Drosophila Kc167 cells, 16 DNA/actin fields with hand-drawn nucleus outlines "
            "(filled into instances)."
        ),
    )
    set_id = SET_ID
    downloads = (
        bbbc_download(SET_ID, f"{IMAGES_DIR}.zip", "b7009e2fce0a3152a5c9adda916eaa699d09696f4bd02a7d05d12d041e30c6d1"),
        bbbc_download(
            SET_ID, f"{OUTLINES_DIR}.zip", "6a5246f9a9d743d22eafdb409fae638a8461af97e9ff9c4a92f25eba236224d3"
        ),
    )
    layout_markers = (IMAGES_DIR, OUTLINES_DIR)
    expected_layout = """
    <data_dir>/[BBBC007/]BBBC007_v1_images/<folder>/<name>.tif     (DNA: ...d.tif, ..._D_1UL.tif, ...d0.tif)
    <data_dir>/[BBBC007/]BBBC007_v1_outlines/<folder>/<name>.tif   (same names, 1-px outlines)
    """
    #: min_area: drop filled objects smaller than this many pixels (1 keeps all)
    default_options = {"min_area": 1}

    image_dirs = (IMAGES_DIR,)
    image_pattern = IMAGES_DIR + r"/(?P<folder>[^/]+)/" + DNA_NAME
    image_id_template = "{folder}_{stem}"
    annotation = OUTLINES_DIR + "/{folder}/{name}"
    annotation_kind = "outlines"
    missing_annotation = "no outline file " + OUTLINES_DIR + "/{folder}/{name}"

    def extra_files(self, root: Path, image: Path, fields: Mapping[str, str]) -> dict[str, str | None]:
        actin = actin_partner(image.parent, fields)
        return {"actin": str(actin) if actin else None}

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict:
        actin = item.files["actin"]
        root = Path(item.attrs["root"])
        return {"other_channels": channel_entries(root, [("actin", Path(actin) if actin else None)])}

    def annotation_files(self, root: Path) -> list[Path]:
        # An outline named like an image that is not a DNA image is the actin image's (cells, not
        # used); only outlines without any image of their name can be nuclei left without an image.
        return [p for p in super().annotation_files(root) if not (root / IMAGES_DIR / p.parent.name / p.name).is_file()]

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        splits = super().list_items(root)
        used = {Path(p).name for item in splits.get("train", []) for p in (item.files.get("image"), item.files.get("actin")) if p}
        for folder in sorted_dirs(root / IMAGES_DIR):
            for path in sorted_files(folder, [".tif"]):
                if path.name not in used:
                    logger.warning("BBBC007: %s/%s is neither a DNA image nor the partner of one; ignored", folder.name, path.name)
        return splits


CONFIGS = (
    ConfigSpec("BBBC007", BBBC007, {}, "BBBC007v1 Drosophila Kc167 nuclei: DNA images, filled outline annotations."),
)
