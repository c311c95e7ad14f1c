"""A reader declared by its folder layout (the idea of Hugging Face's packaged ``imagefolder``).

Most upstream sets are "image files + one annotation file per image, paired by a name
rule". A reader for such a set subclasses :class:`FolderSource` and only *declares*:

* ``layout_markers``: globs that must exist in the folder that holds the layout; it is
  searched for below ``data_dir`` (with or without the archive's top folder);
* ``image_pattern``: a regular expression matched against each file's path relative to
  that root (``/`` separators); its named groups describe the image (patient, folder ...);
* ``annotation``: where the annotation of an image is, a ``str.format`` template over
  those groups (plus ``{name}``, ``{stem}``, ``{suffix}`` of the image file);
* ``annotation_kind``: how the annotation file becomes instances, a name registered in
  :data:`ANNOTATION_KINDS` (built in: label map renumbered 1..N, label map with upstream ids
  kept, binary mask -> connected components, outline drawing -> filled, one file per
  instance, outlines of one colour -> filled); a reader module adds its own kind with
  :func:`register_annotation_kind`, without touching this module;
* ``image_id``: a template for the record id; ``metadata``: the fixed metadata;
* ``missing_annotation``: the reason given when an image has no annotation (a counted
  skip; with option ``unannotated=keep`` the image is kept with ``annotation="none"``).

and overrides a hook only for what is truly special (``image_pixels`` to drop a constant
alpha, ``item_metadata`` for per-image fields, ``split_of``, ``sort_key``). Listing is
sorted (never file-system order) and cheap; everything else is the shared pipeline.

:class:`PairedFilesSource` is the read skeleton FolderSource shares with
``formats.matfile.MatTileSource`` (PNG tile + ``.mat`` labels): missing part -> counted
skip, image pixels, instances, metadata -> :class:`Sample`.
"""

from __future__ import annotations

import glob
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import rle
from ..base import (
    BadInputError,
    Item,
    Sample,
    SkipItem,
    Source,
    find_layout_root,
    is_junk,
    logged_notes,
    option_choice,
    relative_posix,
    skipped_item,
    sorted_dirs,
    sorted_files,
)
from ..raster import read_id_map, read_image, read_label_map, read_mask, read_png_verbatim
from .instances import binary_instances
from .outlines import binary_from_pixels, fill_outlines, outline_file_labels, pixels_of_colour

UNANNOTATED_CHOICES = ("skip", "keep")

#: ``(instances, notes, annotation state)`` of one item: instances are ``Sample`` fields
#: (``label_map`` | ``masks`` | ``objects``, optional ``categories`` / ``iscrowd``); a state
#: that is not None overrides ``metadata["annotation"]``.
InstancesRead = tuple[dict[str, Any], list[str], str | None]


class PairedFilesSource(Source):
    """The read skeleton of every "image file + its annotation file(s)" reader.

    :meth:`read` is the same for all of them: an item without its image, or without its
    annotation (unless option ``unannotated=keep``), is a counted skip
    (:meth:`missing_reason`); otherwise image pixels (:meth:`image_pixels`) -> instances
    (:meth:`read_instances`, sized by the image) -> metadata (:attr:`metadata` +
    :meth:`item_metadata`, the annotation state, the upstream path) -> :class:`Sample`.
    Subclasses: :class:`FolderSource` (layout declared by name rules) and
    ``formats.matfile.MatTileSource`` (PNG tile + ``.mat`` labels).
    """

    #: fixed metadata of every record (besides source and licence)
    metadata: ClassVar[Mapping[str, Any]] = {}
    #: key of ``Item.files`` that holds the annotation (a path, a list of paths, or None/[] if missing)
    annotation_key: ClassVar[str] = "annotation"
    #: store the upstream PNG bytes as they are (only for PNG images that decode losslessly)
    png_verbatim: ClassVar[bool] = False

    def missing_reason(self, item: Item) -> str:
        """Reason of the counted skip of an item whose image or annotation is missing."""
        raise NotImplementedError

    def image_pixels(self, item: Item) -> tuple[np.ndarray, bytes | None, list[str]]:
        """(pixels, upstream PNG bytes or None, notes) of an item's image."""
        path = item.files["image"]
        if self.png_verbatim:
            pixels, png = read_png_verbatim(path)
            return pixels, png, []
        return read_image(path), None, []

    def read_instances(self, item: Item, shape: tuple[int, int]) -> InstancesRead:
        """``(instances, notes, annotation state)`` of an annotated item whose image is ``shape``."""
        raise NotImplementedError

    def annotation_notes(self, item: Item, notes: list[str]) -> list[str]:
        """How :meth:`read_instances`' notes enter ``Sample.notes``: prefixed with the image id
        and logged (:func:`~..base.logged_notes`) unless a subclass says otherwise."""
        return logged_notes(item.image_id, notes)

    def item_metadata(self, item: Item, pixels: np.ndarray) -> dict[str, Any]:
        """Per-image metadata added to :attr:`metadata` (e.g. patient ids from the name)."""
        return {}

    def read(self, item: Item) -> Sample:
        annotation = item.files.get(self.annotation_key)
        unannotated = not annotation
        if item.files.get("image") is None or (unannotated and self.options.get("unannotated", "skip") == "skip"):
            raise SkipItem(item.image_id, self.missing_reason(item))
        pixels, png, notes = self.image_pixels(item)
        instances: dict[str, Any] = {"objects": []}
        state: str | None = "none"
        if not unannotated:
            instances, annotation_notes, state = self.read_instances(item, pixels.shape[:2])
            notes = notes + self.annotation_notes(item, annotation_notes)
        metadata = self.base_metadata(**{**self.metadata, **self.item_metadata(item, pixels)})
        if state is not None:
            metadata["annotation"] = state
        metadata["upstream_path"] = relative_posix(Path(item.files["image"]), Path(item.attrs["root"]))
        return Sample(image_id=item.image_id, image=pixels, image_png=png, metadata=metadata, notes=notes, **instances)


#: ``reader(source, item, shape) -> (instances, notes, annotation state)`` of one annotation kind.
KindReader = Callable[["FolderSource", Item, tuple[int, int]], InstancesRead]


@dataclass(frozen=True)
class AnnotationKind:
    """How one kind of annotation file becomes instances (an entry of :data:`ANNOTATION_KINDS`)."""

    name: str
    read: KindReader
    #: the reader's ``annotation`` template is a glob of one file per instance (a list of
    #: paths per item) rather than the path of one file
    per_instance_files: bool = False


#: Annotation kinds by name: the built-in ones below, and any a reader module registers.
ANNOTATION_KINDS: dict[str, AnnotationKind] = {}


def register_annotation_kind(name: str, *, per_instance_files: bool = False) -> Callable[[KindReader], KindReader]:
    """Decorator: register ``reader(source, item, shape) -> (instances, notes, state)`` as kind ``name``.

    ``item.files["annotation"]`` is the annotation's path (a list of paths with
    ``per_instance_files``); ``shape`` is the image's (h, w), which the annotation must match.
    A name is registered once (registering the same function again, e.g. on a module
    reload, is allowed).
    """

    def register(reader: KindReader) -> KindReader:
        known = ANNOTATION_KINDS.get(name)
        if known is not None and _qualified(known.read) != _qualified(reader):
            raise ValueError(f"annotation kind {name!r} is already registered (by {_qualified(known.read)})")
        ANNOTATION_KINDS[name] = AnnotationKind(name, reader, per_instance_files)
        return reader

    return register


def _qualified(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


class FolderSource(PairedFilesSource):
    """Base class of the readers that are "image files + annotation files by a name rule"."""

    #: globs (relative to the root) that identify the folder holding the layout
    layout_markers: ClassVar[Sequence[str]]
    #: how many folder levels below data_dir the layout may sit
    search_depth: ClassVar[int] = 2
    #: regular expression over each file's root-relative path; named groups describe the image
    image_pattern: ClassVar[str]
    #: regex flags for image_pattern (e.g. re.IGNORECASE for upper-case .TIF suffixes)
    pattern_flags: ClassVar[int] = 0
    #: folders (root-relative) to list; None lists the whole tree below the root
    image_dirs: ClassVar[Sequence[str] | None] = None
    #: template of the annotation path (root-relative) from the pattern's groups and the image name;
    #: for ``instance_files`` a glob of the per-instance files
    annotation: ClassVar[str]
    annotation_kind: ClassVar[str]
    #: template of the record id (default: the image file's stem)
    image_id_template: ClassVar[str] = "{stem}"
    #: template of the reason for a counted skip when the annotation file is missing
    missing_annotation: ClassVar[str] = "no annotation file {annotation} for {name}"
    #: colour_outlines: the RGB value of the outline pixels
    outline_colour: ClassVar[tuple[int, ...]] = (255, 0, 0)
    outline_colour_name: ClassVar[str] = "red"
    #: the single split of sets without an upstream split
    default_split: ClassVar[str] = "train"

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.annotation_kind not in ANNOTATION_KINDS:
            raise TypeError(
                f"{type(self).__name__} ({self.name}): unknown annotation_kind {self.annotation_kind!r}; "
                f"known kinds: {', '.join(sorted(ANNOTATION_KINDS))} (a reader adds one with "
                "formats.folder.register_annotation_kind)"
            )
        if "unannotated" in self.options:
            option_choice(self.name, "unannotated", self.options["unannotated"], UNANNOTATED_CHOICES)

    @property
    def registered_kind(self) -> AnnotationKind:
        """The registered :class:`AnnotationKind` of :attr:`annotation_kind`."""
        return ANNOTATION_KINDS[self.annotation_kind]

    # -- listing ------------------------------------------------------------------------
    def find_root(self, data_dir: Path) -> Path | None:
        return find_layout_root(data_dir, self.layout_markers, self.search_depth)

    def candidate_files(self, root: Path) -> list[Path]:
        """Every non-junk file below the listed folders, sorted by path components."""
        folders = [root / d for d in self.image_dirs] if self.image_dirs is not None else [root]
        files: list[Path] = []
        pending = [f for f in folders if f.is_dir()]
        while pending:
            folder = pending.pop()
            files += [p for p in sorted_files(folder) if not is_junk(p)]
            pending += [d for d in sorted_dirs(folder) if not is_junk(d)]
        return sorted(files, key=lambda p: p.relative_to(root).parts)

    def sort_key(self, fields: Mapping[str, str], path: Path, root: Path) -> Any:
        """Order of the items (default: path components, i.e. folder by folder, name by name)."""
        return path.relative_to(root).parts

    def split_of(self, fields: Mapping[str, str]) -> str:
        """Split of an image (default: :attr:`default_split`)."""
        return self.default_split

    def list_items(self, root: Path) -> dict[str, list[Item]]:
        """Image items (sorted), then a counted skip for every annotation file no image claims."""
        splits = self.image_items(root)
        for split, item in self.unclaimed_annotations(root, [i for items in splits.values() for i in items]):
            splits.setdefault(split, []).append(item)
        return splits

    def image_items(self, root: Path) -> dict[str, list[Item]]:
        """One item per file matching :attr:`image_pattern`, with its annotation (or None)."""
        pattern = re.compile(self.image_pattern, self.pattern_flags)
        found = []
        for path in self.candidate_files(root):
            match = pattern.fullmatch(relative_posix(path, root))
            if match is None:
                continue
            fields = {key: value for key, value in match.groupdict().items() if value is not None}
            fields.update(name=path.name, stem=path.stem, suffix=path.suffix)
            found.append((self.sort_key(fields, path, root), path, fields))
        splits: dict[str, list[Item]] = {}
        for _, path, fields in sorted(found, key=lambda entry: entry[0]):
            annotation = self.annotation.format(**fields)
            if self.registered_kind.per_instance_files:
                files = self.instance_files(root, annotation)
                annotation_files: Any = [str(p) for p in files]
            else:
                annotation_path = root / annotation
                annotation_files = str(annotation_path) if annotation_path.is_file() else None
            item = Item(
                image_id=self.image_id_template.format(**fields),
                files={"image": str(path), "annotation": annotation_files, **self.extra_files(root, path, fields)},
                attrs={"root": str(root), "annotation": annotation, **fields},
            )
            splits.setdefault(self.split_of(fields), []).append(item)
        return splits

    # -- annotations without an image: counted, never silent --------------------------------
    def annotation_files(self, root: Path) -> list[Path]:
        """Every file that looks like an annotation of this layout (sorted).

        Default: the files matching :attr:`annotation` with each ``{field}`` a wildcard and,
        where the field is a group of :attr:`image_pattern`, that group's pattern (so
        ``data/preprocessed-data/{collection}/{name}`` with ``collection`` = ``gnf|ic100``
        leaves other collections alone). Override where annotation folders also hold files
        that are not annotations of this reader.
        """
        template, globbed = self.annotation, self.registered_kind.per_instance_files  # its template is a glob
        wildcard = "".join(
            (text if globbed else glob.escape(text)) + ("*" if field is not None else "")
            for text, field, _, _ in _fields(template)
        )
        matcher = self._annotation_matcher()
        return sorted(
            (
                path
                for path in root.glob(wildcard)
                if path.is_file()
                and not any(is_junk(Path(part)) for part in path.relative_to(root).parts)
                and matcher.fullmatch(relative_posix(path, root))
            ),
            key=lambda p: p.relative_to(root).parts,
        )

    def unclaimed_annotations(self, root: Path, items: Sequence[Item]) -> list[tuple[str, Item]]:
        """``(split, counted-skip item)`` for every :meth:`annotation_files` file no listed item uses."""
        claimed: set[str] = set()
        for item in items:
            for value in item.files.values():
                values = value if isinstance(value, (list, tuple)) else [value]
                claimed.update(str(Path(v)) for v in values if v)
        orphans = [path for path in self.annotation_files(root) if str(path) not in claimed]
        return self.orphan_items(root, orphans)

    def orphan_items(self, root: Path, paths: Sequence[Path]) -> list[tuple[str, Item]]:
        """One counted skip per annotation file without an image; its id is the image id the
        file's name implies (when the templates allow it), else the file's relative path."""
        matcher = self._annotation_matcher()
        orphans = []
        for path in paths:
            relative = relative_posix(path, root)
            match = matcher.fullmatch(relative)
            fields = {k: v for k, v in (match.groupdict() if match else {}).items() if v is not None}
            if "name" in fields:
                fields.setdefault("stem", Path(fields["name"]).stem)
                fields.setdefault("suffix", Path(fields["name"]).suffix)
            try:
                image_id, split = self.image_id_template.format(**fields), self.split_of(fields)
            except (KeyError, IndexError, ValueError):
                image_id, split = relative, self.default_split
            orphans.append((split, skipped_item(image_id, f"annotation {relative} has no image (no record made)")))
        return orphans

    def _annotation_matcher(self) -> re.Pattern[str]:
        globbed = self.registered_kind.per_instance_files
        return _annotation_regex(self.annotation, self.image_pattern, self.pattern_flags, globbed)

    def instance_files(self, root: Path, pattern: str) -> list[Path]:
        """Per-instance files of one image (``instance_files``): the glob's matches, sorted."""
        return sorted(root.glob(pattern), key=lambda p: p.name)

    def extra_files(self, root: Path, image: Path, fields: Mapping[str, str]) -> dict[str, str | None]:
        """Other files of an item (e.g. the other channels); paths as strings, None if absent."""
        return {}

    # -- reading (the skeleton is PairedFilesSource.read) ---------------------------------
    def missing_reason(self, item: Item) -> str:
        return self.missing_annotation.format(**item.attrs)

    def read_instances(self, item: Item, shape: tuple[int, int]) -> InstancesRead:
        """``({label_map | objects: ...}, notes, annotation state)`` of an item, by :attr:`annotation_kind`.

        The state overrides ``metadata["annotation"]`` when not None (a skipped corrupt
        per-instance file leaves the image ``partial``).
        """
        return self.registered_kind.read(self, item, shape)

    def skip_instance_file(self, path: Path, error: BadInputError) -> bool:
        """Whether an unreadable per-instance file is a known upstream fault to skip (default: no)."""
        return False


# -- the built-in annotation kinds ------------------------------------------------------
def _min_area(source: FolderSource) -> int:
    return int(source.options.get("min_area", 1))


@register_annotation_kind("label_map")
def _label_map(source: FolderSource, item: Item, shape: tuple[int, int]) -> InstancesRead:
    """A grey label image, ids renumbered 1..N where they have gaps (a note says so)."""
    label_map, notes = read_label_map(item.files["annotation"], shape)
    return {"label_map": label_map}, notes, None


@register_annotation_kind("id_label_map")
def _id_label_map(source: FolderSource, item: Item, shape: tuple[int, int]) -> InstancesRead:
    """A grey label image whose pixel values are the upstream ids: kept, gaps included."""
    return {"label_map": read_id_map(item.files["annotation"], shape)}, [], None


@register_annotation_kind("binary_mask")
def _binary_mask(source: FolderSource, item: Item, shape: tuple[int, int]) -> InstancesRead:
    """A binary mask: one object per 8-connected component (touching nuclei merge)."""
    return {"label_map": binary_instances(read_mask(item.files["annotation"], shape))}, [], None


@register_annotation_kind("outlines")
def _outlines(source: FolderSource, item: Item, shape: tuple[int, int]) -> InstancesRead:
    """A drawing of closed outlines (binary, or painted onto a picture), filled."""
    label_map, notes = outline_file_labels(item.files["annotation"], shape, _min_area(source))
    return {"label_map": label_map}, notes, None


@register_annotation_kind("colour_outlines")
def _colour_outlines(source: FolderSource, item: Item, shape: tuple[int, int]) -> InstancesRead:
    """Outlines drawn in :attr:`FolderSource.outline_colour` on a picture of the image, filled."""
    label_map, notes = colour_outline_labels(
        Path(item.files["annotation"]), shape, source.outline_colour, source.outline_colour_name, _min_area(source)
    )
    return {"label_map": label_map}, notes, None


@register_annotation_kind("instance_files", per_instance_files=True)
def _instance_files(source: FolderSource, item: Item, shape: tuple[int, int]) -> InstancesRead:
    """One mask file per instance (overlaps kept); a known corrupt file leaves the image ``partial``."""
    objects, notes, unreadable = instance_file_objects(item.files["annotation"], shape, source.skip_instance_file)
    state = "partial" if unreadable else "complete" if objects else "none"
    return {"objects": objects}, notes, state


def _fields(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(string.Formatter().parse(template))


def _group_patterns(pattern: str) -> dict[str, str]:
    """Named group -> its sub-pattern in a regular expression (nested names made non-capturing)."""
    groups: dict[str, str] = {}
    for match in re.finditer(r"\(\?P<(\w+)>", pattern):
        depth, index, in_class = 1, match.end(), False
        while index < len(pattern) and depth:
            char = pattern[index]
            if char == "\\":
                index += 1
            elif in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char in "()":
                depth += 1 if char == "(" else -1
            index += 1
        body = pattern[match.end() : index - 1]
        groups.setdefault(match.group(1), re.sub(r"\(\?P<\w+>", "(?:", body))
    return groups


def _literal_regex(text: str, globbed: bool) -> str:
    """Regex of a template's literal text (``*`` and ``?`` as glob wildcards when ``globbed``)."""
    escaped = re.escape(text)
    return escaped.replace(r"\*", "[^/]*").replace(r"\?", "[^/]") if globbed else escaped


def _annotation_regex(template: str, image_pattern: str, flags: int, globbed: bool = False) -> re.Pattern[str]:
    """Regex of the root-relative annotation paths the template can produce: each field a named
    group (its image_pattern group where there is one, else one path component)."""
    groups = _group_patterns(image_pattern)
    parts, seen = [], set()
    for text, field, _, _ in _fields(template):
        parts.append(_literal_regex(text, globbed))
        if field is None:
            continue
        if field in seen:
            parts.append(f"(?P={field})")
            continue
        seen.add(field)
        body = groups.get(field, "[^/]+")
        if "(?P=" in body:  # a back-reference to a group outside it: fall back to any component
            body = "[^/]+"
        parts.append(f"(?P<{field}>{body})")
    try:
        return re.compile("".join(parts), flags)
    except re.error:  # an exotic image pattern: any path component per field
        return re.compile(
            "".join(_literal_regex(t, globbed) + (f"(?P<{f}>[^/]+)" if f else "") for t, f, _, _ in _fields(template)),
            flags,
        )


def colour_outline_labels(
    path: Path, shape: tuple[int, int], colour: tuple[int, ...], colour_name: str, min_area: int = 1
) -> tuple[np.ndarray, list[str]]:
    """Label map of the closed outlines drawn in exactly ``colour`` on a picture of the image."""
    drawing = read_image(path)
    if drawing.ndim != 3 or drawing.shape[:2] != tuple(shape) or drawing.shape[2] < len(colour):
        raise BadInputError(path, f"expected an RGB drawing of the image's size {tuple(shape)}, got shape {drawing.shape}")
    label_map, notes = fill_outlines(pixels_of_colour(drawing, colour), min_area=min_area)
    if not label_map.any():
        notes.append(f"no closed {colour_name} outline in {path.name}: no objects")
    return label_map, notes


def instance_file_objects(
    paths: Sequence[str], shape: tuple[int, int], skip_unreadable: Callable[[Path, BadInputError], bool]
) -> tuple[list[dict[str, Any]], list[str], int]:
    """(objects, notes, unreadable files skipped): one object per mask file, ids 1..N in file
    order, overlaps kept; empty files are noted and skipped."""
    objects: list[dict[str, Any]] = []
    notes: list[str] = []
    skipped_unreadable = 0
    for path in map(Path, paths):
        try:
            pixels = read_image(path)
        except BadInputError as error:
            if not skip_unreadable(path, error):
                raise
            skipped_unreadable += 1
            notes.append(f"known corrupt upstream mask skipped: {path.name} ({error.reason})")
            continue
        mask, note = binary_from_pixels(pixels)
        if mask.shape != tuple(shape):
            raise BadInputError(path, f"mask size {mask.shape[1]}x{mask.shape[0]} != image size {shape[1]}x{shape[0]}")
        if note:
            notes.append(f"{path.name}: {note}")
        if not mask.any():
            notes.append(f"empty mask skipped: {path.name}")
            continue
        obj = rle.encode_masks(mask[None])[0]  # one mask at a time: no (n, h, w) stack in memory
        obj["id"] = len(objects) + 1
        objects.append(obj)
    return objects, notes, skipped_unreadable
