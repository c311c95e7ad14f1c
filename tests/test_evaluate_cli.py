"""``nuclei-collection evaluate``: the report folder, the figure, and errors as one line + exit 2.

The ground truth scored against itself must give exactly 1.0 for every metric through the
command line too, for each prediction format (label maps, COCO JSON, parquet export, PanNuke
masks.npy, semantic code maps); the helpers that write the predictions are the API tests'.
"""

from __future__ import annotations

import csv
import json
import math

import pytest
from PIL import Image
from test_evaluate import BCSS_ROIS, label_map, split_records, write_bcss, write_label_folder

from fixtures.histology import write_monuseg, write_tnbc
from fixtures.pannuke import write_fold
from nuclei_collection import build, main
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.exporters.coco import export_coco


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["evaluate", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_report(folder) -> tuple[dict, list[dict]]:
    summary = json.loads((folder / "summary.json").read_text())
    with open(folder / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with Image.open(folder / "figure.png") as figure:
        figure.verify()  # a complete, valid PNG
    with Image.open(folder / "figure.png") as figure:
        assert figure.mode == "RGB" and figure.width >= 800 and figure.height > 100
    return summary, rows


def assert_report_all_one(summary: dict, rows: list[dict], metric_columns: tuple[str, ...]) -> None:
    """Every defined figure is 1 (JSON null = undefined: only AP of empty area ranges)."""
    for name, value in summary["summary"].items():
        if value is None:
            assert name in ("coco_AP_small", "coco_AP_medium", "coco_AP_large"), name
        else:
            assert value == 1.0, (name, value)
    for row in rows:
        for column in metric_columns:
            assert row[column] in ("1.0", ""), (column, row)


@pytest.fixture(scope="module")
def tnbc(tmp_path_factory):
    root = tmp_path_factory.mktemp("tnbc")
    write_tnbc(root, counts=(2, 2))
    truth = {r["image_id"]: label_map(r) for r in split_records("TNBC_NucleiSegmentation", root)}
    return root, truth


def test_label_maps_give_one_and_a_complete_report(tnbc, tmp_path, capsys):
    root, truth = tnbc
    pred = write_label_folder(tmp_path / "pred", truth, formats=("png16", "tif", "npy"))
    out = tmp_path / "report"
    code, stdout, _ = run(
        capsys, "TNBC_NucleiSegmentation", "--pred", str(pred), "--data-dir", str(root), "--out", str(out)
    )
    assert code == 0
    assert "4 images scored" in stdout and "pq 1.0000" in stdout and f"to {out}" in stdout
    summary, rows = read_report(out)
    assert summary["config"] == "TNBC_NucleiSegmentation" and summary["split"] == "train"
    assert summary["metrics"] == ["pq", "aji", "dice", "f1"]  # TNBC declares the SourceInfo default
    assert summary["counts"]["n_images"] == 4 and summary["settings"]["prediction_format"] == "label-map folder"
    assert_report_all_one(summary, rows, ("pq", "dq", "sq", "aji", "f1", "dice"))
    assert sorted(row["image_id"] for row in rows) == sorted(truth)
    assert not (out / "per_class.csv").exists() and not (out / "per_tissue.csv").exists()


def test_coco_results_with_image_numbers(tmp_path, capsys):
    raw = tmp_path / "raw"
    write_dsb2018_stage1_train(raw / "stage1_train", n_images=3, seed=5)
    exported = export_coco("nuclei_stage1_train", tmp_path / "coco", data_dir=raw)
    annotations = json.loads(exported.json_path.read_text())["annotations"]
    results = tmp_path / "coco_instances_results.json"
    results.write_text(
        json.dumps([{k: a[k] for k in ("image_id", "segmentation", "category_id")} | {"score": 1} for a in annotations])
    )
    out = tmp_path / "report"
    code, stdout, _ = run(
        capsys, "nuclei_stage1_train", "--pred", str(results), "--data-dir", str(raw),
        "--coco-images", str(exported.json_path), "--out", str(out),
        "--metrics", "pq,aji,aji_plus,dsb2018,f1,dice,coco_ap",
    )  # fmt: skip
    assert code == 0, stdout
    summary, rows = read_report(out)
    assert "dsb2018" in summary["metrics"] and summary["summary"]["coco_AP"] == 1.0
    assert_report_all_one(summary, rows, ("pq", "aji", "aji_plus", "dsb2018", "f1", "dice"))


def test_export_truth_and_export_predictions(tmp_path, capsys):
    raw = tmp_path / "raw"
    write_monuseg(raw)
    export = tmp_path / "export"
    build("nucleisegmentationbenchmark", data_dir=raw, out=export)
    out = tmp_path / "report"
    code, _, _ = run(
        capsys, "nucleisegmentationbenchmark", "--pred", str(export), "--export", str(export),
        "--split", "train", "--metrics", "pq,aji", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    summary, rows = read_report(out)
    assert summary["metrics"] == ["pq", "aji"] and set(summary["summary"]) == {"pq", "dq", "sq", "aji"}
    assert_report_all_one(summary, rows, ("pq", "aji"))
    assert len(rows) == 2


def test_pannuke_masks_write_tissue_and_class_tables(tmp_path, capsys):
    _, _, masks = write_fold(tmp_path / "raw", 1, 4, seed=4, class_counts=[(1, 2, 0, 0, 1), (0, 1, 1, 1, 0)] * 2)
    out = tmp_path / "report"
    code, stdout, _ = run(
        capsys, "PanNuke_fold1", "--pred", str(masks), "--data-dir", str(tmp_path / "raw"), "--out", str(out)
    )
    assert code == 0 and "mpq_plus 1.0000" in stdout
    summary, rows = read_report(out)
    assert summary["metrics"] == ["bpq", "mpq", "mpq_plus", "pq", "aji", "dice"]  # PanNuke's declared metrics
    assert_report_all_one(summary, rows, ("pq", "aji", "dice", "bpq", "mpq"))
    with open(out / "per_tissue.csv", newline="") as handle:
        tissues = list(csv.DictReader(handle))
    with open(out / "per_class.csv", newline="") as handle:
        classes = list(csv.DictReader(handle))
    assert sorted(t["tissue"] for t in tissues) == sorted({row["tissue"] for row in rows})
    assert [c["name"] for c in classes] == ["neoplastic", "inflammatory", "connective", "dead", "epithelial"]
    assert all(float(c["pq_plus"]) == 1.0 for c in classes)


def test_semantic_code_maps(tmp_path, capsys):
    masks = write_bcss(tmp_path / "raw")
    pred = write_label_folder(tmp_path / "pred", masks, formats=("png8",))
    out = tmp_path / "report"
    code, _, _ = run(
        capsys, "BCSS", "--pred", str(pred), "--data-dir", str(tmp_path / "raw"), "--split", "train", "--out", str(out)
    )
    assert code == 0
    summary, rows = read_report(out)
    assert summary["kind"] == "semantic" and summary["summary"] == {"dice": 1.0, "iou": 1.0}
    assert summary["counts"]["n_pred_other_split"] == 1  # the test-site ROI
    assert len(rows) == len(BCSS_ROIS) - 1 and all(row["mean_dice"] == "1.0" for row in rows)
    with open(out / "per_class.csv", newline="") as handle:
        classes = {int(c["code"]): c for c in csv.DictReader(handle)}
    assert 0 not in classes and float(classes[2]["dice"]) == 1.0 and classes[5]["dice"] == ""


def test_errors_are_one_line_and_exit_2(tnbc, tmp_path, capsys):
    root, truth = tnbc
    first, *rest = sorted(truth)
    pred = write_label_folder(tmp_path / "pred", {i: truth[i] for i in rest})
    out = tmp_path / "report"
    args = ("TNBC_NucleiSegmentation", "--pred", str(pred), "--data-dir", str(root), "--out", str(out))
    code, _, stderr = run(capsys, *args)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("error: ") and f"no prediction for image '{first}'" in stderr
    assert not out.exists()  # nothing written on error
    code, stdout, _ = run(capsys, *args, "--missing", "empty")
    assert code == 0 and "n_missing_scored_empty 1" in stdout
    summary, rows = read_report(out)
    missing_row = next(row for row in rows if row["image_id"] == first)
    assert missing_row["pq"] == "0.0" and missing_row["missing"] == "True"
    assert 0 < summary["summary"]["pq"] < 1 and not math.isnan(summary["summary"]["pq"])
    for extra, message in (
        (("--metrics", "pq,bogus"), "unknown metric(s) bogus"),
        (("--split", "test"), "no split 'test'"),
    ):
        code, _, stderr = run(capsys, *args, *extra)
        assert code == 2 and message in stderr and stderr.count("\n") == 1, stderr
    code, _, stderr = run(capsys, "No_Such_Config", "--pred", str(pred), "--data-dir", str(root), "--out", str(out))
    assert code == 2 and "unknown config" in stderr


def test_partial_config_refuses_pixel_metrics_on_the_command_line(tmp_path, capsys):
    from fixtures.histology import write_janowczyk

    write_janowczyk(tmp_path / "raw", n_images=2)
    records = split_records("nuclei_partial_annotations", tmp_path / "raw")
    pred = write_label_folder(tmp_path / "pred", {r["image_id"]: label_map(r) for r in records})
    base = (
        "nuclei_partial_annotations",
        "--pred",
        str(pred),
        "--data-dir",
        str(tmp_path / "raw"),
        "--out",
        str(tmp_path / "r"),
    )
    code, _, stderr = run(capsys, *base, "--metrics", "pq")
    assert code == 2 and "annotation=partial" in stderr and "f1_annotated" in stderr
    code, stdout, _ = run(capsys, *base)
    assert code == 0 and "f1_annotated 1.0000" in stdout
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["summary"]["recall_annotated"] == 1.0
