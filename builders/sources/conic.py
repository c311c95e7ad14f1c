"""CoNIC challenge patches (Graham et al., Medical Image Analysis 2024): Lizard cut into 256x256.

Raw layout (the challenge's Google Drive folder, downloaded as it is)::

    images.npy       (N, 256, 256, 3) uint8 RGB
    labels.npy       (N, 256, 256, 2) channel 0 instance ids 0..n per patch, channel 1 class
                     code 0..6 (written as uint16 by the authors' generator; any integer dtype)
    patch_info.csv   one column ``patch_info``: ``<lizard image>-<%04d>`` per patch, in array order
    counts.csv       nuclei per class in the central 224x224 of each patch (neutrophil,
                     epithelial, lymphocyte, plasma, eosinophil, connective)

Reading: ``allow_pickle=False``; each ``.npy`` header is read once at listing time and
every patch is then read on its own by one explicit read of its byte range
(``builders/npy.py``, shared with PanNuke), so memory stays at one patch whatever N is.

Classes: code 1 neutrophil, 2 epithelial, 3 lymphocyte, 4 plasma, 5 eosinophil, 6 connective
(the names and PanNuke groups Lizard uses). The authors' generator paints each instance's
class from Lizard's per-instance table, so one instance has exactly one non-zero code and
every class pixel lies on an instance. A patch that breaks this (instance pixels of class 0,
one instance with two codes, class pixels outside any instance, a code above 6) is an
error naming ``labels.npy``, the patch index and its name: such a file is not what the
generator writes, and guessing a class would give a silently wrong label.

Split: there is no official split. Config ``CoNIC`` reproduces the baseline's
(hover_net ``conic`` branch ``generate_split.py``, trial 0 as its ``run.py`` and torch-em
use): scikit-learn 0.23.1's ``StratifiedShuffleSplit(n_splits=10, train_size=0.8,
test_size=0.2, random_state=5)`` over the sorted source images (patch name up to the first
``-``), stratified by cohort (source name up to the first ``_``), re-implemented here draw
for draw on NumPy's legacy ``RandomState`` (scikit-learn is not a dependency). Splits are
``train`` and ``valid``; a source image's patches are never split. docs/sources/conic.md
has every fact with its evidence.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from math import ceil, floor
from pathlib import Path

import numpy as np

from ..base import (
    BadInputError,
    ConfigSpec,
    CountedNote,
    Item,
    Sample,
    Source,
    logger,
    relative_posix,
    search_dirs,
)
from ..catalog import SourceInfo
from ..formats.histology import he_metadata
from ..formats.instances import label_instances
from ..formats.lizard import CLASS_OF_CODE, LIZARD_CITATION, LIZARD_CLASSES
from ..npy import NpyArray, exact_cast

CITATION = (
    """@article{graham2024conic,
  title   = {{CoNIC} Challenge: Pushing the frontiers of nuclear detection, segmentation, classification and counting},
  author  = {Graham, Simon and Vu, Quoc Dang and Jahanifar, Mostafa and Weigert, Martin and Schmidt, Uwe
             and Zhang, Wenhua and Zhang, Jun and Yang, Sen and Xiang, Jinxi and Wang, Xiyue and others},
  journal = {Medical Image Analysis},
  volume  = {92},
  pages   = {103047},
  year    = {2024},
  doi     = {10.1016/j.media.2023.103047}
}"""
    + "\n"
    + LIZARD_CITATION
)

#: Class channel code -> category (formats/lizard.py: the table Lizard and CoNIC share)
CLASSES: dict[int, str] = CLASS_OF_CODE
#: counts.csv header, in this order (extract_patches.py writes the columns so).
COUNT_COLUMNS: tuple[str, ...] = tuple(CLASSES.values())
#: patch_info.csv's one column.
PATCH_INFO_COLUMN = "patch_info"
#: counts.csv counts the central 224x224 of a 256x256 patch: a margin of 16 px on each side.
COUNT_MARGIN = 16
IMAGES, LABELS, PATCH_INFO, COUNTS = "images.npy", "labels.npy", "patch_info.csv", "counts.csv"

#: The baseline split (hover_net conic branch generate_split.py + run.py FOLD_IDX = 0).
BASELINE_SEED = 5
BASELINE_TRIALS = 10
BASELINE_TRIAL = 0
TRAIN_SIZE, TEST_SIZE = 0.8, 0.2
SPLITS = ("train", "valid")
#: Patches in the public release, and (train, valid) patches of the baseline's trial 0 as
#: printed by CoNIC notebooks/baseline.ipynb: a check of the split on the real files.
RELEASE_PATCHES = 4981
BASELINE_PATCH_COUNTS = (3963, 1018)

#: Counted-note kinds.
COUNTS_DISAGREE = "conic counts.csv disagrees with labels.npy"

MANUAL = """
CoNIC has no direct download. Register at https://conic-challenge.grand-challenge.org/ and
download the four files (images.npy, labels.npy, patch_info.csv, counts.csv) of the Google
Drive folder https://drive.google.com/drive/folders/1il9jG7uA4-ebQ_lNmXbbF2eOK9uNwheb
(e.g. `gdown --folder <url>`) into one folder; pass that folder with --data-dir. No checksum
is published. images.npy is about 1 GB and labels.npy about 1.3 GB.
"""


# --------------------------------------------------------------------------- the baseline split


def approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` go to each class: scikit-learn 0.23.1 ``utils._approximate_mode``.

    The proportional share ``n_draws * count / total`` floored, then the draws left over go
    to the classes of largest fractional part; within one fractional value the classes
    are drawn by ``rng.choice(..., replace=False)``. That draw consumes the random stream,
    so it must happen exactly when scikit-learn's does.
    """
    exact = n_draws * class_counts / class_counts.sum()  # 0.23.1's order of operations
    allotted = np.floor(exact)
    missing = int(n_draws - allotted.sum())
    if missing > 0:
        fraction = exact - allotted
        for value in np.sort(np.unique(fraction))[::-1]:
            (tied,) = np.where(fraction == value)
            take = min(len(tied), missing)
            allotted[rng.choice(tied, size=take, replace=False)] += 1
            missing -= take
            if missing == 0:
                break
    return allotted.astype(np.int64)


def stratified_shuffle_splits(
    strata: Sequence[int], train_size: float, test_size: float, seed: int, n_splits: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays of scikit-learn 0.23.1's ``StratifiedShuffleSplit``, trial by trial.

    ``strata`` holds one class label per sample. The random stream is NumPy's legacy
    ``RandomState(seed)``, whose output NumPy keeps fixed across versions.
    """
    labels = np.asarray(strata)
    n_samples = len(labels)
    n_test, n_train = ceil(test_size * n_samples), floor(train_size * n_samples)
    classes, label_index = np.unique(labels, return_inverse=True)
    class_counts = np.bincount(label_index)
    if n_train + n_test > n_samples or n_train == 0:
        raise ValueError(f"{n_samples} samples cannot give {n_train} train and {n_test} test samples")
    if class_counts.min() < 2:
        raise ValueError(f"stratum {classes[class_counts.argmin()]!r} has only 1 sample (at least 2 needed)")
    if min(n_train, n_test) < len(classes):
        raise ValueError(f"{n_train} train / {n_test} test samples cannot hold all {len(classes)} strata")
    members = np.split(np.argsort(label_index, kind="mergesort"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    for _ in range(n_splits):
        train_per_class = approximate_mode(class_counts, n_train, rng)
        test_per_class = approximate_mode(class_counts - train_per_class, n_test, rng)
        train: list[int] = []
        test: list[int] = []
        for k, samples in enumerate(members):
            shuffled = samples.take(rng.permutation(class_counts[k]), mode="clip")
            train.extend(shuffled[: train_per_class[k]])
            test.extend(shuffled[train_per_class[k] : train_per_class[k] + test_per_class[k]])
        # The final shuffles change no membership but consume the stream (later trials).
        yield rng.permutation(train), rng.permutation(test)


def source_of(patch_name: str) -> str:
    """The Lizard image a patch comes from: its name up to the first ``-`` (generate_split.py)."""
    return patch_name.split("-")[0]


def cohort_of(source: str) -> str:
    """The origin data set of a Lizard image (consep, crag, dpath, glas, pannuke): up to the first ``_``."""
    return source.split("_")[0]


def baseline_split(patch_names: Sequence[str], trial: int = BASELINE_TRIAL) -> dict[str, str]:
    """Source image -> ``train`` / ``valid`` of the CoNIC baseline split (grouped by source image)."""
    sources = sorted(set(map(source_of, patch_names)))  # np.unique's order (code points)
    cohorts = [cohort_of(source) for source in sources]
    splits = stratified_shuffle_splits(cohorts, TRAIN_SIZE, TEST_SIZE, BASELINE_SEED, BASELINE_TRIALS)
    for _ in range(trial):
        next(splits)
    train, valid = next(splits)
    assignment = {sources[i]: "train" for i in train} | {sources[i]: "valid" for i in valid}
    return assignment


# --------------------------------------------------------------------------- CSV files


def _csv_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a small CSV file; unreadable files are errors naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    except OSError as error:
        raise BadInputError(path, f"cannot read the file ({error})") from None
    if not data.strip():
        raise BadInputError(path, "empty file")
    if data.lstrip()[:1] == b"<":
        raise BadInputError(path, "HTML/XML text, not a CSV file (a download error page?)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInputError(path, f"not UTF-8 text ({error})") from None
    rows = list(csv.reader(io.StringIO(text)))
    header = [cell.strip() for cell in rows[0]]
    body = [(line, [cell.strip() for cell in row]) for line, row in enumerate(rows[1:], start=2) if any(row)]
    return header, body


def read_patch_info(path: Path) -> list[str]:
    """Patch names in file order (= array order); malformed rows are errors naming the line."""
    header, rows = _csv_rows(path)
    if PATCH_INFO_COLUMN not in header:
        raise BadInputError(path, f"no column {PATCH_INFO_COLUMN!r} (header: {','.join(header) or 'nothing'})")
    column = header.index(PATCH_INFO_COLUMN)
    names: list[str] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        name = cells[column] if column < len(cells) else ""
        if not name or "-" not in name or not source_of(name):
            raise BadInputError(path, f"line {line}: {name!r} is not a patch name '<lizard image>-<number>'")
        if name in seen:
            raise BadInputError(path, f"line {line}: {name!r} is listed twice (also line {seen[name]})")
        seen[name] = line
        names.append(name)
    return names


def read_counts(path: Path) -> list[tuple[int, ...]]:
    """Per-patch class counts of ``counts.csv`` (columns checked by name and order)."""
    header, rows = _csv_rows(path)
    if tuple(header) != COUNT_COLUMNS:
        raise BadInputError(path, f"expected the header {','.join(COUNT_COLUMNS)}, got {','.join(header)}")
    counts: list[tuple[int, ...]] = []
    for line, cells in rows:
        if len(cells) != len(COUNT_COLUMNS) or not all(cell.isdigit() for cell in cells):
            raise BadInputError(path, f"line {line}: expected {len(COUNT_COLUMNS)} counts, got {','.join(cells)}")
        counts.append(tuple(int(cell) for cell in cells))
    return counts


# --------------------------------------------------------------------------- the reader


def _files_in(folder: Path) -> dict[str, Path]:
    return {name: folder / name for name in (IMAGES, LABELS, PATCH_INFO, COUNTS) if (folder / name).is_file()}


class CoNIC(Source):
    info = SourceInfo(
        name="CoNIC",
        title="CoNIC challenge: 4,981 Lizard patches of 256x256 at 20x, 6 classes; baseline train/valid split (manual download)",
        homepage="https://conic-challenge.grand-challenge.org/",
        citation=CITATION,
        license="CC-BY-NC-SA-4.0",
        license_note="second-hand: Lizard's licence, stated for CoNIC by a Hugging Face card; see docs",
        doc="conic",
        modality="histology",
        stain="H&E",
        organ="colon",
        mpp=0.5,
        magnification=20.0,
        classes=LIZARD_CLASSES,  # Lizard's table: the same cells, the same codes
        metrics=("mpq_plus", "mpq", "pq"),
        description=(
            "CoNIC challenge data (Graham et al. 2024): 4,981 patches of 256x256 cut from the Lizard colon H&E "
            "regions at 20x, every nucleus segmented and typed in 6 classes; the baseline's train/valid split "
            "(grouped by source image, not official)."
        ),
    )
    manual_instructions = MANUAL
    expected_layout = """
    <data_dir>/[<folder>/]images.npy      (N, 256, 256, 3) uint8
    <data_dir>/[<folder>/]labels.npy      (N, 256, 256, 2) instance ids, class codes
    <data_dir>/[<folder>/]patch_info.csv  one patch name per row
    <data_dir>/[<folder>/]counts.csv      (optional) nuclei per class per patch
    """
    known_issues = (
        (
            "The public CoNIC data has no official train/test split.",
            "Config CoNIC uses the baseline's split (hover_net conic branch generate_split.py, trial 0): "
            "80/20 by source image, stratified by cohort. It is not official: say so when reporting.",
        ),
        (
            "The patches are Lizard regions, cut with an overlap at image edges: a nucleus can appear in two "
            "patches, and CoNIC counts more nuclei than Lizard.",
            "Declared as overlapping Lizard, CoNSeP and PanNuke; never evaluate on CoNIC after training on Lizard.",
        ),
        (
            "counts.csv counts only the nuclei in the central 224x224 of each patch.",
            "counts.csv is checked against labels.npy with that rule; disagreements are counted, never silent.",
        ),
    )

    def find_root(self, data_dir: Path) -> Path | None:
        for folder in search_dirs(data_dir):
            found = _files_in(folder)
            if IMAGES in found or LABELS in found:
                return folder
        return None

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        found = _files_in(root)
        for needed in (IMAGES, LABELS, PATCH_INFO):
            if needed not in found:
                present = ", ".join(sorted(found)) or "nothing"
                raise BadInputError(
                    root / needed, f"missing: CoNIC needs images.npy, labels.npy and patch_info.csv (found {present})"
                )
        images, labels = NpyArray.open(found[IMAGES]), NpyArray.open(found[LABELS])
        if len(images.shape) != 4 or images.shape[3] != 3:
            raise BadInputError(images.path, f"shape {images.shape}: expected (n, height, width, 3)")
        if np.dtype(labels.dtype).kind not in "biu":
            # Ids and class codes are integers; the generator writes uint16.
            raise BadInputError(labels.path, f"dtype {np.dtype(labels.dtype)} is not an integer type")
        if len(labels.shape) != 4 or labels.shape[3] != 2 or labels.shape[:3] != images.shape[:3]:
            raise BadInputError(
                labels.path, f"shape {labels.shape} does not match images.npy {images.shape[:3]} x 2 channels"
            )
        names = read_patch_info(found[PATCH_INFO])
        if len(names) != len(images):
            raise BadInputError(found[PATCH_INFO], f"{len(names)} patch names for {len(images)} patches in images.npy")
        counts = read_counts(found[COUNTS]) if COUNTS in found else None
        if counts is not None and len(counts) != len(images):
            raise BadInputError(found[COUNTS], f"{len(counts)} rows for {len(images)} patches in images.npy")
        try:
            split_of = baseline_split(names)
        except ValueError as error:  # a cut-down copy whose cohorts cannot be stratified
            raise BadInputError(found[PATCH_INFO], f"the baseline split cannot be made: {error}") from None
        files = {"image": str(found[IMAGES]), "labels": str(found[LABELS]), "patch_info": str(found[PATCH_INFO])}
        if counts is not None:
            files["counts"] = str(found[COUNTS])
        relative = relative_posix(found[IMAGES], root)
        splits: dict[str, list[Item]] = {split: [] for split in SPLITS}
        for index, name in enumerate(names):
            source = source_of(name)
            splits[split_of[source]].append(
                Item(
                    image_id=name,
                    files=files,
                    attrs={
                        "index": index,
                        "images": images,
                        "labels": labels,
                        "source": source,
                        "counts": None if counts is None else counts[index],
                        "upstream_path": f"{relative}[{index}]",
                    },
                )
            )
        sizes = tuple(len(splits[split]) for split in SPLITS)
        if len(names) == RELEASE_PATCHES and sizes != BASELINE_PATCH_COUNTS:
            logger.warning(
                "CoNIC: the baseline split gives %d train / %d valid patches, the authors' notebook %d / %d: "
                "this copy or the split differs from theirs (docs/sources/conic.md)",
                *sizes,
                *BASELINE_PATCH_COUNTS,
            )
        return splits

    def read(self, item: Item) -> Sample:
        index, name = item.attrs["index"], item.image_id
        images: NpyArray = item.attrs["images"]
        labels: NpyArray = item.attrs["labels"]
        pixels = exact_cast(images.read(index), np.uint8, images.path, f"patch {index} ({name})")
        label = labels.read(index).astype(np.int64)
        if label.min() < 0:
            raise BadInputError(labels.path, f"patch {index} ({name}): negative values in the label channels")
        inst_map, class_map = label[..., 0], label[..., 1]
        class_of = instance_classes(inst_map, class_map, labels.path, f"patch {index} ({name})")
        instances, notes = label_instances(inst_map, class_of, name, "conic")
        expected = item.attrs["counts"]
        if expected is not None:
            found = central_counts(inst_map, class_map)
            if found != expected:
                notes.append(
                    CountedNote(
                        COUNTS_DISAGREE,
                        1,
                        f"{name}: counts.csv says {dict(zip(COUNT_COLUMNS, expected))}, labels.npy gives "
                        f"{dict(zip(COUNT_COLUMNS, found))} (labels.npy kept)",
                    )
                )
        for note in notes:
            logger.debug("%s", note)
        source = item.attrs["source"]
        metadata = he_metadata(
            self,
            organ="colon",
            magnification=20.0,
            mpp=0.5,
            annotation="complete",
            collection=cohort_of(source),
            parent_image_id=source,
            upstream_path=item.attrs["upstream_path"],
        )
        return Sample(image_id=name, image=np.ascontiguousarray(pixels), metadata=metadata, notes=notes, **instances)


def instance_classes(inst_map: np.ndarray, class_map: np.ndarray, path: str, where: str) -> dict[int, str]:
    """Instance id -> class name of one patch; any inconsistency is an error naming ``where``."""
    unknown = sorted(set(np.unique(class_map).tolist()) - {0, *CLASSES})
    if unknown:
        raise BadInputError(path, f"{where}: class codes {unknown[:5]} are not 0..6")
    outside = int(((inst_map == 0) & (class_map != 0)).sum())
    if outside:
        raise BadInputError(path, f"{where}: {outside} px carry a class but belong to no instance")
    foreground = inst_map > 0
    # One key per (instance, class code) pair present; codes are 0..6, so 8 slots suffice.
    pairs = np.unique(inst_map[foreground] * 8 + class_map[foreground])
    ids, codes = np.divmod(pairs, 8)
    unclassified = ids[codes == 0]
    if len(unclassified):
        raise BadInputError(path, f"{where}: instance(s) {unclassified[:5].tolist()} have pixels of class 0 (no type)")
    values, repeats = np.unique(ids, return_counts=True)
    if (repeats > 1).any():
        mixed = values[repeats > 1][:5].tolist()
        raise BadInputError(path, f"{where}: instance(s) {mixed} carry more than one class code")
    return {int(i): CLASSES[int(c)] for i, c in zip(ids, codes)}


def central_counts(inst_map: np.ndarray, class_map: np.ndarray) -> tuple[int, ...]:
    """Nuclei per class in the patch minus a 16 px margin: the rule counts.csv was written with.

    A nucleus counts for a class when any of its pixels of that class lies in the centre
    (extract_patches.py counts distinct instance ids of each class in the cropped maps).
    """
    height, width = inst_map.shape
    centre = (slice(COUNT_MARGIN, max(COUNT_MARGIN, height - COUNT_MARGIN)),) + (
        slice(COUNT_MARGIN, max(COUNT_MARGIN, width - COUNT_MARGIN)),
    )
    ids, classes = inst_map[centre], class_map[centre]
    return tuple(len(np.unique(ids[(classes == code) & (ids > 0)])) for code in CLASSES)


CONFIGS = (
    ConfigSpec(
        "CoNIC",
        CoNIC,
        {},
        "CoNIC: 4,981 Lizard patches (256x256, 20x), 6 nucleus classes; the baseline's train/valid split "
        "(80/20 by source image, stratified by cohort; not official).",
        overlaps=("Lizard", "CoNSeP", "PanNuke", "PanNuke_fold1", "PanNuke_fold2", "PanNuke_fold3"),
        splits=SPLITS,
    ),
)
