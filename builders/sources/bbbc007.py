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
from pathlib import Path

from ..base import ConfigSpec, Item, Sample, SkipItem, logged_notes, logger, sorted_dirs, sorted_files
from ..formats.bbbc import BBBC_PAGE_URL, LJOSA_CITATION, BBBCSource, bbbc_download, channel_entries
from ..formats.outlines import outline_file_labels
from ..raster import read_image

SET_ID = "BBBC007"
IMAGES_DIR = "BBBC007_v1_images"
OUTLINES_DIR = "BBBC007_v1_outlines"

#: (DNA name pattern, how to spell the actin partner). Group "stem" is the shared part.
CHANNEL_NAMES = (
    (re.compile(r"^(?P<stem>.+)d0\.tif$"), "{stem}d1.tif"),
    (re.compile(r"^(?P<stem>.+)_D_(?P<n>\d+)UL\.tif$"), None),  # actin: <stem>_F_<m>UL.tif
    (re.compile(r"^(?P<stem>.+)d\.tif$"), "{stem}f.tif"),
)
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


def dna_and_actin(folder: Path) -> list[tuple[Path, Path | None]]:
    """(DNA image, actin image or None) pairs of one image folder, sorted by DNA name."""
    names = {p.name: p for p in sorted_files(folder, [".tif"])}
    actin_ul = {m["stem"]: names[n] for n in names if (m := ACTIN_UL.match(n))}
    pairs = []
    for name, path in names.items():
        for pattern, partner in CHANNEL_NAMES:
            match = pattern.match(name)
            if match:
                actin = (
                    actin_ul.get(match["stem"]) if partner is None else names.get(partner.format(**match.groupdict()))
                )
                pairs.append((path, actin))
                break
    paired = {p.name for pair in pairs for p in pair if p is not None}
    for name in sorted(set(names) - paired):
        logger.warning("BBBC007: %s/%s is neither a DNA image nor the partner of one; ignored", folder.name, name)
    return pairs


class BBBC007(BBBCSource):
    name = "BBBC007"
    set_id = SET_ID
    homepage = BBBC_PAGE_URL + SET_ID
    citation = CITATION
    description = (
        "BBBC007v1: Drosophila Kc167 cells, 16 DNA/actin fields with hand-drawn nucleus outlines "
        "(filled into instances)."
    )
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

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        items = []
        for folder in sorted_dirs(root / IMAGES_DIR):
            for dna, actin in dna_and_actin(folder):
                outline = root / OUTLINES_DIR / folder.name / dna.name
                items.append(
                    Item(
                        image_id=f"{folder.name}_{dna.stem}",
                        files={
                            "image": str(dna),
                            "outline": str(outline) if outline.is_file() else None,
                            "actin": str(actin) if actin else None,
                        },
                        attrs={"root": str(root)},
                    )
                )
        return {"train": items}

    def read(self, item: Item) -> Sample:
        root, image_path = Path(item.attrs["root"]), Path(item.files["image"])
        if item.files["outline"] is None:
            raise SkipItem(item.image_id, f"no outline file {OUTLINES_DIR}/{image_path.parent.name}/{image_path.name}")
        outline_path = Path(item.files["outline"])
        pixels = read_image(image_path)
        label_map, notes = outline_file_labels(outline_path, pixels.shape[:2], int(self.options["min_area"]))
        notes = logged_notes(item.image_id, notes)
        actin = item.files["actin"]
        metadata = self.field_metadata(
            root, image_path, other_channels=channel_entries(root, [("actin", Path(actin) if actin else None)])
        )
        return Sample(image_id=item.image_id, image=pixels, label_map=label_map, metadata=metadata, notes=notes)


CONFIGS = (
    ConfigSpec("BBBC007", BBBC007, {}, "BBBC007v1 Drosophila Kc167 nuclei: DNA images, filled outline annotations."),
)
