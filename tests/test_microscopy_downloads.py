"""Download path of the microscopy sources against a real HTTP server on 127.0.0.1.

Generated raw trees are packed the way upstream ships them (BBBC zips with their folder
inside, the murphylab tgz with its top folder, the Dropbox zip whose name has a space)
and fetched through download.fetch (DownloadManager -> sha256 -> safe unpacking).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import tarfile
import zipfile

import pytest

import nuclei_collection_builders.formats.bbbc as bbbc
import nuclei_collection_builders.sources.bbbc006 as bbbc006
from fixtures.bbbc006 import write_bbbc006
from fixtures.bbbc007 import write_bbbc007
from fixtures.cluster_nuclei import write_cluster_nuclei
from fixtures.isbi2009 import TOP_FOLDER, write_isbi2009
from nuclei_collection import BadInputError, build
from nuclei_collection_builders.base import Download
from nuclei_collection_builders.sources.bbbc007 import BBBC007
from nuclei_collection_builders.sources.cluster_nuclei import ClusterNuclei
from nuclei_collection_builders.sources.isbi2009 import ISBI2009Nuclei


def zip_folder(folder, archive):
    """Zip ``folder`` with its own name as the top entry (as the BBBC and Dropbox zips are)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(folder.parent).as_posix())


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bbbc006_plane_and_labels_zips(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    tree = write_bbbc006(tmp_path / "raw", planes=(16,))
    for name in ("BBBC006_v1_labels", "BBBC006_v1_images_z_16"):
        zip_folder(tree.root / name, served / "BBBC006" / f"{name}.zip")
    monkeypatch.setattr(bbbc, "BBBC_DATA_URL", base_url)  # the real URL scheme, another host
    monkeypatch.setattr(bbbc006, "LABELS_SHA256", sha256(served / "BBBC006" / "BBBC006_v1_labels.zip"))
    (report,) = build("BBBC006", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    # The generated plane lacks one w1 TIFF (a counted skip), so 2 of the 3 fields make records.
    assert (report.splits["train"]["records"], len(report.splits["train"]["skipped"])) == (2, 1)


def test_isbi_tgz_with_top_folder_and_unknown_checksum(http_server, tmp_path, monkeypatch, caplog):
    base_url, served = http_server
    write_isbi2009(tmp_path / "raw")
    with tarfile.open(served / "2009_ISBI_2DNuclei_code_data.tgz", "w:gz") as handle:
        handle.add(tmp_path / "raw" / TOP_FOLDER, arcname=TOP_FOLDER)
    (download,) = ISBI2009Nuclei.downloads
    monkeypatch.setattr(ISBI2009Nuclei, "downloads", (dataclasses.replace(download, url=base_url + download.filename),))
    with caplog.at_level(logging.WARNING, logger="nuclei_collection"):
        (report,) = build("2009_ISBI_2DNuclei", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["train"]["records"] == 4
    assert "no known sha256" in caplog.text and sha256(served / download.filename) in caplog.text


def test_dropbox_zip_with_a_space_and_dl_1(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    write_cluster_nuclei(tmp_path / "raw")
    zip_folder(tmp_path / "raw" / "cluster nuclei", served / "cluster nuclei.zip")
    (download,) = ClusterNuclei.downloads
    assert download.url.endswith("/cluster%20nuclei.zip?dl=1")  # dl=0 would be the preview page
    served_download = Download(
        base_url + "cluster%20nuclei.zip?dl=1", download.filename, sha256(served / download.filename)
    )
    monkeypatch.setattr(ClusterNuclei, "downloads", (served_download,))
    (report,) = build("cluster_nuclei", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["train"]["records"] == 3


def test_bbbc007_checksums_are_enforced(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    write_bbbc007(tmp_path / "raw")
    for download in BBBC007.downloads:
        zip_folder(tmp_path / "raw" / download.filename.removesuffix(".zip"), served / download.filename)
    # The upstream sha256s with our generated archives: the mismatch must stop the build.
    relocated = tuple(dataclasses.replace(d, url=base_url + d.filename) for d in BBBC007.downloads)
    monkeypatch.setattr(BBBC007, "downloads", relocated)
    with pytest.raises(BadInputError, match="sha256 mismatch for BBBC007_v1_images.zip"):
        build("BBBC007", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    matching = tuple(dataclasses.replace(d, sha256=sha256(served / d.filename)) for d in relocated)
    monkeypatch.setattr(BBBC007, "downloads", matching)
    (report,) = build("BBBC007", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["train"]["records"] == 4
