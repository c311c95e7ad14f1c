"""The Warwick TIA ".mat label + PNG tile" format (CoNSeP, CPM-15/17, Lizard, Kumar).

Each image ``<name>.png`` has a MATLAB file ``<name>.mat`` holding an instance label map
``inst_map`` (0 = background) and, depending on the set, per-instance vectors (``inst_type``,
``id`` / ``class``). The files are MAT v5 written by ``scipy.io.savemat`` (the Lizard header
reads ``MATLAB 5.0 MAT-file Platform: posix``) and every peer reads them with
``scipy.io.loadmat``.

* :func:`load_mat`: read one file; every failure (missing, truncated, HTML / Git LFS
  pointer instead of the file, MATLAB v7.3 = HDF5) is a :class:`BadInputError` naming the
  file, never a traceback from scipy;
* :func:`mat_label_map`, :func:`mat_vector`: a key as a checked label map / 1-D integer
  vector (integer-valued floats accepted: MATLAB stores doubles);
* :func:`tile_pixels`: the PNG tile, upstream bytes kept when they are stored as decoded,
  a constant alpha dropped;
* :func:`tile_items`, :class:`MatTileSource`: listing and reading of "tile + label" items;
  a reader only says how one ``.mat`` becomes instances (:meth:`MatTileSource.mat_instances`)
  and where its items are; ``formats.instances.label_instances`` turns an upstream label
  map and its classes into the Sample's instances (ids renumbered 1..N where they have gaps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..base import BadInputError, Item, is_junk, printable_name, sorted_dirs, sorted_files
from ..raster import read_png_verbatim
from .folder import PairedFilesSource
from .naming import natural_key
from .pixels import without_constant_alpha

#: Start of the text header of a MAT v5/v7 file (v7.3 files say "MATLAB 7.3 MAT-file").
MAT5_MAGIC = b"MATLAB 5.0 MAT-file"
#: How many leading bytes are inspected to name what a non-MAT file is.
SNIFF_BYTES = 128


def load_mat(path: Path | str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of a MAT file; a missing key is an error listing the keys present."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    except OSError as error:
        raise BadInputError(path, f"cannot read the file ({error})") from None
    _check_header(path, head)
    try:
        import scipy.io  # imported here: keeps the registry import (and `list`) fast

        arrays = scipy.io.loadmat(path)
    except NotImplementedError:  # scipy's answer to v7.3 (HDF5) files
        raise BadInputError(path, "MATLAB v7.3 (HDF5) file: not supported; re-save it with MATLAB -v7") from None
    except Exception as error:  # truncated or corrupt: scipy raises many types, none is ours
        raise BadInputError(path, f"unreadable or truncated MAT file ({type(error).__name__}: {error})") from None
    present = sorted(k for k in arrays if not k.startswith("__"))
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise BadInputError(path, f"missing key(s) {missing} (keys present: {present or 'none'})")
    return {key: np.asarray(arrays[key]) for key in keys}


def _check_header(path: Path, head: bytes) -> None:
    if not head:
        raise BadInputError(path, "empty file (0 bytes)")
    if head.startswith(b"version https://git-lfs"):
        raise BadInputError(path, "a Git LFS pointer, not the MAT file (fetch the LFS object)")
    if head.lstrip()[:1] == b"<":
        raise BadInputError(path, "HTML/XML text, not a MAT file (a download error page?)")
    if head.startswith(b"MATLAB 7.3"):
        raise BadInputError(path, "MATLAB v7.3 (HDF5) file: not supported; re-save it with MATLAB -v7")
    if not head.startswith(MAT5_MAGIC):
        raise BadInputError(path, f"not a MATLAB 5 MAT file (starts with {head[:20]!r})")


def integer_values(array: np.ndarray, path: Path | str, key: str) -> np.ndarray:
    """``array`` as int64 after checking it holds non-negative integers (floats must be whole)."""
    array = np.asarray(array)
    if array.dtype == bool:
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.integer):
        values = array.astype(np.int64, copy=False)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or (array != np.round(array)).any():
            bad = array[~np.isfinite(array) | (array != np.round(array))].ravel()[:3]
            raise BadInputError(path, f"{key!r} holds non-integer values (e.g. {bad.tolist()})")
        values = array.astype(np.int64)
    else:
        raise BadInputError(path, f"{key!r} has dtype {array.dtype}, expected integers")
    if values.size and values.min() < 0:
        raise BadInputError(path, f"{key!r} holds negative values (min {int(values.min())})")
    return values


def mat_label_map(arrays: Mapping[str, np.ndarray], key: str, path: Path | str, shape: tuple[int, int]) -> np.ndarray:
    """``arrays[key]`` as an int64 (h, w) label map of the image's ``shape``."""
    array = arrays[key]
    if array.ndim != 2:
        raise BadInputError(path, f"{key!r} must be a 2-D map, got shape {array.shape}")
    if array.shape != tuple(shape):
        raise BadInputError(path, f"{key!r} size {array.shape[1]}x{array.shape[0]} != image size {shape[1]}x{shape[0]}")
    return integer_values(array, path, key)


def mat_vector(arrays: Mapping[str, np.ndarray], key: str, path: Path | str) -> np.ndarray:
    """``arrays[key]`` (N x 1, 1 x N or N; empty allowed) as a 1-D int64 vector."""
    array = arrays[key]
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim > 2 or (array.ndim == 2 and min(array.shape) != 1):
        raise BadInputError(path, f"{key!r} must be a vector (N x 1), got shape {array.shape}")
    return integer_values(array.reshape(-1), path, key)


def tile_pixels(path: Path | str, image_id: str) -> tuple[np.ndarray, bytes | None, list[str]]:
    """(pixels, upstream PNG bytes or None, notes) of a PNG tile.

    RGB / grey PNGs keep their bytes (stored verbatim). RGBA with a constant alpha of 255
    carries nothing in the alpha: stored as RGB (re-encoded). Any other alpha is kept, with
    a counted note, so nothing is dropped silently.
    """
    pixels, png = read_png_verbatim(path)
    stored, notes = without_constant_alpha(pixels, image_id)
    return stored, (png if stored is pixels else None), notes


def child_dir(folder: Path, name: str) -> Path | None:
    """The sub-folder of ``folder`` called ``name`` in any letter case (exact case first)."""
    if (folder / name).is_dir():
        return folder / name
    matches = [d for d in sorted_dirs(folder) if d.name.lower() == name.lower()] if folder.is_dir() else []
    return matches[0] if matches else None


def tile_items(
    root: Path, images: Path, labels: Path, id_prefix: str = "", attrs: Mapping[str, Any] | None = None
) -> list[Item]:
    """Items of ``images/<name>.png`` paired with ``labels/<name>.mat``, in natural name order.

    A missing image or ``.mat`` is kept as ``None``: reading the item is then a counted skip.
    """
    pngs = {p.stem: p for p in sorted_files(images, [".png"]) if not is_junk(p)}
    mats = {p.stem: p for p in sorted_files(labels, [".mat"]) if not is_junk(p)} if labels.is_dir() else {}
    items = []
    # A .mat without its image is listed too, so that it is counted as a skip, never lost.
    for stem in sorted(set(pngs) | set(mats), key=natural_key):
        image, label = pngs.get(stem), mats.get(stem)
        items.append(
            Item(
                image_id=printable_name(f"{id_prefix}{stem}"),
                files={"image": str(image) if image else None, "label": str(label) if label else None},
                attrs={"root": str(root), **(attrs or {})},
            )
        )
    return items


def split_items(root: Path, split: str, id_prefix: str = "") -> list[Item]:
    """Items of ``root/<split>/Images`` + ``root/<split>/Labels`` (folder names in any case); [] if absent."""
    folder = child_dir(root, split)
    images = child_dir(folder, "Images") if folder else None
    if images is None:
        return []
    return tile_items(root, images, child_dir(folder, "Labels") or folder / "Labels", id_prefix)


class MatTileSource(PairedFilesSource):
    """A reader of "PNG tile + ``.mat`` label" items (:func:`tile_items` or the reader's own listing).

    Subclasses give the fixed :attr:`metadata`, list items whose ``files`` are ``image`` and
    ``label`` (``None`` when missing) and implement :meth:`mat_instances`; the shared read
    skeleton (:class:`~.folder.PairedFilesSource`) reads the tile, checks sizes, fills the
    metadata and builds the :class:`Sample`.
    """

    annotation_key = "label"

    def mat_instances(self, path: Path, shape: tuple[int, int], item: Item) -> tuple[dict[str, Any], list[str]]:
        """``({"label_map": ..., "categories": ...}, notes)`` of one ``.mat`` file."""
        raise NotImplementedError

    def missing_reason(self, item: Item) -> str:
        """Reason of the counted skip of an item whose image or ``.mat`` is missing."""
        if item.files.get("image") is None:
            label = Path(item.files["label"])
            return f"no image {label.stem}.png for {label.parent.name}/{label.name}"
        image = Path(item.files["image"])
        return f"no label file {image.stem}.mat for {image.name}"

    def image_pixels(self, item: Item) -> tuple[np.ndarray, bytes | None, list[str]]:
        return tile_pixels(item.files["image"], item.image_id)

    def read_instances(self, item: Item, shape: tuple[int, int]) -> tuple[dict[str, Any], list[str], str | None]:
        instances, notes = self.mat_instances(Path(item.files["label"]), shape, item)
        return instances, notes, None

    def annotation_notes(self, item: Item, notes: list[str]) -> list[str]:
        # mat_instances' notes are CountedNotes that name the image themselves: kept as they
        # are, so the end-of-split summary counts them (a prefix would turn them into text).
        return notes
