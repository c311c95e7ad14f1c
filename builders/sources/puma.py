"""PUMA (Schuiveling et al. 2025): melanoma H&E ROIs, nucleus polygons of 10 types, tissue polygons.

Raw layout (the three zips of Zenodo record 15050523, unpacked side by side; each zip holds
its own top folder)::

    01_training_dataset_tif_ROIs/training_set_<primary|metastatic>_roi_<NNN>.tif   1024x1024, 4 channels
    01_training_dataset_geojson_nuclei/<same stem>_nuclei.geojson                   nucleus polygons
    01_training_dataset_geojson_tissue/<same stem>_tissue.geojson                   tissue polygons

Upstream quirks: one ROI (sample 103; by the record's version notes most likely
``training_set_metastatic_roi_103``, re-added in v5) is ``.tiff``, not ``.tif`` (torch-em ``puma.py``);
the 4th image channel carries nothing (torch-em drops it unchecked; we drop it only when it
is constant, else keep RGBA with a counted note).

GeoJSON: a FeatureCollection; each Feature's class is ``properties.classification.name``
(a dict, or the same dict as a JSON string as some writers flatten it); geometry Polygon
or MultiPolygon. One feature = one object, even a MultiPolygon (its parts are one nucleus);
holes are respected. The data hold class NAMES (``nuclei_tumor`` ...), no codes.

Coordinate convention (docs/sources/puma.md): the annotations were drawn and exported in
QuPath (Zenodo record text), whose shape coordinates are pixel units with the origin at the
top-left CORNER of the image (QuPath docs, "Units and origin"): pixel (row r, column c)
spans [c, c+1) x [r, r+1) and its centre is (c + 0.5, r + 0.5). Option ``vertices``:

* ``corner`` (default, QuPath's convention): a pixel belongs to a polygon when its centre
  (c + 0.5, r + 0.5) does; implemented by moving every vertex by -0.5 and applying the rule
  of ``formats/polygons.py`` (closed polygon, non-zero winding, pixel centres on integers);
* ``centre`` (the MoNuSeg/MoNuSAC convention of ``formats/polygons.py``): vertex (x, y) is
  the centre of pixel column x, row y, used as it is. Exported as ``PUMA_centre_vertices``
  / ``PUMA_tissue_centre_vertices`` so it never replaces the default export.

Neither rescales: torch-em's ``from_bounds(total_bounds)`` stretching is NOT reproduced (it
maps the annotations' own extent onto 1024 x 1024, which moves every nucleus unless the
polygons touch all four ROI borders), nor the unexplained -1 shift of another peer.
Features with vertices outside the frame of the chosen convention ([0, w] x [0, h] for
corners, [0, w-1] x [0, h-1] for centres) are counted in a note, so a real build shows
which convention the files follow.

Two configs:

* ``PUMA`` (instance): one object per nucleus feature, in file order, category = the
  class name mapped to the shared vocabulary (:data:`NUCLEUS_CLASSES`); an unknown name is
  an error naming the file, the feature and the name.
* ``PUMA_tissue`` (semantic): a class-code mask painted from the tissue features in file
  order (a later feature wins where two overlap; overlapping pixels are counted in a note).
  Code = index in :data:`TISSUE_CLASSES`; 0 = covered by no tissue polygon = don't care.
  Codes 1-5 equal the challenge's tissue codes (stroma 1, blood vessel 2, tumour 3,
  epidermis 4, necrosis 5: ``evaluate_tissue.py`` of tueimage/PUMA-challenge-eval-track2);
  ``tissue_white_background`` keeps a code of its own (6) instead of the challenge's 0.

No official split in the training release: one split, ``train``. The record says one ROI
was taken per specimen (103 primary, 102 metastatic); whether two specimens can come from
one patient is not stated and names carry no patient id, so no per-ROI split is offered
(it could leak a patient across splits).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    is_junk,
    option_choice,
    relative_posix,
    search_dirs,
    skipped_item,
    sorted_files,
)
from ..catalog import ClassInfo, SourceInfo, ambiguous
from ..formats.histology import he_metadata
from ..formats.naming import natural_key
from ..formats.pixels import without_constant_alpha
from ..formats.polygons import crop_runs, rasterize_polygon
from ..raster import read_image

CITATION = """@article{schuiveling2025puma,
  title   = {A novel dataset for nuclei and tissue segmentation in melanoma with baseline nuclei
             segmentation and tissue segmentation benchmarks},
  author  = {Schuiveling, Mark and Liu, Hong and Eek, Daniel and Breimer, Gerben E. and
             Suijkerbuijk, Karijn P. M. and Blokx, Willeke A. M. and Veta, Mitko},
  journal = {GigaScience},
  volume  = {14},
  pages   = {giaf011},
  year    = {2025},
  doi     = {10.1093/gigascience/giaf011}
}"""
CITATION_KEY = "schuiveling2025puma"

RECORD = "https://zenodo.org/records/15050523"
IMAGES_DIR = "01_training_dataset_tif_ROIs"
NUCLEI_DIR = "01_training_dataset_geojson_nuclei"
TISSUE_DIR = "01_training_dataset_geojson_tissue"
IMAGE_SUFFIXES = (".tif", ".tiff")

#: Zenodo record 15050523 (torch-em ``puma.py`` URL / CHECKSUM tables, HEAD 6f71247c).
ROIS_DOWNLOAD = Download(
    url=f"{RECORD}/files/{IMAGES_DIR}.zip",
    filename=f"{IMAGES_DIR}.zip",
    sha256="af48b879f8ff7e74b84a7114924881606f13f108aa0f9bcc21d3593b717ee022",
)
NUCLEI_DOWNLOAD = Download(
    url=f"{RECORD}/files/{NUCLEI_DIR}.zip",
    filename=f"{NUCLEI_DIR}.zip",
    sha256="eda271225900d6de0759e0281f3731a570e09f2adab58bd36425b9d2dfad91a0",
)
TISSUE_DOWNLOAD = Download(
    url=f"{RECORD}/files/{TISSUE_DIR}.zip",
    filename=f"{TISSUE_DIR}.zip",
    sha256="fc2835135cc28324f52eac131327f0f12c554c0b1f334a108bf4b65e0f18c42b",
)

#: Zenodo record 15050523 "Licensed CC-ZERO" (a stored copy of the record text; a public script
#: also checks the record API's licence id "cc-zero"): docs/sources/puma.md.
LICENSE = "CC0-1.0"
LICENSE_NOTE = (
    "CC0 as stated on Zenodo record 15050523 (read from a stored copy of the record text and a public "
    "script checking the record's API licence id 'cc-zero'); not re-read on zenodo.org."
)

#: Nucleus classes in torch-em's order (NUCLEI_CLASS_DICT codes 1-10; the data hold names only).
NUCLEUS_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("connective", "nuclei_stroma", "connective", description="stromal cell (fibroblast-like)"),
    ClassInfo("neoplastic", "nuclei_tumor", "neoplastic", description="melanoma (tumour) cell"),
    ClassInfo("plasma", "nuclei_plasma_cell", "inflammatory", description="plasma cell"),
    ClassInfo("macrophage", "nuclei_histiocyte", "inflammatory", description="histiocyte (tissue macrophage)"),
    ClassInfo("lymphocyte", "nuclei_lymphocyte", "inflammatory"),
    ClassInfo("melanophage", "nuclei_melanophage", "inflammatory", description="melanin-laden macrophage"),
    ClassInfo("neutrophil", "nuclei_neutrophil", "inflammatory"),
    ClassInfo("endothelial", "nuclei_endothelium", "connective", description="endothelial cell"),
    ClassInfo("epithelial", "nuclei_epithelium", "epithelial", description="epithelial cell (e.g. epidermis)"),
    ClassInfo("dead", "nuclei_apoptosis", "dead", description="apoptotic cell"),
)

#: Tissue classes: code = index; 0 = no tissue polygon (don't care). Codes 1-5 = challenge codes.
TISSUE_CLASSES: tuple[ClassInfo, ...] = (
    ambiguous(None, "pixel covered by no tissue polygon: don't care"),
    ClassInfo("tissue_stroma", "tissue_stroma"),
    ClassInfo("tissue_blood_vessel", "tissue_blood_vessel"),
    ClassInfo("tissue_tumor", "tissue_tumor"),
    ClassInfo("tissue_epidermis", "tissue_epidermis"),
    ClassInfo("tissue_necrosis", "tissue_necrosis"),
    ClassInfo("tissue_white_background", "tissue_white_background", description="slide background (no tissue)"),
)

#: Option ``vertices``: where integer vertex coordinates lie on the pixel grid -> the shift
#: that brings them onto the pixel-centre grid of ``formats/polygons.py``.
VERTEX_OFFSETS = {"corner": 0.5, "centre": 0.0}

ROI_NAME = re.compile(r"(?P<kind>primary|metastatic)", re.IGNORECASE)
#: Melanoma type in the ROI name -> metadata.tissue; organ only where the name implies it.
TISSUE_OF_KIND = {"primary": "primary melanoma", "metastatic": "metastatic melanoma"}
ORGAN_OF_KIND = {"primary": "skin", "metastatic": None}  # metastasis sites are not given upstream

#: Zenodo record text: "scanned using a Hamamatsu scanner at 40x magnification (0.23 um per pixel)"
MAGNIFICATION = 40.0
MPP = 0.23


# --------------------------------------------------------------------------- GeoJSON


@dataclass(frozen=True)
class Feature:
    """One GeoJSON feature: its class name and its polygons as (exterior, holes) rings."""

    index: int  # 0-based position in the file's feature list (for messages)
    name: str
    polygons: tuple[tuple[np.ndarray, tuple[np.ndarray, ...]], ...]


def read_features(path: Path) -> list[Feature]:
    """Every feature of a PUMA GeoJSON file, in file order; damage is a BadInputError naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise BadInputError(path, "annotation file not found") from None
    except UnicodeDecodeError as error:
        raise BadInputError(path, f"not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise BadInputError(path, f"not valid JSON (empty, truncated or an HTML page?): {error}") from None
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
    elif isinstance(document, list):  # QuPath can export a bare list of features
        features = document
    else:
        kind = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise BadInputError(path, f"expected a GeoJSON FeatureCollection, found {kind!r}")
    if not isinstance(features, list):
        raise BadInputError(path, "FeatureCollection has no 'features' list")
    return [_feature(path, index, feature) for index, feature in enumerate(features)]


def _feature(path: Path, index: int, feature: Any) -> Feature:
    where = f"feature {index}"
    if not isinstance(feature, dict) or feature.get("type", "Feature") != "Feature":
        raise BadInputError(path, f"{where} is not a GeoJSON Feature")
    return Feature(index, _class_name(path, where, feature.get("properties")), _polygons(path, where, feature))


def _class_name(path: Path, where: str, properties: Any) -> str:
    classification = properties.get("classification") if isinstance(properties, dict) else None
    if isinstance(classification, str):  # flattened by some writers (geopandas/pyogrio) into JSON text
        try:
            classification = json.loads(classification)
        except json.JSONDecodeError:
            raise BadInputError(path, f"{where}: properties.classification is neither an object nor JSON") from None
    name = classification.get("name") if isinstance(classification, dict) else None
    if not isinstance(name, str) or not name:
        raise BadInputError(path, f"{where} has no properties.classification.name (the class)")
    return name


def _polygons(path: Path, where: str, feature: dict) -> tuple[tuple[np.ndarray, tuple[np.ndarray, ...]], ...]:
    geometry = feature.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind == "Polygon":
        parts = [coordinates]
    elif kind == "MultiPolygon":
        parts = coordinates
    else:
        raise BadInputError(path, f"{where}: geometry type {kind!r} is not Polygon or MultiPolygon")
    if not isinstance(parts, list) or not parts:
        raise BadInputError(path, f"{where}: {kind} has no coordinates")
    polygons = []
    for part in parts:
        if not isinstance(part, list) or not part:
            raise BadInputError(path, f"{where}: a polygon of the {kind} has no rings")
        rings = [_ring(path, where, ring) for ring in part]
        polygons.append((rings[0], tuple(rings[1:])))
    return tuple(polygons)


def _ring(path: Path, where: str, ring: Any) -> np.ndarray:
    try:
        array = np.array([(float(p[0]), float(p[1])) for p in ring], dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError, IndexError, KeyError):
        raise BadInputError(path, f"{where}: a ring has a position that is not [x, y] numbers") from None
    if len(array) < 3 or not np.isfinite(array).all():
        raise BadInputError(path, f"{where}: a ring has fewer than 3 positions or non-finite coordinates")
    return array


# --------------------------------------------------------------------------- rasterising


def _edge_pixels(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of every pixel centre lying exactly on an edge of the closed ring.

    The same exact float64 arithmetic as ``formats.polygons`` uses to include boundary
    pixels, written here because that module keeps it private: a hole's own edge belongs
    to the nucleus (a polygon with holes is a closed set), so only the hole's strict
    interior is removed.
    """
    x0, y0, x1, y1 = xs, ys, np.roll(xs, -1), np.roll(ys, -1)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    slanted = y0 != y1
    for ax, ay, bx, by in zip(x0[slanted], y0[slanted], x1[slanted], y1[slanted]):
        row = np.arange(np.ceil(min(ay, by)), np.floor(max(ay, by)) + 1, dtype=np.float64)
        x = ax + (row - ay) * (bx - ax) / (by - ay)
        on_grid = x == np.round(x)
        rows.append(row[on_grid].astype(np.int64))
        cols.append(x[on_grid].astype(np.int64))
    flat = ~slanted & (y0 == np.round(y0))
    for ax, bx, y in zip(np.minimum(x0[flat], x1[flat]), np.maximum(x0[flat], x1[flat]), y0[flat]):
        col = np.arange(np.ceil(ax), np.floor(bx) + 1, dtype=np.int64)
        rows.append(np.full(len(col), int(y), dtype=np.int64))
        cols.append(col)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def feature_crop(feature: Feature, height: int, width: int, offset: float = 0.0) -> tuple[int, int, np.ndarray] | None:
    """Pixels of a feature as ``(top, left, crop)``: union of its polygons, each minus its holes.

    Vertices are moved by ``-offset`` first (0.5 for QuPath's corner convention). A pixel
    then belongs to a polygon when its centre lies in the exterior ring (closed, rule of
    ``formats/polygons.py``) and not strictly inside any hole. None when no pixel is covered.
    """
    pieces = []
    for exterior, holes in feature.polygons:
        exterior, holes = exterior - offset, tuple(hole - offset for hole in holes)
        placed = rasterize_polygon(exterior[:, 0], exterior[:, 1], height, width)
        if placed is None:
            continue
        top, left, crop = placed
        crop = crop.copy()
        for hole in holes:
            cut = rasterize_polygon(hole[:, 0], hole[:, 1], height, width)
            if cut is None:
                continue
            hole_top, hole_left, hole_crop = cut
            strict = hole_crop.copy()
            rows, cols = _edge_pixels(hole[:, 0], hole[:, 1])
            rows, cols = rows - hole_top, cols - hole_left
            inside = (rows >= 0) & (rows < strict.shape[0]) & (cols >= 0) & (cols < strict.shape[1])
            strict[rows[inside], cols[inside]] = False
            # remove the hole's strict interior where it overlaps this polygon's crop
            r0, c0 = max(top, hole_top), max(left, hole_left)
            r1 = min(top + crop.shape[0], hole_top + strict.shape[0])
            c1 = min(left + crop.shape[1], hole_left + strict.shape[1])
            if r0 < r1 and c0 < c1:
                crop[r0 - top : r1 - top, c0 - left : c1 - left] &= ~strict[
                    r0 - hole_top : r1 - hole_top, c0 - hole_left : c1 - hole_left
                ]
        if crop.any():
            pieces.append((top, left, crop))
    if not pieces:
        return None
    if len(pieces) == 1:
        return pieces[0]
    top = min(p[0] for p in pieces)
    left = min(p[1] for p in pieces)
    bottom = max(p[0] + p[2].shape[0] for p in pieces)
    right = max(p[1] + p[2].shape[1] for p in pieces)
    union = np.zeros((bottom - top, right - left), dtype=bool)
    for piece_top, piece_left, crop in pieces:
        union[
            piece_top - top : piece_top - top + crop.shape[0], piece_left - left : piece_left - left + crop.shape[1]
        ] |= crop
    return top, left, union


def _outside_frame_note(features: list[Feature], height: int, width: int, offset: float, image_id: str) -> list[str]:
    """A counted note for features with vertices outside the frame of the vertex convention."""
    # corners: the image spans [0, w] x [0, h]; centres: [0, w-1] x [0, h-1]
    right, bottom = width - 1 + 2 * offset, height - 1 + 2 * offset
    outside = 0
    for feature in features:
        rings = [ring for exterior, holes in feature.polygons for ring in (exterior, *holes)]
        points = np.concatenate(rings)
        if (points < 0).any() or (points[:, 0] > right).any() or (points[:, 1] > bottom).any():
            outside += 1
    if not outside:
        return []
    return [
        CountedNote(
            "feature beyond the pixel frame",
            outside,
            f"{image_id}: {outside} feature(s) have vertices outside [0, {right:g}] x [0, {bottom:g}] "
            "(clipped to the frame)",
        )
    ]


def _roi_pixels(path: Path, image_id: str) -> tuple[np.ndarray, list[str]]:
    """The ROI's RGB pixels: a constant 4th channel is dropped, any other is kept (RGBA) with a note."""
    pixels = read_image(path)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        raise BadInputError(path, f"expected an 8-bit RGB(A) image, got {pixels.dtype} {pixels.shape}")
    if pixels.shape[2] == 4 and pixels[..., 3].min() == pixels[..., 3].max():
        # constant (255, or any other value): carries nothing, whatever tool wrote it
        return np.ascontiguousarray(pixels[..., :3]), []
    return without_constant_alpha(pixels, image_id)


# --------------------------------------------------------------------------- readers


def _layer(root: Path, name: str) -> Path:
    """``root/name``, or ``root/name/name`` when a zip's top folder was unpacked into a folder of its name."""
    folder = root / name
    return folder / name if (folder / name).is_dir() else folder


class _PumaROIs(Source):
    """Listing and metadata shared by the nuclei and tissue configs (``annotation_dir`` differs)."""

    annotation_dir: str = ""
    annotation_suffix: str = ""
    #: vertices: "corner" (QuPath: integer coordinates are pixel corners) or "centre"
    default_options = {"vertices": "corner"}

    def __init__(self, **options: Any):
        super().__init__(**options)
        grid = option_choice(self.name, "vertices", self.options["vertices"], tuple(VERTEX_OFFSETS))
        self.vertex_offset = VERTEX_OFFSETS[grid]

    def export_name(self, config_name: str) -> str:
        # other labels than the default: never written over the default export
        return config_name if self.options["vertices"] == "corner" else f"{config_name}_centre_vertices"

    def find_root(self, data_dir: Path) -> Path | None:
        for folder in search_dirs(data_dir):
            if (folder / IMAGES_DIR).is_dir():
                return folder
        return None

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        image_folder = _layer(root, IMAGES_DIR)
        annotation_folder = _layer(root, self.annotation_dir)
        if not annotation_folder.is_dir():
            raise MissingDataError(
                f"{self.name}: no {self.annotation_dir}/ next to {IMAGES_DIR}/ in {root}; "
                f"download {self.annotation_dir}.zip from {RECORD} and unzip it there."
            )
        items: dict[str, Item] = {}
        skipped: list[Item] = []
        images: dict[str, Path] = {}
        for path in sorted_files(image_folder):
            if is_junk(path):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(skipped_item(path.name, f"{IMAGES_DIR}/{path.name} is not a .tif/.tiff ROI: not read"))
                continue
            if path.stem in images:
                raise BadInputError(path, f"two ROI images with the stem {path.stem!r}: {images[path.stem].name}")
            images[path.stem] = path
        annotations: dict[str, Path] = {}
        for path in sorted_files(annotation_folder):
            if is_junk(path):
                continue
            if not path.name.endswith(self.annotation_suffix):
                skipped.append(
                    skipped_item(
                        path.name,
                        f"{self.annotation_dir}/{path.name} is not named <ROI>{self.annotation_suffix}: not read",
                    )
                )
                continue
            annotations[path.name[: -len(self.annotation_suffix)]] = path
        for stem in sorted(set(images) | set(annotations), key=natural_key):
            if stem not in images:
                skipped.append(
                    skipped_item(
                        stem,
                        f"annotation {self.annotation_dir}/{annotations[stem].name} has no ROI image "
                        f"{stem}.tif (no record made)",
                    )
                )
                continue
            if stem not in annotations:
                skipped.append(
                    skipped_item(
                        stem,
                        f"ROI {IMAGES_DIR}/{images[stem].name} has no annotation "
                        f"{self.annotation_dir}/{stem}{self.annotation_suffix} (no record made)",
                    )
                )
                continue
            kind = ROI_NAME.search(stem)
            items[stem] = Item(
                image_id=stem,
                files={"image": str(images[stem]), "annotation": str(annotations[stem])},
                attrs={"root": str(root), "kind": kind.group("kind").lower() if kind else None},
            )
        return {"train": [items[stem] for stem in sorted(items, key=natural_key)] + skipped}

    def _read_parts(self, item: Item) -> tuple[np.ndarray, list[Feature], list[str], Path]:
        image_path = Path(item.files["image"])
        annotation_path = Path(item.files["annotation"])
        pixels, notes = _roi_pixels(image_path, item.image_id)
        features = read_features(annotation_path)
        height, width = pixels.shape[:2]
        notes += _outside_frame_note(features, height, width, self.vertex_offset, item.image_id)
        return pixels, features, notes, annotation_path

    def _metadata(self, item: Item) -> dict[str, Any]:
        kind = item.attrs["kind"]
        return {
            "organ": ORGAN_OF_KIND.get(kind),
            "upstream_path": relative_posix(Path(item.files["image"]), Path(item.attrs["root"])),
        }

    @staticmethod
    def _class_index(names: dict[str, int], feature: Feature, path: Path) -> int:
        index = names.get(feature.name)
        if index is None:
            known = ", ".join(names)
            raise BadInputError(path, f"feature {feature.index}: unknown class name {feature.name!r}; known: {known}")
        return index


PUMA_EXPECTED = f"""
    <data_dir>/{IMAGES_DIR}/training_set_<primary|metastatic>_roi_<NNN>.tif   (also .tiff)
    <data_dir>/{NUCLEI_DIR}/<same stem>_nuclei.geojson
    <data_dir>/{TISSUE_DIR}/<same stem>_tissue.geojson                         (PUMA_tissue)
    """
PUMA_INSTRUCTIONS = f"""
PUMA is on Zenodo ({RECORD}): download {IMAGES_DIR}.zip and {NUCLEI_DIR}.zip (PUMA) or
{TISSUE_DIR}.zip (PUMA_tissue), unzip them into one folder (each zip has its own top folder)
and pass that folder with --data-dir.
"""


#: What the nuclei and the tissue configs share in their declared facts.
_FACTS = dict(
    homepage=RECORD,
    citation=CITATION,
    license=LICENSE,
    license_note=LICENSE_NOTE,
    doc="puma",
    modality="histology",
    stain="H&E",
    organ="skin (primary melanoma), metastases (site not given)",
    mpp=MPP,
    magnification=MAGNIFICATION,
)


class PUMA(_PumaROIs):
    info = SourceInfo(
        name="PUMA",
        title="PUMA: melanoma H&E ROIs 1024x1024, nucleus polygons of 10 types (GeoJSON)",
        **_FACTS,
        classes=NUCLEUS_CLASSES,
        metrics=("f1", "pq", "mpq"),
        description=(
            "PUMA (Schuiveling et al. 2025): 1024x1024 H&E ROIs of primary and metastatic melanoma, nucleus "
            "polygons (GeoJSON) of 10 types mapped to the shared classes; one object per feature (MultiPolygon "
            "parts = one nucleus, holes respected). One split (no official split in the training release)."
        ),
    )
    downloads = (ROIS_DOWNLOAD, NUCLEI_DOWNLOAD)
    expected_layout = PUMA_EXPECTED
    manual_instructions = PUMA_INSTRUCTIONS
    annotation_dir = NUCLEI_DIR
    annotation_suffix = "_nuclei.geojson"
    known_issues = (
        ("ROI 103 is stored as .tiff, every other ROI as .tif.", "Both suffixes are read."),
        (
            "The ROI TIFFs have a 4th channel that carries nothing.",
            "Dropped when constant (checked per image); a non-constant one is kept (RGBA) with a counted note.",
        ),
        (
            "Peers rasterise the polygons differently (torch-em stretches the annotations' extent to 1024 x 1024).",
            "Vertices are read in QuPath's convention (integer coordinates = pixel corners; option "
            "vertices=centre for the pixel-centre reading), unscaled; vertices outside the frame are counted in a "
            "note (see docs/sources/puma.md).",
        ),
    )

    def read(self, item: Item) -> Sample:
        pixels, features, notes, path = self._read_parts(item)
        height, width = pixels.shape[:2]
        index_of = {c.upstream: i for i, c in enumerate(NUCLEUS_CLASSES)}
        starts, lengths, categories = [], [], {}
        empty = 0
        for feature in features:
            category = NUCLEUS_CLASSES[self._class_index(index_of, feature, path)].name
            placed = feature_crop(feature, height, width, self.vertex_offset)
            if placed is None:
                empty += 1
                continue
            object_starts, object_lengths = crop_runs(*placed, height)
            starts.append(object_starts)
            lengths.append(object_lengths)
            categories[len(starts)] = category
        if empty:
            notes.append(
                CountedNote(
                    "empty feature skipped", empty, f"{item.image_id}: {empty} feature(s) cover no pixel centre"
                )
            )
        metadata = he_metadata(
            self,
            **self._metadata(item),
            tissue=TISSUE_OF_KIND.get(item.attrs["kind"]),
            magnification=MAGNIFICATION,
            mpp=MPP,
            annotation="complete",
        )
        return Sample(
            image_id=item.image_id,
            image=pixels,
            metadata=metadata,
            objects=rle.encode_runs(starts, lengths, height, width),
            categories=categories,
            notes=notes,
        )


class PUMATissue(_PumaROIs):
    info = SourceInfo(
        name="PUMA_tissue",
        title="PUMA tissue: melanoma H&E ROIs, tissue polygons as a class mask (0 = don't care)",
        **_FACTS,
        classes=TISSUE_CLASSES,
        kind="semantic",
        metrics=("dice",),
        annotation="complete",
        description=(
            "PUMA tissue (Schuiveling et al. 2025): the PUMA ROIs with their tissue polygons painted as a class "
            "mask (stroma 1, blood vessel 2, tumour 3, epidermis 4, necrosis 5 as in the challenge; white "
            "background 6); 0 = covered by no polygon = don't care. One split."
        ),
    )
    downloads = (ROIS_DOWNLOAD, TISSUE_DOWNLOAD)
    expected_layout = PUMA_EXPECTED
    manual_instructions = PUMA_INSTRUCTIONS
    annotation_dir = TISSUE_DIR
    annotation_suffix = "_tissue.geojson"
    known_issues = PUMA.known_issues + (
        (
            "Tissue polygons can overlap, and pixels outside every polygon have no class.",
            "Polygons are painted in file order (a later one wins; overlapping pixels are counted); pixels of no "
            "polygon get code 0 = don't care, never background (white background has its own code 6).",
        ),
    )

    def read(self, item: Item) -> Sample:
        pixels, features, notes, path = self._read_parts(item)
        height, width = pixels.shape[:2]
        index_of = {c.upstream: i for i, c in enumerate(TISSUE_CLASSES) if c.upstream is not None}
        mask = np.zeros((height, width), dtype=np.uint8)
        overlapped = 0
        for feature in features:
            code = self._class_index(index_of, feature, path)
            placed = feature_crop(feature, height, width, self.vertex_offset)
            if placed is None:
                continue
            top, left, crop = placed
            window = mask[top : top + crop.shape[0], left : left + crop.shape[1]]
            overlapped += int(np.count_nonzero(crop & (window != 0) & (window != code)))
            window[crop] = code  # file order: a later feature wins
        if overlapped:
            notes.append(
                CountedNote(
                    "tissue overlap pixels",
                    overlapped,
                    f"{item.image_id}: {overlapped} pixel(s) in two tissue polygons of different class (later wins)",
                )
            )
        root = Path(item.attrs["root"])
        metadata = {
            "source": self.name,
            "license": self.license,
            "license_note": LICENSE_NOTE,
            "citation_key": CITATION_KEY,
            "stain": "H&E",
            "modality": "histology",
            **self._metadata(item),
            "mask_path": relative_posix(path, root),  # the GeoJSON the mask is painted from
            "magnification": MAGNIFICATION,
            "mpp": MPP,
        }
        return Sample(image_id=item.image_id, image=pixels, mask=mask, metadata=metadata, notes=notes)


CONFIGS = (
    ConfigSpec(
        "PUMA",
        PUMA,
        {},
        "PUMA: melanoma H&E ROIs (primary + metastatic), 10 nucleus types from GeoJSON polygons; one split.",
        splits=("train",),
    ),
    ConfigSpec(
        "PUMA_tissue",
        PUMATissue,
        {},
        "PUMA tissue regions of the same ROIs as a semantic mask (6 classes, 0 = don't care); one split.",
        splits=("train",),
    ),
)
