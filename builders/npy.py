"""Numpy ``.npy`` helpers: read one item of a large array at a time, cast floats to ids exactly.

Shared by the PanNuke reader (``images.npy`` / ``masks.npy`` of ~8 GB per fold) and by the
evaluation's prediction readers (PanNuke-style ``masks.npy`` predictions, ``.npy`` label
maps). ``allow_pickle=False`` always: an object array or pickled data is a
:class:`~.base.BadInputError`, never executed.

Reading: the header is read once through ``np.load(mmap_mode="r")`` (the mapping is dropped
at once, no data page touched) and every item is read on its own with an explicit ``seek`` +
``read`` of its bytes, so memory stays at one item whatever the file size (a memory map's
touched pages would count toward RSS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import BadInputError


@dataclass(frozen=True)
class NpyArray:
    """Where the items of a C-order ``.npy`` array live in its file (picklable, no mapping)."""

    path: str
    offset: int
    shape: tuple[int, ...]
    dtype: str

    @classmethod
    def open(cls, path: Path) -> NpyArray:
        """Read the header (via a memory map that is closed at once: no data pages touched)."""
        try:
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise BadInputError(path, "file not found") from None
        except (ValueError, OSError, EOFError) as error:
            raise BadInputError(path, f"not a readable .npy array (allow_pickle=False): {error}") from None
        try:
            if not isinstance(mapped, np.memmap) or mapped.ndim < 1:
                raise BadInputError(path, "expected an array with items along the first axis")
            if mapped.dtype.hasobject or mapped.dtype.kind not in "biuf":
                raise BadInputError(path, f"dtype {mapped.dtype} is not numeric")
            if mapped.ndim > 1 and not mapped.flags.c_contiguous:
                raise BadInputError(path, "Fortran-order arrays are not supported (expected C order)")
            return cls(str(path), int(mapped.offset), tuple(int(s) for s in mapped.shape), mapped.dtype.str)
        finally:
            del mapped  # drops the mapping; only the header was ever read

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, index: int) -> np.ndarray:
        """Item ``index`` (shape ``shape[1:]``) by one explicit file read."""
        dtype = np.dtype(self.dtype)
        count = int(np.prod(self.shape[1:], dtype=np.int64))
        nbytes = count * dtype.itemsize
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + index * nbytes)
            data = handle.read(nbytes)
        if len(data) != nbytes:
            raise BadInputError(self.path, f"truncated: item {index} needs {nbytes} bytes, got {len(data)}")
        return np.frombuffer(data, dtype=dtype, count=count).reshape(self.shape[1:])


def exact_cast(values: np.ndarray, dtype: type, path: str, what: str) -> np.ndarray:
    """Cast ``values`` to an integer ``dtype`` exactly: every value must be an integer in its range."""
    if values.dtype == dtype:
        return values
    limits = np.iinfo(dtype)
    low, high = max(limits.min, 0), limits.max
    # In range (NaN fails both comparisons) and unchanged by the cast = integral.
    if not (values.min() >= low and values.max() <= high):
        raise BadInputError(path, f"{what}: values outside {low}..{high} (min {values.min()}, max {values.max()})")
    cast = values.astype(dtype)
    if not np.array_equal(cast, values):
        bad = values[cast != values].ravel()[:3]
        raise BadInputError(path, f"{what}: values are not integers in {low}..{high} (e.g. {bad.tolist()})")
    return cast
