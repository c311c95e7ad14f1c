"""MoNuSAC 2020 (Verma et al. 2021): H&E sub-images of 4 organs, Aperio XML polygons of 4 cell types.

Raw layout (the two challenge zips, unpacked side by side; the test folder name has spaces)::

    MoNuSAC_images_and_annotations/<slide>/<slide>_<n>.tif|.svs|.xml          train
    MoNuSAC Testing Data and Annotations/<slide>/<slide>_<n>.tif|.svs|.xml    test

``<slide>`` is a TCGA slide barcode (``TCGA-55-1594-01Z-00-DX1``), its first 12 characters
the patient; ``<n>`` is written ``1``, ``3``, ``001``... depending on the slide. Each XML
holds one ``Annotation`` per cell type, the type in ``Attributes/Attribute@Name``
(``Epithelial``, ``Lymphocyte``, ``Neutrophil``, ``Macrophage``; the test set adds
``Ambiguous`` regions, areas excluded from scoring). The data hold names, not codes.

Records: the ``.tif`` (its constant alpha dropped), one object per ``Region`` in document
order (ids 1..N), each polygon rasterised on its own (overlaps kept; rule in
``formats/polygons.py``), category by the class NAME (case and spacing ignored; an unknown
name is an error naming the file and the name). ``Ambiguous`` regions are ``iscrowd``
objects of category ``ambiguous``. A sub-image with only a ``.svs`` (some test ones) is a
counted skip. Patients TCGA-MP-A4T7 and TCGA-A2-A0ES have images in BOTH splits:
``metadata.collection = "patient_in_both_splits"`` marks them (leave them out of one side
for a patient-disjoint evaluation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import rle
from ..base import (
    BadInputError,
    ConfigSpec,
    CountedNote,
    Item,
    Sample,
    SkipItem,
    Source,
    is_junk,
    relative_posix,
    search_dirs,
    skipped_item,
    sorted_dirs,
    sorted_files,
)
from ..catalog import ClassInfo, SourceInfo, ambiguous
from ..formats.aperio import AperioRegion, parse_aperio
from ..formats.histology import he_metadata
from ..formats.naming import natural_key
from ..formats.pixels import without_constant_alpha
from ..formats.polygons import crop_runs, rasterize_polygon
from ..raster import read_image

CITATION = """@article{verma2021monusac2020,
  title   = {{MoNuSAC2020}: A Multi-Organ Nuclei Segmentation and Classification Challenge},
  author  = {Verma, Ruchika and Kumar, Neeraj and Patil, Abhijeet and Kurian, Nikhil Cherian and
             Rane, Swapnil and Graham, Simon and Vu, Quoc Dang and Zwager, Mieke and Raza, Shan E Ahmed and
             Rajpoot, Nasir and others},
  journal = {IEEE Transactions on Medical Imaging},
  volume  = {40},
  number  = {12},
  pages   = {3413--3423},
  year    = {2021},
  doi     = {10.1109/TMI.2021.3085712}
}"""

TRAIN_DIR = "MoNuSAC_images_and_annotations"
TEST_DIR = "MoNuSAC Testing Data and Annotations"
SPLIT_DIRS = {TRAIN_DIR: "train", TEST_DIR: "test"}

#: The classes, by their name in the XML (``Attribute Name``): the four cell types and the
#: test set's ambiguous areas.
CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("epithelial", "Epithelial", "epithelial"),
    ClassInfo("lymphocyte", "Lymphocyte", "inflammatory"),
    ClassInfo("neutrophil", "Neutrophil", "inflammatory"),
    ClassInfo("macrophage", "Macrophage", "inflammatory"),
    ambiguous("Ambiguous", "ambiguous areas (don't care)"),
)
#: Class name as written in the XML (lower case, single spaces) -> collection category.
CLASS_CATEGORIES: dict[str, str] = {str(c.upstream).lower(): c.name for c in CLASSES}
#: Regions of these classes are don't-care areas (iscrowd), never nuclei.
CROWD_CLASSES = frozenset(c.name for c in CLASSES if c.crowd)

#: Patients with sub-images in both the train and the test set (torch-em ORGAN_SPLITS, from
#: the challenge's data description).
PATIENTS_IN_BOTH_SPLITS = frozenset({"TCGA-MP-A4T7", "TCGA-A2-A0ES"})
BOTH_SPLITS = "patient_in_both_splits"

#: Patient -> organ, from the challenge's data description as listed by torch-em (ORGAN_SPLITS).
PATIENT_ORGAN: dict[str, str] = {
    **dict.fromkeys(
        "55-1594 69-7760 69-A59K 73-4668 78-7220 86-7713 86-8672 L4-A4E5 MP-A4SY MP-A4T7 "
        "49-6743 50-6591 55-7570 55-7573 73-4662 78-7152".split(),
        "lung",
    ),
    **dict.fromkeys(
        "5P-A9K0 B9-A44B B9-A8YI DW-7841 EV-5903 F9-A97G G7-A8LD MH-A560 P4-AAVK SX-A7SR UZ-A9PO UZ-A9PU "
        "2Z-A9JG 2Z-A9JN DW-7838 DW-7963 F9-A8NY IZ-A6M9 MH-A55W".split(),
        "kidney",
    ),
    **dict.fromkeys(
        "A2-A0CV A2-A0ES B6-A0WZ BH-A18T D8-A1X5 E2-A154 E9-A22B E9-A22G EW-A6SD S3-AA11 "
        "A2-A04X D8-A3Z6 E2-A108 EW-A6SB".split(),
        "breast",
    ),
    **dict.fromkeys(
        "EJ-5495 EJ-5505 EJ-5517 G9-6342 G9-6499 J4-A67Q J4-A67T KK-A59X KK-A6E0 KK-A7AW V1-A8WL V1-A9O9 "
        "X4-A8KQ YL-A9WY G9-6356 G9-6367 VP-A87E VP-A87H X4-A8KS YL-A9WL".split(),
        "prostate",
    ),
}
PATIENT_ORGAN = {f"TCGA-{code}": organ for code, organ in PATIENT_ORGAN.items()}

MAGNIFICATION = 40.0  # sub-images of 40x TCGA slides (challenge description, EVA docs: 0.25 um/px)


def category_of(label: str | None, region: AperioRegion, path: Path) -> str:
    """Collection category of a Region's class name; unknown names are errors naming file and name."""
    key = " ".join((label or "").split()).lower()
    if key not in CLASS_CATEGORIES:
        known = ", ".join(name.capitalize() for name in CLASS_CATEGORIES)
        raise BadInputError(
            path, f"unknown class name {label!r} (Annotation {region.annotation}); known: {known}"
        )
    return CLASS_CATEGORIES[key]


def polygon_objects(regions: list[AperioRegion], height: int, width: int, path: Path, image_id: str) -> dict[str, Any]:
    """Sample fields of the Regions: one object per polygon (ids 1..N in document order)."""
    starts, lengths, categories, crowd, notes = [], [], {}, {}, []
    for region in regions:
        category = category_of(region.label, region, path)  # checked even for an empty region
        placed = rasterize_polygon(region.vertices[:, 0], region.vertices[:, 1], height, width)
        if placed is None:
            notes.append(
                CountedNote(
                    "empty region skipped", 1, f"{image_id} Region Id={region.region_id} covers no pixel centre"
                )
            )
            continue
        object_starts, object_lengths = crop_runs(*placed, height)
        starts.append(object_starts)
        lengths.append(object_lengths)
        object_id = len(starts)
        categories[object_id] = category
        if category in CROWD_CLASSES:
            crowd[object_id] = True
    objects = rle.encode_runs(starts, lengths, height, width)
    return {"objects": objects, "categories": categories, "iscrowd": crowd, "notes": notes}


class MoNuSAC(Source):
    info = SourceInfo(
        name="MoNuSAC",
        title="MoNuSAC 2020: H&E sub-images (lung, kidney, breast, prostate), 4 cell types, ambiguous areas as iscrowd (manual download)",
        homepage="https://monusac-2020.grand-challenge.org/Data/",
        citation=CITATION,
        license="CC-BY-NC-SA-4.0",
        doc="monusac",
        modality="histology",
        stain="H&E",
        organ="lung, kidney, breast, prostate",
        magnification=40.0,
        classes=CLASSES,
        metrics=("pq", "mpq", "aji", "dice"),
        description=(
            "MoNuSAC 2020 (Verma et al.): H&E sub-images of 40x TCGA slides (lung, kidney, breast, prostate), "
            "polygons of epithelial cells, lymphocytes, neutrophils and macrophages (overlaps kept); "
            "ambiguous areas of the test set as iscrowd objects. Official train (209) / test (85) split."
        ),
    )
    manual_instructions = """
MoNuSAC is on Google Drive (no direct download). From https://monusac-2020.grand-challenge.org/Data/
download by hand:
    training data  (Drive id 1lxMZaAPSpEHLSxGA9KKMt_r-4S8dwLhq,
        sha256 5b7cbeb34817a8f880d3fddc28391e48d3329a91bf3adcbd131ea149a725cd92 as recorded by torch-em)
    testing data   (Drive id 1G54vsOdxWY1hG7dzmkeK3r0xz9s-heyQ,
        sha256 bcbc38f6bf8b149230c90c29f3428cc7b2b76f8acd7766ce9fc908fc896c2674 as recorded by torch-em)
unzip both into one folder, so that it holds "MoNuSAC_images_and_annotations/" and
"MoNuSAC Testing Data and Annotations/", and pass that folder with --data-dir.
"""
    expected_layout = f"""
    <data_dir>/{TRAIN_DIR}/<TCGA slide>/<TCGA slide>_<n>.tif + .xml   (train)
    <data_dir>/{TEST_DIR}/<TCGA slide>/<TCGA slide>_<n>.tif + .xml   (test)
    """
    known_issues = (
        (
            "Patients TCGA-MP-A4T7 and TCGA-A2-A0ES have sub-images in both the train and the test set.",
            "Their records carry metadata.collection = 'patient_in_both_splits'; drop them from one side for "
            "a patient-disjoint evaluation.",
        ),
        (
            "Some test sub-images exist only as .svs (no .tif was exported).",
            "Counted skips naming the .svs; convert it to .tif (OpenSlide level 0) to include it.",
        ),
        (
            "The .tif images are RGBA (written from OpenSlide's RGBA output).",
            "A constant alpha channel is dropped (RGB stored); a non-constant one is kept with a note.",
        ),
        (
            "Classes are stored as names in the XML, not codes; peers disagree on codes (Neutrophil 3 or 4).",
            "Classes are mapped by name to the collection's categories; an unknown name is an error.",
        ),
        (
            "Polygons overlap; the challenge's own label maps paint them in order (later wins).",
            "Every polygon is its own object with its own RLE (overlaps kept).",
        ),
        (
            "Ambiguous regions (test set) mark areas excluded from scoring.",
            "Kept as iscrowd objects of category 'ambiguous', never counted as nuclei.",
        ),
        (
            "MoNuSeg's training slide TCGA-G9-6356-01Z-00-DX1 is also a MoNuSAC test slide.",
            "Not declared as an overlap (the regions are not known to coincide); see docs/sources/monusac.md.",
        ),
    )

    def find_root(self, data_dir: Path) -> Path | None:
        for folder in search_dirs(data_dir):
            if any((folder / name).is_dir() for name in SPLIT_DIRS):
                return folder
        return None

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        splits: dict[str, list[Item]] = {}
        for folder_name, split in SPLIT_DIRS.items():
            if (root / folder_name).is_dir():
                splits[split] = [
                    item
                    for slide_dir in sorted_dirs(root / folder_name)
                    if not is_junk(slide_dir)
                    for item in self._slide_items(root, slide_dir, split)
                ]
        return splits

    @staticmethod
    def _slide_items(root: Path, slide_dir: Path, split: str) -> list[Item]:
        """Items of one slide folder: one per sub-image stem seen as .tif, .svs or .xml."""
        by_stem: dict[str, dict[str, Path]] = {}
        for path in sorted_files(slide_dir, [".tif", ".tiff", ".svs", ".xml"]):
            if not is_junk(path):
                kind = "image" if path.suffix.lower() in (".tif", ".tiff") else path.suffix.lower()[1:]
                by_stem.setdefault(path.stem, {})[kind] = path
        items = []
        for stem in sorted(by_stem, key=natural_key):
            files = by_stem[stem]
            if "image" not in files:  # counted, never silent
                what = f"only {files['svs'].name} (no .tif); convert it to .tif to include it" if "svs" in files else (
                    f"annotation {files['xml'].name} has no image (no record made)"
                )
                items.append(skipped_item(stem, f"{slide_dir.name}/{what}"))
                continue
            items.append(
                Item(
                    image_id=stem,
                    files={"image": str(files["image"]), "xml": str(files["xml"]) if "xml" in files else None},
                    attrs={"root": str(root), "split": split, "slide": slide_dir.name},
                )
            )
        return items

    def read(self, item: Item) -> Sample:
        image_path = Path(item.files["image"])
        if item.files["xml"] is None:
            raise SkipItem(item.image_id, f"no annotation file {image_path.stem}.xml next to {image_path.name}")
        xml_path = Path(item.files["xml"])
        pixels, notes = without_constant_alpha(read_image(image_path), item.image_id)
        mpp, regions = parse_aperio(xml_path)
        height, width = pixels.shape[:2]
        instances = polygon_objects(regions, height, width, xml_path, item.image_id)
        slide = item.attrs["slide"]
        patient = slide[:12] if slide.startswith("TCGA-") else None
        metadata = he_metadata(
            self,
            organ=PATIENT_ORGAN.get(patient),
            magnification=MAGNIFICATION,
            mpp=mpp,
            slide_id=slide,
            patient_id=patient,
            annotation="complete",
            collection=BOTH_SPLITS if patient in PATIENTS_IN_BOTH_SPLITS else None,
            upstream_path=relative_posix(image_path, Path(item.attrs["root"])),
        )
        notes += instances.pop("notes")  # each note names the image already
        return Sample(image_id=item.image_id, image=pixels, metadata=metadata, notes=notes, **instances)


CONFIGS = (
    ConfigSpec(
        "MoNuSAC",
        MoNuSAC,
        {},
        "MoNuSAC 2020: H&E sub-images of 4 organs, 4 cell types as polygons (overlaps kept), ambiguous areas "
        "as iscrowd; official train/test (two patients in both, flagged).",
        splits=("train", "test"),
    ),
)
