"""The bad-input matrix, for every reader at once.

For each config with a generated fixture, every raw file its first item reads is damaged
in turn (truncated to half, emptied, replaced by an HTML error page). Reading the item must
then either raise BadInputError naming that file, or skip the item with a reason (counted),
or - when the reader does not use that file - give exactly the undamaged records. Never
another exception from deep inside PIL / numpy / XML, never a silently different mask.

Reader-specific bad inputs (malformed CSV RLE, XML entities, pickled .npy, zip-slip, ...)
are tested next to each reader; this file is the uniform sweep over all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.bbbc006 import write_bbbc006
from fixtures.bbbc007 import write_bbbc007
from fixtures.bbbc018 import write_bbbc018
from fixtures.bbbc020 import write_bbbc020
from fixtures.cluster_nuclei import write_cluster_nuclei
from fixtures.dsb2018 import write_stage_test
from fixtures.histology import write_janowczyk, write_monuseg, write_tnbc
from fixtures.isbi2009 import write_isbi2009
from fixtures.pannuke import write_fold
from nuclei_collection import BadInputError
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.base import printable_name
from nuclei_collection_builders.pipeline import item_records
from nuclei_collection_builders.sources import prepare

WRITERS: dict[str, Callable[[Path], object]] = {
    "nuclei_stage1_train": lambda root: write_dsb2018_stage1_train(root / "stage1_train", n_images=2, seed=1),
    "nuclei_stage_1_test": lambda root: write_stage_test(root, n_images=2, seed=1),
    "BBBC006": lambda root: write_bbbc006(root / "BBBC006"),
    "BBBC007": write_bbbc007,
    "BBBC018": write_bbbc018,
    "BBBC020": write_bbbc020,
    "2009_ISBI_2DNuclei": write_isbi2009,
    "cluster_nuclei": write_cluster_nuclei,
    "nucleisegmentationbenchmark": write_monuseg,
    "TNBC_NucleiSegmentation": write_tnbc,
    "nuclei_partial_annotations": write_janowczyk,
    "PanNuke_fold1": lambda root: write_fold(root, 1, 3, "warwick", seed=1),
}

CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "html": lambda data: b"<!DOCTYPE html><html><head><title>404 Not Found</title></head></html>\n",
}


def files_of(value) -> list[Path]:
    """Every existing file path inside an Item.files value (str, Path, list, tuple, dict)."""
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        return [path] if path.is_file() else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in files_of(v)]
    return []


def strip_notes(result):
    records, _notes, skipped = result
    return records, skipped


def read_item(config: str, root: Path, image_id: str):
    """List the raw tree afresh (damage can show at listing time) and read one item."""
    prepared = prepare(config, root)
    for items in prepared.splits.values():
        for item in items:
            if item.image_id == image_id:
                return strip_notes(item_records(prepared.source, item))
    return [], (image_id, "not listed")


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
@pytest.mark.parametrize("config", sorted(WRITERS))
def test_damaged_file_is_named_or_skipped_never_silently_wrong(config, corruption, tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    WRITERS[config](root)
    prepared = prepare(config, root)
    # The first item that gives records when undamaged (fixtures also hold skipped ones).
    for item in (item for items in prepared.splits.values() for item in items):
        baseline = strip_notes(item_records(prepared.source, item))
        if baseline[0]:
            break
    else:
        pytest.fail(f"{config}: no undamaged item gives records")
    paths = sorted(set(files_of(dict(item.files))))
    assert paths, f"{config}: item lists no files"
    outcomes = {}
    for path in paths:
        original = path.read_bytes()
        path.write_bytes(CORRUPTIONS[corruption](original))
        try:
            records, skipped = read_item(config, root, item.image_id)
        except BadInputError as error:
            # Image and annotation files often share a name: the error must give the path.
            named = printable_name(path.relative_to(root).as_posix())
            assert named in str(error), f"{config}: error does not name {named}: {error}"
            outcomes[named] = "error"
        else:
            named = printable_name(path.relative_to(root).as_posix())
            if skipped:
                outcomes[named] = f"skipped: {skipped[1]}"
            else:
                # The reader did not need this file for the item: output must be unchanged.
                assert records == baseline[0], f"{config}: damaged {path.name} silently changed the records"
                outcomes[named] = "unused"
        finally:
            path.write_bytes(original)
    # The item's image and annotation files are used: their damage is detected.
    assert sum(outcome != "unused" for outcome in outcomes.values()) >= 2 or len(paths) == 1, outcomes
