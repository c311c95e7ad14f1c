"""The bad-input matrix, for every reader at once.

For each config with a generated fixture, every raw file its first item reads is damaged
in turn (truncated to half, emptied, replaced by an HTML error page). Reading the item must
then either raise BadInputError naming that file, or skip the item with a reason (counted),
or - when the reader does not use that file - give exactly the undamaged records. Never
another exception from deep inside PIL / numpy / XML, never a silently different mask.

The "one part missing" sweep removes the image of an item, then (afresh) its other files:
the files left over must show up in the listing as a counted skip of that item or naming
them, or as an error naming the missing part - never vanish (a DSB id folder with masks/ but
no images/ used to disappear from the build without a word).

Reader-specific bad inputs (malformed CSV RLE, XML entities, pickled .npy, zip-slip, ...)
are tested next to each reader; this file is the uniform sweep over all of them. A new
reader adds its fixture writer to WRITERS (convention: ``Item.files["image"]`` is the
image file, every other entry belongs to its annotation or other channels).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import realdata_path
from fixtures.bbbc006 import write_bbbc006
from fixtures.bbbc007 import write_bbbc007
from fixtures.bbbc018 import write_bbbc018
from fixtures.bbbc020 import write_bbbc020
from fixtures.bbbc039 import write_bbbc039
from fixtures.bcss import code_mask, write_bcss_tree
from fixtures.cluster_nuclei import write_cluster_nuclei
from fixtures.consep import write_consep
from fixtures.cpm import write_cpm15, write_cpm17
from fixtures.cryonuseg import write_cryonuseg
from fixtures.dsb2018 import write_stage_test
from fixtures.histology import write_janowczyk, write_monuseg, write_tnbc
from fixtures.isbi2009 import write_isbi2009
from fixtures.lizard import write_lizard
from fixtures.monusac import write_monusac
from fixtures.nuinsseg import write_nuinsseg
from fixtures.pannuke import write_fold
from fixtures.s_bsst265 import write_s_bsst265
from nuclei_collection import BadInputError, NucleiCollectionError
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.base import printable_name
from nuclei_collection_builders.exporters.coco import export_coco
from nuclei_collection_builders.pipeline import item_records
from nuclei_collection_builders.sources import prepare


def write_coco_export(root: Path) -> None:
    """A COCO export (the ``coco`` reader's input) of a generated TNBC tree, into ``root``."""
    raw = root.parent / "coco-source"
    write_tnbc(raw)
    export_coco("TNBC_NucleiSegmentation", root, data_dir=raw)


def write_bcss(root: Path) -> None:
    """Two generated BCSS ROIs (masks written, never the real files: this sweep damages them)."""
    rois = [
        ("TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500", code_mask(96, 128, (1, 2, 3), (20, 30), seed=1)),
        ("TCGA-OL-A5RW-DX1_xmin5772_ymin6839_MPP-0.2500", code_mask(80, 64, (2, 4), seed=2)),
    ]
    write_bcss_tree(root, realdata_path("bcss").parent, generated=rois)


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
    "Lizard": write_lizard,
    "CoNSeP": write_consep,
    "CPM15": write_cpm15,
    "CPM17": write_cpm17,
    "MoNuSAC": write_monusac,
    "NuInsSeg": write_nuinsseg,
    "CryoNuSeg": write_cryonuseg,
    "BBBC039": write_bbbc039,
    "S-BSST265": write_s_bsst265,
    "BCSS": write_bcss,
    "coco": write_coco_export,
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


def first_item_with_records(config: str, root: Path):
    """The first listed item that gives records when nothing is missing."""
    prepared = prepare(config, root)
    for item in (item for items in prepared.splits.values() for item in items):
        if item_records(prepared.source, item)[0]:
            return item
    pytest.fail(f"{config}: no undamaged item gives records")


def build_outcome(config: str, root: Path) -> tuple[list[str], list[tuple[str, str]], Exception | None]:
    """(record ids, counted skips) of listing and reading every item, or the error raised."""
    ids: list[str] = []
    skipped: list[tuple[str, str]] = []
    try:
        prepared = prepare(config, root)
        for items in prepared.splits.values():
            for item in items:
                records, _notes, skip = item_records(prepared.source, item)
                ids += [record["image_id"] for record in records]
                if skip:
                    skipped.append(skip)
    except NucleiCollectionError as error:
        return ids, skipped, error
    return ids, skipped, None


@pytest.mark.parametrize("part", ["image", "annotation"])
@pytest.mark.parametrize("config", sorted(WRITERS))
def test_one_part_missing_is_counted_or_named_never_silent(config, part, tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    WRITERS[config](root)
    item = first_item_with_records(config, root)
    files = sorted(set(files_of(dict(item.files))))
    image = files_of(item.files.get("image"))
    others = [path for path in files if path not in image]
    assert image and others, f"{config}: item {item.image_id} lists no image or no annotation file: {item.files}"
    removed, left = (image, others) if part == "image" else (others, image)
    for path in removed:
        path.unlink()
    ids, skipped, error = build_outcome(config, root)
    if error is not None:
        # An error must say what is missing: a removed file, its folder or the item.
        names = {item.image_id} | {p.name for p in removed} | {p.parent.name for p in removed}
        assert any(name in str(error) for name in names), f"{config}: error names none of {sorted(names)}: {error}"
        return
    assert item.image_id not in ids, f"{config}: a record of {item.image_id} without its {part}"
    # What is left of the item is accounted for: a counted skip of the item, or one naming its files.
    accounted = [
        (item_id, reason)
        for item_id, reason in skipped
        if item_id == item.image_id or any(printable_name(p.name) in reason for p in left)
    ]
    assert accounted, f"{config}: without its {part}, {item.image_id} ({[p.name for p in left]}) vanished: {skipped}"
