"""BBBC006v1: U2OS cells imaged at many focal planes, with CellProfiler nuclei labels.

Raw layout (one zip per focal plane plus one labels zip; each unpacks to its folder)::

    BBBC006_v1_images_z_<ZZ>/mcf-z-stacks-03212011_<well>_s<site>_w<ch><uuid>.tif
    BBBC006_v1_labels/mcf-z-stacks-03212011_<well>_s<site>.png

* Images: 696x520 uint16 TIFF (LZW), 12-bit data; w1 = Hoechst (DNA, the image we
  store), w2 = phalloidin (recorded in ``metadata.other_channels``). Pixels are kept as
  16-bit (the schema stores them as a 16-bit grey PNG).
* Every TIFF name ends in its own UUID, so files are paired by well + site + channel,
  never by the full stem.
* Labels: one PNG per field (L, 0 = background, 1..N), automated CellProfiler output on
  the in-focus plane z16; the same label image applies to every plane of the field.
* Option ``z``: the plane to read (default 16, in focus) or ``"all"``: one record per
  field and plane, the plane in ``metadata.z_plane``.
* A field with a label but no w1 image in a plane (or the reverse) is a counted skip.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..base import (
    BadInputError,
    ConfigSpec,
    Item,
    MissingDataError,
    Sample,
    SkipItem,
    is_junk,
    logged_notes,
    logger,
    skipped_item,
    sorted_dirs,
    sorted_files,
)
from ..formats.bbbc import LJOSA_CITATION, BBBCSource, bbbc_download, bbbc_info, channel_entries
from ..raster import read_image, read_label_map

SET_ID = "BBBC006"
LABELS_DIR = "BBBC006_v1_labels"
IN_FOCUS_PLANE = 16
#: The download page links planes z_00 .. z_33 (34 archives; the page text says 32 planes).
ALL_PLANES = tuple(range(34))
LABELS_SHA256 = "2d3ec4e5a3ec0bb94820c9bcd6f102821862f526df2552ff9065a75b1c5e33ac"

PLANE_DIR = re.compile(r"^BBBC006_v1_images_z_(?P<z>\d{2})$")
IMAGE_NAME = re.compile(
    r"^(?P<plate>.+)_(?P<well>[a-p]\d{2})_s(?P<site>\d+)_w(?P<channel>\d)(?P<uuid>[0-9a-f-]*)\.tiff?$", re.IGNORECASE
)
LABEL_NAME = re.compile(r"^(?P<plate>.+)_(?P<well>[a-p]\d{2})_s(?P<site>\d+)\.png$", re.IGNORECASE)

CITATION = (
    """@article{bray2012workflow,
  title   = {Workflow and metrics for image quality control in large-scale high-content screens},
  author  = {Bray, Mark-Anthony and Fraser, Adam N. and Hasaka, Thomas P. and Carpenter, Anne E.},
  journal = {Journal of Biomolecular Screening},
  volume  = {17},
  number  = {2},
  pages   = {266--274},
  year    = {2012},
  doi     = {10.1177/1087057111420292}
}

"""
    + LJOSA_CITATION
)

FieldKey = tuple[str, int]  # (well in lower case, site)


def plane_folder(z: int) -> str:
    return f"BBBC006_v1_images_z_{z:02d}"


class BBBC006(BBBCSource):
    info = bbbc_info(
        SET_ID,
        title="BBBC006v1 U2OS z-stacks, 16-bit; plane z16 by default (`-o z=<plane>` or `-o z=all`)",
        citation=CITATION,
        doc="bbbc006",
        stain="Hoechst 33342",
        organ="U2OS cells (osteosarcoma)",
        magnification=20.0,
        description=(
            "BBBC006v1: U2OS cells (Hoechst) in a 384-well plate, 768 fields imaged at 34 focal planes; "
            "nuclei labels from CellProfiler on the in-focus plane z16."
        ),
    )
    set_id = SET_ID
    layout_markers = (LABELS_DIR,)
    expected_layout = """
    <data_dir>/[BBBC006/]BBBC006_v1_labels/mcf-z-stacks-03212011_<well>_s<site>.png
    <data_dir>/[BBBC006/]BBBC006_v1_images_z_<ZZ>/mcf-z-stacks-03212011_<well>_s<site>_w<1|2><uuid>.tif
    (one images folder per focal plane; the default plane is z_16)
    """
    #: z: focal plane 0..33, or "all" for one record per plane
    default_options = {"z": IN_FOCUS_PLANE}

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.planes = self._requested_planes(self.options["z"])
        # Only the requested planes are downloaded (each plane is an ~840 MB zip), so the
        # download list depends on the options and is set per instance.
        self.downloads = (
            bbbc_download(SET_ID, f"{LABELS_DIR}.zip", LABELS_SHA256),
            *(bbbc_download(SET_ID, f"{plane_folder(z)}.zip") for z in self.planes or ALL_PLANES),
        )

    @staticmethod
    def _requested_planes(z: Any) -> tuple[int, ...] | None:
        """(z,) for one plane; None for "all" (whatever planes are present)."""
        if isinstance(z, str) and z.strip().lower() == "all":
            return None
        if isinstance(z, int) and not isinstance(z, bool):
            plane = z
        elif isinstance(z, str) and z.strip().isdigit():
            plane = int(z)
        else:
            plane = -1
        if not 0 <= plane <= 99:
            raise ValueError(f"BBBC006: option z must be a plane number (0..33) or 'all', got {z!r}")
        return (plane,)

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        present = {int(match["z"]): path for path in sorted_dirs(root) if (match := PLANE_DIR.match(path.name))}
        if self.planes is None:
            if not present:
                raise MissingDataError(self.missing_message(root, "no BBBC006_v1_images_z_<ZZ> folder found"))
            planes = sorted(present)
        else:
            planes = list(self.planes)
            missing = [plane_folder(z) for z in planes if z not in present]
            if missing:
                have = ", ".join(sorted(p.name for p in present.values())) or "none"
                raise MissingDataError(
                    self.missing_message(root, f"the plane folder {missing[0]} is missing (present: {have})")
                )
        labels, plates, unnamed = _index_labels(root / LABELS_DIR)
        items = []
        for z in planes:
            images = _index_plane(present[z])
            for (well, site, _), (plate, _) in images.items():
                plates.setdefault((well, site), plate)
            fields = sorted(set(labels) | {key[:2] for key in images if key[2] == 1})
            for well, site in fields:
                dna = images.get((well, site, 1))
                actin = images.get((well, site, 2))
                items.append(
                    Item(
                        image_id=f"{plates[(well, site)]}_{well}_s{site}_z{z:02d}",
                        files={
                            "image": str(dna[1]) if dna else None,
                            "label": str(labels[(well, site)]) if (well, site) in labels else None,
                            "actin": str(actin[1]) if actin else None,
                        },
                        attrs={"root": str(root), "z": z},
                    )
                )
        # A label PNG that pairs with no field is named in the report, never dropped silently.
        items += [
            skipped_item(path.stem, f"label {LABELS_DIR}/{path.name} is not named <plate>_<well>_s<site>.png: no image")
            for path in unnamed
        ]
        return {"train": items}

    def read(self, item: Item) -> Sample:
        root, z = Path(item.attrs["root"]), int(item.attrs["z"])
        if item.files["label"] is None:
            raise SkipItem(item.image_id, f"no label image in {LABELS_DIR}/ for this field")
        if item.files["image"] is None:
            raise SkipItem(item.image_id, f"no w1 (Hoechst) image for this field in {plane_folder(z)}/")
        image_path, label_path = Path(item.files["image"]), Path(item.files["label"])
        pixels = read_image(image_path)
        if pixels.ndim != 2 or pixels.dtype not in (np.uint8, np.uint16):
            raise BadInputError(image_path, f"expected a 16-bit grey TIFF, got {pixels.dtype} of shape {pixels.shape}")
        # An all-zero label image (upstream p22) is counted by the pipeline as "empty ground truth".
        label_map, notes = read_label_map(label_path, pixels.shape)
        notes = logged_notes(item.image_id, notes)
        actin = item.files["actin"]
        metadata = self.field_metadata(
            root,
            image_path,
            stain="Hoechst",
            z_plane=z,
            other_channels=channel_entries(root, [("w2 phalloidin (actin)", Path(actin) if actin else None)]),
        )
        return Sample(image_id=item.image_id, image=pixels, label_map=label_map, metadata=metadata, notes=notes)


def _index_labels(folder: Path) -> tuple[dict[FieldKey, Path], dict[FieldKey, str], list[Path]]:
    """Label PNG per field, the plate prefix of its name, and the PNGs not named like a field's label."""
    labels, plates, unnamed = {}, {}, []
    for path in sorted_files(folder, [".png"]):
        match = LABEL_NAME.match(path.name)
        if is_junk(path):
            continue
        if not match:
            unnamed.append(path)
            continue
        key = (match["well"].lower(), int(match["site"]))
        if key in labels:
            raise BadInputError(path, f"second label image for well {key[0]} site {key[1]} (first: {labels[key].name})")
        labels[key], plates[key] = path, match["plate"]
    return labels, plates, unnamed


def _index_plane(folder: Path) -> dict[tuple[str, int, int], tuple[str, Path]]:
    """(well, site, channel) -> (plate prefix, TIFF path) for one plane folder."""
    images: dict[tuple[str, int, int], tuple[str, Path]] = {}
    for path in sorted_files(folder, [".tif", ".tiff"]):
        match = IMAGE_NAME.match(path.name)
        if not match:
            logger.warning("BBBC006: ignoring %s (not named <plate>_<well>_s<site>_w<ch><uuid>.tif)", path)
            continue
        key = (match["well"].lower(), int(match["site"]), int(match["channel"]))
        if key in images:
            raise BadInputError(
                path, f"second image for well {key[0]} site {key[1]} channel w{key[2]} (first: {images[key][1].name})"
            )
        images[key] = (match["plate"], path)
    return images


CONFIGS = (
    ConfigSpec(
        "BBBC006",
        BBBC006,
        {},
        "BBBC006v1 U2OS nuclei, in-focus plane z16 by default (option z=<plane> or z=all), 16-bit images.",
    ),
)
