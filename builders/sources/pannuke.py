"""PanNuke (Gamper et al. 2019/2020): 7,901 256x256 H&E patches of 19 tissues in 3 folds.

Raw layouts (both accepted, also mixed; see docs/sources/pannuke.md)::

    Warwick fold zips:   Fold <N>/images/fold<N>/images.npy   (n, 256, 256, 3) float64, 0..255
                         Fold <N>/images/fold<N>/types.npy    (n,) '<U..' tissue names
                         Fold <N>/masks/fold<N>/masks.npy     (n, 256, 256, 6) float64 instance ids
    Kaggle mirror:       <any folder>/Images/images.npy, <any folder>/Images/types.npy,
                         <any folder>/Masks/masks.npy          (Part 1, Part 2, Part 3)

Which fold a set of files holds is decided by its length (2656 / 2523 / 2722 images for
folds 1 / 2 / 3), not by the folder name: "Part N = fold N" is not established for the
Kaggle mirror. Only for other lengths (e.g. a cut-down copy) is the fold read from the
folder name (``fold N`` / ``part N`` / a trailing ``-N``), with a warning.

Reading: ``allow_pickle=False`` always; the ``.npy`` header is read once per file at
listing time (``np.load(mmap_mode="r")``, mapping dropped at once) and every image is read
on its own with an explicit ``seek`` + ``read`` of its bytes, so memory stays at a few MB
per image whatever the fold size (a memory map's touched pages would count toward RSS).

Objects: mask channels 0-4 are the classes neoplastic, inflammatory, connective, dead,
epithelial; channel 5 is background and never a class. One object = all pixels of one
(channel, instance id) pair, whatever their connectivity: ids repeat across channels (a
different nucleus in each channel) and a few ids cover several components. This is the
rule that reproduces the published nucleus count (189,744 = per-image, per-channel counts
of distinct ids). Anomalies are counted as notes (kinds below), summarised at the end of a
build, never silently fixed. Object ids are renumbered 1..N: channel order, then upstream id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import rle
from ..base import (
    BadInputError,
    ConfigSpec,
    CountedNote,
    Download,
    Item,
    MissingDataError,
    Sample,
    Source,
    logger,
    relative_posix,
    search_dirs,
)
from ..catalog import ClassInfo, SourceInfo
from ..formats.histology import EIGHT_CONNECTED, he_metadata
from ..npy import NpyArray, exact_cast

CITATION = """@inproceedings{gamper2019pannuke,
  title     = {PanNuke: An Open Pan-Cancer Histology Dataset for Nuclei Instance Segmentation and Classification},
  author    = {Gamper, Jevgenij and Koohbanani, Navid Alemi and Benet, Ksenija and Khuram, Ali and Rajpoot, Nasir},
  booktitle = {European Congress on Digital Pathology (ECDP)},
  pages     = {11--19},
  year      = {2019},
  publisher = {Springer},
  doi       = {10.1007/978-3-030-23937-4_2}
}
@article{gamper2020pannuke,
  title   = {PanNuke Dataset Extension, Insights and Baselines},
  author  = {Gamper, Jevgenij and Koohbanani, Navid Alemi and Graham, Simon and Jahanifar, Mostafa and
             Benet, Ksenija and Khurram, Syed Ali and Azam, Ayesha and Hewitt, Katherine and Rajpoot, Nasir},
  journal = {arXiv preprint arXiv:2003.10778},
  year    = {2020}
}"""

WARWICK = "https://warwick.ac.uk/fac/cross_fac/tia/data/pannuke/"
FOLD_DOWNLOADS = {
    1: Download(
        WARWICK + "fold_1.zip", "fold_1.zip", "6e19ad380300e8ce9480f9ab6a14cc91fa4b6a511609b40e3d70bdf9c881ed0b"
    ),
    2: Download(
        WARWICK + "fold_2.zip", "fold_2.zip", "5bc540cc509f64b5f5a274d6e5a245527dbd3e6d3155d43555115c5d54709b07"
    ),
    3: Download(
        WARWICK + "fold_3.zip", "fold_3.zip", "c14d372981c42f611ebc80afad01702b89cad8c1b3089daa31931cf5a4b1a39d"
    ),
}
#: Official number of patches per fold: the way a set of files is identified.
#: Microns per pixel used for PanNuke's 40x patches (nominal 40x scan resolution; not published upstream).
NOMINAL_MPP_40X = 0.25
FOLD_SIZES = {2656: 1, 2523: 2, 2722: 3}
#: Mask channels 0-4, in order; channel 5 is background.
CLASS_CHANNELS = ("neoplastic", "inflammatory", "connective", "dead", "epithelial")
BACKGROUND_CHANNEL = 5
#: The config PanNuke: official protocol (train on fold 1, validate on 2, test on 3).
PROTOCOL_SPLITS = {"train": 1, "validation": 2, "test": 3}
#: types.npy tissue name -> organ (lower-case, as the other sources write it).
TISSUE_ORGAN = {
    "Adrenal_gland": "adrenal gland",
    "Bile-duct": "bile duct",
    "Bladder": "bladder",
    "Breast": "breast",
    "Cervix": "cervix",
    "Colon": "colon",
    "Esophagus": "esophagus",
    "HeadNeck": "head and neck",
    "Kidney": "kidney",
    "Liver": "liver",
    "Lung": "lung",
    "Ovarian": "ovary",
    "Pancreatic": "pancreas",
    "Prostate": "prostate",
    "Skin": "skin",
    "Stomach": "stomach",
    "Testis": "testis",
    "Thyroid": "thyroid",
    "Uterus": "uterus",
}
IMAGE_CHANNELS, MASK_CHANNELS = 3, 6
_FOLD_NAME = re.compile(r"(?:fold|part)[ _-]?(\d)\b|-(\d)$", re.IGNORECASE)

#: Note kinds (the text before the first colon is what build summaries count).
SHARED_ID = "pannuke id in several classes"
MULTI_COMPONENT = "pannuke id with several components"
CLASS_OVERLAP = "pannuke pixels in several classes"
VOID_PIXELS = "pannuke void pixels"
VOID_IMAGE = "pannuke void image"


@dataclass(frozen=True)
class FoldFiles:
    """One fold's three arrays, wherever (Warwick or Kaggle layout) they were found."""

    folder: Path
    images: Path
    types: Path
    masks: Path


def find_fold_files(folder: Path) -> FoldFiles | None:
    """The arrays of one fold directly in ``folder`` (either layout), or None."""
    kaggle = FoldFiles(
        folder, folder / "Images" / "images.npy", folder / "Images" / "types.npy", folder / "Masks" / "masks.npy"
    )
    if kaggle.images.is_file() and kaggle.masks.is_file():
        return kaggle
    images_dir = folder / "images"
    if images_dir.is_dir():
        for sub in sorted(p for p in images_dir.iterdir() if p.is_dir() and (p / "images.npy").is_file()):
            masks = folder / "masks" / sub.name / "masks.npy"
            if masks.is_file():
                return FoldFiles(folder, sub / "images.npy", sub / "types.npy", masks)
    return None


def check_half_fold(folder: Path) -> None:
    """Refuse a fold with one of its two arrays missing (either layout), naming both files.

    Its patches cannot become records and its other array would otherwise be passed over
    without a word ("fold not found"): an error, since a fold is one file, not one item.
    """
    pairs = [(folder / "Images" / "images.npy", folder / "Masks" / "masks.npy")]
    for images_dir, masks_dir in ((folder / "images", folder / "masks"),):
        subs = {p.name for d in (images_dir, masks_dir) if d.is_dir() for p in d.iterdir() if p.is_dir()}
        pairs += [(images_dir / sub / "images.npy", masks_dir / sub / "masks.npy") for sub in sorted(subs)]
    for images, masks in pairs:
        if images.is_file() != masks.is_file():
            present, missing = (images, masks) if images.is_file() else (masks, images)
            raise BadInputError(
                present, f"half a fold: {missing} is missing (a fold needs images.npy and masks.npy); restore it"
            )


def fold_number(files: FoldFiles, length: int) -> int:
    """Fold of a set of arrays: by its length when it is an official fold size, else by name."""
    by_length = FOLD_SIZES.get(length)
    names = [files.images.parent.name, files.folder.name]
    by_name = next((int(m.group(1) or m.group(2)) for n in names for m in [_FOLD_NAME.search(n)] if m), None)
    if by_length is not None:
        if by_name is not None and by_name != by_length:
            logger.warning(
                "PanNuke: %s holds %d patches, which is fold %d (its name suggests fold %d): using fold %d",
                files.folder,
                length,
                by_length,
                by_name,
                by_length,
            )
        return by_length
    if by_name is None or by_name not in (1, 2, 3):
        raise BadInputError(
            files.images,
            f"{length} patches is not an official fold size ({', '.join(map(str, FOLD_SIZES))}) and the folder "
            "name does not say which fold it is (rename the folder 'Fold 1', 'Fold 2' or 'Fold 3')",
        )
    logger.warning(
        "PanNuke: %s holds %d patches (not an official fold size): fold %d by its name", files.folder, length, by_name
    )
    return by_name


def count_components(plane: np.ndarray) -> dict[int, int]:
    """Upstream id -> number of 8-connected components, for every id of one channel."""
    from scipy import ndimage  # imported here: keeps the registry import (and `list`) fast

    labels, upstream = plane, None
    if plane.max() > 65535:
        # find_objects allocates one slot per label value up to the maximum: compact huge ids.
        upstream = np.unique(plane[plane != 0])
        labels = np.where(plane != 0, np.searchsorted(upstream, plane) + 1, 0).astype(np.int32)
    components = {}
    for offset, box in enumerate(ndimage.find_objects(labels)):
        if box is not None:
            _, n = ndimage.label(labels[box] == offset + 1, structure=EIGHT_CONNECTED)
            components[offset + 1 if upstream is None else int(upstream[offset])] = n
    return components


class PanNuke(Source):
    info = SourceInfo(
        name="PanNuke",
        title="PanNuke: 19 tissues, 256x256 patches at 40x, 5 classes; 3 folds",
        homepage="https://warwick.ac.uk/fac/cross_fac/tia/data/pannuke",
        citation=CITATION,
        license="CC-BY-NC-SA-4.0",
        doc="pannuke",
        modality="histology",
        stain="H&E",
        organ="19 tissue types",
        magnification=40.0,
        classes=tuple(ClassInfo(name, channel, name) for channel, name in enumerate(CLASS_CHANNELS)),
        metrics=("bpq", "mpq", "mpq_plus", "pq", "aji", "dice"),
        description=(
            "PanNuke: 256x256 H&E patches at 40x from 19 tissues, nuclei in 5 classes (neoplastic, "
            "inflammatory, connective, dead, epithelial); 3 folds of 2656 / 2523 / 2722 patches."
        ),
    )
    manual_instructions = """
Alternative: the Kaggle mirror (needs a Kaggle login), three data sets:
    andrewmvd/cancer-inst-segmentation-and-classification      (Part 1)
    andrewmvd/cancer-instance-segmentation-and-classification-2 (Part 2)
    andrewmvd/cancer-instance-segmentation-and-classification-3 (Part 3)
e.g. `kaggle datasets download -d <name> --unzip -p <data_dir>/<name>`, one folder per part
(Parts 2 and 3 unpack Images/ and Masks/ at their top level). Folds are recognised by their
number of patches, whatever the folder names. Each unpacked fold takes about 12.5 GB.
"""
    expected_layout = """
    <data_dir>/Fold <N>/images/fold<N>/{images,types}.npy + Fold <N>/masks/fold<N>/masks.npy   (Warwick)
    <data_dir>/<folder>/Images/{images,types}.npy + <folder>/Masks/masks.npy                    (Kaggle)
    """
    #: fold: 1 | 2 | 3, or "protocol" (train fold 1, validation fold 2, test fold 3)
    default_options = {"fold": "protocol"}

    def __init__(self, **options):
        super().__init__(**options)
        fold = self.options["fold"]
        if fold == "protocol":
            self.splits = dict(PROTOCOL_SPLITS)
        elif fold in (1, 2, 3):
            self.splits = {"train": fold}
        else:
            raise ValueError(f"{self.name}: fold must be 1, 2, 3 or 'protocol', got {fold!r}")
        # Only the folds this config needs are downloaded.
        self.downloads = tuple(FOLD_DOWNLOADS[f] for f in sorted(set(self.splits.values())))

    def find_root(self, data_dir: Path) -> Path | None:
        folders = list(search_dirs(data_dir))
        for folder in folders:
            check_half_fold(folder)  # name the missing array rather than "layout not found"
        return data_dir if any(find_fold_files(f) for f in folders) else None

    def folds(self, root: Path) -> dict[int, tuple[FoldFiles, NpyArray, NpyArray]]:
        """Fold number -> (files, images array, masks array) for every fold found under root."""
        found: dict[int, tuple[FoldFiles, NpyArray, NpyArray]] = {}
        for folder in search_dirs(root):
            check_half_fold(folder)
            files = find_fold_files(folder)
            if files is None:
                continue
            images, masks = NpyArray.open(files.images), NpyArray.open(files.masks)
            if len(images.shape) != 4 or images.shape[3] != IMAGE_CHANNELS:
                raise BadInputError(files.images, f"shape {images.shape}, expected (n, h, w, {IMAGE_CHANNELS})")
            if masks.shape[:3] != images.shape[:3] or len(masks.shape) != 4 or masks.shape[3] != MASK_CHANNELS:
                raise BadInputError(
                    files.masks,
                    f"shape {masks.shape} does not match images {images.shape[:3]} x {MASK_CHANNELS} channels",
                )
            fold = fold_number(files, len(images))
            if fold in found:
                logger.warning(
                    "PanNuke: fold %d found twice; using %s, ignoring %s", fold, found[fold][0].folder, folder
                )
                continue
            found[fold] = (files, images, masks)
        return found

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        available = self.folds(root)
        missing = sorted(set(self.splits.values()) - set(available))
        if missing:
            raise MissingDataError(
                self.missing_message(root, f"fold(s) {missing} not found; found {sorted(available) or 'none'}")
            )
        return {split: self._fold_items(root, fold, *available[fold]) for split, fold in self.splits.items()}

    @staticmethod
    def _fold_items(root: Path, fold: int, files: FoldFiles, images: NpyArray, masks: NpyArray) -> list[Item]:
        tissues = read_types(files.types, len(images))
        relative = relative_posix(files.images, root)
        return [
            Item(
                image_id=f"fold{fold}_{index:04d}",
                files={"image": str(files.images), "masks": str(files.masks)},
                attrs={
                    "fold": fold,
                    "index": index,
                    "tissue": tissues[index],
                    "images": images,
                    "masks": masks,
                    "upstream_path": f"{relative}[{index}]",
                },
            )
            for index in range(len(images))
        ]

    def read(self, item: Item) -> Sample:
        index = item.attrs["index"]
        images: NpyArray = item.attrs["images"]
        masks_array: NpyArray = item.attrs["masks"]
        pixels = exact_cast(images.read(index), np.uint8, images.path, f"image {index}")
        ids = exact_cast(masks_array.read(index), np.int32, masks_array.path, f"mask {index}")
        objects, categories, notes = objects_from_channels(item.image_id, ids)
        void = (ids[..., : len(CLASS_CHANNELS)] == 0).all(axis=-1) & (ids[..., BACKGROUND_CHANNEL] == 0)
        n_void = int(void.sum())
        annotation = "complete"
        if n_void == void.size:
            # Neither a nucleus nor background anywhere: the patch carries no labels at all.
            annotation = "none"
            notes.append(
                CountedNote(VOID_IMAGE, 1, f"{item.image_id} has neither nuclei nor background (annotation=none)")
            )
        elif n_void:
            notes.append(
                CountedNote(VOID_PIXELS, 1, f"{item.image_id} {n_void} px with neither a class nor background")
            )
        for note in notes:
            logger.debug("%s", note)
        tissue = item.attrs["tissue"]
        metadata = he_metadata(
            self,
            organ=TISSUE_ORGAN.get(tissue),
            tissue=tissue,
            magnification=40.0,
            # Upstream publishes the magnification only; 0.25 um/px is the project's 40x
            # convention (as for BCSS / Amgad 2019), so --target-mpp views work.
            mpp=NOMINAL_MPP_40X,
            annotation=annotation,
            collection=f"fold{item.attrs['fold']}",
            upstream_path=item.attrs["upstream_path"],
        )
        return Sample(
            image_id=item.image_id, image=pixels, objects=objects, categories=categories, metadata=metadata, notes=notes
        )


def read_types(path: Path, length: int) -> list[str]:
    """Tissue name per patch from ``types.npy`` (small: loaded whole, allow_pickle=False)."""
    try:
        types = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BadInputError(path, "file not found (tissue types of the fold)") from None
    except (ValueError, OSError, EOFError) as error:
        raise BadInputError(path, f"not a readable .npy array of strings (allow_pickle=False): {error}") from None
    if types.ndim != 1 or types.dtype.kind not in "US":
        raise BadInputError(path, f"expected a 1-D string array, got {types.dtype} {types.shape}")
    if len(types) != length:
        raise BadInputError(path, f"{len(types)} tissue names for {length} patches")
    return [str(t) if types.dtype.kind == "U" else t.decode("ascii") for t in types]


def objects_from_channels(image_id: str, ids: np.ndarray) -> tuple[list[dict], dict[int, str], list[str]]:
    """RLE objects, id -> class, and anomaly notes from one (h, w, 6) instance-id mask."""
    objects: list[dict] = []
    categories: dict[int, str] = {}
    notes: list[str] = []
    channels_of_id: dict[int, list[str]] = {}
    for channel, category in enumerate(CLASS_CHANNELS):
        plane = ids[..., channel]
        if not plane.any():
            continue
        for upstream_id, n in count_components(plane).items():
            channels_of_id.setdefault(upstream_id, []).append(category)
            if n > 1:
                notes.append(
                    CountedNote(
                        MULTI_COMPONENT, 1, f"{image_id} {category} id {upstream_id} has {n} components (one object)"
                    )
                )
        for obj in rle.encode_label_map(plane):
            obj["id"] = len(objects) + 1
            categories[obj["id"]] = category
            objects.append(obj)
    for upstream_id, names in sorted(channels_of_id.items()):
        if len(names) > 1:
            notes.append(
                CountedNote(SHARED_ID, 1, f"{image_id} id {upstream_id} in {', '.join(names)} (one object per class)")
            )
    overlap = int(((ids[..., : len(CLASS_CHANNELS)] != 0).sum(axis=-1) > 1).sum())
    if overlap:
        notes.append(
            CountedNote(CLASS_OVERLAP, 1, f"{image_id} {overlap} px in more than one class channel (kept in each)")
        )
    return objects, categories, notes


CONFIGS = (
    ConfigSpec(
        "PanNuke_fold1", PanNuke, {"fold": 1}, "PanNuke fold 1 (2656 patches), split train.", subset_of="PanNuke"
    ),
    ConfigSpec(
        "PanNuke_fold2", PanNuke, {"fold": 2}, "PanNuke fold 2 (2523 patches), split train.", subset_of="PanNuke"
    ),
    ConfigSpec(
        "PanNuke_fold3", PanNuke, {"fold": 3}, "PanNuke fold 3 (2722 patches), split train.", subset_of="PanNuke"
    ),
    ConfigSpec(
        "PanNuke",
        PanNuke,
        {"fold": "protocol"},
        "PanNuke, official protocol: train = fold 1, validation = fold 2, test = fold 3.",
        splits=("train", "validation", "test"),
    ),
)
