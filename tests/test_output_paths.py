"""Output path problems: one clear line naming the path and what to do, exit code 2, nothing written.

Every exporter checks its output folder once (``atomic.check_output_dir``) before any raw
file is read: a file where a folder is wanted, a folder it may not write into, or a
non-empty folder that is not an export of its kind (never written into, never replaced).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nuclei_collection import main
from nuclei_collection_builders.atomic import OutputPathError, check_output_dir

COMMANDS = {
    "build": ["build", "nuclei_stage1_train"],
    "export-coco": ["export-coco", "nuclei_stage1_train"],
    "export-imagemask": ["export-imagemask", "nuclei_stage1_train"],
}


def snapshot(folder: Path) -> dict[str, str]:
    """Every path below ``folder`` with the sha256 of files (folders as "dir")."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def run_main(args, capsys) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(code: int, err: str, path: Path, advice: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}: ") and advice in lines[0], lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_is_an_existing_file(command, synthetic_dsb, tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    before = snapshot(tmp_path)
    code, err = run_main([*COMMANDS[command], "--data-dir", str(synthetic_dsb), "--out", str(target)], capsys)
    assert_one_line_error(code, err, target, "is a file, not a folder; choose a folder path for --out")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_below_a_file(command, synthetic_dsb, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "sub"
    before = snapshot(tmp_path)
    code, err = run_main([*COMMANDS[command], "--data-dir", str(synthetic_dsb), "--out", str(target)], capsys)
    assert_one_line_error(code, err, target, f"cannot be created: {tmp_path / 'file'} is a file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_is_a_foreign_non_empty_folder(command, synthetic_dsb, tmp_path, capsys):
    target = tmp_path / "my_documents"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path)
    code, err = run_main([*COMMANDS[command], "--data-dir", str(synthetic_dsb), "--out", str(target)], capsys)
    assert_one_line_error(code, err, target, "folder is not empty and is not")
    assert "choose a new or empty folder for --out" in err
    assert snapshot(tmp_path) == before


def test_checked_before_any_raw_file_is_read(tmp_path, capsys):
    """The output problem is reported even when the raw data is missing too: it is checked first."""
    target = tmp_path / "file"
    target.write_text("x")
    code, err = run_main(["build", "BBBC006", "--data-dir", str(tmp_path / "no-raw"), "--out", str(target)], capsys)
    assert_one_line_error(code, err, target, "is a file")


def test_own_exports_and_empty_folders_are_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty", ".nuclei_collection", "an export") == tmp_path / "empty"
    assert check_output_dir(tmp_path / "new" / "deeper", ".nuclei_collection", "an export") == tmp_path / "new" / "deeper"
    (tmp_path / "mine" / ".nuclei_collection").mkdir(parents=True)
    (tmp_path / "mine" / "README.md").write_text("card")
    assert check_output_dir(tmp_path / "mine", ".nuclei_collection", "an export") == tmp_path / "mine"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(OutputPathError, match="not a COCO export"):
        check_output_dir(tmp_path / "mine", "annotations", "a COCO export folder")


def test_no_permission_is_one_line(synthetic_dsb, tmp_path):
    """A parent folder this process may not write into (as root: run without the capability to override it)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    target = locked / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    command = [sys.executable, "-m", "nuclei_collection", "build", "nuclei_stage1_train"]
    command += ["--data-dir", str(synthetic_dsb), "--out", str(target)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: root may write anywhere")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    locked.chmod(0o555)
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {target}: no permission to write in {locked}; choose a folder you can write to"
    ]
    assert list(locked.iterdir()) == []
