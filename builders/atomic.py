"""Atomic writes: an export is either the previous one or the complete new one, never half of each.

Every writer (parquet shards, COCO, ImageMask, downloads, build reports) stages its output
in a temporary folder or file next to the target and renames it into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import NucleiCollectionError


class OutputPathError(NucleiCollectionError):
    """An output path that cannot be written as asked; the message names it and what to do."""


def check_output_dir(path: Path | str, marker: str | None, what: str) -> Path:
    """Refuse an output folder that cannot or must not be written, before anything is read or written.

    ``path`` must be a folder (or not exist yet) whose nearest existing parent is a folder
    this process may write into. An existing non-empty folder must hold ``marker`` (a
    relative path an earlier export of this kind wrote, e.g. ``imagemask.json``); any other
    non-empty folder is someone else's and is never written into or replaced. ``what``
    names the export in the message (e.g. "a COCO export").
    """
    path = Path(path).expanduser()
    where = next((p for p in (path, *path.parents) if p.exists() or p.is_symlink()), Path("."))
    if not where.is_dir():
        blocker = "is a file" if where == path else f"cannot be created: {where} is a file"
        raise OutputPathError(f"{path}: {blocker}, not a folder; choose a folder path for --out")
    if not os.access(where, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: no permission to write in {where}; choose a folder you can write to")
    if where == path and marker is not None and any(path.iterdir()) and not (path / marker).exists():
        raise OutputPathError(
            f"{path}: folder is not empty and is not {what} (no {marker} in it); choose a new or empty folder for --out"
        )
    return path


@contextmanager
def staging_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A fresh hidden folder ``parent/.<prefix>-*`` (same file system as the target), removed on exit."""
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_dir(staging: Path, target: Path) -> None:
    """Swap ``staging`` into ``target``: rename the old one aside, rename in, delete old."""
    old = None
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; exports are meant to be read by others
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
