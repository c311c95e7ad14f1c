"""Fetching upstream files: datasets.DownloadManager, sha256, HTML detection, safe unpacking.

Downloads go through ``datasets.DownloadManager`` (its cache, retries and proxies). What
comes back is checked before use:

* an HTML page saved under an archive's name (expired link, login wall, Drive confirm
  page) is detected, deleted, and reported with the manual alternative;
* a known sha256 must match (the file is deleted otherwise); an unknown one is logged so
  it can be recorded;
* archives are unpacked by :func:`safe_extract`, which refuses absolute paths, ``..``
  components, symlinks, hard links and device files (zip-slip / tar-slip), into a
  temporary folder that is renamed into place only when complete.

A ``--data-dir`` that holds the upstream archives themselves (``BBBC020_v1_images.zip``
...) instead of their unpacked tree is handled by :func:`locate_local`: the archives whose
names are the source's ``downloads`` file names are unpacked the same safe way, never into
the data folder (it may be read-only, e.g. a shared mount) but into
``<cache>/nuclei_collection_unpacked/<source>-<key>/``, where ``<cache>`` is ``--cache-dir``
or the ``datasets`` cache and ``<key>`` hashes each archive's path, size and mtime (a
changed archive is unpacked afresh; an unchanged one is reused).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from .base import BadInputError, Download, MissingDataError, Source, logger

_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<!--")
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def sha256_of(path: Path | str, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def looks_like_html(path: Path | str) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith(_HTML_MARKERS)


def is_archive(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def verify_download(path: Path, download: Download) -> None:
    """Reject HTML pages and checksum mismatches; delete the bad file so a retry refetches."""
    if looks_like_html(path):
        path.unlink(missing_ok=True)
        raise BadInputError(
            download.url,
            f"the server returned an HTML page instead of {download.filename} (expired link, login or "
            "confirmation page); the partial file was deleted. Download it by hand and pass --data-dir.",
        )
    if download.sha256 is None:
        logger.warning(
            "%s: no known sha256; downloaded file has sha256 %s (record it)", download.filename, sha256_of(path)
        )
        return
    actual = sha256_of(path)
    if actual != download.sha256:
        path.unlink(missing_ok=True)
        raise BadInputError(
            download.url,
            f"sha256 mismatch for {download.filename}: expected {download.sha256}, got {actual}; file deleted",
        )


def _check_member_name(archive: Path, name: str) -> PurePosixPath:
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BadInputError(archive, f"archive member {name!r} has an absolute path (refusing to unpack)")
    if ".." in member.parts:
        raise BadInputError(
            archive, f"archive member {name!r} escapes the target folder with '..' (refusing to unpack)"
        )
    return member


def _zip_members(handle: zipfile.ZipFile) -> Iterator[tuple[str, str, Callable[[], IO[bytes]]]]:
    for info in handle.infolist():
        kind = "link" if stat.S_ISLNK(info.external_attr >> 16) else "dir" if info.is_dir() else "file"
        yield info.filename, kind, functools.partial(handle.open, info)


def _tar_members(handle: tarfile.TarFile) -> Iterator[tuple[str, str, Callable[[], IO[bytes]]]]:
    for info in handle:
        kind = (
            "link" if info.issym() or info.islnk() else "dir" if info.isdir() else "file" if info.isfile() else "other"
        )
        yield info.name, kind, functools.partial(handle.extractfile, info)


def _unpack_members(archive: Path, target: Path, members: Iterator[tuple[str, str, Callable[[], IO[bytes]]]]) -> None:
    """Write regular files and folders below ``target``; refuse links, devices and escaping names."""
    try:
        for name, kind, open_member in members:
            member = _check_member_name(archive, name)
            if kind != "file" and kind != "dir":
                what = "a symlink or link" if kind == "link" else "not a regular file"
                raise BadInputError(archive, f"archive member {name!r} is {what} (refusing to unpack)")
            destination = target / member
            if kind == "dir":
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open_member() as src, open(destination, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise BadInputError(archive, f"archive is corrupt or truncated: {error}") from None


def _open_archive(archive: Path) -> zipfile.ZipFile | tarfile.TarFile:
    is_zip = zipfile.is_zipfile(archive) or archive.name.lower().endswith(".zip")
    try:
        return zipfile.ZipFile(archive) if is_zip else tarfile.open(archive)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        expected = "a zip" if is_zip else "a tar archive"
        kind = f"an HTML page, not {expected}" if looks_like_html(archive) else f"not {expected} ({error})"
        raise BadInputError(archive, kind) from None


def safe_extract(archive: Path | str, target: Path | str) -> Path:
    """Unpack a zip or tar archive into ``target`` (created atomically); returns ``target``."""
    archive, target = Path(archive), Path(target)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with _open_archive(archive) as handle:
            members = _zip_members(handle) if isinstance(handle, zipfile.ZipFile) else _tar_members(handle)
            _unpack_members(archive, staging, members)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def fetch(source: Source, dl_manager=None, cache_dir: Path | str | None = None) -> Path:
    """Download, verify and unpack a source's files; returns the folder to search for its layout.

    Archives are unpacked and plain files (CSVs) linked side by side in one folder per
    source and file set, so ``source.find_root`` sees the same tree as a manual download.
    """
    if not source.downloads:
        raise MissingDataError(
            f"{source.name} cannot be downloaded automatically.\n{source.manual_instructions.strip()}\n"
            "Then pass the folder with --data-dir (or data_dir=...)."
        )
    from datasets import DownloadConfig, DownloadManager

    if (
        dl_manager is None
        or not hasattr(dl_manager, "download")
        or type(dl_manager).__name__ == "StreamingDownloadManager"
    ):
        download_config = DownloadConfig(cache_dir=cache_dir) if cache_dir else None
        dl_manager = DownloadManager(dataset_name="nuclei_collection", download_config=download_config)
    downloads: Sequence[Download] = source.downloads
    try:
        paths = dl_manager.download([d.url for d in downloads])
    except Exception as error:  # network errors come in many types; name the URL and the way out
        urls = ", ".join(d.url for d in downloads)
        raise MissingDataError(
            f"{source.name}: download failed ({type(error).__name__}: {error}).\nURLs: {urls}\n"
            f"Download by hand and pass --data-dir. Expected layout:\n{source.expected_layout}"
        ) from error
    key = hashlib.sha256("\n".join(d.url for d in downloads).encode()).hexdigest()[:16]
    root = Path(paths[0]).parent / f"nuclei_collection-{key}"
    for download, path in zip(downloads, map(Path, paths)):
        if not (root / f".ok-{download.filename}").exists():
            verify_download(path, download)
            place_download(download, path, root, link=True)
    return root


def place_download(download: Download, path: Path, root: Path, link: bool = False) -> None:
    """Unpack (safely) or place one upstream file into ``root``, then mark it done.

    An archive's members go to ``root`` (what is already there is kept); a plain file is
    hard-linked (``link``: the download cache's own copy) or copied. The ``.ok-<file>``
    marker makes a rerun skip it.
    """
    root.mkdir(parents=True, exist_ok=True)
    if download.extract and is_archive(download.filename):
        unpacked = safe_extract(path, root / f".unpacked-{download.filename}")
        for child in sorted(unpacked.iterdir()):
            destination = root / child.name
            if not destination.exists():
                os.replace(child, destination)
        shutil.rmtree(unpacked, ignore_errors=True)
    else:
        destination = root / download.filename
        if not destination.exists() and not (link and _hard_link(path, destination)):
            shutil.copyfile(path, destination)
    (root / f".ok-{download.filename}").touch()


def _hard_link(path: Path, destination: Path) -> bool:
    """Hard-link ``path`` to ``destination``; False where the file system cannot (copy instead)."""
    try:
        os.link(path, destination)
    except OSError:
        return False
    return True


#: Folder below the cache that holds archives unpacked from a --data-dir (:func:`locate_local`).
UNPACKED_DIR = "nuclei_collection_unpacked"


def local_archives(source: Source, data_dir: Path) -> list[tuple[Download, Path]]:
    """The source's download files present directly in ``data_dir`` (archives and plain files)."""
    found = []
    for download in source.downloads:
        path = data_dir / download.filename
        if path.is_file():
            found.append((download, path))
    return found


def _unpack_cache(cache_dir: Path | str | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser() / UNPACKED_DIR
    import datasets.config

    return Path(datasets.config.HF_DATASETS_CACHE) / UNPACKED_DIR


def unpack_local(source: Source, data_dir: Path, cache_dir: Path | str | None = None) -> Path | None:
    """Unpack the upstream archives found in ``data_dir`` into a cache folder; returns it.

    None when ``data_dir`` holds no archive of the source. Plain (non-archive) download files
    found beside them (CSVs) are copied in as well, so the folder has the layout a download
    gives. The data folder itself is only read.
    """
    present = local_archives(source, data_dir)
    if not any(download.extract and is_archive(download.filename) for download, _ in present):
        return None
    identity = hashlib.sha256()
    for _, path in present:
        info = path.stat()
        identity.update(f"{path.resolve()}\0{info.st_size}\0{info.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    root = _unpack_cache(cache_dir) / f"{source.name}-{identity.hexdigest()[:16]}"
    for download, path in present:
        if not (root / f".ok-{download.filename}").exists():
            logger.info("%s: placing %s into %s", source.name, path, root)
            place_download(download, path, root)
    return root


def locate_local(source: Source, data_dir: Path | str, cache_dir: Path | str | None = None) -> Path:
    """``source.locate(data_dir)``; when the layout is not there but the upstream archives
    are, unpack them (:func:`unpack_local`) and locate the layout in the unpacked folder."""
    data_dir = Path(data_dir).expanduser()
    try:
        return source.locate(data_dir)
    except MissingDataError:
        if not data_dir.is_dir():
            raise
        unpacked = unpack_local(source, data_dir, cache_dir)
        if unpacked is None:
            raise
    try:
        return source.locate(unpacked)
    except MissingDataError:
        names = sorted(p.name for _, p in local_archives(source, data_dir))
        missing = sorted(d.filename for d in source.downloads if not (data_dir / d.filename).is_file())
        why = f"unpacked {', '.join(names)} into {unpacked}, but the layout is still not complete"
        if missing:
            why += f"; missing upstream file(s): {', '.join(missing)}"
        raise MissingDataError(source.missing_message(data_dir, why)) from None
