"""GLySAC (Doan et al., SONNET, IEEE JBHI 2022): 59 gastric H&E tiles of 1000x1000.

Raw layout (``glysac_dataset.zip`` unpacked)::

    [glysac_dataset/]Train/Images/<name>.png | <name>.tif   the copy decides the format
    [glysac_dataset/]Train/Labels/<name>.mat                 inst_map, type_map, inst_centroid,
                                                             inst_type (N x 1) where present
    [glysac_dataset/]Test/{Images,Labels}/...

Names look like ``AGC1_tumor_2`` (one peer's comment; not verified for every file).

Classes: the paper's three, as the authors' own code groups the raw codes 1..10 of
``type_map`` / ``inst_type`` (QuIIL/Sonnet ``extract_patches.py``, ``compute_stats.py``):
1, 2, 9, 10 -> other; 3, 8 -> epithelial; 4, 5, 6, 7 -> lymphocyte. What the ten raw codes
are is documented nowhere, so they are not exported. An instance's class is its
``inst_type`` row (``inst_type[v - 1]``, the per-instance label the authors evaluate on)
when the file has ``inst_type``; otherwise the majority group of its ``type_map`` pixels.
Disagreements and mixed pixels are counted notes; a code outside 1..10 (or an instance
without any code) is an error naming the ``.mat`` file. docs/sources/glysac.md has the
evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..base import BadInputError, ConfigSpec, CountedNote, Item, find_layout_root, is_junk, printable_name, sorted_files
from ..catalog import ClassInfo, SourceInfo
from ..formats.histology import HE_METADATA
from ..formats.instances import label_instances
from ..formats.matfile import MatTileSource, child_dir, load_mat, mat_label_map, mat_vector, tile_pixels
from ..formats.naming import natural_key
from ..formats.pixels import without_constant_alpha
from ..raster import read_image

CITATION = """@article{doan2022sonnet,
  title   = {{SONNET}: A self-guided ordinal regression neural network for segmentation and classification
             of nuclei in large-scale multi-tissue histology images},
  author  = {Doan, Tan N. N. and Song, Boram and Vuong, Trinh T. L. and Kim, Kyungeun and Kwak, Jin Tae},
  journal = {IEEE Journal of Biomedical and Health Informatics},
  year    = {2022},
  doi     = {10.1109/JBHI.2022.3149936}
}"""

#: Raw code (type_map / inst_type) -> exported class (QuIIL/Sonnet compute_stats.py, extract_patches.py).
GROUP_OF_CODE: dict[int, str] = {
    1: "other",
    2: "other",
    9: "other",
    10: "other",
    3: "epithelial",
    8: "epithelial",
    4: "lymphocyte",
    5: "lymphocyte",
    6: "lymphocyte",
    7: "lymphocyte",
}
CLASS_ORDER: tuple[str, ...] = ("other", "epithelial", "lymphocyte")
#: Image suffixes (lower case) of the copies in circulation: .png (torch-em's), .tif (the authors' code).
IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
SPLITS = ("train", "test")

#: Counted-note kinds.
TYPE_MAP_DISAGREES = "glysac type_map disagrees with inst_type"
MIXED_PIXELS = "glysac instance with pixels of several classes"
TYPED_BACKGROUND = "glysac type_map codes outside instances"

MANUAL = """
GLySAC is shared on Google Drive only. torch-em uses the file
https://drive.google.com/file/d/1g1_xYFWgp3cRLKrlSwD2U5JDjooC0yHp (glysac_dataset.zip); the
SONNET README's folder https://drive.google.com/drive/folders/1p0Yt2w8MTcaZJU3bdh0fAtTrPWin1-zb
(MoNuSAC + GLySAC) is reported broken, and the DiffMix README (github.com/QuIIL/DiffMix) gives a
newer link. Download it (e.g. `gdown 1g1_xYFWgp3cRLKrlSwD2U5JDjooC0yHp`), unzip it into a folder
and pass that folder with --data-dir. No checksum is published.
"""


class GLySAC(MatTileSource):
    info = SourceInfo(
        name="GLySAC",
        title="GLySAC (SONNET): 59 gastric cancer H&E tiles of 1000x1000, 3 classes; train/test (manual download)",
        homepage="https://github.com/QuIIL/Sonnet",
        citation=CITATION,
        license="not stated upstream",
        license_note="no licence in the SONNET repository or the data folder; ask the authors before redistribution",
        doc="glysac",
        modality="histology",
        stain="H&E",
        organ="stomach",
        mpp="unknown",
        magnification="unknown",
        classes=(
            ClassInfo(
                "other", "1, 2, 9, 10", "unclassified", description="raw codes 1, 2, 9, 10 (meaning undocumented)"
            ),
            ClassInfo("epithelial", "3, 8", "epithelial", description="raw codes 3, 8 (normal and tumour epithelium)"),
            ClassInfo("lymphocyte", "4, 5, 6, 7", "inflammatory", description="raw codes 4, 5, 6, 7"),
        ),
        metrics=("pq", "aji", "dice", "f1"),
        description=(
            "GLySAC (Doan et al. 2022, SONNET): 59 H&E tiles of 1000x1000 from gastric cancer, nuclei in the "
            "paper's 3 classes (other, epithelial, lymphocyte; grouped from 10 undocumented raw codes as the "
            "authors' code does); train/test as the folders give them."
        ),
    )
    manual_instructions = MANUAL
    expected_layout = """
    <data_dir>/[glysac_dataset/]Train/Images/<name>.png|.tif + Train/Labels/<name>.mat
    <data_dir>/[glysac_dataset/]Test/Images/<name>.png|.tif  + Test/Labels/<name>.mat
    """
    known_issues = (
        (
            "type_map and inst_type hold 10 raw codes that no released document explains; the paper reports 3 classes.",
            "Exported as the paper's 3 classes, grouped as the authors' code does (1, 2, 9, 10 other; 3, 8 "
            "epithelial; 4-7 lymphocyte); the raw code table is in docs/sources/glysac.md.",
        ),
        (
            "Copies differ in image format (.png in torch-em's zip, .tif in the authors' code).",
            "Both are read; a tile present in both formats is an error (which copy is meant?).",
        ),
        (
            "No licence is stated anywhere upstream.",
            "Records say 'not stated upstream'; ask the authors before redistributing.",
        ),
    )
    metadata = {**HE_METADATA, "organ": "stomach", "tissue": "gastric cancer", "annotation": "complete"}

    def find_root(self, data_dir: Path) -> Path | None:
        return find_layout_root(data_dir, ("[Tt]rain/[Ii]mages", "[Tt]est/[Ii]mages"))

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        items: dict[str, list[Item]] = {}
        for split in SPLITS:
            folder = child_dir(root, split)
            images = child_dir(folder, "Images") if folder else None
            labels = (child_dir(folder, "Labels") or folder / "Labels") if folder else None
            items[split] = tile_items(root, images, labels) if images else []
        return items

    def missing_reason(self, item: Item) -> str:
        if item.files.get("image") is None:
            label = Path(item.files["label"])
            return f"no image {label.stem}.png or .tif for {label.parent.name}/{label.name}"
        return super().missing_reason(item)

    def image_pixels(self, item: Item) -> tuple[np.ndarray, bytes | None, list[str]]:
        path = Path(item.files["image"])
        if path.suffix.lower() == ".png":
            return tile_pixels(path, item.image_id)  # upstream bytes kept when they decode as stored
        pixels, notes = without_constant_alpha(read_image(path), item.image_id)
        return pixels, None, notes

    def mat_instances(self, path: Path, shape: tuple[int, int], item: Item) -> tuple[dict[str, Any], list[str]]:
        keys = ("inst_map", "type_map") + (("inst_type",) if "inst_type" in mat_variables(path) else ())
        arrays = load_mat(path, keys)
        inst_map = mat_label_map(arrays, "inst_map", path, shape)
        type_map = mat_label_map(arrays, "type_map", path, shape)
        unknown = sorted(set(np.unique(type_map).tolist()) - {0, *GROUP_OF_CODE})
        if unknown:
            raise BadInputError(path, f"'type_map' holds codes {unknown[:5]}, not one of 1..10")
        present = np.unique(inst_map)
        present = present[present > 0]
        pixel_class, mixed = pixel_majority(inst_map, type_map)
        notes: list[str] = []
        if "inst_type" in arrays:
            class_of = inst_type_classes(mat_vector(arrays, "inst_type", path), present, path)
            disagree = sorted(v for v, name in class_of.items() if pixel_class.get(v, name) != name)
            if disagree:
                notes.append(
                    CountedNote(
                        TYPE_MAP_DISAGREES,
                        len(disagree),
                        f"{item.image_id}: instance(s) {disagree[:8]}: the type_map majority is another class "
                        "than inst_type (inst_type kept)",
                    )
                )
        else:
            untyped = [int(v) for v in present if int(v) not in pixel_class]
            if untyped:
                raise BadInputError(
                    path, f"instance(s) {untyped[:5]} have no type_map code (and there is no inst_type)"
                )
            class_of = pixel_class
            if mixed:
                notes.append(
                    CountedNote(
                        MIXED_PIXELS,
                        len(mixed),
                        f"{item.image_id}: instance(s) {mixed[:8]} have type_map pixels of several classes "
                        "(the majority kept)",
                    )
                )
        background = int(((inst_map == 0) & (type_map != 0)).sum())
        if background:
            notes.append(
                CountedNote(TYPED_BACKGROUND, 1, f"{item.image_id}: {background} px of type_map lie outside instances")
            )
        instances, id_notes = label_instances(inst_map, class_of, item.image_id, "glysac")
        return instances, notes + id_notes


def mat_variables(path: Path) -> set[str]:
    """Names of the variables in a MAT file, without loading them; empty when unreadable.

    An unreadable file is left to :func:`~..formats.matfile.load_mat`, which names the fault.
    """
    try:
        import scipy.io  # imported here: keeps the registry import (and `list`) fast

        return {name for name, _shape, _kind in scipy.io.whosmat(path)}
    except Exception:  # scipy raises many types on foreign or truncated files; load_mat reports them
        return set()


def inst_type_classes(inst_type: np.ndarray, present: np.ndarray, path: Path) -> dict[int, str]:
    """Instance id -> class from ``inst_type`` (row ``v - 1`` is instance ``v``, HoVer-Net's convention)."""
    largest = int(present.max()) if len(present) else 0
    if len(inst_type) < largest:
        raise BadInputError(
            path, f"'inst_type' has {len(inst_type)} rows but inst_map's largest id is {largest} (one row per id)"
        )
    class_of: dict[int, str] = {}
    for value in present.tolist():
        code = int(inst_type[value - 1])
        if code not in GROUP_OF_CODE:
            raise BadInputError(path, f"'inst_type' of instance {value} is {code}, not one of the codes 1..10")
        class_of[value] = GROUP_OF_CODE[code]
    return class_of


def pixel_majority(inst_map: np.ndarray, type_map: np.ndarray) -> tuple[dict[int, str], list[int]]:
    """(instance id -> the class most of its typed pixels have, ids whose typed pixels span classes).

    Pixels of code 0 carry no class and are not counted; an instance with none is absent
    from the result. Ties go to the class first in :data:`CLASS_ORDER`.
    """
    group_index = np.zeros(max(GROUP_OF_CODE) + 1, dtype=np.int64)  # code -> 1 + class position, 0 = none
    for code, name in GROUP_OF_CODE.items():
        group_index[code] = CLASS_ORDER.index(name) + 1
    typed = (inst_map > 0) & (type_map > 0)
    span = len(CLASS_ORDER) + 1
    keys, counts = np.unique(inst_map[typed] * span + group_index[type_map[typed]], return_counts=True)
    ids, groups = np.divmod(keys, span)
    best: dict[int, tuple[int, int]] = {}
    seen: dict[int, int] = {}
    for value, group, count in zip(ids.tolist(), groups.tolist(), counts.tolist()):
        seen[value] = seen.get(value, 0) + 1
        if value not in best or count > best[value][1]:  # keys ascend: a tie keeps the earlier class
            best[value] = (group, count)
    classes = {value: CLASS_ORDER[group - 1] for value, (group, _) in best.items()}
    return classes, sorted(value for value, n in seen.items() if n > 1)


def tile_items(root: Path, images: Path, labels: Path) -> list[Item]:
    """Items of ``images/<name>.png|.tif`` paired with ``labels/<name>.mat``, in natural name order.

    A missing image or ``.mat`` stays ``None`` (a counted skip when read); a tile whose image
    exists in two formats is an error naming both files.
    """
    pictures: dict[str, Path] = {}
    for path in sorted_files(images, IMAGE_SUFFIXES):
        if is_junk(path):
            continue
        if path.stem in pictures:
            raise BadInputError(path, f"{pictures[path.stem].name} is the same tile in another format: keep one")
        pictures[path.stem] = path
    mats = {p.stem: p for p in sorted_files(labels, [".mat"]) if not is_junk(p)} if labels.is_dir() else {}
    return [
        Item(
            image_id=printable_name(stem),
            files={
                "image": str(pictures[stem]) if stem in pictures else None,
                "label": str(mats[stem]) if stem in mats else None,
            },
            attrs={"root": str(root)},
        )
        for stem in sorted(set(pictures) | set(mats), key=natural_key)
    ]


CONFIGS = (
    ConfigSpec(
        "GLySAC",
        GLySAC,
        {},
        "GLySAC: 59 gastric cancer H&E tiles (1000x1000), nuclei in 3 classes (other, epithelial, lymphocyte); "
        "train/test from the folders.",
        splits=SPLITS,
    ),
)
