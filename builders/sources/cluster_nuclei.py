"""cluster_nuclei: clustered nuclei of the ImageJ IHC toolbox (Shu, Qiu & Ilyas).

Raw layout (``cluster nuclei.zip`` from Dropbox; the folder name has a space)::

    cluster nuclei/original/<stem>.<ext>        the image
    cluster nuclei/label/<stem>(label).bmp      the same image with pure red (255, 0, 0) outlines

Each image gets the objects enclosed by its red outlines (:func:`raster.fill_outlines`:
holes filled, touching outlines kept apart, outlines open at the image border dropped).
Only exactly (255, 0, 0) counts as outline. Images are stored as decoded (lossless PNG);
the modality is derived from the pixels like DSB2018's. Whether every nucleus of an
image is outlined is not documented upstream, so ``metadata.annotation`` stays null.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base import (
    BadInputError,
    ConfigSpec,
    Download,
    Item,
    Sample,
    SkipItem,
    Source,
    find_layout_root,
    logged_notes,
    relative_posix,
    sorted_files,
)
from ..formats.modality import modality_of
from ..formats.outlines import fill_outlines
from ..raster import read_image

TOP_FOLDER = "cluster nuclei"
OUTLINE_RED = (255, 0, 0)
LABEL_SUFFIX = "(label).bmp"

CITATION = """@misc{shu_ihc_toolbox,
  title        = {{IHC} toolbox (ImageJ plugin), cluster nuclei data set},
  author       = {Shu, Jie and Qiu, Guoping and Ilyas, Mohammad},
  howpublished = {\\url{https://imagej.nih.gov/ij/plugins/ihc-toolbox/index.html}},
  note         = {Data: https://www.dropbox.com/s/9knzkp9g9xt6ipb/cluster\\%20nuclei.zip}
}"""


class ClusterNuclei(Source):
    name = "cluster nuclei (IHC toolbox)"
    homepage = "https://imagej.nih.gov/ij/plugins/ihc-toolbox/index.html"
    citation = CITATION
    # No licence is stated upstream.
    license = "unknown"
    description = "Clustered nuclei from the ImageJ IHC toolbox (Shu, Qiu, Ilyas): images with red nucleus outlines."
    downloads = (
        # dl=1 makes Dropbox send the file itself (dl=0 is its HTML preview page).
        Download(
            url="https://www.dropbox.com/s/9knzkp9g9xt6ipb/cluster%20nuclei.zip?dl=1", filename="cluster nuclei.zip"
        ),
    )
    expected_layout = """
    <data_dir>/[cluster nuclei/]original/<stem>.<ext>
    <data_dir>/[cluster nuclei/]label/<stem>(label).bmp     (pure red outlines)
    """
    #: min_area: drop filled objects smaller than this many pixels (1 keeps all)
    default_options = {"min_area": 1}

    def find_root(self, data_dir: Path) -> Path | None:
        return find_layout_root(data_dir, ("original", "label"))

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        items = []
        for image in sorted_files(root / "original"):
            if image.name.startswith("."):
                continue
            label = root / "label" / f"{image.stem}{LABEL_SUFFIX}"
            items.append(
                Item(
                    image_id=image.stem,
                    files={"image": str(image), "label": str(label) if label.is_file() else None},
                    attrs={"root": str(root)},
                )
            )
        return {"train": items}

    def read(self, item: Item) -> Sample:
        root, image_path = Path(item.attrs["root"]), Path(item.files["image"])
        if item.files["label"] is None:
            raise SkipItem(item.image_id, f"no label/{item.image_id}{LABEL_SUFFIX} next to {image_path.name}")
        label_path = Path(item.files["label"])
        pixels = read_image(image_path)
        drawing = read_image(label_path)
        if drawing.ndim != 3 or drawing.shape[:2] != pixels.shape[:2]:
            raise BadInputError(
                label_path, f"expected an RGB drawing of the image's size {pixels.shape[:2]}, got shape {drawing.shape}"
            )
        label_map, notes = fill_outlines(pixels_of_colour(drawing, OUTLINE_RED), min_area=int(self.options["min_area"]))
        if not label_map.any():
            notes.append(f"no closed red outline in {label_path.name}: no objects")
        metadata = self.base_metadata(modality=modality_of(pixels), upstream_path=relative_posix(image_path, root))
        return Sample(
            image_id=item.image_id,
            image=pixels,
            label_map=label_map,
            metadata=metadata,
            notes=logged_notes(item.image_id, notes),
        )


def pixels_of_colour(pixels: np.ndarray, colour: tuple[int, ...]) -> np.ndarray:
    """(h, w) bool: pixels whose first channels equal ``colour`` exactly (e.g. pure red)."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] < len(colour):
        raise ValueError(f"need an image with at least {len(colour)} channels, got shape {pixels.shape}")
    return np.all(pixels[..., : len(colour)] == np.asarray(colour, dtype=pixels.dtype), axis=2)


CONFIGS = (
    ConfigSpec(
        "cluster_nuclei", ClusterNuclei, {}, "IHC toolbox clustered nuclei: red outline drawings filled into instances."
    ),
)
