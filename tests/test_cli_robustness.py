"""Issue 19: the command line under real-world trouble.

Choice options given as numerals, an unreachable Hub, Ctrl-C, SIGKILL leftovers, a full
disk, archives passed as --data-dir, folder permissions, and a fast start-up. Only
127.0.0.1 is contacted (port 9, where nothing listens, for the unreachable Hub).
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from nuclei_collection_builders import atomic
from nuclei_collection_builders.app.cli import main, make_parser, parse_options
from nuclei_collection_builders.exporters.build import build

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG = "nuclei_stage1_train"


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``folder`` (hidden files included)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def zip_folder(folder: Path, archive: Path) -> None:
    """Zip ``folder`` with its own name as the top entry (as the BBBC zips are)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(folder.parent).as_posix())


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# --------------------------------------------------------------------------- 1. choice options


def test_numeral_choice_option_from_the_command_line(tmp_path, capsys):
    from fixtures.cryonuseg import write_cryonuseg

    raw = tmp_path / "raw"
    write_cryonuseg(raw)
    out = tmp_path / "out"
    code = main(["build", "CryoNuSeg", "--data-dir", str(raw), "--out", str(out), "-o", "annotator=2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "CryoNuSeg_annotator_2/" in captured.out
    assert (out / "CryoNuSeg_annotator_2").is_dir()
    # A value that is not a choice is still refused, in one line naming the choices.
    code = main(["build", "CryoNuSeg", "--data-dir", str(raw), "--out", str(out), "-o", "annotator=3"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "annotator must be one of ('1', '1-round2', '2'), got '3'" in err


def test_option_types_follow_the_readers_defaults():
    # Numeric options stay numbers (readers compare or store them as such) ...
    assert parse_options(["z=16"], ["BBBC006"]) == {"z": 16}
    assert parse_options(["z=all"], ["BBBC006"]) == {"z": "all"}
    assert parse_options(["fold=1"], ["PanNuke"]) == {"fold": 1}
    assert parse_options(["tile_size=1024"], ["BCSS"]) == {"tile_size": 1024}
    assert parse_options(["val_fraction=0.25", "seed=3"], [CONFIG]) == {"val_fraction": 0.25, "seed": 3}
    # ... numeral choices and yes/no words stay text.
    assert parse_options(["annotator=2"], ["CryoNuSeg"]) == {"annotator": "2"}
    assert parse_options(["annotator=1-round2"], ["CryoNuSeg"]) == {"annotator": "1-round2"}
    assert parse_options(["flip_outlines=1"], ["BBBC018"]) == {"flip_outlines": "1"}
    # Without a known config (an exported name) numbers are converted as before.
    assert parse_options(["annotator=2"], ["not_a_config"]) == {"annotator": 2}


# --------------------------------------------------------------------------- 2. unreachable Hub


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    root = tmp_path_factory.mktemp("robust")
    write_dsb2018_stage1_train(root / "raw" / "stage1_train", n_images=4, seed=3)
    build(CONFIG, data_dir=root / "raw", out=root / "export")
    return root


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from nuclei_collection_builders.app.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


@pytest.mark.parametrize("dry_run", [False, True])
def test_push_to_an_unreachable_endpoint_is_one_line(small_export, dry_run):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # the discard port: nothing listens there
    env["HF_TOKEN"] = "hf_test_token_not_used"
    args = ["push", str(small_export / "export"), "--repo-id", "me/nuclei"] + (["--dry-run"] if dry_run else [])
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: me/nuclei: cannot reach the Hub at http://127.0.0.1:9")
    assert "Traceback" not in result.stderr


def test_hub_client_errors_are_caught_by_their_own_classes():
    """The converter catches the client's classes, not a broad Exception: others pass through."""
    from huggingface_hub.errors import HTTPError

    from nuclei_collection_builders.exporters.hub import HubError, hub_errors

    class Api:
        endpoint = "http://127.0.0.1:9"

    with pytest.raises(HubError, match=r"^r/x: cannot reach the Hub at http://127\.0\.0\.1:9 \(HTTPError: boom\)"):
        with hub_errors(Api(), "r/x"):
            raise HTTPError("boom")
    with pytest.raises(RuntimeError, match="not ours"):
        with hub_errors(Api(), "r/x"):
            raise RuntimeError("not ours")


# --------------------------------------------------------------------------- 4. permissions


def test_exported_folders_are_as_readable_as_the_rest(small_export, tmp_path, umask_022):
    from nuclei_collection_builders.exporters.coco import export_coco
    from nuclei_collection_builders.exporters.imagemask import export_imagemask

    raw = small_export / "raw"
    build(CONFIG, data_dir=raw, out=tmp_path / "parquet")
    export_coco(CONFIG, tmp_path / "coco", data_dir=raw)
    export_imagemask(CONFIG, tmp_path / "imagemask", data_dir=raw)
    folders = [tmp_path / "parquet" / CONFIG, tmp_path / "coco" / CONFIG, tmp_path / "imagemask"]
    folders += [p for p in (tmp_path / "imagemask").rglob("*") if p.is_dir()]
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
    for path in (tmp_path / "parquet").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_staging_folder_mode_follows_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        staging = atomic.make_staging_dir(tmp_path, "X")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(staging.stat().st_mode) == 0o750


# --------------------------------------------------------------------------- 5. SIGKILL leftovers


def staging_left_by_killed_process(out: Path, name: str) -> Path:
    """Run the real make_staging_dir in a child that then dies by SIGKILL; returns its folder."""
    code = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from nuclei_collection_builders.atomic import make_staging_dir
        staging = make_staging_dir(Path({str(out)!r}), {name!r})
        (staging / "train-00000.parquet").write_bytes(b"half a shard")
        print(staging, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    return Path(result.stdout.strip())


def test_next_build_removes_staging_of_killed_builds_only(small_export, tmp_path):
    out = tmp_path / "out"
    dead = staging_left_by_killed_process(out, CONFIG)
    assert dead.is_dir()
    # A live build of the same config (another process), one from another host, one of
    # another config and an older-style name: none of them may be touched.
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) as live_process:
        try:
            live = out / f".staging-{CONFIG}-{atomic._host_tag()}-{live_process.pid}-0123abcd"
            foreign = out / f".staging-{CONFIG}-ffffffff-{dead.name.split('-')[-2]}-0123abcd"
            other = staging_left_by_killed_process(out, "BBBC020")
            legacy = out / f".staging-{CONFIG}-k2j4_x9z"
            for folder in (live, foreign, legacy):
                folder.mkdir()
            (report,) = build(CONFIG, data_dir=small_export / "raw", out=out)
            assert report.splits["train"]["records"] == 4
            assert not dead.exists()
            assert live.is_dir() and foreign.is_dir() and legacy.is_dir() and other.is_dir()
        finally:
            live_process.kill()
    assert (out / CONFIG).is_dir()


# --------------------------------------------------------------------------- 6. Ctrl-C


def test_ctrl_c_is_one_line_exit_130_and_the_export_is_kept(small_export, tmp_path, monkeypatch, capsys):
    from nuclei_collection_builders.exporters import build as build_module

    out = tmp_path / "out"
    build(CONFIG, data_dir=small_export / "raw", out=out)
    before = tree_digest(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "write_split", interrupted)  # Ctrl-C while writing shards
    code = main(["build", CONFIG, "--data-dir", str(small_export / "raw"), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 130
    assert captured.err == "interrupted; previous export kept\n"
    assert tree_digest(out) == before  # true: same files, no staging folder left


def test_sigint_during_a_parallel_build_prints_one_line(tmp_path):
    """A real Ctrl-C: SIGINT to the whole process group (CLI and its reader processes)."""
    import time

    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    write_dsb2018_stage1_train(tmp_path / "raw" / "stage1_train", n_images=300, seed=1)
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = ["build", CONFIG, "--data-dir", str(tmp_path / "raw"), "--out", str(out), "--num-proc", "2"]
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from nuclei_collection_builders.app.cli import main; sys.exit(main())", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 120
    while not list(out.glob(".staging-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the reader processes are running
    assert process.poll() is None, "the build ended before it could be interrupted; use more images"
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert [line for line in err.splitlines() if not line.startswith("INFO ")] == ["interrupted; previous export kept"]
    assert not (out / CONFIG).exists() and not list(out.glob(".staging-*"))


# --------------------------------------------------------------------------- 7. disk full


def test_disk_full_while_writing_a_shard_names_the_shard(small_export, tmp_path, monkeypatch, capsys):
    from nuclei_collection_builders.exporters import parquet

    out = tmp_path / "out"
    build(CONFIG, data_dir=small_export / "raw", out=out)
    before = tree_digest(out)

    class FullDisk(parquet.pq.ParquetWriter):
        def write_table(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(parquet.pq, "ParquetWriter", FullDisk)
    code = main(["build", CONFIG, "--data-dir", str(small_export / "raw"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: {out}/.staging-{CONFIG}-")
    assert "/train-00000.parquet: cannot write: no space left on device" in err
    assert tree_digest(out) == before


def test_file_too_large_names_the_file_in_atomic_and_imagemask_writes(small_export, tmp_path, monkeypatch):
    from nuclei_collection_builders.exporters.imagemask import export_imagemask

    real_write_bytes = Path.write_bytes

    def too_large(self, data):
        if self.suffix == ".png":
            raise OSError(errno.EFBIG, "File too large")
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", too_large)
    with pytest.raises(atomic.WriteError, match=r"\.png: cannot write: file too large for the file system") as info:
        export_imagemask(CONFIG, tmp_path / "im", data_dir=small_export / "raw")
    assert info.value.errno == errno.EFBIG and not (tmp_path / "im").exists()

    real_fdopen = os.fdopen

    class FullStream:  # the temporary file's stream, on a device that is full
        def __init__(self, handle, mode):
            self.stream = real_fdopen(handle, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.stream.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fdopen", FullStream)
    with pytest.raises(atomic.WriteError, match=r"README\.md: cannot write: no space left on device"):
        atomic.write_text_atomic(tmp_path / "README.md", "x")
    assert list(tmp_path.glob(".README.md-*")) == []  # the temporary file is removed


# --------------------------------------------------------------------------- 8. archives as --data-dir


def test_data_dir_holding_the_upstream_zips_is_unpacked_into_the_cache(tmp_path, capsys):
    from fixtures.bbbc020 import write_bbbc020

    tree = tmp_path / "tree"
    write_bbbc020(tree)
    zips = tmp_path / "zips"
    zip_folder(tree / "BBBC020_v1_images", zips / "BBBC020_v1_images.zip")
    zip_folder(tree / "BBC020_v1_outlines_nuclei", zips / "BBBC020_v1_outlines_nuclei.zip")
    zips.chmod(0o555)  # read-only, like ../shared in CI: nothing may be unpacked into it
    try:
        listing = sorted(p.name for p in zips.iterdir())
        code = main(
            ["build", "BBBC020", "--data-dir", str(zips), "--out", str(tmp_path / "from_zip"),
             "--cache-dir", str(tmp_path / "cache")]
        )  # fmt: skip
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert sorted(p.name for p in zips.iterdir()) == listing
    finally:
        zips.chmod(0o755)
    assert list((tmp_path / "cache" / "nuclei_collection_unpacked").glob("BBBC020-*/BBBC020_v1_images"))
    # Same records, byte for byte, as a build from the unpacked tree.
    build("BBBC020", data_dir=tree, out=tmp_path / "from_tree")
    shards = sorted((tmp_path / "from_tree" / "BBBC020").glob("*.parquet"))
    assert shards
    for shard in shards:
        assert (tmp_path / "from_zip" / "BBBC020" / shard.name).read_bytes() == shard.read_bytes()
    # A second build reuses the unpacked folder (no second copy).
    assert main(["build", "BBBC020", "--data-dir", str(zips), "--out", str(tmp_path / "again"),
                 "--cache-dir", str(tmp_path / "cache")]) == 0  # fmt: skip
    assert len(list((tmp_path / "cache" / "nuclei_collection_unpacked").iterdir())) == 1


def test_archive_in_data_dir_is_unpacked_safely(tmp_path, capsys):
    zips = tmp_path / "zips"
    zips.mkdir()
    with zipfile.ZipFile(zips / "BBBC020_v1_images.zip", "w") as handle:
        handle.writestr("../escaped.txt", b"zip slip")
    code = main(["build", "BBBC020", "--data-dir", str(zips), "--out", str(tmp_path / "out"),
                 "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "escapes the target folder" in err
    assert not list(tmp_path.rglob("escaped.txt"))


def test_data_dir_without_layout_or_archive_still_says_so(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["build", "BBBC020", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    assert code == 2 and "no usable raw data" in capsys.readouterr().err


# --------------------------------------------------------------------------- 10. start-up

HEAVY = ("datasets", "pyarrow", "scipy", "pandas", "torch")


def test_console_entry_point_is_the_cli_module():
    text = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'nuclei-collection = "nuclei_collection_builders.app.cli:main"' in text


def test_help_imports_no_heavy_module():
    code = textwrap.dedent(
        f"""
        import contextlib, io, sys
        from nuclei_collection_builders.app.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--help"])
            except SystemExit:
                pass
            for command in ("build", "push", "evaluate", "list", "export-coco"):
                try:
                    main([command, "--help"])
                except SystemExit:
                    pass
        print(sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r})))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_min_area_help_default_is_the_views_default():
    from nuclei_collection_builders.views.tiles import DEFAULT_MIN_AREA

    build_parser = make_parser()._subparsers._group_actions[0].choices["build"]
    assert f"(default {DEFAULT_MIN_AREA})" in " ".join(build_parser.format_help().split())
