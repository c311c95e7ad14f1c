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
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..base import (
    BadInputError,
    ConfigSpec,
    Item,
    MissingDataError,
    is_junk,
    relative_posix,
    skipped_item,
    sorted_dirs,
    sorted_files,
)
from ..formats.bbbc import LJOSA_CITATION, BBBCSource, bbbc_download, bbbc_info, channel_entries
from ..formats.folder import FolderSource

SET_ID = "BBBC020"
IMAGES_DIR = "BBBC020_v1_images"
#: Upstream spelling first; the corrected spelling is accepted for renamed copies.
NUCLEI_DIRS = ("BBC020_v1_outlines_nuclei", "BBBC020_v1_outlines_nuclei")
MASK_NAME = re.compile(r"^(?P<field>.+)_c5_(?P<n>\d+)\.tiff?$", re.IGNORECASE)
#: Mask files that are corrupt upstream (skipped with a warning, not an error).
KNOWN_CORRUPT = frozenset({"jw-15min 5_c5_43.TIF"})
#: Other channels of a field: (metadata name, file name suffix after the field name).
OTHER_CHANNELS = (("c1 CD11b/APC", "_c1.tif"), ("c1+c5 merged", "_(c1+c5).tif"))


class BBBC020(BBBCSource, FolderSource):
    info = bbbc_info(
        SET_ID,
        title="BBBC020v1 macrophages, DAPI, one mask per nucleus (unannotated jw-30min skipped; `-o unannotated=keep`)",
        citation=LJOSA_CITATION,
        # See the module notes: CC0 (SPEC) vs CC BY 3.0 (public script); the stricter one.
        license="CC-BY-3.0",
        license_note="conflicts with the BBBC CC0 waiver: see docs",
        doc="bbbc020",
        stain="DAPI",
        organ="murine bone-marrow macrophages",
        description=(
            "BBBC020v1: murine bone-marrow derived macrophages, 25 fields (DAPI + CD11b/APC), one mask "
            "per nucleus; the jw-30min series is unannotated upstream."
        ),
    )
    set_id = SET_ID
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

    image_dirs = (IMAGES_DIR,)
    image_pattern = IMAGES_DIR + r"/(?P<field>[^/]+)/(?P=field)_c5\.tif"
    pattern_flags = re.IGNORECASE
    image_id_template = "{field}_c5"
    annotation = "{field}"  # the field's masks, found by instance_files
    annotation_kind = "instance_files"
    missing_annotation = "no nucleus masks upstream (unannotated field; option unannotated=keep)"

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        masks_root = next((root / name for name in NUCLEI_DIRS if (root / name).is_dir()), None)
        if masks_root is None:
            raise MissingDataError(self.missing_message(root, f"the nucleus mask folder {NUCLEI_DIRS[0]}/ is missing"))
        self._masks: dict[str, list[tuple[int, Path]]] = {}
        unnamed = []
        for path in sorted_files(masks_root):
            if is_junk(path):
                continue
            if match := MASK_NAME.match(path.name):
                self._masks.setdefault(match["field"], []).append((int(match["n"]), path))
            else:
                unnamed.append(path)
        by_field = {item.attrs["field"]: item for item in self.image_items(root).get("train", [])}
        folders = [f for f in sorted_dirs(root / IMAGES_DIR) if not is_junk(f)]
        items = [by_field.get(f.name) or self._without_image(masks_root, f.name, f"no {f.name}_c5.TIF in {IMAGES_DIR}/{f.name}/") for f in folders]
        # Every mask file is accounted for: masks of fields without an image folder, files not
        # named like a nucleus mask (counted skips, named in the build report).
        for field in sorted(set(self._masks) - {f.name for f in folders}):
            items.append(self._without_image(masks_root, field, f"no image folder {IMAGES_DIR}/{field}/"))
        items += [
            skipped_item(relative_posix(path, root), "not named <field>_c5_<n>.TIF: not a nucleus mask of any field")
            for path in unnamed
        ]
        return {"train": items}

    def _without_image(self, masks_root: Path, field: str, reason: str) -> Item:
        masks = len(self._masks.get(field, []))
        if masks:
            reason += f"; its {masks} nucleus mask file(s) {masks_root.name}/{field}_c5_<n>.TIF are not used"
        return skipped_item(f"{field}_c5", reason)

    def instance_files(self, root: Path, field: str) -> list[Path]:
        return [path for _, path in sorted(self._masks.get(field, []))]

    def extra_files(self, root: Path, image: Path, fields: Mapping[str, str]) -> dict[str, str | None]:
        by_name = {p.name.lower(): p for p in sorted_files(image.parent)}
        return {name: _str(by_name.get(f"{fields['field']}{suffix}".lower())) for name, suffix in OTHER_CHANNELS}

    def skip_instance_file(self, path: Path, error: BadInputError) -> bool:
        return path.name in KNOWN_CORRUPT

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict:
        root = Path(item.attrs["root"])
        channels = [(name, Path(item.files[name]) if item.files[name] else None) for name, _ in OTHER_CHANNELS]
        return {"stain": "DAPI", "other_channels": channel_entries(root, channels)}


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


CONFIGS = (
    ConfigSpec(
        "BBBC020",
        BBBC020,
        {},
        "BBBC020v1 murine macrophage nuclei (DAPI), one mask per nucleus; unannotated fields skipped by default.",
    ),
)
