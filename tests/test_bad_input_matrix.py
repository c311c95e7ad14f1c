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
are tested next to each reader; this file is the uniform sweep over all of them. Every
reader joins it through its fixture module's ``write_raw`` (tests/fixtures/__init__.py;
convention: ``Item.files["image"]`` is the image file, every other entry belongs to its
annotation or other channels).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures import raw_writer
from nuclei_collection import BadInputError, NucleiCollectionError
from nuclei_collection_builders.base import printable_name
from nuclei_collection_builders.pipeline import item_records
from nuclei_collection_builders.sources import CONFIG_SPECS, prepare


def _one_config_per_reader() -> dict[str, Callable[[Path], object]]:
    """The first config of every reader class, with its fixture (fixtures/<reader>.write_raw)."""
    writers: dict[str, Callable[[Path], object]] = {}
    seen: set[type] = set()
    for name, spec in CONFIG_SPECS.items():
        writer = raw_writer(name)
        if spec.source in seen or writer is None:
            continue
        seen.add(spec.source)
        writers[name] = writer
    return writers


#: Derived from the registry: a new reader joins the sweep through its fixture's write_raw.
WRITERS: dict[str, Callable[[Path], object]] = _one_config_per_reader()


def write_or_skip(config: str, root: Path) -> None:
    try:
        WRITERS[config](root)
    except LookupError as why:  # the fixture needs real files that are absent (it says which)
        pytest.skip(str(why))

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
    write_or_skip(config, root)
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
    write_or_skip(config, root)
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
