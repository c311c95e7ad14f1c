"""Atomic writes: an export is either the previous one or the complete new one, never half of each.

Every writer (parquet shards, COCO, ImageMask, downloads, build reports) stages its output
in a temporary folder or file next to the target and renames it into place.

Staging folders are ``.staging-<name>-<host>-<pid>-<random>`` (:func:`make_staging_dir`):
created with the usual mode (``0o777 & ~umask``, like any folder, so the renamed export is
as readable as the rest), and owned by the process whose id and host they name. A build
killed with SIGKILL cannot clean up; the next staging of the same name removes the
folders whose process is gone (never one of a live build, nor one from another host).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import NucleiCollectionError, logger

STAGING_PREFIX = ".staging-"
#: errnos that mean "the device cannot take more": no space, file too large, quota exceeded
DISK_FULL_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EFBIG: "file too large for the file system"}
if hasattr(errno, "EDQUOT"):
    DISK_FULL_ERRNOS[errno.EDQUOT] = "disk quota exceeded"


class WriteError(NucleiCollectionError):
    """A write failed because the device is full (or the file too large); names the file."""

    def __init__(self, path: Path | str, error: OSError):
        self.path, self.errno = Path(path), error.errno
        what = DISK_FULL_ERRNOS.get(error.errno, error.strerror or str(error))
        super().__init__(
            f"{path}: cannot write: {what} ([Errno {error.errno}] {errno.errorcode.get(error.errno, '?')}); "
            "free some space or choose another --out (the previous export is kept)"
        )


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Name ``path`` in the error when a write below fails for a full device (ENOSPC, EFBIG,
    EDQUOT): Python's and pyarrow's errors for these carry no file name. Other errors pass."""
    try:
        yield
    except OSError as error:
        if error.errno in DISK_FULL_ERRNOS:
            raise WriteError(path, error) from error
        raise


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
    # Staging folders of an interrupted first export do not make the folder someone else's.
    contents = (p for p in path.iterdir() if not p.name.startswith(STAGING_PREFIX)) if where == path else ()
    if where == path and marker is not None and any(contents) and not (path / marker).exists():
        raise OutputPathError(
            f"{path}: folder is not empty and is not {what} (no {marker} in it); choose a new or empty folder for --out"
        )
    return path


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (unknown counts as alive: nothing is removed)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def remove_stale_staging(parent: Path, name: str) -> list[Path]:
    """Remove ``parent/.staging-<name>-*`` folders left by dead processes of this host.

    Only names of :func:`make_staging_dir`'s form are considered; a folder whose process
    still runs (a concurrent build), from another host (a shared file system) or of an
    unknown form is kept. Returns the folders removed.
    """
    pattern = re.compile(re.escape(f"{STAGING_PREFIX}{name}-") + r"([0-9a-f]{8})-(\d+)-[0-9a-f]{8}")
    removed = []
    try:
        entries = sorted(parent.iterdir())
    except OSError:
        return removed
    for path in entries:
        match = pattern.fullmatch(path.name)
        if match is None or match[1] != _host_tag() or pid_alive(int(match[2])) or not path.is_dir():
            continue
        logger.info("%s: removing the staging folder of an interrupted run (process %s is gone)", path, match[2])
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def make_staging_dir(parent: Path, name: str) -> Path:
    """A fresh folder ``parent/.staging-<name>-<host>-<pid>-<random>`` (same file system as
    the target), mode ``0o777 & ~umask``; stale ones of the same name are removed first."""
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(parent, name)
    prefix = f"{STAGING_PREFIX}{name}-{_host_tag()}-{os.getpid()}-"
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir(0o777)  # the umask applies, as for every other folder of an export
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{parent}: could not create a staging folder {prefix}*")


@contextmanager
def staging_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A fresh staging folder ``parent/.staging-<prefix>-*`` (:func:`make_staging_dir`), removed on exit."""
    staging = make_staging_dir(parent, prefix)
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
        with writing(path), os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; exports are meant to be read by others
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def _umask() -> int:
    """The process umask (read from /proc where possible: setting it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_file(path: Path, data: bytes) -> None:
    """``path.write_bytes(data)`` (into a staging folder), naming ``path`` if the device is full."""
    with writing(path):
        path.write_bytes(data)
