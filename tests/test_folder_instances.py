"""formats.instances: the one renumbering (sequential_labels / renumber) and the instance helpers.

Checked against a plain reference (np.unique, one id at a time) on random label maps of
every integer dtype, on both counting paths (a dense table for small ids, np.unique for
large sparse ones: ids near 2**40 would need a terabyte-long table).
"""

from __future__ import annotations

import numpy as np
import pytest

from nuclei_collection_builders import rle
from nuclei_collection_builders.base import CountedNote
from nuclei_collection_builders.formats.instances import binary_instances, label_instances, renumber, sequential_labels
from nuclei_collection_builders.raster import DENSE_ID_LIMIT


def reference(label_map: np.ndarray, min_area: int = 1) -> tuple[np.ndarray, list[int]]:
    """Label map with the ids of >= min_area px renumbered 1..N in id order; the ids kept."""
    values, counts = np.unique(label_map, return_counts=True)
    kept = [int(v) for v, c in zip(values, counts) if v > 0 and c >= min_area]
    out = np.zeros(label_map.shape, dtype=np.int64)
    for new, old in enumerate(kept, start=1):
        out[label_map == old] = new
    return out, kept


def random_map(rng: np.random.Generator, dtype, ids: np.ndarray, shape=(30, 40)) -> np.ndarray:
    label_map = rng.choice(np.concatenate([[0] * len(ids), ids]), size=shape)
    return label_map.astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "top"),
    [
        (np.uint8, 255),
        (np.uint16, 65_535),
        (np.int32, 5_000),
        (np.int64, 2**40),  # sparse: counted with np.unique
        (np.uint64, 2**40),
        (np.uint32, DENSE_ID_LIMIT + 10_000),  # just above the dense limit and the map's size
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_renumbering_matches_the_reference(dtype, top, seed):
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(1, top, size=12, endpoint=True))
    label_map = random_map(rng, dtype, ids)
    before = label_map.copy()
    for min_area in (1, 40, 80):
        expected, kept = reference(label_map, min_area)
        assert np.array_equal(sequential_labels(label_map, min_area), expected)
    expected, kept = reference(label_map)
    renumbered, upstream_ids, changed = renumber(label_map)
    assert renumbered.dtype == np.int32 and np.array_equal(renumbered, expected)
    assert upstream_ids.tolist() == kept and changed == (kept != list(range(1, len(kept) + 1)))
    assert np.array_equal(label_map, before)  # the input is never modified


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64])
def test_ids_already_sequential_are_kept(dtype):
    label_map = np.array([[0, 1, 1], [3, 0, 2]], dtype=dtype)
    assert sequential_labels(label_map) is label_map  # same array, same dtype
    renumbered, upstream_ids, changed = renumber(label_map)
    assert not changed and upstream_ids.tolist() == [1, 2, 3]
    assert renumbered.dtype == np.int32 and np.array_equal(renumbered, label_map)
    # dropping a small label is a change even without gaps
    assert np.array_equal(sequential_labels(label_map, min_area=2), [[0, 1, 1], [0, 0, 0]])


def test_empty_and_background_only_maps():
    for label_map in (np.zeros((0, 5), dtype=np.uint16), np.zeros((4, 5), dtype=np.uint16)):
        assert sequential_labels(label_map) is label_map
        renumbered, upstream_ids, changed = renumber(label_map)
        assert renumbered.shape == label_map.shape and not renumbered.any()
        assert upstream_ids.tolist() == [] and not changed


def test_bad_label_maps_are_refused():
    with pytest.raises(ValueError, match="label ids must be >= 0, got -3"):
        renumber(np.array([[0, -3], [1, 1]]))
    with pytest.raises(ValueError, match="must hold integers, got dtype float64"):
        sequential_labels(np.array([[0.0, 1.5]]))


def test_binary_instances_are_eight_connected_components():
    mask = np.array(
        [
            [1, 0, 0, 0, 1],
            [0, 1, 0, 0, 1],  # diagonal neighbours: one object
            [0, 0, 0, 0, 0],
            [1, 1, 0, 1, 0],
        ],
        dtype=bool,
    )
    labels = binary_instances(mask)
    assert labels.dtype == np.int32
    expected = np.array([[1, 0, 0, 0, 2], [0, 1, 0, 0, 2], [0, 0, 0, 0, 0], [3, 3, 0, 4, 0]])
    assert np.array_equal(labels, expected)  # 1..N in raster order of first pixels


def test_label_instances_renumbers_and_maps_classes():
    label_map = np.array([[0, 9, 9], [4, 0, 12]], dtype=np.int64)
    instances, notes = label_instances(label_map, {4: "epithelial", 9: "lymphocyte", 12: "plasma"}, "img7", "demo")
    assert np.array_equal(instances["label_map"], [[0, 2, 2], [1, 0, 3]])
    assert instances["categories"] == {1: "epithelial", 2: "lymphocyte", 3: "plasma"}
    (note,) = notes
    assert isinstance(note, CountedNote) and (note.kind, note.count) == ("demo ids renumbered", 1)
    assert "img7: instance ids [4, 9, 12] have gaps; renumbered 1..3" in note
    objects = rle.encode_label_map(instances["label_map"])
    assert [obj["area"] for obj in objects] == [1, 2, 1]

    same, no_notes = label_instances(np.array([[1, 2]]), "nucleus", "img8", "demo")
    assert same["categories"] == "nucleus" and no_notes == []
