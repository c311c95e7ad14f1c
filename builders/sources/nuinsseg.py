"""NuInsSeg (Mahbod et al. 2024): H&E patches of 31 human and mouse organs, instance label masks.

Raw layout (Zenodo ``NuInsSeg.zip`` or the Kaggle copy; one folder per organ, names with spaces)::

    <species organ>/tissue images/<stem>.png                  512x512 RGB patch
    <species organ>/label masks modify/<stem>.tif             uint16 ids (max of overlapping ROIs)
    <species organ>/label masks/<stem>.tif                    uint16 SUM of overlapping ROIs: not used
    <species organ>/vague areas/mask binary/<stem>.png        ambiguous ("vague") areas, white
    <species organ>/{mask binary, distance maps, weighted_maps, stacked mask, Imagj_zips, ...}/

Organ folders are e.g. ``human bladder``, ``human salivory gland`` (sic), ``mouse muscle``.

Records: the PNG stored verbatim; nuclei from ``label masks modify`` with the upstream ids
(ids can have gaps: a nucleus entirely covered by later ROIs vanished in the generator's
``max``); the vague areas as ``iscrowd`` objects of category ``ambiguous``. Species goes to
``metadata.collection``, the organ to ``metadata.organ``. No official split: one ``train``
split (the authors recommend a 5-fold ``KFold(n_splits=5, shuffle=True, random_state=19)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..base import ConfigSpec, Download, Item
from ..catalog import NUCLEUS, SourceInfo, ambiguous
from ..formats.folder import FolderSource
from ..formats.histology import HE_METADATA
from ..formats.label_masks import LABEL_MASKS_MODIFY, instances_with_crowd, read_crowd_mask
from ..formats.naming import natural_key

CITATION = """@article{mahbod2024nuinsseg,
  title   = {{NuInsSeg}: A fully annotated dataset for nuclei instance segmentation in {H\\&E}-stained histological images},
  author  = {Mahbod, Amirreza and Polak, Christine and Feldmann, Katharina and Khan, Rumsha and Gelles, Katharina and
             Dorffner, Georg and Woitek, Ramona and Hatamikia, Sepideh and Ellinger, Isabella},
  journal = {Scientific Data},
  volume  = {11},
  number  = {1},
  pages   = {295},
  year    = {2024},
  doi     = {10.1038/s41597-024-03117-2}
}"""

IMAGES_DIR = "tissue images"
VAGUE_DIR = "vague areas/mask binary"
#: Upstream folder-name spellings -> organ names (the folder names are kept in upstream_path).
ORGAN_SPELLING = {"salivory gland": "salivary gland", "tonsile": "tonsil"}
SPECIES = ("human", "mouse")


def species_and_organ(folder: str) -> tuple[str | None, str | None]:
    """(``human`` | ``mouse`` | None, organ) of an organ folder name such as ``human salivory gland``."""
    words = folder.split(maxsplit=1)
    if len(words) == 2 and words[0].lower() in SPECIES:
        return words[0].lower(), ORGAN_SPELLING.get(words[1].lower(), words[1].lower())
    return None, folder.lower() or None


class NuInsSeg(FolderSource):
    info = SourceInfo(
        name="NuInsSeg",
        title="NuInsSeg (Mahbod et al. 2024): 665 H&E patches of 31 human/mouse organs, vague areas as iscrowd",
        homepage="https://github.com/masih4/NuInsSeg",
        citation=CITATION,
        # Kaggle page and a peer's licence table (see docs/sources/nuinsseg.md); the code repository is MIT.
        license="CC-BY-4.0",
        doc="nuinsseg",
        modality="histology",
        stain="H&E",
        organ="31 human and mouse organs",
        magnification=40.0,
        classes=(NUCLEUS, ambiguous("vague areas mask", "vague (ambiguous) areas: don't care")),
        description=(
            "NuInsSeg (Mahbod et al. 2024): 665 H&E patches (512x512) of 31 human and mouse organs, >30k nuclei "
            "from 'label masks modify' (upstream ids kept) and ambiguous ('vague') areas as iscrowd objects."
        ),
    )
    downloads = (Download(url="https://zenodo.org/records/10518968/files/NuInsSeg.zip", filename="NuInsSeg.zip"),)
    manual_instructions = """
Alternatively download the Kaggle copy (https://www.kaggle.com/datasets/ipateam/nuinsseg, "Download",
needs a Kaggle login), unzip it and pass the folder that holds the organ folders (or any folder
above it, up to two levels) with --data-dir.
"""
    expected_layout = f"""
    <data_dir>/[NuInsSeg/]<species organ>/{IMAGES_DIR}/<stem>.png
    <data_dir>/[NuInsSeg/]<species organ>/{LABEL_MASKS_MODIFY}/<stem>.tif
    <data_dir>/[NuInsSeg/]<species organ>/{VAGUE_DIR}/<stem>.png   (ambiguous areas)
    """
    known_issues = (
        (
            "'label masks' add overlapping nuclei together (sum of ids): overlap pixels get spurious ids.",
            "Only 'label masks modify' (maximum of ids, the authors' evaluation masks) is read.",
        ),
        (
            "In 'label masks modify' an overlap pixel goes to the later ROI; a nucleus entirely covered "
            "by later ones disappears, so ids can have gaps.",
            "Ids are kept as upstream (gaps included); overlaps cannot be recovered from these masks.",
        ),
        (
            "Ambiguous ('vague') areas mark where nuclei could not be delineated.",
            "Kept as iscrowd objects of category 'ambiguous'; never counted as nuclei.",
        ),
        (
            "Folder names are misspelt upstream ('human salivory gland', 'human tonsile').",
            "metadata.organ is spelt correctly; upstream_path keeps the folder name.",
        ),
    )

    layout_markers = (f"*/{LABEL_MASKS_MODIFY}",)
    image_pattern = rf"(?P<organ_dir>[^/]+)/{IMAGES_DIR}/[^/]+(?i:\.png)"
    annotation = f"{{organ_dir}}/{LABEL_MASKS_MODIFY}/{{stem}}.tif"
    annotation_kind = "id_label_map"  # ids are upstream ids: kept, gaps included; read_instances adds the crowd
    missing_annotation = "no label mask {annotation} for {name}"
    metadata = {**HE_METADATA, "annotation": "complete"}
    png_verbatim = True

    def sort_key(self, fields: Mapping[str, str], path: Path, root: Path) -> Any:
        return fields["organ_dir"], natural_key(fields["stem"])

    def extra_files(self, root: Path, image: Path, fields: Mapping[str, str]) -> dict[str, str | None]:
        vague = root / fields["organ_dir"] / VAGUE_DIR / f"{fields['stem']}.png"
        return {"vague": str(vague) if vague.is_file() else None}

    def read_instances(self, item: Item, shape: tuple[int, int]) -> tuple[dict[str, Any], list[str], str | None]:
        instances, notes, _ = super().read_instances(item, shape)
        label_map = instances["label_map"]
        crowd = None
        if item.files["vague"] is not None:
            crowd = read_crowd_mask(item.files["vague"], shape)
        else:
            notes.append(f"no ambiguous-area mask {VAGUE_DIR}/{item.attrs['stem']}.png")
        return instances_with_crowd(label_map, crowd), notes, None

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict[str, Any]:
        species, organ = species_and_organ(item.attrs["organ_dir"])
        return {"organ": organ, "collection": species}


CONFIGS = (
    ConfigSpec(
        "NuInsSeg",
        NuInsSeg,
        {},
        "NuInsSeg: 665 H&E patches of 31 human/mouse organs, nuclei from 'label masks modify' (ids kept), "
        "ambiguous areas as iscrowd.",
    ),
)
