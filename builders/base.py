"""The contract between a source reader and the shared pipeline.

A reader module (``builders/<format>.py``) knows one upstream layout. It subclasses
:class:`Source`, declares where the data comes from (homepage, citation, licence,
downloads or manual instructions) and implements two things:

* ``list_items(root)`` -> ``{split: [Item, ...]}``: a cheap, deterministic listing
  (sorted names, never glob order);
* ``read(item)`` -> :class:`Sample`: image + instances + metadata for one item.

Everything else (RLE encoding, schema, Arrow/parquet writing, card, CLI) is shared.
"""

from __future__ import annotations

import logging
import os
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .catalog import ClassInfo, SourceInfo

logger = logging.getLogger("nuclei_collection")


class NucleiCollectionError(Exception):
    """Base class of the errors this package raises on purpose."""


class MissingDataError(NucleiCollectionError, FileNotFoundError):
    """The raw data of a config is not where it should be."""


class BadInputError(NucleiCollectionError, ValueError):
    """A raw file is unreadable or inconsistent; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SkipItem(NucleiCollectionError):
    """Raised by ``Source.read`` for an item that is skipped on purpose (counted, logged)."""

    def __init__(self, item_id: str, reason: str):
        self.item_id = item_id
        self.reason = reason
        super().__init__(f"{item_id}: skipped: {reason}")


@dataclass(frozen=True)
class Download:
    """One upstream file. ``sha256=None`` means no checksum is known yet (logged on download)."""

    url: str
    filename: str
    sha256: str | None = None
    extract: bool = True


@dataclass(frozen=True)
class Item:
    """What ``read`` needs to produce one record; must stay small and picklable.

    ``files`` holds paths (as strings, so items pickle the same everywhere); ``attrs``
    holds anything else the reader worked out while listing.
    """

    image_id: str
    files: Mapping[str, Any]
    attrs: Mapping[str, Any] = field(default_factory=dict)


def skipped_item(image_id: str, reason: str) -> Item:
    """An item listed only to be counted as a skip: raw files that cannot form a record.

    Readers list one for every annotation (or image) they saw whose other part is
    missing, so nothing a reader saw disappears silently: the pipeline reports it as
    ``(image_id, reason)`` in ``SplitReport.skipped`` (log, build report, card) without
    calling ``read``. ``reason`` names the file or folder.
    """
    return Item(image_id=printable_name(image_id), files={}, attrs={SKIP_REASON: reason})


#: ``Item.attrs`` key of :func:`skipped_item`.
SKIP_REASON = "skip_reason"


def is_skipped_item(item: Item) -> bool:
    """True for an item of :func:`skipped_item` (known at listing time to give no record)."""
    return SKIP_REASON in item.attrs


class GroupedSkipReason(str):
    """A skip reason (its text everywhere: build report, card) that belongs to a group of alike skips.

    ``summary`` names the group, e.g. "images named in stage1_solution.csv are absent": a
    split's log can then say "63 images named in stage1_solution.csv are absent (e.g. a, b, c)"
    in one line instead of 63 (:func:`summarise_skips`), while the build report keeps each.
    """

    summary: str

    def __new__(cls, text: str, summary: str) -> GroupedSkipReason:
        reason = super().__new__(cls, text)
        reason.summary = summary
        return reason

    def __reduce__(self):  # pickles through worker processes with its summary
        return type(self), (str(self), self.summary)


#: Examples named per group of skips in the log line of :func:`summarise_skips`.
SKIP_EXAMPLES = 3


def summarise_skips(skipped: Iterable[tuple[str, str]]) -> list[str]:
    """Log lines for ``(item id, reason)`` skips: one per skip, one per group of grouped ones.

    Reasons with a ``summary`` (:class:`GroupedSkipReason`) are counted per summary and named
    by their first :data:`SKIP_EXAMPLES` item ids; the others are listed one by one.
    """
    lines, groups = [], {}
    for item_id, reason in skipped:
        summary = getattr(reason, "summary", None)
        if summary is None:
            lines.append(f"{item_id}: {reason}")
        else:
            groups.setdefault(summary, []).append(item_id)
    for summary, ids in groups.items():
        more = ", ..." if len(ids) > SKIP_EXAMPLES else ""
        lines.append(f"{len(ids)} {summary} (e.g. {', '.join(ids[:SKIP_EXAMPLES])}{more}; all in the build report)")
    return lines


class CountedNote(str):
    """A note (plain text everywhere) that also counts ``count`` events of one ``kind``.

    Views and readers leave these in ``Sample.notes`` where a build report must give exact
    numbers (e.g. 3 object pieces dropped by tiling); ``SplitReport.counts`` sums them per
    kind. The text is ``"<kind>: <details>"``.
    """

    kind: str
    count: int

    def __new__(cls, kind: str, count: int, details: str) -> CountedNote:
        note = super().__new__(cls, f"{kind}: {details}")
        note.kind, note.count = kind, int(count)
        return note

    def __reduce__(self):  # pickles through worker processes with its count
        return type(self), (self.kind, self.count, self.split(": ", 1)[1])


@dataclass
class Sample:
    """One image with its instances and metadata, as a reader returns it.

    Give the instances in whichever form is natural for the format, exactly one of:
    ``label_map`` (h, w) ints with 0 = background, ``masks`` (n, h, w) booleans (overlaps
    allowed), or ``objects`` (ready COCO RLE dicts with ``segmentation`` and optional
    ``id``/``bbox``/``area``). ``categories`` maps object id -> category name (or one name
    for all objects); it defaults to ``"nucleus"``.

    ``image`` is the decoded pixel array; ``image_png`` optionally holds the upstream PNG
    bytes to store verbatim (only when they decode to exactly ``image``).

    Semantic sources (``Source.kind == "semantic"``) give ``mask`` instead of instances:
    an (h, w) uint8 class-code map (``mask_png``: its upstream PNG bytes, same rule as
    ``image_png``). Only they may leave ``image`` as None (masks-only builds).
    """

    image_id: str
    image: np.ndarray | None
    metadata: dict[str, Any]
    label_map: np.ndarray | None = None
    masks: np.ndarray | None = None
    objects: list[dict[str, Any]] | None = None
    categories: Mapping[int, str] | str = "nucleus"
    iscrowd: Mapping[int, bool] | None = None
    #: object id -> True where a view (tile) cut the object at the image border
    truncated: Mapping[int, bool] | None = None
    image_png: bytes | None = None
    notes: list[str] = field(default_factory=list)
    mask: np.ndarray | None = None
    mask_png: bytes | None = None

    @property
    def height(self) -> int:
        return int((self.image if self.image is not None else self.mask).shape[0])

    @property
    def width(self) -> int:
        return int((self.image if self.image is not None else self.mask).shape[1])


class Source:
    """Base class of the upstream readers.

    A reader declares its facts once, as ``info = SourceInfo(...)`` (:mod:`.catalog`):
    ``name``, ``homepage``, ``citation``, ``license``, ``description`` and ``kind`` below
    are filled from it. The other class attributes describe how to get and read the data.
    """

    #: the declared facts (name, licence, classes, metrics, ...); see :mod:`.catalog`
    info: ClassVar[SourceInfo]
    #: short name used in logs and metadata["source"]
    name: ClassVar[str]
    #: "instance" (objects) or "semantic" (class mask + regions)
    kind: ClassVar[str] = "instance"
    homepage: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    #: SPDX id, or a short statement where the upstream states none
    license: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: files to fetch when no data_dir is given; empty -> manual download only
    downloads: ClassVar[Sequence[Download]] = ()
    #: printed when the data is missing: where to get it and how to lay it out
    manual_instructions: ClassVar[str] = ""
    #: human description of the expected raw layout (for error messages)
    expected_layout: ClassVar[str] = ""
    #: option name -> default value; anything else passed is an error
    default_options: ClassVar[Mapping[str, Any]] = {}
    #: known upstream problems, each as (what is wrong upstream, how this reader handles it);
    #: rendered into the dataset card
    known_issues: ClassVar[Sequence[tuple[str, str]]] = ()
    #: True when :meth:`classes` is known only once the data is located (COCO import)
    classes_need_data: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        info = cls.__dict__.get("info")
        if info is not None:  # the facts live in the table; these names are its short-hands
            cls.name, cls.kind = info.name, info.kind
            cls.homepage, cls.citation, cls.license = info.homepage, info.citation, info.license
            cls.description = info.description or info.title

    def classes(self) -> tuple[ClassInfo, ...]:
        """The object classes of the records this reader makes, with these options.

        Index in this tuple = ``objects.category`` of the export (its ClassLabel). The
        declared table by default; readers whose options change the classes override it.
        """
        return self.info.classes

    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes())

    def __init__(self, **options: Any):
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            valid = ", ".join(sorted(self.default_options)) or "none"
            raise ValueError(f"{self.name}: unknown option(s) {unknown}; valid options: {valid}")
        self.options = {**self.default_options, **options}

    # -- locating the data -------------------------------------------------------------
    def find_root(self, data_dir: Path) -> Path | None:
        """Return the folder that holds the expected layout inside ``data_dir`` (or None)."""
        raise NotImplementedError

    def locate(self, data_dir: Path | str) -> Path:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.exists():
            raise MissingDataError(self.missing_message(data_dir, "the folder does not exist"))
        root = self.find_root(data_dir)
        if root is None:
            raise MissingDataError(self.missing_message(data_dir, "the expected layout was not found"))
        return root

    def missing_message(self, data_dir: Path, why: str) -> str:
        lines = [f"{self.name}: no usable raw data under {data_dir} ({why}).", "Expected layout:"]
        lines += ["    " + line for line in textwrap.dedent(self.expected_layout).strip().splitlines()]
        if self.downloads:
            lines.append("Get it from:")
            lines += [f"    {d.url}" for d in self.downloads]
            lines.append("or leave out --data-dir to download it automatically.")
        if self.manual_instructions:
            lines.append(textwrap.dedent(self.manual_instructions).strip())
        return "\n".join(lines)

    # -- the two things every reader implements --------------------------------------
    def list_items(self, root: Path) -> dict[str, list[Item]]:
        raise NotImplementedError

    def read(self, item: Item) -> Sample:
        raise NotImplementedError

    def samples(self, item: Item) -> Iterator[Sample]:
        """The samples one item yields: by default the one ``read`` returns.

        Views that cut an item into several records (tiled configs) override this; the
        pipeline only ever calls ``samples``.
        """
        yield self.read(item)

    def export_name(self, config_name: str) -> str:
        """Name under which ``config_name``'s records are exported with these options.

        Options that change the labels themselves (e.g. DSB2018 ``labels=csv``) return a
        derived name, so such a build never silently replaces the default export.
        Called after ``locate``, so it may use what the source found there.
        """
        return config_name

    # -- shared metadata helpers -------------------------------------------------------
    def base_metadata(self, **values: Any) -> dict[str, Any]:
        """Metadata with this source's name and licence filled in."""
        return {"source": self.name, "license": self.license, **values}


@dataclass(frozen=True)
class ConfigSpec:
    """One named config: a reader class plus the options it is built with."""

    name: str
    source: type[Source]
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    #: name of a config whose images include all of this one's (a local split, a fold of
    #: an "all folds" config); combined views leave this config out when that one is present
    subset_of: str | None = None
    #: configs that hold some of the same tissue (re-cut, resampled or re-annotated copies:
    #: Lizard re-uses CoNSeP and PanNuke images, BBBC039 fields are in DSB2018); a training
    #: mix (``all_nuclei``) keeps the larger of two overlapping configs, whichever declares it
    overlaps: tuple[str, ...] = ()
    #: the split names this config's records come in (declared; checked against fixture builds)
    splits: tuple[str, ...] = ("train",)

    @property
    def info(self) -> SourceInfo:
        return self.source.info

    def make_source(self, **overrides: Any) -> Source:
        return self.source(**{**self.options, **overrides})


#: Spellings of a boolean reader option (``-o masks_only=yes`` arrives as a string).
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def option_bool(name: str, value: Any) -> bool:
    """A boolean reader option given in Python (bool) or on the command line (text)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    spellings = "/".join(TRUE_WORDS + FALSE_WORDS)
    raise ValueError(f"option {name} must be true or false ({spellings}), got {value!r}")


def option_choice(source: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """A reader option that must be one of ``choices``; the error names the source and the choices."""
    if value not in choices:
        raise ValueError(f"{source}: option {name} must be one of {tuple(choices)}, got {value!r}")
    return value


def printable_name(name: str) -> str:
    """A file name as valid UTF-8 text for records and logs.

    Names that are not valid UTF-8 on disk reach Python with surrogate escapes, which Arrow
    refuses to store; their undecodable bytes are written as ``\\xNN`` instead.
    """
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def relative_posix(path: Path, root: Path) -> str:
    """Path of ``path`` below ``root`` with forward slashes (stable across machines), UTF-8 safe."""
    return printable_name(Path(path).relative_to(root).as_posix())


def sorted_dirs(folder: Path) -> list[Path]:
    """Sub-folders sorted by name: never rely on the file system's listing order."""
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name)


def sorted_files(folder: Path, suffixes: Sequence[str] | None = None) -> list[Path]:
    """Files in ``folder`` sorted by name, optionally filtered by (case-insensitive) suffix."""
    wanted = None if suffixes is None else {s.lower() for s in suffixes}
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and (wanted is None or p.suffix.lower() in wanted)),
        key=lambda p: p.name,
    )


#: Folders that archives made on macOS carry and that never hold data.
JUNK_DIRS = ("__MACOSX",)


def is_junk(path: Path) -> bool:
    """macOS resource forks (``__MACOSX/``, ``._name``) and hidden files."""
    return path.name in JUNK_DIRS or path.name.startswith(".")


def search_dirs(data_dir: Path, depth: int = 2) -> Iterator[Path]:
    """``data_dir`` and its sub-folders down to ``depth`` levels, breadth first, sorted, no junk.

    Archives unpack with or without a top folder and users nest them: every reader looks
    for its layout in these folders, in this order.
    """
    level = [data_dir]
    for _ in range(depth + 1):
        yield from level
        level = [child for folder in level for child in sorted_dirs(folder) if not is_junk(child)]


def find_layout_root(data_dir: Path, markers: Sequence[str], depth: int = 2) -> Path | None:
    """First folder of :func:`search_dirs` in which every marker (a relative path or glob) exists."""
    for folder in search_dirs(data_dir, depth):
        if all(any(folder.glob(marker)) for marker in markers):
            return folder
    return None


def logged_notes(image_id: str, notes: Sequence[str]) -> list[str]:
    """``notes`` prefixed with the image id, each logged as a warning (for Sample.notes)."""
    prefixed = [f"{image_id}: {note}" for note in notes]
    for note in prefixed:
        logger.warning("%s", note)
    return prefixed
