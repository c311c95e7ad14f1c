"""BBBC039v1: nuclei of U2OS cells in a chemical screen (Hoechst), 200 fields, colour-coded masks.

Raw layout (three zips from the BBBC host, each with its folder inside)::

    images/IXMtest_<well>_s<site>_w1<GUID>.tif     520x696 uint16 (12-bit data), Hoechst
    masks/IXMtest_<well>_s<site>_w1<GUID>.png      RGBA: red = 1, 2 or 3, green = blue = 0, alpha 255
    metadata/{training,validation,test}.txt        one mask file name (.png) per line
    __MACOSX/...                                   (in masks.zip) ignored

Masks are colour-coded, not labelled: each nucleus is painted with one of a few red values
chosen so that touching nuclei differ. A nucleus is an 8-connected component of one red
value (the BBBC039 authors' decoding, ``skimage.measure.label(mask[:, :, 0])``); ids are
1..N in raster order of each nucleus's first pixel, as that function numbers them.
Connected components of the foreground alone would merge touching nuclei (on the real
masks: 19,565 instead of 23,615 objects). Splits are the official lists; the key is the
full file stem, because well + site is not unique (two fields were imaged twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..base import BadInputError, ConfigSpec, Item, MissingDataError, is_skipped_item, skipped_item
from ..formats.bbbc import BBBC_FIELD_METADATA, LJOSA_CITATION, BBBCSource, bbbc_download, bbbc_info
from ..formats.folder import FolderSource
from ..raster import read_image

SET_ID = "BBBC039"
IMAGES_DIR, MASKS_DIR, METADATA_DIR = "images", "masks", "metadata"
#: metadata list -> split name
SPLIT_LISTS = {"training.txt": "train", "validation.txt": "validation", "test.txt": "test"}
#: 8-connectivity, as skimage.measure.label's default on 2-D images
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)  # scipy.ndimage.generate_binary_structure(2, 2)

CITATION = (
    """@article{caicedo2019evaluation,
  title   = {Evaluation of Deep Learning Strategies for Nucleus Segmentation in Fluorescence Images},
  author  = {Caicedo, Juan C. and Roth, Jonathan and Goodman, Allen and Becker, Tim and Karhohs, Kyle W. and
             Broisin, Matthieu and Molnar, Csaba and McQuin, Claire and Singh, Shantanu and Theis, Fabian J. and
             others},
  journal = {Cytometry Part A},
  volume  = {95},
  number  = {9},
  pages   = {952--965},
  year    = {2019},
  doi     = {10.1002/cyto.a.23863}
}

"""
    + LJOSA_CITATION
)


def colour_coded_labels(path: Path | str, shape: tuple[int, ...]) -> np.ndarray:
    """Instance label map (int32) of a BBBC039 mask: 8-connected components of equal red value.

    Ids run 1..N in raster order of each object's first pixel (``skimage.measure.label``'s
    numbering). The code must sit in the red channel alone (green and blue are 0 upstream).
    """
    pixels = read_image(path)
    if pixels.ndim == 3:
        if pixels.shape[2] < 3:
            raise BadInputError(path, f"expected an RGB(A) colour-coded mask, got shape {pixels.shape}")
        if pixels[..., 1:3].any():
            raise BadInputError(path, "green or blue channel is not 0: the object code is expected in the red channel only")
        code = pixels[..., 0]
    else:
        code = pixels
    if code.shape != tuple(shape[:2]):
        raise BadInputError(path, f"mask size {code.shape[1]}x{code.shape[0]} != image size {shape[1]}x{shape[0]}")
    labels = np.zeros(code.shape, dtype=np.int32)
    count = 0
    for value in np.unique(code[code != 0]):
        from scipy import ndimage  # imported here: keeps the registry import (and `list`) fast

        components, n = ndimage.label(code == value, structure=EIGHT_CONNECTED)
        inside = components != 0
        labels[inside] = components[inside] + count
        count += n
    if count == 0:
        return labels
    # Renumber by first pixel in raster (row-major) order.
    ids, first = np.unique(labels.ravel(), return_index=True)
    ids, first = ids[1:], first[1:]  # drop background (label 0 is always present: masks are sparse)
    lookup = np.zeros(count + 1, dtype=np.int32)
    lookup[ids[np.argsort(first, kind="stable")]] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return lookup[labels]


def read_split_lists(root: Path) -> dict[str, str]:
    """Image stem -> split from ``metadata/{training,validation,test}.txt`` (names may end in .png)."""
    split_of: dict[str, str] = {}
    listed_in: dict[str, str] = {}
    for list_name, split in SPLIT_LISTS.items():
        path = root / METADATA_DIR / list_name
        if not path.is_file():
            raise MissingDataError(f"{SET_ID}: {path} is missing; the splits come from metadata.zip")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise BadInputError(path, f"not a text file ({error})") from None
        for number, line in enumerate(lines, start=1):
            name = line.strip()
            if not name:
                continue
            if "/" in name or "\\" in name or not name.startswith("IXMtest_"):
                raise BadInputError(path, f"line {number}: {name[:80]!r} is not a BBBC039 file name")
            stem = Path(name).stem
            if stem in split_of and listed_in[stem] != list_name:
                raise BadInputError(path, f"line {number}: {stem} is also listed in {listed_in[stem]}")
            split_of[stem], listed_in[stem] = split, list_name
    return split_of


class BBBC039(BBBCSource, FolderSource):
    info = bbbc_info(
        SET_ID,
        title="BBBC039v1 U2OS nuclei (Hoechst, 16-bit), colour-coded masks decoded per red value; official training/validation/test lists",
        citation=CITATION,
        doc="bbbc039",
        stain="Hoechst",
        organ="U2OS cells (osteosarcoma)",
        description=(
            "BBBC039v1: 200 fields (520x696, 16-bit) of Hoechst-stained U2OS nuclei from the BBBC022 screen, "
            "~23,600 nuclei decoded from colour-coded masks; official training/validation/test lists."
        ),
    )
    set_id = SET_ID
    downloads = (
        bbbc_download(SET_ID, "images.zip", "6f30a5d4fe38c928ded972704f085975f8dc0d65d9aa366df00e5a9d449fddd7"),
        bbbc_download(SET_ID, "masks.zip", "f9e6043d8ca56344a4886f96a700d804d6ee982f31e2b2cd3194af2a053c2710"),
        bbbc_download(SET_ID, "metadata.zip"),
    )
    expected_layout = f"""
    <data_dir>/[{SET_ID}/]{IMAGES_DIR}/IXMtest_<well>_s<site>_w1<GUID>.tif   (16-bit)
    <data_dir>/[{SET_ID}/]{MASKS_DIR}/IXMtest_<well>_s<site>_w1<GUID>.png    (colour-coded, red channel)
    <data_dir>/[{SET_ID}/]{METADATA_DIR}/training.txt, validation.txt, test.txt
    """
    known_issues = (
        (
            "Masks are colour-coded (red = 1..3 so that touching nuclei differ), not instance labels.",
            "Nuclei are 8-connected components of one red value; foreground components would merge touching nuclei.",
        ),
        (
            "Well + site is not unique: IXMtest_F22_s6 and IXMtest_P07_s8 were imaged twice.",
            "Records are keyed by the full file stem (with the GUID).",
        ),
        (
            "The fields are a sample of BBBC022 and also appear among the DSB2018 (BBBC038) images.",
            "Declared as overlapping nuclei_stage1_train: all_nuclei never mixes the two.",
        ),
        (
            "A few objects are tiny specks (9 of 23,615 under 5 pixels in a public copy).",
            "Kept as published (pixel-exact).",
        ),
    )

    layout_markers = (IMAGES_DIR, MASKS_DIR, METADATA_DIR)
    image_dirs = (IMAGES_DIR,)
    image_pattern = IMAGES_DIR + r"/(?P<field>IXMtest_[^/]+)(?i:\.tiff?)"
    annotation = MASKS_DIR + "/{field}.png"
    annotation_kind = "label_map"  # colour-coded: read_instances below decodes it
    missing_annotation = "no mask {annotation} for {name}"
    metadata = {**BBBC_FIELD_METADATA, "stain": "Hoechst"}

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        self._split_of = read_split_lists(root)
        splits = super().list_items(root)
        unlisted = splits.pop(None, [])
        present = {item.image_id for items in splits.values() for item in items} | {i.image_id for i in unlisted}
        for stem, split in sorted(self._split_of.items()):
            if stem not in present:
                splits.setdefault(split, []).append(skipped_item(stem, f"listed in metadata, no {IMAGES_DIR}/{stem}.tif"))
        for item in unlisted:  # no list names it, so it has no split: counted (under train), never silent
            if not is_skipped_item(item):
                item = skipped_item(item.image_id, f"{IMAGES_DIR}/{item.attrs['name']} is in no metadata list")
            splits.setdefault("train", []).append(item)
        return splits

    def split_of(self, fields: Mapping[str, str]) -> Any:
        return self._split_of.get(fields["field"])

    def read_instances(self, item: Item, shape: tuple[int, int]) -> tuple[dict[str, Any], list[str], str | None]:
        return {"label_map": colour_coded_labels(item.files["annotation"], shape)}, [], None


CONFIGS = (
    ConfigSpec(
        "BBBC039",
        BBBC039,
        {},
        "BBBC039v1 U2OS nuclei (Hoechst, 16-bit), instances decoded from colour-coded masks; official splits.",
        overlaps=("nuclei_stage1_train",),
        splits=("train", "validation", "test"),
    ),
)
