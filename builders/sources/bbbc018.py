"""BBBC018v1: human HT29 colon-cancer cells, Cellomics ``.DIB`` images with outline PNGs.

Raw layout (two zips, flat folders)::

    BBBC018_v1_images/<wellidx>-{DNA,actin,pH3}.DIB     56 fields x 3 channels, 512x512
    BBBC018_v1_outlines/<wellidx>-nuclei.png            nucleus outlines (closed)
    BBBC018_v1_outlines/<wellidx>-cells.png             cell outlines (not used)

Conversion and known upstream faults:

* The DIBs are Cellomics ArrayScan files: a BITMAPINFOHEADER and 16-bit grey pixels.
  Pillow opens them, but wrongly (it reads the 16-bit values as RGB565 colour and flips
  the rows), so they are decoded by :func:`raster.read_cellomics_dib`: 16-bit grey
  kept losslessly, rows in file order as Bio-Formats reads them. The DNA (Hoechst)
  image is the record's image; actin and pH3 go to ``metadata.other_channels``.
* Orientation: a public loader that reads the DIBs with Pillow reports the outlines as
  flipped vertically relative to the images. Pillow flips the DIB rows; reading them in
  file order (as here and in Bio-Formats) undoes exactly that, so the outlines are used
  as stored. NOT verified on the real files (none are available to the project); the
  option ``flip_outlines=true`` turns the outlines upside down should that be needed.
* Field 10779 has no outline files: a counted skip.
* ``17675-nuclei.png`` has the outlines painted onto the image: only pure white pixels
  (255) are outline there (:func:`raster.binary_from_pixels` detects any such file).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..base import (
    BadInputError,
    ConfigSpec,
    Item,
    Sample,
    SkipItem,
    logged_notes,
    option_bool,
    skipped_item,
    sorted_files,
)
from ..formats.bbbc import LJOSA_CITATION, BBBCSource, bbbc_download, bbbc_info, channel_entries
from ..formats.outlines import outline_file_labels

SET_ID = "BBBC018"
IMAGES_DIR = "BBBC018_v1_images"
OUTLINES_DIR = "BBBC018_v1_outlines"
CHANNELS = ("DNA", "actin", "pH3")
NUCLEI_SUFFIX = "-nuclei.png"
IMAGE_NAME = re.compile(r"^(?P<field>.+)-(?P<channel>DNA|actin|pH3)\.dib$", re.IGNORECASE)

CITATION = (
    """@article{jones2009scoring,
  title   = {Scoring diverse cellular morphologies in image-based screens with iterative feedback and machine learning},
  author  = {Jones, Thouis R. and Carpenter, Anne E. and Lamprecht, Michael R. and Moffat, Jason and
             Silver, Serena J. and Grenier, Jennifer K. and Castoreno, Adam B. and Eggert, Ulrike S. and
             Root, David E. and Golland, Polina and Sabatini, David M.},
  journal = {Proceedings of the National Academy of Sciences},
  volume  = {106},
  number  = {6},
  pages   = {1826--1831},
  year    = {2009},
  doi     = {10.1073/pnas.0808843106}
}

"""
    + LJOSA_CITATION
)


class BBBC018(BBBCSource):
    info = bbbc_info(
        SET_ID,
        title="BBBC018v1 HT29, 16-bit Cellomics DIB images, filled outlines (field 10779 skipped)",
        citation=CITATION,
        doc="bbbc018",
        stain="Hoechst (DNA)",
        organ="HT29 cells (colon cancer)",
        magnification=20.0,
        description=(
            "BBBC018v1: human HT29 colon-cancer cells (Hoechst, phalloidin, pH3), 56 fields of 512x512 "
            "16-bit Cellomics DIB images with nucleus outlines (filled into instances)."
        ),
    )
    set_id = SET_ID
    downloads = (bbbc_download(SET_ID, f"{IMAGES_DIR}.zip"), bbbc_download(SET_ID, f"{OUTLINES_DIR}.zip"))
    layout_markers = (IMAGES_DIR, OUTLINES_DIR)
    expected_layout = """
    <data_dir>/[BBBC018/]BBBC018_v1_images/<wellidx>-DNA.DIB (+ -actin.DIB, -pH3.DIB)
    <data_dir>/[BBBC018/]BBBC018_v1_outlines/<wellidx>-nuclei.png
    """
    #: flip_outlines: turn the outline PNGs upside down (see the module notes);
    #: min_area: drop filled objects smaller than this many pixels
    default_options = {"flip_outlines": False, "min_area": 1}

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.flip_outlines = option_bool("flip_outlines", self.options["flip_outlines"])

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        fields: dict[str, dict[str, str]] = {}
        for path in sorted_files(root / IMAGES_DIR):
            match = IMAGE_NAME.match(path.name)
            if match:
                channel = next(c for c in CHANNELS if c.lower() == match["channel"].lower())
                fields.setdefault(match["field"], {})[channel] = str(path)
        items = []
        for field, channels in sorted(fields.items()):
            outline = root / OUTLINES_DIR / f"{field}-nuclei.png"
            # "image": the DNA channel (the record's image); the other channels by name
            files = {"image": channels.get("DNA"), **{channel: channels.get(channel) for channel in CHANNELS[1:]}}
            files["outline"] = str(outline) if outline.is_file() else None
            items.append(Item(image_id=field, files=files, attrs={"root": str(root)}))
        # Nucleus outlines of fields with no image at all: counted skips, never dropped silently.
        for outline in sorted_files(root / OUTLINES_DIR, [".png"]):
            field = outline.name[: -len(NUCLEI_SUFFIX)] if outline.name.lower().endswith(NUCLEI_SUFFIX) else None
            if field is not None and field not in fields:
                items.append(
                    skipped_item(field, f"outline {OUTLINES_DIR}/{outline.name} has no image {IMAGES_DIR}/{field}-*.DIB")
                )
        return {"train": items}

    def read(self, item: Item) -> Sample:
        root = Path(item.attrs["root"])
        if item.files["image"] is None:
            raise SkipItem(item.image_id, f"no {item.image_id}-DNA.DIB in {IMAGES_DIR}/ (only other channels)")
        if item.files["outline"] is None:
            raise SkipItem(
                item.image_id, f"no outline file {OUTLINES_DIR}/{item.image_id}-nuclei.png (known for 10779)"
            )
        image_path = Path(item.files["image"])
        pixels = read_cellomics_dib(image_path)
        label_map, notes = outline_file_labels(
            item.files["outline"], pixels.shape, int(self.options["min_area"]), flip=self.flip_outlines
        )
        notes = logged_notes(item.image_id, notes)
        others = [(name, Path(item.files[name]) if item.files[name] else None) for name in CHANNELS[1:]]
        metadata = self.field_metadata(
            root, image_path, stain="Hoechst 33342", other_channels=channel_entries(root, others)
        )
        return Sample(image_id=item.image_id, image=pixels, label_map=label_map, metadata=metadata, notes=notes)


#: BITMAPINFOHEADER: size, width, height, planes, bit count, compression, image size,
#: x/y pixels per metre, colours used, colours important (40 bytes, little-endian).
_DIB_HEADER = struct.Struct("<IiiHHIIiiII")
#: Bytes a BI_BITFIELDS DIB keeps after the header for its three colour masks.
_DIB_MASKS = 12


def read_cellomics_dib(path: Path | str) -> np.ndarray:
    """Decode a Cellomics ArrayScan ``.DIB`` (16-bit grey) as a (h, w) uint16 array.

    The files are a 40-byte BITMAPINFOHEADER (16 bits per pixel, BI_RGB or BI_BITFIELDS
    with 12 bytes of masks) followed by little-endian 16-bit grey values, rows in file
    order. Two things make Pillow the wrong reader for them: it takes 16-bit pixels for
    RGB565/555 colour (lossy: the grey value is split over three 5/6-bit channels) and,
    following the BMP convention for a positive height, it flips the rows upside down.
    Like Bio-Formats' Cellomics reader (the one the BBBC recommends), we keep the grey
    values whole and the rows in file order.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    if len(data) < _DIB_HEADER.size:
        raise BadInputError(path, f"too short for a DIB header ({len(data)} bytes)")
    size, width, height, planes, bits, compression = _DIB_HEADER.unpack_from(data)[:6]
    if size != _DIB_HEADER.size or width <= 0 or height == 0 or planes != 1:
        raise BadInputError(path, "not a DIB file (bad BITMAPINFOHEADER)")
    if bits != 16 or compression not in (0, 3):
        raise BadInputError(path, f"unsupported DIB: {bits} bits per pixel, compression {compression} (want 16, 0/3)")
    height = abs(height)
    stride = (width * 2 + 3) // 4 * 4  # rows are padded to 4 bytes
    extra = len(data) - _DIB_HEADER.size - stride * height
    if extra not in (0, _DIB_MASKS):
        raise BadInputError(path, f"file size {len(data)} does not fit a {width}x{height} 16-bit DIB (truncated?)")
    rows = np.frombuffer(data, dtype="<u2", count=stride * height // 2, offset=_DIB_HEADER.size + extra)
    return rows.reshape(height, stride // 2)[:, :width].astype(np.uint16)


CONFIGS = (ConfigSpec("BBBC018", BBBC018, {}, "BBBC018v1 HT29 nuclei: 16-bit DNA images, filled outline annotations."),)
