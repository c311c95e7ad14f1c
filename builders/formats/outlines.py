"""Outline drawings -> instances (BBBC007, BBBC018, cluster_nuclei) and binary masks painted on pictures (BBBC020)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base import BadInputError
from ..raster import read_image
from .instances import sequential_labels

#: 4-connectivity (edges only) and 8-connectivity (edges and corners).
#: 4- and 8-connectivity structures (scipy._ndimage().generate_binary_structure(2, 1) and (2, 2))
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
SQUARE = np.ones((3, 3), dtype=bool)


def _ndimage():
    """scipy.ndimage, imported on first use: the registry import (and `list`) stays fast."""
    from scipy import ndimage

    return ndimage


def fill_outlines(outline: np.ndarray, include_outline: bool = True, min_area: int = 1) -> tuple[np.ndarray, list[str]]:
    """Turn a drawing of closed 1-px outlines into an instance label map.

    Rules (digital topology: outlines are 8-connected curves, so the regions they enclose
    are taken 4-connected, which makes a diagonal step in a curve a closed wall):

    1. The non-outline pixels are split into 4-connected regions. Regions touching the
       image border are background: an outline left open at the border, or not closed at
       all, encloses nothing and gives no object. (If no region touches the border, e.g.
       a frame drawn round the image, the largest region is background; a note says so.)
    2. Every other region is the interior of an object. Holes are filled: a region lying
       inside another one (a nested outline) is merged into the outer object together
       with the inner outline, so objects never have holes and never nest.
    3. With ``include_outline`` an outline pixel that is 8-adjacent to an object interior
       joins that object (the drawn contour lies on the nucleus edge). A pixel shared by
       two touching objects goes to the higher label; objects stay disjoint, and
       touching outlines stay separate objects because their interiors are separate.
    4. Objects smaller than ``min_area`` pixels are dropped (pockets of background
       enclosed between three or more touching outlines look like tiny objects).

    Returns an int32 label map with labels 1..N in row-major order of each object's
    first interior pixel, and notes for anything unusual.
    """
    outline = np.asarray(outline, dtype=bool)
    if outline.ndim != 2:
        raise ValueError(f"outline image must be 2-D, got shape {outline.shape}")
    notes: list[str] = []
    regions, n_regions = _ndimage().label(~outline, structure=CROSS)
    if n_regions == 0:
        return np.zeros(outline.shape, dtype=np.int32), notes
    edge_ids = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
    background = np.zeros(n_regions + 1, dtype=bool)
    background[0] = True
    background[edge_ids] = True
    if background.sum() == 1:
        largest = int(np.argmax(np.bincount(regions.ravel())[1:])) + 1
        background[largest] = True
        notes.append("no region touches the image border (frame drawn?): the largest region is background")
    labels = np.where(background[regions], 0, regions).astype(np.int32)
    _merge_nested(labels)
    if include_outline:
        # One 3x3 max filter: an outline pixel takes the highest neighbouring object label.
        grown = _ndimage().grey_dilation(labels, footprint=SQUARE)
        contour = outline & (labels == 0) & (grown > 0)
        labels[contour] = grown[contour]
    return sequential_labels(labels, min_area), notes


def _merge_nested(labels: np.ndarray) -> None:
    """Fill each object's holes in place, so nested objects merge into the outermost one.

    An object inside another lies in the outer one's hole, and its bounding box is
    strictly smaller; filling in order of increasing box area lets the outermost win.
    Work is done per bounding box, so the cost is the sum of box areas, not N frames.
    """
    slices = _ndimage().find_objects(labels)
    boxes = [(index + 1, box) for index, box in enumerate(slices) if box is not None]
    boxes.sort(key=lambda entry: (entry[1][0].stop - entry[1][0].start) * (entry[1][1].stop - entry[1][1].start))
    for label, box in boxes:
        window = labels[box]
        own = window == label
        # 8-connected background for a 4-connected object: a 4-connected ring is closed.
        holes = _ndimage().binary_fill_holes(own, structure=SQUARE) & ~own
        if holes.any():
            window[holes] = label


def binary_from_pixels(pixels: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(h, w) bool mask of an image meant to be binary (outline drawing or object mask).

    * 1-bit / bool images, and images with exactly one non-zero value (any channel
      count): every non-zero pixel is foreground;
    * anything else is an annotation painted onto a picture: only pure white pixels (the
      dtype's maximum in every channel) are foreground, and a note says so.
    """
    pixels = np.asarray(pixels)
    if pixels.dtype == bool:
        return (pixels.any(axis=2) if pixels.ndim == 3 else pixels), None
    if not np.issubdtype(pixels.dtype, np.integer):
        raise ValueError(f"binary image must have an integer dtype, got {pixels.dtype}")
    if pixels.dtype.itemsize <= 2 and pixels.dtype.kind == "u":
        values = np.flatnonzero(np.bincount(pixels.ravel()))  # O(n), no sort (masks are large)
    else:
        values = np.unique(pixels)
    if len(values) == 1 or (len(values) == 2 and values[0] == 0):
        mask = pixels != 0
        return (mask.any(axis=2) if mask.ndim == 3 else mask), None
    white = pixels == np.iinfo(pixels.dtype).max
    mask = white.all(axis=2) if white.ndim == 3 else white
    return mask, f"not a two-valued image: kept only pure white pixels ({int(mask.sum())} px) as annotation"


def outline_file_labels(
    path: Path | str, shape: tuple[int, int], min_area: int = 1, flip: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Label map of an outline drawing file (binary, or painted onto a picture) of a given size.

    ``flip`` turns the drawing upside down first. Notes name the file.
    """
    path = Path(path)
    outline, note = binary_from_pixels(read_image(path))
    if outline.shape != tuple(shape):
        raise BadInputError(
            path, f"outline size {outline.shape[1]}x{outline.shape[0]} != image size {shape[1]}x{shape[0]}"
        )
    notes = [note] if note else []
    if outline.mean() > 0.5:
        # Outlines are thin: more than half the pixels set means the polarity is inverted.
        outline = ~outline
        notes.append("outline polarity inverted (dark outlines on white)")
    if flip:
        outline = outline[::-1]
    label_map, fill_notes = fill_outlines(outline, min_area=min_area)
    if not label_map.any():
        fill_notes.append("no closed outline found: no objects")
    return label_map, [f"{path.name}: {note}" for note in notes + fill_notes]


def pixels_of_colour(pixels: np.ndarray, colour: tuple[int, ...]) -> np.ndarray:
    """(h, w) bool: pixels whose first channels equal ``colour`` exactly (e.g. pure red)."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] < len(colour):
        raise ValueError(f"need an image with at least {len(colour)} channels, got shape {pixels.shape}")
    return np.all(pixels[..., : len(colour)] == np.asarray(colour, dtype=pixels.dtype), axis=2)
