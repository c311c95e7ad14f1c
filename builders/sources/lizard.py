"""Lizard (Graham et al., ICCV Workshops 2021): colon H&E at 20x, six nucleus classes.

Raw layout (Kaggle ``aadimator/lizard-dataset``; the original Warwick zips lack the
lower-case top folders)::

    [lizard_images1/]Lizard_Images1/<name>.png     consep_*, crag_*
    [lizard_images2/]Lizard_Images2/<name>.png     dpath_*, glas_*, pannuke_*
    [lizard_labels/]Lizard_Labels/Labels/<name>.mat
    [lizard_labels/]Lizard_Labels/info.csv         Filename,Source,Split (Split = fold 1, 2, 3)

``<name>.mat`` (MAT v5): ``inst_map`` (H x W), ``id`` and ``class`` (N x 1): the class of
the pixels with value ``v`` is ``class[i]`` where ``id[i] == v`` (never ``class[v - 1]``).
Splits are the folds of ``info.csv``: ``fold1``, ``fold2``, ``fold3``. docs/sources/lizard.md
has every fact with its evidence.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..base import (
    BadInputError,
    ConfigSpec,
    CountedNote,
    Item,
    search_dirs,
    sorted_files,
)
from ..catalog import SourceInfo
from ..formats.histology import HE_METADATA
from ..formats.instances import label_instances
from ..formats.lizard import CLASS_OF_CODE, LIZARD_CITATION, LIZARD_CLASSES
from ..formats.matfile import MatTileSource, load_mat, mat_label_map, mat_vector

CITATION = LIZARD_CITATION

#: ``class`` code -> category (formats/lizard.py: the table Lizard and CoNIC share)
CLASSES: dict[int, str] = CLASS_OF_CODE
#: info.csv ``Split`` value -> split name
FOLDS: dict[str, str] = {"1": "fold1", "2": "fold2", "3": "fold3"}
IMAGE_DIR = re.compile(r"lizard_images\d*", re.IGNORECASE)
#: folder levels searched below a candidate root for the labels / image folders
INNER_DEPTH = 2

MANUAL = """
The Warwick links no longer serve the files (the TIA data pages need a password), so get
Lizard from Kaggle: open https://www.kaggle.com/datasets/aadimator/lizard-dataset (free
account), click "Download", unzip lizard-dataset.zip (or archive.zip) into a folder and pass
that folder with --data-dir. The original Warwick zips (lizard_images1.zip,
lizard_images2.zip, lizard_labels.zip) unzipped into one folder work too.
"""


class Lizard(MatTileSource):
    info = SourceInfo(
        name="Lizard",
        title="Lizard (Graham et al. 2021): 238 colon H&E regions at 20x, 6 classes; folds 1-3 from info.csv (manual download)",
        homepage="https://warwick.ac.uk/fac/cross_fac/tia/data/lizard/",
        citation=CITATION,
        # Release README: "Attribution-NonCommercial-ShareAlike 4.0 International", research only.
        license="CC-BY-NC-SA-4.0",
        doc="lizard",
        modality="histology",
        stain="H&E",
        organ="colon",
        magnification=20.0,
        classes=LIZARD_CLASSES,
        metrics=("pq", "mpq_plus", "mpq", "aji", "dice"),
        description=(
            "Lizard (Graham et al. 2021): 238 colon H&E regions at 20x (from CoNSeP, CRAG, DigestPath, GlaS, "
            "PanNuke) with every nucleus segmented and typed in 6 classes; the 3 folds of info.csv."
        ),
    )
    manual_instructions = MANUAL
    expected_layout = """
    <data_dir>/[lizard_images1/]Lizard_Images1/<name>.png
    <data_dir>/[lizard_images2/]Lizard_Images2/<name>.png
    <data_dir>/[lizard_labels/]Lizard_Labels/Labels/<name>.mat
    <data_dir>/[lizard_labels/]Lizard_Labels/info.csv
    """
    known_issues = (
        (
            "The class of a nucleus is found through the `id` array (`class[i]` for `id[i] == v`), "
            "not by indexing `class` with the instance value.",
            "The reader always looks classes up through `id`; a value of `inst_map` without an `id` row is an error.",
        ),
        (
            "info.csv's `Split` column holds fold numbers 1-3, not train/test; all CoNSeP and PanNuke "
            "regions are in fold 3.",
            "Splits are `fold1`, `fold2`, `fold3`; choose your own train/validation/test protocol.",
        ),
        (
            "The release README lists class 5 as 'Neutrophil' a second time.",
            "Code 5 is eosinophil (CoNIC's notebook and counts.csv column order).",
        ),
        (
            "Lizard re-annotates 16 CoNSeP tiles and PanNuke regions; the CoNIC challenge patches are cut "
            "from these same images.",
            "Declared as overlapping CoNSeP and PanNuke (`all_nuclei` keeps the larger set of two that overlap); "
            "never mix Lizard with CoNIC.",
        ),
    )
    metadata = {**HE_METADATA, "organ": "colon", "magnification": 20.0, "annotation": "complete"}

    # -- locating ----------------------------------------------------------------------
    def find_root(self, data_dir: Path) -> Path | None:
        # The deepest folder holding labels and images, so upstream paths do not depend on
        # how far down the user unzipped; two label copies are left to list_items to refuse.
        candidates = [f for f in search_dirs(data_dir, 2) if _labels_dirs(f) and _image_dirs(f)]
        if not candidates or len(_labels_dirs(candidates[0])) > 1:
            return candidates[0] if candidates else None
        return max(candidates, key=lambda folder: len(folder.parts))

    # -- listing -----------------------------------------------------------------------
    def list_items(self, root: Path) -> dict[str, list[Item]]:
        labels_dirs = _labels_dirs(root)
        if len(labels_dirs) > 1:
            raise BadInputError(root, f"several Lizard label folders: {[str(d) for d in labels_dirs]}; keep one copy")
        labels = labels_dirs[0]
        rows = read_info_csv(labels / "info.csv")
        images = _image_index(root)
        mats = {p.stem: p for p in sorted_files(labels / "Labels", [".mat"])}
        splits: dict[str, list[Item]] = {fold: [] for fold in FOLDS.values()}
        for name, (_source, fold) in rows.items():
            image, mat = images.get(name), mats.get(name)
            splits[fold].append(
                Item(
                    image_id=name,
                    files={"image": str(image) if image else None, "label": str(mat) if mat else None},
                    attrs={"root": str(root), "missing": _missing(name, image, mat)},
                )
            )
        # Files without an info.csv row have no fold: counted (under fold1), never dropped silently.
        for name in sorted((set(images) | set(mats)) - set(rows)):
            splits["fold1"].append(
                Item(
                    image_id=name,
                    files={"image": None, "label": None},
                    attrs={"missing": f"{name} is not listed in {labels.name}/info.csv (no fold)"},
                )
            )
        return splits

    # -- reading -----------------------------------------------------------------------
    def missing_reason(self, item: Item) -> str:
        return item.attrs["missing"]

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict[str, Any]:
        # The origin data set is the file-name prefix (consep, crag, dpath, glas, pannuke).
        return {"collection": item.image_id.rsplit("_", 1)[0]}

    def mat_instances(self, path: Path, shape: tuple[int, int], item: Item) -> tuple[dict[str, Any], list[str]]:
        arrays = load_mat(path, ("inst_map", "id", "class"))
        inst_map = mat_label_map(arrays, "inst_map", path, shape)
        ids, codes = mat_vector(arrays, "id", path), mat_vector(arrays, "class", path)
        if len(ids) != len(codes):
            raise BadInputError(path, f"'id' has {len(ids)} entries but 'class' has {len(codes)}")
        if len(ids) and ids.min() <= 0:
            raise BadInputError(path, "'id' holds 0: instance ids start at 1 (0 is background)")
        if len(np.unique(ids)) != len(ids):
            values, counts = np.unique(ids, return_counts=True)
            raise BadInputError(path, f"'id' repeats {values[counts > 1][:5].tolist()}")
        unknown = sorted(set(codes.tolist()) - set(CLASSES))
        if unknown:
            raise BadInputError(path, f"'class' holds {unknown[:5]}, not one of the codes 1..6")
        class_of = {int(i): CLASSES[int(c)] for i, c in zip(ids, codes)}
        present = np.unique(inst_map)
        present = present[present > 0]
        without_row = [int(v) for v in present if int(v) not in class_of]
        if without_row:
            raise BadInputError(path, f"inst_map value(s) {without_row[:5]} have no row in 'id' (class unknown)")
        notes: list[str] = []
        no_pixels = sorted(set(class_of) - set(present.tolist()))
        if no_pixels:
            notes.append(
                CountedNote(
                    "lizard id without pixels",
                    len(no_pixels),
                    f"{item.image_id}: id(s) {no_pixels[:8]} listed in {path.name} but absent from inst_map: dropped",
                )
            )
        instances, id_notes = label_instances(inst_map, class_of, item.image_id, "lizard")
        return instances, notes + id_notes


def _missing(name: str, image: Path | None, mat: Path | None) -> str:
    parts = ([f"no image {name}.png in any Lizard_Images folder"] if image is None else []) + (
        [f"no label file Labels/{name}.mat"] if mat is None else []
    )
    return "; ".join(parts)


def _inner_dirs(folder: Path) -> list[Path]:
    """``folder`` and its sub-folders down to :data:`INNER_DEPTH` levels (sorted, no junk)."""
    return list(search_dirs(folder, INNER_DEPTH))


def _labels_dirs(folder: Path) -> list[Path]:
    """Folders holding ``info.csv`` and ``Labels/`` (the ``Lizard_Labels`` folder)."""
    return [d for d in _inner_dirs(folder) if (d / "info.csv").is_file() and (d / "Labels").is_dir()]


def _image_dirs(folder: Path) -> list[Path]:
    """``Lizard_Images<k>`` folders (any case) that hold PNGs."""
    return [d for d in _inner_dirs(folder) if IMAGE_DIR.fullmatch(d.name) and sorted_files(d, [".png"])]


def _image_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for folder in _image_dirs(root):
        for path in sorted_files(folder, [".png"]):
            if path.name.startswith("."):
                continue
            if path.stem in index:
                raise BadInputError(path, f"{path.name} is also in {index[path.stem].parent}: which copy is meant?")
            index[path.stem] = path
    return index


def read_info_csv(path: Path) -> dict[str, tuple[str, str]]:
    """``Filename -> (Source, split name)`` in file order; malformed files are errors naming a line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInputError(path, f"cannot read the file ({error})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "Filename" not in header or "Split" not in header:
        raise BadInputError(path, f"expected the header Filename,Source,Split, got {','.join(header) or 'nothing'}")
    reader.fieldnames = header
    rows: dict[str, tuple[str, str]] = {}
    for line, row in enumerate(reader, start=2):
        name, split = (row.get("Filename") or "").strip(), (row.get("Split") or "").strip()
        if not name and not split:
            continue  # blank line
        if split not in FOLDS:
            raise BadInputError(path, f"line {line}: Split {split!r} is not a fold number 1, 2 or 3")
        if name in rows:
            raise BadInputError(path, f"line {line}: {name!r} is listed twice")
        rows[name] = ((row.get("Source") or "").strip(), FOLDS[split])
    return rows


CONFIGS = (
    ConfigSpec(
        "Lizard",
        Lizard,
        {},
        "Lizard: 238 colon H&E regions at 20x, 6 nucleus classes, splits fold1/fold2/fold3 from info.csv.",
        overlaps=("CoNSeP", "PanNuke", "PanNuke_fold1", "PanNuke_fold2", "PanNuke_fold3"),
        splits=("fold1", "fold2", "fold3"),
    ),
)
