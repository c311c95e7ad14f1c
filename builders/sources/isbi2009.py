"""2009_ISBI_2DNuclei: Coelho, Shariff & Murphy's hand-segmented nuclei (Murphy lab tgz).

Raw layout (``2009_ISBI_2DNuclei_code_data.tgz``; unpacked with or without its top
folder ``2009_ISBI_2DNuclei_code_data/``)::

    data/images/dna-images/{gnf,ic100}/dna-<n>.png     grey stored as RGB (R = G = B)
    data/preprocessed-data/{gnf,ic100}/dna-<n>.png     label image, L, 0 = background, 1..N

gnf (U2OS, 1349x1030) and ic100 (NIH3T3, 1344x1024) are the two collections with
labels (``metadata.collection``); ``ksr`` has none and is not read. The label images
are the ones the authors' ``extract-data.py`` derived from the GIMP ``.xcf`` drawings
(the .xcf files are not read). The image PNG is stored byte for byte.

Images without a label image (gnf dna-31, gnf dna-43, ic100 dna-25 upstream): option
``unannotated`` = ``skip`` (default, counted skips; 97 records) or ``keep``
(``annotation="none"``, no objects).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..base import (
    ConfigSpec,
    Download,
    Item,
    MissingDataError,
    Sample,
    SkipItem,
    Source,
    find_layout_root,
    logged_notes,
    relative_posix,
    sorted_files,
)
from ..raster import read_label_map, read_png_verbatim

TOP_FOLDER = "2009_ISBI_2DNuclei_code_data"
IMAGES_DIR = "data/images/dna-images"
LABELS_DIR = "data/preprocessed-data"
COLLECTIONS = ("gnf", "ic100")
IMAGE_NAME = re.compile(r"^dna-(?P<n>\d+)\.png$")
UNANNOTATED_CHOICES = ("skip", "keep")

CITATION = """@inproceedings{coelho2009nuclear,
  title     = {Nuclear segmentation in microscope cell images: a hand-segmented dataset and comparison of algorithms},
  author    = {Coelho, Luis Pedro and Shariff, Aabid and Murphy, Robert F.},
  booktitle = {2009 IEEE International Symposium on Biomedical Imaging: From Nano to Macro (ISBI)},
  pages     = {518--521},
  year      = {2009},
  doi       = {10.1109/ISBI.2009.5193098}
}"""


class ISBI2009Nuclei(Source):
    name = "2009_ISBI_2DNuclei (Coelho et al.)"
    homepage = "https://murphylab.web.cmu.edu/data/2009_ISBI_Nuclei.html"
    citation = CITATION
    # No licence is stated upstream; the authors ask to cite the paper.
    license = "unknown"
    description = (
        "Coelho, Shariff & Murphy (ISBI 2009): hand-segmented nuclei in U2OS (gnf) and NIH3T3 (ic100) "
        "fluorescence images, 97 labelled images."
    )
    downloads = (
        Download(
            url="https://murphylab.web.cmu.edu/data/2009_ISBI_2DNuclei_code_data.tgz",
            filename="2009_ISBI_2DNuclei_code_data.tgz",
        ),
    )
    manual_instructions = """
    If the download fails (the host's TLS certificate has been reported broken), fetch
    2009_ISBI_2DNuclei_code_data.tgz from https://murphylab.web.cmu.edu/data/2009_ISBI_Nuclei.html
    by hand, unpack it and pass the folder with --data-dir.
    """
    expected_layout = """
    <data_dir>/[2009_ISBI_2DNuclei_code_data/]data/images/dna-images/{gnf,ic100}/dna-<n>.png
    <data_dir>/[2009_ISBI_2DNuclei_code_data/]data/preprocessed-data/{gnf,ic100}/dna-<n>.png
    """
    #: unannotated: "skip" images without a label image (default) or "keep" them (annotation "none")
    default_options = {"unannotated": "skip"}

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.options["unannotated"] not in UNANNOTATED_CHOICES:
            raise ValueError(f"{self.name}: option unannotated must be one of {UNANNOTATED_CHOICES}")

    def find_root(self, data_dir: Path) -> Path | None:
        return find_layout_root(data_dir, (IMAGES_DIR,))

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        if not (root / LABELS_DIR).is_dir():
            raise MissingDataError(
                self.missing_message(
                    root,
                    f"{LABELS_DIR}/ is missing: this reader uses the label images the authors' extract-data.py "
                    "derives from the .xcf drawings (github.com/luispedro/Coelho2009_ISBI_NuclearSegmentation has them)",
                )
            )
        items = []
        for collection in COLLECTIONS:
            folder = root / IMAGES_DIR / collection
            if not folder.is_dir():
                continue
            numbered = [(int(m["n"]), p) for p in sorted_files(folder, [".png"]) if (m := IMAGE_NAME.match(p.name))]
            for _, image in sorted(numbered):
                label = root / LABELS_DIR / collection / image.name
                items.append(
                    Item(
                        image_id=f"{collection}-{image.stem}",
                        files={"image": str(image), "label": str(label) if label.is_file() else None},
                        attrs={"root": str(root), "collection": collection},
                    )
                )
        return {"train": items}

    def read(self, item: Item) -> Sample:
        root = Path(item.attrs["root"])
        if item.files["label"] is None and self.options["unannotated"] == "skip":
            raise SkipItem(item.image_id, f"no label image in {LABELS_DIR}/ (unannotated upstream)")
        image_path = Path(item.files["image"])
        pixels, png = read_png_verbatim(image_path)
        label_map, notes = None, []
        if item.files["label"] is not None:
            label_map, notes = read_label_map(item.files["label"], pixels.shape[:2])
            notes = logged_notes(item.image_id, notes)
        metadata = self.base_metadata(
            modality="fluorescence",
            annotation="complete" if label_map is not None else "none",
            collection=item.attrs["collection"],
            upstream_path=relative_posix(image_path, root),
        )
        return Sample(
            image_id=item.image_id,
            image=pixels,
            image_png=png,
            label_map=label_map,
            objects=None if label_map is not None else [],
            metadata=metadata,
            notes=notes,
        )


CONFIGS = (
    ConfigSpec(
        "2009_ISBI_2DNuclei",
        ISBI2009Nuclei,
        {},
        "Coelho et al. ISBI 2009 hand-segmented nuclei (gnf U2OS, ic100 NIH3T3), label images of preprocessed-data.",
    ),
)
