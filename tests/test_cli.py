"""The console script, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image

from nuclei_collection import main


def run_cli(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "nuclei_collection", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_demo_end_to_end_offline(tmp_path):
    result = run_cli("demo", "--images", "6", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nuclei_stage_1_local_val_split" in result.stdout
    assert (tmp_path / "nuclei_collection" / "README.md").is_file()
    preview = Image.open(tmp_path / "nuclei_collection_preview.png")
    assert preview.mode == "RGB" and preview.width > 0


def test_build_with_missing_data_is_a_clear_error_without_traceback(tmp_path, capsys):
    code = main(["build", "nuclei_stage1_train", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "does not exist" in err and "stage1_train.zip" in err


def test_build_and_list(synthetic_dsb, tmp_path, capsys):
    assert main(["list"]) == 0
    assert "nuclei_stage1_train" in capsys.readouterr().out
    code = main(["build", "nuclei_stage1_train", "--data-dir", str(synthetic_dsb), "--out", str(tmp_path / "o")])
    assert code == 0
    assert "nuclei_stage1_train/train: 12 images" in capsys.readouterr().out


def test_unknown_option_is_rejected(synthetic_dsb, tmp_path, capsys):
    code = main(
        ["build", "nuclei_stage1_train", "--data-dir", str(synthetic_dsb), "--out", str(tmp_path), "-o", "zz=1"]
    )
    assert code == 2
    assert "unknown option" in capsys.readouterr().err


# --------------------------------------------------------------------------- issue 15: rough edges


def test_list_fits_the_terminal_and_keeps_the_licence_column(monkeypatch, capsys):
    from nuclei_collection_builders.sources import CONFIG_SPECS

    monkeypatch.setenv("COLUMNS", "100")
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 100
    for name, spec in CONFIG_SPECS.items():
        (line,) = [line for line in lines if line.split()[0] == name]
        assert spec.source.license in line  # never cut
    # the whole text, wrapped, with --verbose
    assert main(["list", "--verbose"]) == 0
    verbose = capsys.readouterr().out
    assert max(map(len, verbose.splitlines())) <= 100
    flat = " ".join(verbose.split())
    for spec in CONFIG_SPECS.values():
        assert " ".join(spec.description.split()) in flat


def test_num_proc_must_be_at_least_one(synthetic_dsb, tmp_path, capsys):
    for value in ("0", "-2"):
        with pytest.raises(SystemExit) as exit_info:
            main(["build", "nuclei_stage1_train", "--data-dir", str(synthetic_dsb), "--out", str(tmp_path / "o")]
                 + ["--num-proc", value])
        assert exit_info.value.code == 2
        assert "--num-proc: must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args, suggestion",
    [
        (["build", "BBBC06"], "'BBBC006'"),
        (["export-coco", "monuseg", "--out", "x"], "'nucleisegmentationbenchmark'"),
        (["export-imagemask", "nuclei_stage1_trian", "--out", "x"], "'nuclei_stage1_train'"),
    ],
)
def test_misspelled_config_gets_did_you_mean(args, suggestion, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"did you mean {suggestion}" in err
    assert "nuclei_stage_2_test" not in err.split("did you mean")[0]  # not the whole list of choices


def test_show_with_misspelled_config_gets_did_you_mean(tmp_path, capsys):
    assert main(["show", "tnbc", "--data-dir", str(tmp_path)]) == 2
    assert "did you mean 'TNBC_NucleiSegmentation'" in capsys.readouterr().err


def test_stats_says_what_is_wrong_with_the_folder(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nothing'}: no such folder" in err and "build` first" not in err
    (tmp_path / "file").write_text("x")
    assert main(["stats", str(tmp_path / "file")]) == 2
    assert "is a file, not an export folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["stats", str(tmp_path / "empty")]) == 2
    assert "no exported config in this folder" in capsys.readouterr().err


def test_mpp_is_printed_as_stored_not_as_float32_noise(tmp_path, capsys):
    from fixtures.histology import write_monuseg

    write_monuseg(tmp_path / "raw")
    out = tmp_path / "out"
    args = ["build", "nucleisegmentationbenchmark", "--data-dir", str(tmp_path / "raw"), "--out", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    target = tmp_path / "overlay.png"
    assert main(["show", "nucleisegmentationbenchmark", "--export", str(out), "--out", str(target)]) == 0
    shown = capsys.readouterr().out
    assert "metadata.mpp: 0.252\n" in shown and "0.2520000" not in shown
    assert main(["stats", str(out)]) == 0
    table = capsys.readouterr().out
    assert "0.252 (2)" in table and "0.2520000" not in table
    assert "mpp: 0.252 (2)" in (out / "README.md").read_text()


def test_pillow_warnings_do_not_leak_before_our_error(tmp_path):
    """A truncated TIFF: Pillow warns "Corrupt EXIF data" and fails; only our one-line error is shown."""
    from fixtures.bbbc006 import write_bbbc006

    write_bbbc006(tmp_path / "raw" / "BBBC006", planes=(16,))
    tiff = sorted((tmp_path / "raw" / "BBBC006" / "BBBC006_v1_images_z_16").glob("*_w1*.tif"))[0]
    data = tiff.read_bytes()
    tiff.write_bytes(data[: len(data) // 2])
    result = run_cli("build", "BBBC006", "--data-dir", str(tmp_path / "raw"), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and tiff.name in lines[0], result.stderr
    assert "Warning" not in result.stderr


def test_list_aligns_licences_and_flags_non_commercial_sources():
    from nuclei_collection_builders.app.cli import config_lines

    lines = {line.split()[0]: line for line in config_lines(200)}
    starts = {name: lines[name].index(spec) for name, spec in (("Lizard", "Lizard:"), ("CPM15", "CPM-15"), ("BBBC039", "BBBC039v1"))}
    assert len(set(starts.values())) == 1  # "not stated upstream" no longer breaks the column
    assert "(non-commercial)" in lines["Lizard"] and "(non-commercial)" in lines["MoNuSAC"]
    assert "(non-commercial)" not in lines["BBBC039"]
