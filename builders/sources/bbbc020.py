"""BBBC020v1: murine bone-marrow derived macrophages, one mask TIFF per nucleus.

Raw layout (images zip + nuclei outlines zip; the outlines folder is spelled ``BBC020``,
one B short, upstream)::

    BBBC020_v1_images/<field>/<field>_c5.TIF          DAPI (nuclei): the record's image
    BBBC020_v1_images/<field>/<field>_c1.TIF          CD11b/APC (cell surface)
    BBBC020_v1_images/<field>/<field>_(c1+c5).TIF     merged
    BBC020_v1_outlines_nuclei/<field>_c5_<n>.TIF      one binary mask per nucleus

Field names contain spaces (``jw-15min 1``, ``jw-Kontrolle1``). Images are RGB with a
false-colour look-up table baked in (DAPI in the blue channel); they are stored as they
are. Objects are the mask files in numeric order of ``<n>`` (ids 1..N); overlaps of a
pixel or two between masks are kept.

Known upstream issues:

* The whole ``jw-30min`` series (5 fields) has no masks. Option ``unannotated``:
  ``skip`` (default; counted skips) or ``keep`` (records with no objects and
  ``annotation="none"``).
* ``BBC020_v1_outlines_nuclei/jw-15min 5_c5_43.TIF`` is corrupt: skipped with a
  warning and counted in the notes; that field's annotation becomes ``partial`` (one
  nucleus has no mask). Any other unreadable mask is an error.
* Licence: the SPEC lists the BBBC's CC0 waiver, a public download script quotes CC BY
  3.0 for this set. We record the stricter ``CC-BY-3.0`` (docs/sources/bbbc020.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import rle
from ..base import (
    BadInputError,
    ConfigSpec,
    Item,
    MissingDataError,
    Sample,
    SkipItem,
    logged_notes,
    logger,
    sorted_dirs,
    sorted_files,
)
from ..formats.bbbc import BBBC_PAGE_URL, LJOSA_CITATION, BBBCSource, bbbc_download, channel_entries
from ..formats.outlines import binary_from_pixels
from ..raster import read_image

SET_ID = "BBBC020"
IMAGES_DIR = "BBBC020_v1_images"
#: Upstream spelling first; the corrected spelling is accepted for renamed copies.
NUCLEI_DIRS = ("BBC020_v1_outlines_nuclei", "BBBC020_v1_outlines_nuclei")
MASK_NAME = re.compile(r"^(?P<field>.+)_c5_(?P<n>\d+)\.tiff?$", re.IGNORECASE)
#: Mask files that are corrupt upstream (skipped with a warning, not an error).
KNOWN_CORRUPT = frozenset({"jw-15min 5_c5_43.TIF"})
UNANNOTATED_CHOICES = ("skip", "keep")


class BBBC020(BBBCSource):
    name = "BBBC020"
    set_id = SET_ID
    homepage = BBBC_PAGE_URL + SET_ID
    citation = LJOSA_CITATION
    # See the module notes: CC0 (SPEC) vs CC BY 3.0 (public script); the stricter one.
    license = "CC-BY-3.0"
    description = (
        "BBBC020v1: murine bone-marrow derived macrophages, 25 fields (DAPI + CD11b/APC), one mask "
        "per nucleus; the jw-30min series is unannotated upstream."
    )
    downloads = (
        bbbc_download(SET_ID, f"{IMAGES_DIR}.zip", "edf4a87be957ec2b7ab268bef92c2efae8e098dc0855a4fa9df80895ff7062e4"),
        bbbc_download(
            SET_ID,
            "BBBC020_v1_outlines_nuclei.zip",
            "b212f10013ae2a0260976cff2134204ecba226853922aea2ab5289051a47ceb7",
        ),
    )
    layout_markers = (IMAGES_DIR,)
    expected_layout = """
    <data_dir>/[BBBC020/]BBBC020_v1_images/<field>/<field>_c5.TIF  (+ _c1.TIF, _(c1+c5).TIF)
    <data_dir>/[BBBC020/]BBC020_v1_outlines_nuclei/<field>_c5_<n>.TIF   (folder typo is upstream)
    """
    #: unannotated: "skip" fields without masks (default) or "keep" them with annotation "none"
    default_options = {"unannotated": "skip"}

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.options["unannotated"] not in UNANNOTATED_CHOICES:
            raise ValueError(f"BBBC020: option unannotated must be one of {UNANNOTATED_CHOICES}")

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        masks_root = next((root / name for name in NUCLEI_DIRS if (root / name).is_dir()), None)
        if masks_root is None:
            raise MissingDataError(self.missing_message(root, f"the nucleus mask folder {NUCLEI_DIRS[0]}/ is missing"))
        masks: dict[str, list[tuple[int, str]]] = {}
        for path in sorted_files(masks_root):
            match = MASK_NAME.match(path.name)
            if match:
                masks.setdefault(match["field"], []).append((int(match["n"]), str(path)))
        items = []
        folders = sorted_dirs(root / IMAGES_DIR)
        orphans = sorted(set(masks) - {folder.name for folder in folders})
        if orphans:
            logger.warning("BBBC020: masks of fields without an image folder ignored: %s", ", ".join(orphans))
        for folder in folders:
            field = folder.name
            by_name = {p.name.lower(): p for p in sorted_files(folder)}
            files = {
                key: str(by_name[f"{field}{suffix}".lower()]) if f"{field}{suffix}".lower() in by_name else None
                for key, suffix in (("image", "_c5.tif"), ("c1", "_c1.tif"), ("merged", "_(c1+c5).tif"))
            }
            files["masks"] = [path for _, path in sorted(masks.get(field, []))]
            items.append(Item(image_id=f"{field}_c5", files=files, attrs={"root": str(root), "field": field}))
        return {"train": items}

    def read(self, item: Item) -> Sample:
        root, field = Path(item.attrs["root"]), item.attrs["field"]
        if item.files["image"] is None:
            raise SkipItem(item.image_id, f"no {field}_c5.TIF in {IMAGES_DIR}/{field}/")
        if not item.files["masks"] and self.options["unannotated"] == "skip":
            raise SkipItem(item.image_id, "no nucleus masks upstream (unannotated field; option unannotated=keep)")
        image_path = Path(item.files["image"])
        pixels = read_image(image_path)
        shape = pixels.shape[:2]
        objects, notes, corrupt = [], [], []
        for mask_path in map(Path, item.files["masks"]):
            try:
                mask_pixels = read_image(mask_path)
            except BadInputError as error:
                if mask_path.name not in KNOWN_CORRUPT:
                    raise
                corrupt.append(mask_path.name)
                notes.append(f"known corrupt upstream mask skipped: {mask_path.name} ({error.reason})")
                continue
            mask = _nucleus_mask(mask_path, mask_pixels, shape, notes)
            if mask is not None:
                obj = rle.encode_masks(mask[None])[0]  # one mask at a time: no (n, h, w) stack in memory
                obj["id"] = len(objects) + 1
                objects.append(obj)
        # A skipped corrupt mask leaves one nucleus unlabelled: its pixels are not background.
        annotation = "partial" if corrupt else "complete" if objects else "none"
        notes = logged_notes(item.image_id, notes)
        metadata = self.field_metadata(
            root,
            image_path,
            stain="DAPI",
            annotation=annotation,
            other_channels=channel_entries(
                root,
                [
                    ("c1 CD11b/APC", Path(item.files["c1"]) if item.files["c1"] else None),
                    ("c1+c5 merged", Path(item.files["merged"]) if item.files["merged"] else None),
                ],
            ),
        )
        return Sample(image_id=item.image_id, image=pixels, objects=objects, metadata=metadata, notes=notes)


def _nucleus_mask(path: Path, pixels: np.ndarray, shape: tuple[int, ...], notes: list[str]) -> np.ndarray | None:
    """One nucleus mask as (h, w) bool; None (with a note) for an empty file."""
    mask, note = binary_from_pixels(pixels)
    if mask.shape != tuple(shape):
        raise BadInputError(path, f"mask size {mask.shape[1]}x{mask.shape[0]} != image size {shape[1]}x{shape[0]}")
    if note:
        notes.append(f"{path.name}: {note}")
    if not mask.any():
        notes.append(f"empty mask skipped: {path.name}")
        return None
    return mask


CONFIGS = (
    ConfigSpec(
        "BBBC020",
        BBBC020,
        {},
        "BBBC020v1 murine macrophage nuclei (DAPI), one mask per nucleus; unannotated fields skipped by default.",
    ),
)
