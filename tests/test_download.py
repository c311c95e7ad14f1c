"""The download path (DownloadManager -> verify -> safe unpack) against a server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

import pytest

from nuclei_collection import BadInputError, build
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.base import Download
from nuclei_collection_builders.download import safe_extract, verify_download
from nuclei_collection_builders.sources.dsb2018 import DSB2018StageTrain


def zip_tree(folder, archive):
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(folder).as_posix())


@pytest.fixture
def served_stage1_train(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    raw = tmp_path / "raw"
    ids = write_dsb2018_stage1_train(raw, n_images=3, seed=4)  # zip has no top folder, like upstream
    zip_tree(raw, served / "stage1_train.zip")
    sha = hashlib.sha256((served / "stage1_train.zip").read_bytes()).hexdigest()
    download = Download(url=base_url + "stage1_train.zip", filename="stage1_train.zip", sha256=sha)
    monkeypatch.setattr(DSB2018StageTrain, "downloads", (download,))
    return ids, served


def test_build_downloads_verifies_and_unpacks(served_stage1_train, tmp_path):
    ids, _ = served_stage1_train
    (report,) = build("nuclei_stage1_train", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert report.splits["train"]["records"] == 3
    # second build reuses the verified download
    (again,) = build("nuclei_stage1_train", out=tmp_path / "out2", cache_dir=tmp_path / "cache")
    assert again.splits == report.splits


def test_checksum_mismatch_is_an_error_and_deletes_the_file(served_stage1_train, tmp_path, monkeypatch):
    (download,) = DSB2018StageTrain.downloads
    monkeypatch.setattr(DSB2018StageTrain, "downloads", (Download(download.url, download.filename, "0" * 64),))
    with pytest.raises(BadInputError, match="sha256 mismatch"):
        build("nuclei_stage1_train", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "out" / "nuclei_stage1_train").exists()


def test_html_error_page_is_detected(http_server, tmp_path, monkeypatch):
    base_url, served = http_server
    (served / "stage1_train.zip").write_text("<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    download = Download(url=base_url + "stage1_train.zip", filename="stage1_train.zip", sha256=None)
    monkeypatch.setattr(DSB2018StageTrain, "downloads", (download,))
    with pytest.raises(BadInputError, match="HTML page"):
        build("nuclei_stage1_train", out=tmp_path / "out", cache_dir=tmp_path / "cache")


def test_unreachable_host_names_url_and_manual_route(tmp_path, monkeypatch):
    from nuclei_collection import MissingDataError

    download = Download(url="http://127.0.0.1:9/stage1_train.zip", filename="stage1_train.zip")
    monkeypatch.setattr(DSB2018StageTrain, "downloads", (download,))
    with pytest.raises(MissingDataError, match="127.0.0.1:9/stage1_train.zip") as error:
        build("nuclei_stage1_train", out=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert "--data-dir" in str(error.value)


def _zip_with(member_name: str, archive):
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(member_name, b"x")


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_zip_slip_is_refused(tmp_path, member):
    archive = tmp_path / "bad.zip"
    _zip_with(member, archive)
    with pytest.raises(BadInputError, match="refusing"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_symlinks_in_archives_are_refused(tmp_path):
    archive = tmp_path / "bad.tgz"
    with tarfile.open(archive, "w:gz") as handle:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        handle.addfile(info)
    with pytest.raises(BadInputError, match="link"):
        safe_extract(archive, tmp_path / "out")
    zipped = tmp_path / "bad.zip"
    with zipfile.ZipFile(zipped, "w") as handle:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        handle.writestr(info, "/etc/passwd")
    with pytest.raises(BadInputError, match="symlink"):
        safe_extract(zipped, tmp_path / "out2")


def test_truncated_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "cut.tgz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as handle:
        data = bytes(range(256)) * 400
        info = tarfile.TarInfo("big.bin")
        info.size = len(data)
        handle.addfile(info, io.BytesIO(data))
    archive.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(BadInputError, match="corrupt or truncated"):
        safe_extract(archive, tmp_path / "out")


def test_verify_download_html(tmp_path):
    page = tmp_path / "x.zip"
    page.write_bytes(b"  \n<html><head></head></html>")
    with pytest.raises(BadInputError, match="HTML"):
        verify_download(page, Download("http://127.0.0.1/x.zip", "x.zip"))
    assert not page.exists()


@pytest.mark.parametrize("name, expected", [("page.zip", "HTML page, not a zip"), ("page.tgz", "HTML page, not a tar")])
def test_html_page_saved_as_archive_is_named(tmp_path, name, expected):
    archive = tmp_path / name
    archive.write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>")
    with pytest.raises(BadInputError, match=expected) as error:
        safe_extract(archive, tmp_path / "out")
    assert name in str(error.value) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt"])
def test_tar_slip_is_refused(tmp_path, member):
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        info = tarfile.TarInfo(member)
        info.size = 1
        handle.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BadInputError, match="refusing"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
