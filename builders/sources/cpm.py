"""CPM-15 and CPM-17 (Vu et al., Frontiers in Bioengineering and Biotechnology 2019).

The MICCAI Computational Precision Medicine nucleus segmentation sets as the Warwick TIA
Centre shares them (one Google Drive folder, manual download)::

    [cpm15/]Images/image_<nn>.png + [cpm15/]Labels/image_<nn>.mat          15 images, no test split
    [cpm17/]{train,test}/Images/image_<nn>.png + .../Labels/image_<nn>.mat  32 + 32 images

``Labels/*.mat`` (MAT v5) holds one key, ``inst_map``: instances only, no classes. Tiles
mix 20x and 40x without a per-image list, so magnification and mpp are null.
docs/sources/cpm.md has the evidence and what stays uncertain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..base import ConfigSpec, Item, find_layout_root
from ..catalog import SourceInfo
from ..formats.histology import HE_METADATA
from ..formats.instances import label_instances
from ..formats.matfile import MatTileSource, load_mat, mat_label_map, split_items, tile_items

CITATION = """@article{vu2019methods,
  title   = {Methods for Segmentation and Classification of Digital Microscopy Tissue Images},
  author  = {Vu, Quoc Dang and Graham, Simon and Kurc, Tahsin and To, Minh Nguyen Nhat and Shaban, Muhammad
             and Qaiser, Talha and Koohbanani, Navid Alemi and Khurram, Syed Ali and Kalpathy-Cramer, Jayashree
             and Zhao, Tianhao and Gupta, Rajarsi and Kwak, Jin Tae and Rajpoot, Nasir and Saltz, Joel
             and Farahani, Keyvan},
  journal = {Frontiers in Bioengineering and Biotechnology},
  volume  = {7},
  pages   = {53},
  year    = {2019},
  doi     = {10.3389/fbioe.2019.00053}
}"""

DRIVE_FOLDER = "https://drive.google.com/drive/folders/1l55cv3DuY-f7-JotDN7N5nbNnjbLWchK"

MANUAL = f"""
CPM-15 / CPM-17 are shared as a Google Drive folder (no direct link): open
{DRIVE_FOLDER} in a browser, right-click the folder "{{folder}}" and choose "Download", unzip
the zip Drive makes into a folder and pass that folder with --data-dir.
"""


class _CPM(MatTileSource):
    """The part CPM-15 and CPM-17 share; the configs differ in layout and splits."""

    known_issues = (
        (
            "Tiles are at 20x or 40x but the release lists no magnification per image; the cancer type "
            "per image is not published either (hover_net#293).",
            "`magnification`, `mpp` and `organ` are null; no value is guessed.",
        ),
        (
            "The first (2019) version of the Drive folder held CSV label vectors; the current one holds "
            ".mat files with `inst_map`.",
            "Only `.mat` labels are read; an image without one is skipped and counted.",
        ),
    )
    metadata = {**HE_METADATA, "annotation": "complete"}
    #: metadata["collection"]
    collection: ClassVar[str]

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict[str, Any]:
        return {"collection": self.collection}

    def mat_instances(self, path: Path, shape: tuple[int, int], item: Item) -> tuple[dict[str, Any], list[str]]:
        inst_map = mat_label_map(load_mat(path, ("inst_map",)), "inst_map", path, shape)
        return label_instances(inst_map, "nucleus", item.image_id, "cpm")


#: What CPM-15 and CPM-17 share in their declared facts.
_FACTS = dict(homepage=DRIVE_FOLDER, citation=CITATION, license="not stated upstream", doc="cpm", modality="histology", stain="H&E")


class CPM15(_CPM):
    info = SourceInfo(
        name="CPM-15",
        title="CPM-15 as shared by Warwick TIA: 15 H&E tiles, nucleus instances, one split (manual download)",
        description=(
            "CPM-15 (MICCAI 2015 CPM challenge, as shared by Warwick TIA; Vu et al. 2019): 15 H&E tiles at "
            "20x/40x, instance label maps, no classes, no test split."
        ),
        **_FACTS,
    )
    collection = "cpm15"
    manual_instructions = MANUAL.format(folder="cpm15")
    expected_layout = """
    <data_dir>/[cpm15/]Images/image_<nn>.png
    <data_dir>/[cpm15/]Labels/image_<nn>.mat
    """

    def find_root(self, data_dir: Path) -> Path | None:
        return find_layout_root(data_dir, ("Images/*.png", "Labels/*.mat"))

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        return {"train": tile_items(root, root / "Images", root / "Labels")}


class CPM17(_CPM):
    info = SourceInfo(
        name="CPM-17",
        title="CPM-17 as shared by Warwick TIA: 32 train + 32 test H&E tiles, nucleus instances (manual download)",
        description=(
            "CPM-17 (MICCAI 2017 CPM challenge, as shared by Warwick TIA; Vu et al. 2019): 32 train + 32 test "
            "H&E tiles at 20x/40x, instance label maps, no classes."
        ),
        **_FACTS,
    )
    collection = "cpm17"
    manual_instructions = MANUAL.format(folder="cpm17")
    expected_layout = """
    <data_dir>/[cpm17/]train/Images/image_<nn>.png + train/Labels/image_<nn>.mat
    <data_dir>/[cpm17/]test/Images/image_<nn>.png  + test/Labels/image_<nn>.mat
    """

    def find_root(self, data_dir: Path) -> Path | None:
        return find_layout_root(data_dir, ("[Tt]rain/Images", "[Tt]est/Images"))

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        # The names image_00.. repeat in train and test: the split prefixes the id.
        return {split: split_items(root, split, id_prefix=f"{split}_") for split in ("train", "test")}


CONFIGS = (
    ConfigSpec("CPM15", CPM15, {}, "CPM-15: 15 H&E tiles (20x/40x), nucleus instances, one split (no test)."),
    ConfigSpec("CPM17", CPM17, {}, "CPM-17: 32 train + 32 test H&E tiles (20x/40x), nucleus instances.", splits=("train", "test")),
)
