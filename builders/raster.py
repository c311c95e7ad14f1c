"""Pixel I/O shared by all readers: decode with clear errors, encode lossless PNG.

Every reader goes through :func:`read_image` so that a truncated or foreign file gives a
:class:`~builders.base.BadInputError` naming the file, never a traceback from inside PIL.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .base import BadInputError, logger

#: PNG zlib level for images we (re-)encode: 6 is Pillow's default trade-off.
PNG_COMPRESS_LEVEL = 6


#: Serialises our changes of Pillow's process-wide decompression-bomb limit.
_PIXEL_LIMIT_LOCK = threading.Lock()


@contextmanager
def pixel_limit(max_pixels: int) -> Iterator[None]:
    """Let Pillow open images of up to ``max_pixels`` inside the block, then restore its limit.

    Pillow's guard (``Image.MAX_IMAGE_PIXELS``, ~89.5 Mpx) is a module global, so it can
    only be changed for everyone in the process. This sets it for the duration of one of
    our reads, under a lock so that concurrent reads of ours never restore each other's
    value; callers outside this package are never given a raised limit for longer than
    such a read. The bound stays explicit: an image above ``max_pixels`` still fails.
    """
    with _PIXEL_LIMIT_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = int(max_pixels)
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _open(path: Path | str, data: bytes | None = None, max_pixels: int | None = None) -> Image.Image:
    if max_pixels is not None:
        with pixel_limit(max_pixels):
            return _open(path, data)
    source = io.BytesIO(data) if data is not None else str(path)
    # Pillow warns about damage it tolerates ("Corrupt EXIF data", "Truncated File Read") before
    # it fails or returns pixels: those warnings are ours to report, not to leak to the console
    # ahead of (or instead of) our own error.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(source)
            image.load()  # decode now so truncation errors surface here
        except FileNotFoundError:
            raise BadInputError(path, "file not found") from None
        except UnidentifiedImageError:
            raise BadInputError(
                path, "not a readable image (unknown format or not an image at all)" + _pillow_said(caught)
            ) from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
            raise BadInputError(
                path, f"image too large for this reader ({error}); limit: {Image.MAX_IMAGE_PIXELS} pixels"
            ) from None
        except (OSError, SyntaxError, ValueError) as error:
            raise BadInputError(path, f"cannot decode image: {error}" + _pillow_said(caught)) from None
    for warning in caught:  # decoded all the same: worth a debug line, not a console warning
        logger.debug("%s: Pillow: %s", path, warning.message)
    return image


def _pillow_said(caught: list[warnings.WarningMessage]) -> str:
    """Pillow's warnings during a failed read, as a suffix of our error's reason."""
    messages = list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))
    return f" (Pillow: {'; '.join(messages)})" if messages else ""


def read_image(path: Path | str, data: bytes | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file to an array, keeping its mode (RGBA stays RGBA, 16-bit stays 16-bit).

    ``max_pixels`` raises Pillow's decompression-bomb limit for this read only (see
    :func:`pixel_limit`); without it Pillow's default limit applies.
    """
    image = _open(path, data, max_pixels)
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.uint16)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return np.asarray(image)


def read_png_verbatim(path: Path | str, max_pixels: int | None = None) -> tuple[np.ndarray, bytes]:
    """Read a PNG's bytes and pixels; the bytes can be stored as-is (lossless, no re-encode)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BadInputError(path, "file not found") from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadInputError(path, "not a PNG file (bad signature)")
    return read_image(path, data, max_pixels), data


def read_mask(path: Path | str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary mask image as (h, w) bool: any non-zero pixel (in any channel) is foreground."""
    pixels = read_image(path)
    if pixels.ndim == 3:
        pixels = pixels.max(axis=2)
    if shape is not None and pixels.shape != tuple(shape):
        raise BadInputError(path, f"mask size {pixels.shape[1]}x{pixels.shape[0]} != image size {shape[1]}x{shape[0]}")
    return pixels != 0


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless PNG of an (h, w), (h, w, 3) or (h, w, 4) uint8 array or an (h, w) uint16 array."""
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint16 and pixels.ndim == 2:
        image = Image.fromarray(pixels)  # Pillow writes mode I;16 as a 16-bit grey PNG
    elif pixels.dtype == np.uint8 and (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))):
        image = Image.fromarray(pixels)
    elif pixels.dtype == bool and pixels.ndim == 2:
        image = Image.fromarray(pixels.astype(np.uint8) * 255)
    else:
        raise ValueError(f"cannot store pixels of dtype {pixels.dtype} and shape {pixels.shape} as PNG")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


#: Largest id for which ids are counted with a dense table (np.bincount, one slot per id up to
#: the largest); above it (sparse ids, e.g. int64 ids from a MATLAB file) np.unique is used.
DENSE_ID_LIMIT = 1 << 16


def relabel_sequential(label_map: np.ndarray, min_area: int = 1) -> tuple[np.ndarray, np.ndarray, bool]:
    """(label map with ids 1..N, the upstream id of each new id - 1, whether anything changed).

    The one renumbering of the project (``formats.instances.sequential_labels`` and
    ``formats.instances.renumber`` are views of it). Labels under ``min_area`` pixels are
    dropped (set to 0); the kept ones become 1..N in increasing upstream id. When the ids
    already are 1..N and nothing is dropped, the input array itself is returned (same
    object, same dtype), so upstream ids survive wherever they already follow the schema;
    otherwise the map is int32. Any non-negative integer dtype is accepted; large sparse ids
    are counted with ``np.unique`` rather than a table as long as the largest id.
    """
    label_map = np.asarray(label_map)
    if not (np.issubdtype(label_map.dtype, np.integer) or label_map.dtype == bool):
        raise ValueError(f"a label map must hold integers, got dtype {label_map.dtype}")
    ids = label_map.ravel().astype(np.int64, copy=False)
    if ids.size == 0:
        return label_map, np.zeros(0, dtype=np.int64), False
    if int(ids.min()) < 0:
        raise ValueError(f"label ids must be >= 0, got {int(ids.min())}")
    largest = int(ids.max())
    if largest <= max(DENSE_ID_LIMIT, ids.size):
        counts = np.bincount(ids)
        values, inverse = np.arange(len(counts)), None
    else:
        values, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    present = (values > 0) & (counts > 0)
    kept = present & (counts >= min_area)
    upstream = values[kept]
    if kept.sum() == present.sum() and (len(upstream) == 0 or upstream[-1] == len(upstream)):
        return label_map, upstream, False
    lookup = np.zeros(len(values), dtype=np.int32)
    lookup[kept] = np.arange(1, len(upstream) + 1, dtype=np.int32)
    relabelled = lookup[ids] if inverse is None else lookup[inverse.reshape(-1)]
    return relabelled.reshape(label_map.shape), upstream, True


def read_id_map(path: Path | str, shape: tuple[int, ...]) -> np.ndarray:
    """An upstream instance label image (0 = background) of the given (h, w), ids as stored."""
    upstream = read_image(path)
    if upstream.ndim != 2 or not np.issubdtype(upstream.dtype, np.integer):
        raise BadInputError(path, f"expected a grey label image, got {upstream.dtype} of shape {upstream.shape}")
    if upstream.shape != tuple(shape):
        raise BadInputError(
            path, f"label image size {upstream.shape[1]}x{upstream.shape[0]} != image size {shape[1]}x{shape[0]}"
        )
    return upstream


def read_label_map(path: Path | str, shape: tuple[int, ...]) -> tuple[np.ndarray, list[str]]:
    """An upstream label image (0 = background, 1..N) of the given (h, w), with ids 1..N.

    Ids with gaps are renumbered in label order (a note says so); the pixels are not touched.
    """
    label_map, _, renumbered = relabel_sequential(read_id_map(path, shape))
    notes = [f"{Path(path).name}: label ids had gaps; renumbered 1..N in label order"] if renumbered else []
    return label_map, notes
