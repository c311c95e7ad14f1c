"""Janowczyk & Madabhushi 2016, deep-learning tutorial use case 1: nuclei (PARTIAL labels).

Raw layout (``nuclei.tgz``, flat; some copies sit in a top ``nuclei/`` folder)::

    <patient>_500_f<5 digits>_original.tif    2000x2000 RGB H&E (ER+ breast cancer, 40x)
    <patient>_500_f<5 digits>_mask.png        binary mask of the annotated nuclei

Annotation is PARTIAL: only some nuclei of each image were outlined, so an unlabelled
pixel is NOT background. Every record carries ``metadata.annotation = "partial"``; do not
train a background class on unlabelled pixels. Instances are the 8-connected components
of the mask (touching nuclei merge).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..base import ConfigSpec, Download, Item, Sample, Source, relative_posix, search_dirs, sorted_files
from ..formats.histology import he_metadata, image_and_instances

CITATION = """@article{janowczyk2016deep,
  title   = {Deep learning for digital pathology image analysis: A comprehensive tutorial with selected use cases},
  author  = {Janowczyk, Andrew and Madabhushi, Anant},
  journal = {Journal of Pathology Informatics},
  volume  = {7},
  number  = {1},
  pages   = {29},
  year    = {2016},
  doi     = {10.4103/2153-3539.186902}
}"""

_ORIGINAL = re.compile(r"^(?P<patient>[^_]+)_.*_original$")
ORIGINAL_SUFFIX = "_original"
MASK_SUFFIX = "_mask.png"


class JanowczykNuclei(Source):
    name = "Janowczyk nuclei (partial annotations)"
    homepage = "http://andrewjanowczyk.com/use-case-1-nuclei-segmentation/"
    citation = CITATION
    license = "not stated upstream"
    description = (
        "Janowczyk & Madabhushi 2016 nuclei use case: 2000x2000 H&E tiles of ER+ breast cancer at 40x "
        "with PARTIAL nucleus annotations: unlabelled pixels are not background (annotation=partial)."
    )
    # http, not https: the host's certificate has been a problem for other downloaders; the
    # pinned sha256 guards the bytes either way.
    downloads = (
        Download(
            url="http://andrewjanowczyk.com/wp-static/nuclei.tgz",
            filename="nuclei.tgz",
            sha256="cb881c29d9f0ae5ad1d953160a4e00be70af329e0351eed614d51b4b66c65e6b",
        ),
    )
    expected_layout = """
    <data_dir>/[nuclei/]<patient>_500_f<NNNNN>_original.tif
    <data_dir>/[nuclei/]<patient>_500_f<NNNNN>_mask.png   (binary, partial annotation)
    """

    def find_root(self, data_dir: Path) -> Path | None:
        for folder in search_dirs(data_dir, depth=1):
            if any(_is_original(p) for p in sorted_files(folder, [".tif", ".tiff"])):
                return folder
        return None

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        items = []
        for image in sorted_files(root, [".tif", ".tiff"]):
            if not _is_original(image):
                continue
            stem = image.stem[: -len(ORIGINAL_SUFFIX)]
            items.append(
                Item(
                    image_id=stem,
                    files={"image": str(image), "mask": str(root / f"{stem}{MASK_SUFFIX}")},
                    attrs={"root": str(root), "patient": _ORIGINAL.match(image.stem).group("patient")},
                )
            )
        return {"train": items}

    def read(self, item: Item) -> Sample:
        image_path, mask_path = Path(item.files["image"]), Path(item.files["mask"])
        pixels, label_map = image_and_instances(item.image_id, image_path, mask_path)
        metadata = he_metadata(
            self,
            organ="breast",
            magnification=40.0,
            patient_id=item.attrs["patient"],
            annotation="partial",
            upstream_path=relative_posix(image_path, Path(item.attrs["root"])),
        )
        return Sample(image_id=item.image_id, image=pixels, label_map=label_map, metadata=metadata)


def _is_original(path: Path) -> bool:
    return bool(_ORIGINAL.match(path.stem)) and not path.name.startswith(".")


CONFIGS = (
    ConfigSpec(
        "nuclei_partial_annotations",
        JanowczykNuclei,
        {},
        "Janowczyk & Madabhushi 2016 nuclei: 2000x2000 H&E, PARTIAL annotations (unlabelled != background).",
    ),
)
