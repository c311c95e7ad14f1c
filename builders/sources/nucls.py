"""NuCLS (Amgad et al. 2022): breast-cancer H&E fields of view (FOVs) from TCGA, nuclei as
polygons or bounding boxes, 13 raw classes.

Raw layout of one NuCLS data set (e.g. the corrected single-rater ``NuCLS_dataset``)::

    rgb/<fov>.png                 H&E FOV at 0.2 um/px (slightly larger than the FOV itself)
    csv/<fov>.csv                 one row per nucleus: raw_classification, main_classification,
                                  super_classification, type (polyline | rectangle),
                                  xmin, ymin, xmax, ymax, coords_x, coords_y ("x1,x2,...")
    mask/<fov>.png                channel 1 = class code (253 = FOV area), channels 2 x 3 = instance
    visualization/<fov>.png       overlay for humans (ignored)
    all_fov_locations.csv         FOV locations (ignored, see docs/sources/nucls.md)
    train_test_splits/fold_<k>_{train,test}.csv    slide lists of the hospital-wise folds

``<fov>`` is ``TCGA-AN-A0XU-DX1_id-<FOV id>_left-<x>_top-<y>_bottom-<y>_right-<x>``, possibly
behind a prefix naming participant and data set.

Conversion (docs/sources/nucls.md gives the evidence):

* the CSV is the source of truth for the objects: one object per row, in row order, its own
  RLE (overlaps kept), its class from the chosen column (option ``classes``: ``raw``
  (default, 13 classes), ``main`` or ``super``); an unknown class name is an error naming
  file, line and name. The mask PNG cannot tell boxes from outlines, paints overlapping
  nuclei over each other, drops the last column and row of every nucleus (HistomicsTK's
  half-open paste) and its ids (ch2 x ch3) collide beyond 254 elements, so it is used for
  the FOV only;
* ``polyline`` rows: the polygon ``coords_x``/``coords_y`` rasterised by the collection's rule
  (``formats/polygons.py``);
* ``rectangle`` rows (nuclei annotated by a bounding box only): an ``iscrowd`` object of its
  class covering the closed box ``xmin..xmax`` x ``ymin..ymax``, counted in the build report
  (``rectangle kept as iscrowd box``). COCO-style evaluation then neither rewards nor
  penalises a prediction on such a nucleus, and no box is passed off as a nucleus outline;
* the FOV (mask code 253): its bounding box in the mask is the annotated region. Pixels of
  the image outside it are not annotated (only nuclei spilling over the FOV edge are), so
  they become one ``iscrowd`` object of class ``ambiguous`` and every record is
  ``annotation = "partial"``. A mask whose size differs from the image by up to
  :data:`MAX_SIZE_DIFFERENCE` px (upstream rounding) is counted (``mask size differs from
  image``) and the FOV box clipped to the image; a larger difference is an error;
* splits: option ``fold`` (default ``1``) reads ``train_test_splits/fold_<fold>_{train,test}.csv``
  (the authors' hospital-wise folds); ``fold=none`` puts every FOV in ``train``.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import rle
from ..base import (
    BadInputError,
    ConfigSpec,
    CountedNote,
    Item,
    MissingDataError,
    Sample,
    Source,
    is_junk,
    option_choice,
    relative_posix,
    search_dirs,
    skipped_item,
    sorted_files,
)
from ..catalog import ClassInfo, SourceInfo, ambiguous
from ..formats.histology import he_metadata
from ..formats.pixels import without_constant_alpha
from ..formats.polygons import crop_runs, rasterize_polygon
from ..raster import read_image, read_png_verbatim

CITATION = """@article{amgad2022nucls,
  title   = {{NuCLS}: A scalable crowdsourcing approach and dataset for nucleus classification and segmentation in breast cancer},
  author  = {Amgad, M and Atteya, L A and Hussein, H and Mohammed, K H and Hafiz, E and Elsebaie, M A and
             Alhusseiny, A M and AlMoslemany, M A and Elmatboly, A M and Pappalardo, P A and Sakr, R A and others},
  journal = {GigaScience},
  volume  = {11},
  pages   = {giac037},
  year    = {2022},
  doi     = {10.1093/gigascience/giac037}
}"""

HOMEPAGE = "https://sites.google.com/view/nucls"

RGB_DIR, CSV_DIR, MASK_DIR, SPLITS_DIR = "rgb", "csv", "mask", "train_test_splits"

#: Mask channel 1 value of the FOV area (PathologyDataScience/NuCLS configs/nucleus_GTcodes.csv).
FOV_CODE = 253
#: Largest mask/image size difference (px, per axis) taken for upstream rounding.
MAX_SIZE_DIFFERENCE = 2

#: The CSV's ``type`` values.
POLYLINE, RECTANGLE = "polyline", "rectangle"
#: Columns every CSV must have (besides the class column of the chosen level).
GEOMETRY_COLUMNS = ("type", "xmin", "ymin", "xmax", "ymax", "coords_x", "coords_y")

#: Outside the FOV: not annotated (don't care).
OUTSIDE_FOV = ambiguous(None, f"image pixels outside the FOV (mask code {FOV_CODE}): not annotated, don't care")

# Class tables, in upstream code order. ``upstream`` = the name the CSV column holds.
#: raw_classification: mask codes 1-12 and 99 (configs/nucleus_GTcodes.csv).
RAW_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("tumor", "tumor", "neoplastic", description="mask code 1"),
    ClassInfo("fibroblast", "fibroblast", "connective", description="mask code 2"),
    ClassInfo("lymphocyte", "lymphocyte", "inflammatory", description="mask code 3"),
    ClassInfo("plasma", "plasma_cell", "inflammatory", description="mask code 4"),
    ClassInfo("macrophage", "macrophage", "inflammatory", description="mask code 5"),
    # NuCLS itself groups mitotic figures with tumour nuclei (main tumor_mitotic -> super tumor_any).
    ClassInfo("mitotic figure", "mitotic_figure", "neoplastic", description="mask code 6"),
    ClassInfo("endothelial", "vascular_endothelium", "connective", description="mask code 7"),
    ClassInfo("myoepithelial", "myoepithelium", "epithelial", description="mask code 8"),
    ClassInfo("apoptotic body", "apoptotic_body", "dead", description="mask code 9"),
    ClassInfo("neutrophil", "neutrophil", "inflammatory", description="mask code 10"),
    ClassInfo("ductal epithelium", "ductal_epithelium", "epithelial", description="mask code 11"),
    ClassInfo("eosinophil", "eosinophil", "inflammatory", description="mask code 12"),
    ClassInfo("unlabeled", "unlabeled", "unclassified", description="mask code 99: a nucleus of no stated type"),
    OUTSIDE_FOV,
)
#: main_classification, in the order of NucleusCategories.main_categs (configs/nucleus_style_defaults.py).
MAIN_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("tumor", "tumor_nonMitotic", "neoplastic"),
    ClassInfo("mitotic figure", "tumor_mitotic", "neoplastic"),
    ClassInfo("stromal", "nonTILnonMQ_stromal", "connective", description="fibroblasts and vascular endothelium"),
    ClassInfo("macrophage", "macrophage", "inflammatory"),
    ClassInfo("lymphocyte", "lymphocyte", "inflammatory"),
    ClassInfo("plasma", "plasma_cell", "inflammatory"),
    ClassInfo(
        "other nucleus",
        "other_nucleus",
        "unclassified",
        description="neutrophils, eosinophils, myoepithelium, ductal epithelium",
    ),
    ClassInfo("ambiguous nucleus", "AMBIGUOUS", "unclassified", description="apoptotic bodies and unlabeled nuclei"),
    OUTSIDE_FOV,
)
#: super_classification, in the order of NucleusCategories.super_categs.
SUPER_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("tumor (any)", "tumor_any", "neoplastic", description="tumour nuclei and mitotic figures"),
    ClassInfo("non-TIL stromal", "nonTIL_stromal", "connective", description="fibroblasts, endothelium, macrophages"),
    ClassInfo("stromal TIL", "sTIL", "inflammatory", description="lymphocytes and plasma cells"),
    ClassInfo("other nucleus", "other_nucleus", "unclassified"),
    ClassInfo("ambiguous nucleus", "AMBIGUOUS", "unclassified", description="apoptotic bodies and unlabeled nuclei"),
    OUTSIDE_FOV,
)
#: option ``classes`` -> (CSV column, class table).
CLASS_LEVELS: dict[str, tuple[str, tuple[ClassInfo, ...]]] = {
    "raw": ("raw_classification", RAW_CLASSES),
    "main": ("main_classification", MAIN_CLASSES),
    "super": ("super_classification", SUPER_CLASSES),
}

#: ``<prefix>_<slide>_id-<fov id>_left-<x>_top-<y>_bottom-<y>_right-<x>``; only the slide is required.
FOV_NAME = re.compile(r"^(?:(?P<prefix>.*?)_)?(?P<slide>TCGA-[^_]+)(?:_id-(?P<fov>[^_]+))?(?P<rest>_.*)?$")


def slide_of(stem: str) -> tuple[str | None, str | None]:
    """(slide name, prefix) encoded in a FOV file stem; (None, None) when it names no TCGA slide."""
    match = FOV_NAME.match(stem)
    if match is None:
        return None, None
    return match["slide"], match["prefix"] or None


def _number(value: str | None, path: Path, line: int, column: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadInputError(path, f"line {line}: {column} is not a number: {value!r}") from None
    if not np.isfinite(number):
        raise BadInputError(path, f"line {line}: {column} is not finite: {value!r}")
    return number


def _coordinates(value: str | None, path: Path, line: int, column: str) -> np.ndarray:
    parts = [] if value is None else [part for part in value.split(",") if part.strip()]
    if not parts:
        raise BadInputError(path, f"line {line}: {column} is empty")
    return np.array([_number(part, path, line, column) for part in parts], dtype=np.float64)


def read_rows(path: Path, class_column: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of one FOV's CSV as (line number, row); damaged files are errors naming them."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    if not data.strip():
        raise BadInputError(path, "empty file (no header)")
    # pandas' to_csv ends every row with a line break; a file that stops mid-line was cut short.
    if not data.endswith(b"\n"):
        raise BadInputError(path, "does not end with a line break: truncated?")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInputError(path, f"not UTF-8 text ({error})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
        missing = [c for c in (class_column, *GEOMETRY_COLUMNS) if c not in header]
        if missing:
            raise BadInputError(path, f"missing column(s) {', '.join(missing)} (header: {','.join(header)[:200]!r})")
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise BadInputError(path, f"malformed CSV near line {reader.line_num}: {error}") from None
    for line, row in rows:
        if None in row or any(row.get(c) is None for c in (class_column, *GEOMETRY_COLUMNS)):
            raise BadInputError(path, f"line {line}: {len(header)} columns expected, the row has another number")
    return rows


class NuCLS(Source):
    info = SourceInfo(
        name="NuCLS",
        title="NuCLS: breast-cancer H&E FOVs (TCGA), 13 nucleus classes, polygons + boxes as iscrowd (manual download)",
        homepage=HOMEPAGE,
        citation=CITATION,
        license="CC0-1.0",
        license_note=(
            "CC0 1.0 is stated in the README of the authors' repository PathologyDataScience/NuCLS "
            "(section 'Dataset Licensing') and on the Hugging Face mirror's card; the Google Drive release "
            "itself was not inspected."
        ),
        doc="nucls",
        modality="histology",
        stain="H&E",
        organ="breast",
        mpp=0.2,
        magnification=None,
        classes=RAW_CLASSES,
        option_classes=MAIN_CLASSES + SUPER_CLASSES,
        metrics=("f1_annotated",),  # partial annotation: only annotated-region F1 is meaningful
        annotation="partial",
        description=(
            "NuCLS (Amgad et al. 2022): H&E fields of view of TCGA breast-cancer slides at 0.2 um/px, nuclei "
            "annotated as polygons (objects) or bounding boxes (iscrowd boxes) in 13 classes; the image area "
            "outside the annotated FOV is an iscrowd 'ambiguous' region. Hospital-wise folds of the authors."
        ),
    )
    manual_instructions = f"""
NuCLS is on Google Drive (no direct download link). From {HOMEPAGE} (page "Download"), download a
data set, e.g. the corrected single-rater data set, unzip it and pass the folder that holds rgb/,
csv/, mask/ (and train_test_splits/) with --data-dir. Without train_test_splits/ build with
-o fold=none (every FOV in train).
"""
    expected_layout = """
    <data_dir>/[<data set>/]rgb/<fov>.png, csv/<fov>.csv, mask/<fov>.png
    <data_dir>/[<data set>/]train_test_splits/fold_<k>_train.csv, fold_<k>_test.csv   (for option fold)
    """
    default_options = {"classes": "raw", "fold": "1"}
    known_issues = (
        (
            "Masks do not tell bounding boxes from outlines, and paint overlapping nuclei over each other.",
            "Objects come from the CSV (one per row, overlaps kept); boxes become iscrowd objects of their class.",
        ),
        (
            "The image is larger than the annotated FOV; nuclei outside the FOV are not annotated.",
            "The area outside the FOV (mask code 253) is an iscrowd 'ambiguous' object; annotation = partial.",
        ),
        (
            "Mask and image can differ in size by a pixel or two (rounding upstream).",
            f"Up to {MAX_SIZE_DIFFERENCE} px: counted, FOV box clipped to the image; more is an error.",
        ),
        (
            "Instance id = channel 2 x channel 3 is not unique beyond 254 elements per FOV "
            "(HistomicsTK pairs (1,6) and (2,3) both give 6).",
            "Instance pixels are never taken from the mask.",
        ),
        (
            "The mask drops the last column and row of every nucleus (HistomicsTK pastes each polygon into "
            "ROI[ymin:ymax, xmin:xmax]).",
            "Objects are the closed polygons of the CSV, so they keep those pixels.",
        ),
    )

    def __init__(self, **options: Any):
        super().__init__(**options)
        option_choice(self.name, "classes", self.options["classes"], tuple(CLASS_LEVELS))
        fold = str(self.options["fold"]).strip().lower()
        if fold != "none" and not fold.isdigit():
            raise ValueError(f"{self.name}: option fold must be a fold number (1-5, 999) or none, got {fold!r}")
        self.fold = fold
        self.class_column, self._classes = CLASS_LEVELS[self.options["classes"]]
        self._category_of = {c.upstream: c.name for c in self._classes if not c.crowd}

    def classes(self) -> tuple[ClassInfo, ...]:
        return self._classes

    def export_name(self, config_name: str) -> str:
        name = config_name
        if self.options["classes"] != "raw":
            name += f"_{self.options['classes']}"
        if self.fold != "1":
            name += "_all" if self.fold == "none" else f"_fold_{self.fold}"
        return name

    # -- listing ---------------------------------------------------------------------------
    def find_root(self, data_dir: Path) -> Path | None:
        for folder in search_dirs(data_dir):
            if (folder / RGB_DIR).is_dir() and (folder / CSV_DIR).is_dir():
                return folder
        return None

    def _fold_slides(self, root: Path) -> dict[str, str]:
        """Slide name -> split of the chosen fold."""
        slides: dict[str, str] = {}
        for split in ("train", "test"):
            path = root / SPLITS_DIR / f"fold_{self.fold}_{split}.csv"
            if not path.is_file():
                raise MissingDataError(
                    f"{self.name}: no {SPLITS_DIR}/{path.name} under {root} (option fold={self.fold}); "
                    f"add the release's {SPLITS_DIR}/ folder or build with -o fold=none (every FOV in train)"
                )
            for line, row in read_rows_plain(path, "slide_name"):
                slide = row["slide_name"].strip()
                if slides.get(slide, split) != split:
                    raise BadInputError(path, f"line {line}: slide {slide} is in both the train and the test list")
                slides[slide] = split
        return slides

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        def files_of(folder: str, suffix: str) -> dict[str, Path]:
            if not (root / folder).is_dir():
                return {}
            return {p.stem: p for p in sorted_files(root / folder, [suffix]) if not is_junk(p)}

        images, tables, masks = files_of(RGB_DIR, ".png"), files_of(CSV_DIR, ".csv"), files_of(MASK_DIR, ".png")
        fold_slides = None if self.fold == "none" else self._fold_slides(root)
        splits: dict[str, list[Item]] = {"train": []} if fold_slides is None else {"train": [], "test": []}
        for stem in sorted(set(images) | set(tables) | set(masks)):
            if stem not in images:
                orphans = " and ".join(
                    f"{folder}/{files[stem].name}"
                    for folder, files in ((CSV_DIR, tables), (MASK_DIR, masks))
                    if stem in files
                )
                splits["train"].append(
                    skipped_item(stem, f"{orphans} has no image {RGB_DIR}/{stem}.png (no record made)")
                )
                continue
            if stem not in tables:
                splits["train"].append(
                    skipped_item(stem, f"{RGB_DIR}/{images[stem].name} has no annotation {CSV_DIR}/{stem}.csv")
                )
                continue
            slide, prefix = slide_of(stem)
            split = "train"
            if fold_slides is not None:
                if slide not in fold_slides:
                    reason = f"slide {slide} of {RGB_DIR}/{images[stem].name} is in neither fold_{self.fold} list"
                    if slide is None:
                        reason = f"{RGB_DIR}/{images[stem].name}: the name encodes no TCGA slide, so no fold assigns it"
                    splits["train"].append(skipped_item(stem, reason))
                    continue
                split = fold_slides[slide]
            files = {
                "image": str(images[stem]),
                "csv": str(tables[stem]),
                "mask": str(masks[stem]) if stem in masks else None,
            }
            splits[split].append(
                Item(image_id=stem, files=files, attrs={"root": str(root), "slide": slide, "prefix": prefix})
            )
        return splits

    # -- reading ---------------------------------------------------------------------------
    def read(self, item: Item) -> Sample:
        image_path, csv_path = Path(item.files["image"]), Path(item.files["csv"])
        decoded, png = read_png_verbatim(image_path)
        pixels, notes = without_constant_alpha(decoded, item.image_id)
        if pixels is not decoded:  # a constant alpha was dropped: the upstream bytes no longer match
            png = None
        height, width = pixels.shape[:2]
        starts, lengths, categories, crowd = [], [], {}, {}
        empty, boxes = 0, 0
        for line, row in read_rows(csv_path, self.class_column):
            name = row[self.class_column].strip()
            if name not in self._category_of:
                known = ", ".join(sorted(self._category_of))
                raise BadInputError(csv_path, f"line {line}: unknown {self.class_column} {name!r}; known: {known}")
            kind = row["type"].strip()
            if kind == POLYLINE:
                xs = _coordinates(row["coords_x"], csv_path, line, "coords_x")
                ys = _coordinates(row["coords_y"], csv_path, line, "coords_y")
                if len(xs) != len(ys):
                    raise BadInputError(csv_path, f"line {line}: coords_x has {len(xs)} values but coords_y {len(ys)}")
            elif kind == RECTANGLE:
                x0, y0, x1, y1 = (_number(row[c], csv_path, line, c) for c in ("xmin", "ymin", "xmax", "ymax"))
                if x0 > x1 or y0 > y1:
                    raise BadInputError(
                        csv_path, f"line {line}: box xmin..xmax {x0}..{x1}, ymin..ymax {y0}..{y1} is inverted"
                    )
                xs, ys = np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1])
            else:
                raise BadInputError(csv_path, f"line {line}: unknown type {kind!r}; expected {POLYLINE} or {RECTANGLE}")
            placed = rasterize_polygon(xs, ys, height, width)
            if placed is None:
                empty += 1
                continue
            object_starts, object_lengths = crop_runs(*placed, height)
            starts.append(object_starts)
            lengths.append(object_lengths)
            categories[len(starts)] = self._category_of[name]
            if kind == RECTANGLE:
                crowd[len(starts)] = True
                boxes += 1
        if boxes:
            notes.append(
                CountedNote(
                    "rectangle kept as iscrowd box", boxes, f"{item.image_id}: {boxes} nuclei annotated by a box only"
                )
            )
        if empty:
            notes.append(
                CountedNote(
                    "empty nucleus skipped", empty, f"{item.image_id}: {empty} CSV rows cover no pixel of the image"
                )
            )
        outside, fov_notes = self._outside_fov(item, height, width)
        notes += fov_notes
        if outside is not None:
            object_starts, object_lengths = crop_runs(0, 0, outside, height)
            starts.append(object_starts)
            lengths.append(object_lengths)
            categories[len(starts)] = OUTSIDE_FOV.name
            crowd[len(starts)] = True
        metadata = he_metadata(
            self,
            organ="breast",
            mpp=0.2,
            slide_id=item.attrs["slide"],
            patient_id=item.attrs["slide"][:12] if item.attrs["slide"] else None,
            annotation="partial",
            collection=item.attrs["prefix"],
            upstream_path=relative_posix(image_path, Path(item.attrs["root"])),
        )
        return Sample(
            image_id=item.image_id,
            image=pixels,
            metadata=metadata,
            objects=rle.encode_runs(starts, lengths, height, width),
            categories=categories,
            iscrowd=crowd,
            image_png=png,
            notes=notes,
        )

    def _outside_fov(self, item: Item, height: int, width: int) -> tuple[np.ndarray | None, list[str]]:
        """The image pixels outside the FOV box of the mask (None: nothing outside, or no FOV known)."""
        if item.files["mask"] is None:
            return None, [CountedNote("no mask, FOV unknown", 1, f"{item.image_id}: no {MASK_DIR}/{item.image_id}.png")]
        mask_path = Path(item.files["mask"])
        mask = read_image(mask_path)
        if mask.ndim != 3 or mask.shape[2] not in (3, 4) or mask.dtype != np.uint8:
            raise BadInputError(mask_path, f"expected an 8-bit RGB mask, got {mask.dtype} of shape {mask.shape}")
        notes: list[str] = []
        if mask.shape[:2] != (height, width):
            dh, dw = abs(mask.shape[0] - height), abs(mask.shape[1] - width)
            if max(dh, dw) > MAX_SIZE_DIFFERENCE:
                raise BadInputError(
                    mask_path, f"mask size {mask.shape[1]}x{mask.shape[0]} != image size {width}x{height}"
                )
            notes.append(
                CountedNote(
                    "mask size differs from image",
                    1,
                    f"{item.image_id}: mask {mask.shape[1]}x{mask.shape[0]}, image {width}x{height}; FOV box clipped",
                )
            )
        rows, cols = np.nonzero(mask[..., 0] == FOV_CODE)
        if len(rows) == 0:
            return None, notes + [CountedNote("no FOV in mask", 1, f"{item.image_id}: no pixel of code {FOV_CODE}")]
        # The FOV rectangle is painted first and nuclei over it: its extent is that of the code.
        top, bottom = int(rows.min()), min(int(rows.max()), height - 1)
        left, right = int(cols.min()), min(int(cols.max()), width - 1)
        outside = np.ones((height, width), dtype=bool)
        outside[top : bottom + 1, left : right + 1] = False
        return (outside if outside.any() else None), notes


def read_rows_plain(path: Path, column: str) -> list[tuple[int, dict[str, str]]]:
    """Rows of a small CSV that must have ``column`` (fold lists); damaged files are errors naming them."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInputError(path, f"not UTF-8 text ({error})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        if column not in (reader.fieldnames or []):
            raise BadInputError(path, f"no column {column!r} (header: {reader.fieldnames})")
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise BadInputError(path, f"malformed CSV near line {reader.line_num}: {error}") from None
    for line, row in rows:
        if not (row.get(column) or "").strip():
            raise BadInputError(path, f"line {line}: empty {column}")
    return rows


CONFIGS = (
    ConfigSpec(
        "NuCLS",
        NuCLS,
        {},
        "NuCLS: TCGA breast-cancer H&E FOVs at 0.2 um/px, 13 nucleus classes (option classes=main|super), "
        "box-only nuclei and the area outside the FOV as iscrowd; the authors' hospital-wise fold 1 (option fold).",
        splits=("train", "test"),
    ),
)
