"""CoNSeP (Graham et al., HoVer-Net, Medical Image Analysis 2019): 41 colorectal H&E tiles.

Raw layout (``consep_dataset.zip``)::

    [CoNSeP/]Train/Images/train_<k>.png     k = 1..27
    [CoNSeP/]Train/Labels/train_<k>.mat     inst_map, type_map, inst_type (N x 1), inst_centroid
    [CoNSeP/]Test/{Images,Labels}/test_<k>.*   k = 1..14
    [CoNSeP/]{Train,Test}/Overlay/...       drawings, not read

Class of instance ``v`` = ``inst_type[v - 1]`` ("in order of inst_map ID"), cross-checked
against ``type_map`` (disagreements counted). Option ``classes=grouped`` gives the paper's
4 groups (other, inflammatory, epithelial = 3+4, spindle-shaped = 5+6+7, stored as
``connective``), exported as ``CoNSeP_grouped``. docs/sources/consep.md has the evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..base import BadInputError, ConfigSpec, CountedNote, Item, find_layout_root, option_choice
from ..catalog import ClassInfo, SourceInfo
from ..formats.histology import HE_METADATA
from ..formats.instances import label_instances
from ..formats.matfile import MatTileSource, load_mat, mat_label_map, mat_vector, split_items

CITATION = """@article{graham2019hovernet,
  title   = {HoVer-Net: Simultaneous Segmentation and Classification of Nuclei in Multi-Tissue Histology Images},
  author  = {Graham, Simon and Vu, Quoc Dang and Raza, Shan E Ahmed and Azam, Ayesha and Tsang, Yee Wah
             and Kwak, Jin Tae and Rajpoot, Nasir},
  journal = {Medical Image Analysis},
  volume  = {58},
  pages   = {101563},
  year    = {2019},
  doi     = {10.1016/j.media.2019.101563}
}"""

#: The 7 classes of README.txt by ``inst_type`` / ``type_map`` code (index = code: code 0,
#: "no type given", becomes the generic ``nucleus``).
CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("nucleus", 0, "unclassified", description="inst_type 0: no type given"),
    ClassInfo("other", 1, "unclassified"),
    ClassInfo("inflammatory", 2, "inflammatory"),
    ClassInfo("healthy epithelial", 3, "epithelial"),
    ClassInfo("dysplastic/malignant epithelial", 4, "neoplastic"),
    ClassInfo("fibroblast", 5, "connective"),
    ClassInfo("muscle", 6, "connective"),
    ClassInfo("endothelial", 7, "connective"),
)
#: ``inst_type`` / ``type_map`` code -> category, per option ``classes`` (derived from the tables).
ORIGINAL: dict[int, str] = {int(c.upstream): c.name for c in CLASSES if c.upstream != 0}
#: The paper's grouping (3 & 4 -> epithelial, 5, 6 & 7 -> spindle-shaped); the collection
#: calls spindle-shaped cells (fibroblast, muscle, endothelial) "connective", as PanNuke and Lizard do.
GROUPED: dict[int, str] = {1: "other", 2: "inflammatory", 3: "epithelial", 4: "epithelial"} | dict.fromkeys(
    (5, 6, 7), "connective"
)
#: The classes of ``-o classes=grouped`` (upstream codes they gather, as text).
GROUPED_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("nucleus", 0, "unclassified", description="inst_type 0: no type given"),
    ClassInfo("other", 1, "unclassified"),
    ClassInfo("inflammatory", 2, "inflammatory"),
    ClassInfo("epithelial", "3, 4", "epithelial"),
    ClassInfo("connective", "5, 6, 7", "connective"),
)
CLASS_CHOICES = ("original", "grouped")
SPLITS = ("train", "test")

MANUAL = """
The Warwick page (https://warwick.ac.uk/fac/cross_fac/tia/data/hovernet/, file
consep_dataset.zip) asks for a login since 2023; MONAI points to the mirror
https://opendatalab.com/OpenDataLab/CoNSeP. Download consep_dataset.zip, unzip it into a
folder and pass that folder with --data-dir (it must hold Train/Images, Train/Labels,
Test/Images, Test/Labels). The Kaggle "tiled-consep-224x224px" set is a re-tiling, not CoNSeP.
"""


class CoNSeP(MatTileSource):
    info = SourceInfo(
        name="CoNSeP",
        title="CoNSeP (HoVer-Net): 41 colorectal H&E tiles, 7 classes, official train/test (manual download)",
        homepage="https://warwick.ac.uk/fac/cross_fac/tia/data/hovernet/",
        citation=CITATION,
        # README.txt states no licence; MONAI #5412 reports the TIA Centre released it under Apache 2.0.
        license="Apache-2.0",
        license_note="second-hand (MONAI issue #5412): see docs",
        doc="consep",
        modality="histology",
        stain="H&E",
        organ="colon",
        mpp=0.25,
        magnification=40.0,
        classes=CLASSES,
        option_classes=GROUPED_CLASSES,
        metrics=("pq", "mpq", "aji", "dice", "f1"),
        description=(
            "CoNSeP (Graham et al. 2019, HoVer-Net): 41 colorectal adenocarcinoma H&E tiles of 1000x1000 at 40x, "
            "24,319 nuclei in 7 classes (option classes=grouped: the paper's 4 groups); official train/test."
        ),
    )
    manual_instructions = MANUAL
    expected_layout = """
    <data_dir>/[CoNSeP/]Train/Images/train_<k>.png + Train/Labels/train_<k>.mat
    <data_dir>/[CoNSeP/]Test/Images/test_<k>.png  + Test/Labels/test_<k>.mat
    """
    default_options = {"classes": "original"}
    known_issues = (
        (
            "Each instance's class is stored twice: `inst_type` (per instance, used by the authors' "
            "statistics) and `type_map` (per pixel, used for training).",
            "Classes come from `inst_type`; every object whose `type_map` majority differs is counted "
            "(`consep type_map disagrees with inst_type`).",
        ),
        (
            "Before 14/03/2020 the labels were .npy files (H x W x 2); old copies circulate.",
            "Only the .mat release is read; a label folder with .npy files only is an error saying so.",
        ),
        (
            "16 CoNSeP tiles are re-annotated at 20x in Lizard (`consep_<n>`); torch-em's Kaggle copy "
            "is a re-tiling without classes.",
            "Never mix CoNSeP with Lizard (Lizard declares the overlap); only the original release is read.",
        ),
        (
            "No licence in README.txt; Apache-2.0 is stated second-hand (MONAI issue #5412, EVA).",
            "Records carry Apache-2.0; check before commercial use (docs/sources/consep.md).",
        ),
    )
    metadata = {
        **HE_METADATA,
        "organ": "colon",
        "tissue": "colorectal adenocarcinoma",
        "magnification": 40.0,
        "annotation": "complete",
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        choice = option_choice(self.name, "classes", self.options["classes"], CLASS_CHOICES)
        self.class_codes = ORIGINAL if choice == "original" else GROUPED

    def classes(self) -> tuple[ClassInfo, ...]:
        # The grouped labels keep the first declaration of each group name, in code order.
        if self.class_codes is ORIGINAL:
            return self.info.classes
        by_name = {c.name: c for c in GROUPED_CLASSES}
        return tuple(by_name[name] for name in dict.fromkeys(["nucleus", *GROUPED.values()]))

    def export_name(self, config_name: str) -> str:
        # Grouped labels are other labels: never let them replace the 7-class export.
        return f"{config_name}_grouped" if self.class_codes is GROUPED else config_name

    def find_root(self, data_dir: Path) -> Path | None:
        return find_layout_root(data_dir, ("[Tt]rain/Images", "[Tt]est/Images"))

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        return {split: split_items(root, split) for split in SPLITS}

    def missing_reason(self, item: Item) -> str:
        image = Path(item.files["image"] or item.files["label"])
        old = image.parent.parent / "Labels" / f"{image.stem}.npy"
        if item.files["image"] and old.is_file():
            raise BadInputError(old, "a pre-2020 CoNSeP .npy label: only the .mat release (since 14/03/2020) is read")
        return super().missing_reason(item)

    def mat_instances(self, path: Path, shape: tuple[int, int], item: Item) -> tuple[dict[str, Any], list[str]]:
        arrays = load_mat(path, ("inst_map", "type_map", "inst_type"))
        inst_map = mat_label_map(arrays, "inst_map", path, shape)
        type_map = mat_label_map(arrays, "type_map", path, shape)
        inst_type = mat_vector(arrays, "inst_type", path)
        if len(inst_type) and inst_type.max() > 7:
            raise BadInputError(path, f"'inst_type' holds {int(inst_type.max())}: the classes are 1..7")
        largest = int(inst_map.max()) if inst_map.size else 0
        if len(inst_type) < largest:
            raise BadInputError(
                path, f"'inst_type' has {len(inst_type)} rows but inst_map's largest id is {largest} (one row per id)"
            )
        present = np.unique(inst_map)
        present = present[present > 0]
        notes: list[str] = []
        unused = len(inst_type) - len(present)
        if unused:
            notes.append(
                CountedNote(
                    "consep inst_type rows without pixels",
                    unused,
                    f"{item.image_id}: {unused} inst_type row(s) of {path.name} belong to no pixel of inst_map",
                )
            )
        codes = {int(v): int(inst_type[v - 1]) for v in present}
        unclassified = [v for v, code in codes.items() if code == 0]
        if unclassified:
            notes.append(
                CountedNote(
                    "consep instance without class",
                    len(unclassified),
                    f"{item.image_id}: instance(s) {unclassified[:8]} have inst_type 0: category 'nucleus'",
                )
            )
        disagree = _type_map_disagreements(inst_map, type_map, codes)
        if disagree:
            notes.append(
                CountedNote(
                    "consep type_map disagrees with inst_type",
                    len(disagree),
                    f"{item.image_id}: instance(s) {disagree[:8]}: the type_map majority differs from inst_type "
                    "(inst_type kept)",
                )
            )
        class_of = {v: self.class_codes.get(code, "nucleus") for v, code in codes.items()}
        instances, id_notes = label_instances(inst_map, class_of, item.image_id, "consep")
        return instances, notes + id_notes


def _type_map_disagreements(inst_map: np.ndarray, type_map: np.ndarray, codes: dict[int, int]) -> list[int]:
    """Instances whose most frequent ``type_map`` value differs from their ``inst_type``."""
    foreground = inst_map > 0
    if not foreground.any():
        return []
    types = type_map[foreground]
    span = int(types.max()) + 1
    # One key per (instance, pixel class) pair; keys sort by instance, then class.
    keys, counts = np.unique(inst_map[foreground] * span + types, return_counts=True)
    instances, classes = np.divmod(keys, span)
    majority: dict[int, tuple[int, int]] = {}
    for instance, code, count in zip(instances.tolist(), classes.tolist(), counts.tolist()):
        if instance not in majority or count > majority[instance][1]:  # ties: the lower class code
            majority[instance] = (code, count)
    return sorted(v for v, code in codes.items() if majority[v][0] != code)


CONFIGS = (
    ConfigSpec(
        "CoNSeP",
        CoNSeP,
        {},
        "CoNSeP: 41 colorectal H&E tiles (27 train / 14 test), 7 nucleus classes; -o classes=grouped for the "
        "paper's 4 groups (exported as CoNSeP_grouped).",
        splits=("train", "test"),
    ),
)
