"""COCO run-length encoding, vectorised.

The output is byte-identical to ``pycocotools.mask.encode`` (counts as ``str`` instead
of ``bytes``), but a whole label map is encoded in one pass: the image is flattened once
in column-major order, cut into runs of equal labels, and the runs are grouped by label.
No per-instance full-frame mask is ever built.

COCO compressed RLE, in short: counts alternate background/foreground run lengths in
column-major (Fortran) order, starting with background (possibly 0). From the fourth
count on, each count is stored as the difference to the count two places before it; every
value is written as little-endian 5-bit groups (bit 0x20 = "more groups follow", bit 0x10
of the last group = sign) offset by 48 into printable ASCII.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "RLEError",
    "encode_label_map",
    "encode_masks",
    "decode_objects",
    "decode_masks",
    "decode_counts",
    "encode_runs",
    "object_runs",
    "encode_object_runs",
]

# Largest number of 5-bit groups a signed 64-bit value can need.
_MAX_GROUPS = 13


class RLEError(ValueError):
    """An RLE object or input array is malformed."""


# --------------------------------------------------------------------------- run helpers


def run_ranks(counts: np.ndarray) -> np.ndarray:
    """``[0..counts[0]-1, 0..counts[1]-1, ...]`` concatenated (position of each element in its run)."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


def runs_of_positions(owner: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs (owner, starts, lengths) of foreground pixel offsets sorted by owner, then offset."""
    new_run = np.ones(len(positions), dtype=bool)
    new_run[1:] = (owner[1:] != owner[:-1]) | (positions[1:] != positions[:-1] + 1)
    first = np.flatnonzero(new_run)
    lengths = np.diff(np.append(first, len(positions)))
    return owner[first], positions[first], lengths


# --------------------------------------------------------------------------- encoding


def _group_counts(lengths: np.ndarray) -> np.ndarray:
    """Number of 5-bit groups pycocotools writes for each (already delta-coded) value."""
    groups = np.ones(lengths.shape, dtype=np.int64)
    for k in range(1, _MAX_GROUPS):
        limit = np.int64(1) << np.int64(5 * k - 1)
        outside = (lengths >= limit) | (lengths < -limit)
        if not outside.any():
            break
        groups += outside
    return groups


def _counts_to_strings(counts: np.ndarray, counts_per_object: np.ndarray) -> list[str]:
    """Serialise concatenated RLE counts (one segment per object) into COCO strings."""
    counts = counts.astype(np.int64, copy=False)
    n_objects = len(counts_per_object)
    if n_objects == 0:
        return []
    first = np.zeros(n_objects, dtype=np.int64)
    np.cumsum(counts_per_object[:-1], out=first[1:])
    position = run_ranks(counts_per_object)
    # Delta coding: from the 4th count on, store the difference to the count two before.
    values = counts.copy()
    delta = position > 2
    values[delta] -= counts[np.flatnonzero(delta) - 2]

    groups = _group_counts(values)
    group_index = run_ranks(groups)
    shifted = np.repeat(values, groups) >> (5 * group_index)
    chars = (shifted & 0x1F).astype(np.uint8)
    last_group = group_index == np.repeat(groups - 1, groups)
    chars[~last_group] |= 0x20
    chars += 48
    text = chars.tobytes().decode("ascii")

    chars_per_object = np.add.reduceat(groups, first) if len(groups) else np.zeros(0, np.int64)
    ends = np.cumsum(chars_per_object)
    starts = ends - chars_per_object
    return [text[s:e] for s, e in zip(starts.tolist(), ends.tolist())]


def encode_runs(
    starts: Sequence[np.ndarray], lengths: Sequence[np.ndarray], height: int, width: int
) -> list[dict[str, Any]]:
    """Objects (ids 1..N) from per-object foreground runs, without building any mask.

    ``starts[i]`` / ``lengths[i]`` are object i's runs: 0-based column-major pixel offsets,
    sorted, disjoint and not touching (merge touching runs first). Same output as
    :func:`encode_masks` on the equivalent stack: counts, bbox and area.
    """
    if len(starts) != len(lengths):
        raise RLEError(f"{len(starts)} start arrays but {len(lengths)} length arrays")
    if len(starts) == 0:
        return []
    runs_per_object = np.array([len(s) for s in starts], dtype=np.int64)
    group = np.repeat(np.arange(len(starts), dtype=np.int64), runs_per_object)
    flat_starts = np.concatenate([np.asarray(s, np.int64) for s in starts])
    flat_lengths = np.concatenate([np.asarray(n, np.int64) for n in lengths])
    return _objects_from_runs(list(range(1, len(starts) + 1)), group, flat_starts, flat_lengths, height, width)


def encode_object_runs(
    ids: Sequence[int], owner: np.ndarray, starts: np.ndarray, lengths: np.ndarray, height: int, width: int
) -> list[dict[str, Any]]:
    """Objects with the given ``ids`` from runs tagged by ``owner`` (index into ``ids``).

    Runs are ordered by owner, then start, and do not touch within an owner (the order
    :func:`object_runs` returns). Same output as :func:`encode_masks`: counts, bbox, area.
    """
    return _objects_from_runs(
        list(ids),
        np.asarray(owner, np.int64),
        np.asarray(starts, np.int64),
        np.asarray(lengths, np.int64),
        height,
        width,
    )


def _runs_to_counts(
    group: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n_groups: int, total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Build COCO counts for ``n_groups`` masks from their foreground runs.

    ``group`` (sorted ascending) says which mask each run belongs to; runs within a
    group are sorted by start and do not touch. Groups without runs give ``[total]``.
    Returns the concatenated counts and the number of counts per group.
    """
    runs_per_group = np.bincount(group, minlength=n_groups).astype(np.int64)
    ends = starts + lengths
    # Background gap before each run: distance to the previous run of the same group.
    previous_end = np.zeros_like(starts)
    if len(starts) > 1:
        previous_end[1:] = ends[:-1]
        group_start = np.ones(len(starts), dtype=bool)
        group_start[1:] = group[1:] != group[:-1]
        previous_end[group_start] = 0
    gaps = starts - previous_end

    # Trailing background after the last run of each group (omitted when 0, like pycocotools).
    last_end = np.zeros(n_groups, dtype=np.int64)
    has_runs = runs_per_group > 0
    last_run = np.cumsum(runs_per_group) - 1
    last_end[has_runs] = ends[last_run[has_runs]]
    tail = total - last_end
    has_tail = (tail > 0) | ~has_runs

    counts_per_group = 2 * runs_per_group + has_tail
    out = np.empty(int(counts_per_group.sum()), dtype=np.int64)
    group_offset = np.cumsum(counts_per_group) - counts_per_group
    slot = np.repeat(group_offset, runs_per_group) + 2 * run_ranks(runs_per_group)
    out[slot] = gaps
    out[slot + 1] = lengths
    tail_slot = group_offset + counts_per_group - 1
    out[tail_slot[has_tail]] = tail[has_tail]
    return out, counts_per_group


def _bboxes(group: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n_groups: int, height: int) -> np.ndarray:
    """COCO [x, y, w, h] per group from column-major runs (same rule as pycocotools toBbox)."""
    boxes = np.zeros((n_groups, 4), dtype=np.float64)
    if len(starts) == 0 or height == 0:
        return boxes
    ends = starts + lengths - 1
    x0, y0 = np.divmod(starts, height)
    x1, y1 = np.divmod(ends, height)
    # A run that wraps into the next column covers the last row and the first row.
    wraps = x1 > x0
    y0 = np.where(wraps, 0, y0)
    y1 = np.where(wraps, height - 1, y1)
    present = np.bincount(group, minlength=n_groups) > 0
    big = np.iinfo(np.int64).max
    xmin = np.full(n_groups, big)
    ymin = np.full(n_groups, big)
    xmax = np.full(n_groups, -1)
    ymax = np.full(n_groups, -1)
    np.minimum.at(xmin, group, x0)
    np.minimum.at(ymin, group, y0)
    np.maximum.at(xmax, group, x1)
    np.maximum.at(ymax, group, y1)
    boxes[present, 0] = xmin[present]
    boxes[present, 1] = ymin[present]
    boxes[present, 2] = xmax[present] - xmin[present] + 1
    boxes[present, 3] = ymax[present] - ymin[present] + 1
    return boxes


def _objects_from_runs(
    ids: Sequence[int], group: np.ndarray, starts: np.ndarray, lengths: np.ndarray, height: int, width: int
) -> list[dict[str, Any]]:
    n_groups = len(ids)
    counts, counts_per_group = _runs_to_counts(group, starts, lengths, n_groups, height * width)
    strings = _counts_to_strings(counts, counts_per_group)
    areas = np.bincount(group, weights=lengths, minlength=n_groups).astype(np.int64)
    boxes = _bboxes(group, starts, lengths, n_groups, height)
    return [
        {
            "id": int(object_id),
            "segmentation": {"size": [height, width], "counts": text},
            "bbox": box,
            "area": area,
        }
        for object_id, text, box, area in zip(ids, strings, boxes.tolist(), areas.tolist())
    ]


def _check_2d_integer(label_map: np.ndarray) -> np.ndarray:
    label_map = np.asarray(label_map)
    if label_map.ndim != 2:
        raise RLEError(f"label map must be 2-D (height, width), got shape {label_map.shape}")
    if label_map.dtype == bool:
        return label_map.astype(np.uint8)
    if not np.issubdtype(label_map.dtype, np.integer):
        raise RLEError(f"label map must have an integer dtype, got {label_map.dtype}")
    return label_map


def encode_label_map(label_map: np.ndarray) -> list[dict[str, Any]]:
    """Encode every non-zero label of a 2-D integer label map as a COCO RLE object.

    Returns ``[{id, segmentation: {size: [h, w], counts: str}, bbox: [x, y, w, h], area}]``
    sorted by label id. ``counts`` equals
    ``pycocotools.mask.encode(np.asfortranarray(label_map == id))["counts"].decode()``.
    """
    label_map = _check_2d_integer(label_map)
    height, width = label_map.shape
    if label_map.size == 0:
        return []
    if np.issubdtype(label_map.dtype, np.signedinteger) and label_map.min() < 0:
        raise RLEError("label map contains negative labels; use 0 for background and positive ids for objects")
    flat = np.ascontiguousarray(label_map.T).reshape(-1)  # column-major pixel order
    boundaries = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.empty(len(boundaries) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = boundaries
    values = flat[starts]
    foreground = values != 0
    lengths = np.diff(np.append(starts, flat.size))[foreground]
    starts = starts[foreground]
    values = values[foreground]
    if len(values) == 0:
        return []
    order = np.argsort(values, kind="stable")  # stable: runs of one label stay sorted by start
    values, starts, lengths = values[order], starts[order], lengths[order]
    new_label = np.ones(len(values), dtype=bool)
    new_label[1:] = values[1:] != values[:-1]
    ids = values[new_label]
    group = np.cumsum(new_label) - 1
    return _objects_from_runs(ids.tolist(), group, starts, lengths, height, width)


def encode_masks(stack: np.ndarray) -> list[dict[str, Any]]:
    """Encode an (n, h, w) boolean stack; object ``i`` gets id ``i + 1``. Overlaps are kept."""
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise RLEError(f"mask stack must be 3-D (n, height, width), got shape {stack.shape}")
    if stack.dtype != bool:
        if not np.issubdtype(stack.dtype, np.integer):
            raise RLEError(f"mask stack must be boolean or integer, got {stack.dtype}")
        stack = stack != 0
    n, height, width = stack.shape
    if n == 0:
        return []
    # One scan of the stack for its foreground pixels; everything after works on those
    # (typically a few % of n*h*w), sorted into per-mask column-major order.
    flat_index = np.flatnonzero(stack)  # much faster than a 3-D np.nonzero
    mask_index, pixel = np.divmod(flat_index, height * width)
    rows, cols = np.divmod(pixel, width)
    position = cols * height + rows
    order = np.lexsort((position, mask_index))
    mask_index, starts, lengths = runs_of_positions(mask_index[order], position[order])
    return _objects_from_runs(list(range(1, n + 1)), mask_index, starts, lengths, height, width)


# --------------------------------------------------------------------------- decoding


def _as_counts_bytes(counts: Any) -> bytes:
    if isinstance(counts, str):
        return counts.encode("ascii")
    if isinstance(counts, (bytes, bytearray, memoryview)):
        return bytes(counts)
    raise RLEError(f"compressed RLE counts must be str or bytes, got {type(counts).__name__}")


def _parse_strings(strings: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse many compressed count strings at once.

    Returns (counts, counts per string, owning string of each count, position of each
    count within its string).
    """
    lengths = np.fromiter((len(s) for s in strings), dtype=np.int64, count=len(strings))
    return _parse_joined(b"".join(strings), lengths)


def _parse_joined(joined: bytes, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_parse_strings` of the strings concatenated into ``joined`` (``lengths`` each)."""
    if len(lengths) == 0:
        empty = np.zeros(0, np.int64)
        return empty, lengths, empty, empty
    raw = np.frombuffer(joined, dtype=np.uint8).astype(np.int64) - 48
    if raw.size and (raw.min() < 0 or raw.max() > 63):
        raise RLEError("RLE counts string contains characters outside the COCO alphabet ('0'..'o')")
    value_end = (raw & 0x20) == 0
    string_end = np.cumsum(lengths) - 1
    if np.any(lengths == 0) or not value_end[string_end].all():
        raise RLEError("RLE counts string is empty or ends in the middle of a value")
    # Group characters into values.
    end_positions = np.flatnonzero(value_end)
    value_start = np.empty(len(end_positions), dtype=np.int64)
    value_start[0] = 0
    value_start[1:] = end_positions[:-1] + 1
    groups = end_positions - value_start + 1
    if groups.max() > _MAX_GROUPS:
        raise RLEError("RLE counts string holds a value larger than 64 bits")
    group_index = np.arange(raw.size, dtype=np.int64) - np.repeat(value_start, groups)
    values = np.add.reduceat((raw & 0x1F) << (5 * group_index), value_start)
    # Sign bit of the last group: subtract 2**(5 * groups) (two's complement).
    sign = (raw[end_positions] >> 4) & 1
    values -= sign << (5 * groups)
    # Which string each value belongs to.
    counts_per_string = np.add.reduceat(value_end, string_end - lengths + 1).astype(np.int64)
    value_owner = np.repeat(np.arange(len(lengths), dtype=np.int64), counts_per_string)
    # Undo delta coding: count[i] = value[i] + count[i - 2] for i > 2 within a string, so
    # the odd positions and the even positions >= 2 are two running sums per string.
    position = run_ranks(counts_per_string)
    counts = values.copy()
    odd = (position & 1) == 1
    for chain in (odd, ~odd & (position >= 2)):
        # Within one parity class the values are already sorted by string: no sort needed.
        index = np.flatnonzero(chain)
        counts[index] = _segmented_cumsum(values[index], value_owner[index])
    if (counts < 0).any():
        raise RLEError("RLE counts decode to a negative run length")
    return counts, counts_per_string, value_owner, position


def _segmented_cumsum(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` restarting wherever the (sorted) ``keys`` change."""
    total = np.cumsum(values)
    segment_start = np.ones(len(keys), dtype=bool)
    segment_start[1:] = keys[1:] != keys[:-1]
    start_index = np.flatnonzero(segment_start)
    segment_length = np.diff(np.append(start_index, len(keys)))
    before = total[start_index] - values[start_index]
    return total - np.repeat(before, segment_length)


def decode_counts(segmentation: Mapping[str, Any]) -> np.ndarray:
    """Uncompressed run lengths of one RLE (accepts str, bytes or list counts)."""
    counts = segmentation["counts"]
    if isinstance(counts, (list, tuple, np.ndarray)):
        return np.asarray(counts, dtype=np.int64)
    return _parse_strings([_as_counts_bytes(counts)])[0]


def _collect_runs(objects: Sequence[Mapping[str, Any]], height: int | None = None, width: int | None = None):
    """Foreground runs of all objects: (object index, starts, lengths, h, w).

    ``starts`` are 0-based column-major pixel offsets within the object's frame.
    """
    segmentations = [obj["segmentation"] if "segmentation" in obj else obj for obj in objects]
    sizes = {tuple(seg["size"]) for seg in segmentations}  # usually one distinct size
    if any(len(size) != 2 for size in sizes):
        raise RLEError(f"RLE size must be [height, width], got {sorted(sizes)}")
    sizes = {(int(size[0]), int(size[1])) for size in sizes}
    if len(sizes) != 1:
        raise RLEError(f"objects have different RLE sizes: {sorted(sizes)}")
    (h, w) = sizes.pop()
    if height is not None and width is not None and (h, w) != (height, width):
        raise RLEError(f"RLE size {[h, w]} does not match the requested size {[height, width]}")
    raw_counts = [seg["counts"] for seg in segmentations]
    if all(type(c) is str for c in raw_counts):
        # The common case (our records): one join and one encode for all objects.
        try:
            joined = "".join(raw_counts).encode("ascii")
        except UnicodeEncodeError:
            raise RLEError("RLE counts string contains characters outside the COCO alphabet ('0'..'o')") from None
        lengths = np.fromiter(map(len, raw_counts), dtype=np.int64, count=len(raw_counts))
        counts, counts_per_object, owner, position = _parse_joined(joined, lengths)
        first = np.cumsum(counts_per_object) - counts_per_object
    elif any(isinstance(c, (list, tuple, np.ndarray)) for c in raw_counts):
        # Uncompressed (list) counts, possibly mixed with compressed ones: parse one by one.
        pieces = [decode_counts(seg) for seg in segmentations]
        counts_per_object = np.array([len(c) for c in pieces], dtype=np.int64)
        counts = np.concatenate(pieces)
        first = np.cumsum(counts_per_object) - counts_per_object
        owner = np.repeat(np.arange(len(objects), dtype=np.int64), counts_per_object)
        position = run_ranks(counts_per_object)
    else:
        counts, counts_per_object, owner, position = _parse_strings([_as_counts_bytes(c) for c in raw_counts])
        first = np.cumsum(counts_per_object) - counts_per_object
    ends = _segmented_cumsum(counts, owner)  # end offset of every run within its object
    totals = np.zeros(len(objects), dtype=np.int64)
    nonempty = counts_per_object > 0
    totals[nonempty] = ends[(first + counts_per_object - 1)[nonempty]]
    if (totals != h * w).any():
        bad = int(np.flatnonzero(totals != h * w)[0])
        raise RLEError(f"object {bad}: RLE counts sum to {int(totals[bad])} pixels but size {[h, w]} has {h * w}")
    foreground = ((position & 1) == 1) & (counts > 0)
    lengths = counts[foreground]
    starts = ends[foreground] - lengths
    return owner[foreground], starts, lengths, h, w


def object_runs(objects: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Foreground runs of RLE objects, without decoding any mask.

    Returns (object index, starts, lengths, height, width); ``starts`` are 0-based
    column-major pixel offsets, runs are ordered by object index, then start.
    """
    return _collect_runs(objects)


def decode_objects(objects: Sequence[Mapping[str, Any]], height: int, width: int) -> np.ndarray:
    """Paint objects into an (height, width) int32 label map using each object's ``id``.

    Objects without an ``id`` get 1..N in list order. Where objects overlap, the object
    later in the list wins (use :func:`decode_masks` to keep overlaps).
    """
    height, width = int(height), int(width)
    label_map_f = np.zeros(height * width, dtype=np.int32)
    if len(objects) == 0:
        return label_map_f.reshape(height, width)
    ids = np.array([int(obj.get("id", i + 1)) for i, obj in enumerate(objects)], dtype=np.int64)
    if ids.size and (ids.max() > np.iinfo(np.int32).max or ids.min() < 0):
        raise RLEError("object ids must fit in int32 and be >= 0")
    owner, starts, lengths, _, _ = _collect_runs(objects, height, width)
    if len(starts):
        order = np.argsort(starts, kind="stable")
        s, ln, o = starts[order], lengths[order], owner[order]
        e = s + ln
        disjoint = len(s) < 2 or bool((s[1:] >= np.maximum.accumulate(e)[:-1]).all())
        if disjoint:
            # Fill the whole frame in one np.repeat over alternating background/object runs.
            gap = s - np.concatenate(([0], e[:-1]))
            run_values = np.zeros(2 * len(s) + 1, dtype=np.int32)
            run_values[1::2] = ids[o]
            run_lengths = np.empty(2 * len(s) + 1, dtype=np.int64)
            run_lengths[0::2][:-1] = gap
            run_lengths[1::2] = ln
            run_lengths[-1] = height * width - e[-1]
            label_map_f = np.repeat(run_values, run_lengths)
        else:
            # Overlaps: paint in list order so later objects win.
            by_object = np.argsort(owner, kind="stable")
            s, ln, o = starts[by_object], lengths[by_object], owner[by_object]
            pixel = np.arange(int(ln.sum()), dtype=np.int64) - np.repeat(np.cumsum(ln) - ln - s, ln)
            label_map_f[pixel] = np.repeat(ids[o], ln).astype(np.int32)
    return label_map_f.reshape(width, height).T.copy()


def decode_masks(objects: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Decode objects into an (n, h, w) boolean stack in list order (overlaps kept)."""
    if len(objects) == 0:
        return np.zeros((0, 0, 0), dtype=bool)
    owner, starts, lengths, h, w = _collect_runs(objects)
    n = len(objects)
    flat = np.zeros(n * h * w, dtype=bool)
    if len(starts):
        offset = owner * (h * w) + starts
        pixel = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(lengths) - lengths - offset, lengths
        )
        flat[pixel] = True
    return flat.reshape(n, w, h).transpose(0, 2, 1)
