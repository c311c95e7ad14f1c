"""DSB2018 test stages, labels=csv, nuclei_class: real samples where they exist, generated fixtures else."""

from __future__ import annotations

import csv
import json
import pickle
import shutil

import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image

from conftest import realdata_path
from fixtures.dsb2018 import decode_kaggle_rle, write_stage1_train_labels, write_stage_test
from nuclei_collection import BadInputError, MissingDataError, build, decode_masks
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
from nuclei_collection_builders.base import summarise_skips
from nuclei_collection_builders.csv_rle import index_csv
from nuclei_collection_builders.pipeline import SplitReport, iter_split
from nuclei_collection_builders.sources import prepare
from nuclei_collection_builders.sources.dsb2018 import label_differences, nuclei_class_of


def records_of(config, data_dir, **options):
    prepared = prepare(config, data_dir, options)
    ((split, items),) = prepared.splits.items()
    report = SplitReport()
    return prepared, split, list(iter_split(prepared.source, items, report)), report


def solution_rows(csv_path):
    with open(csv_path, newline="") as handle:
        rows = {}
        for row in csv.DictReader(handle):
            rows.setdefault(row["ImageId"], []).append(row)
        return rows


def assert_objects_equal_csv_rows(record, rows):
    """Every object equals its CSV row decoded naively, and pycocotools agrees with our RLE."""
    height, width = record["height"], record["width"]
    assert len(record["objects"]) == len(rows)
    ours = decode_masks(record["objects"])
    theirs = mask_util.decode([o["segmentation"] for o in record["objects"]])  # (h, w, n)
    for k, (obj, row) in enumerate(zip(record["objects"], rows)):
        truth = decode_kaggle_rle(row["EncodedPixels"], height, width)
        assert (int(row["Height"]), int(row["Width"])) == (height, width)
        assert np.array_equal(ours[k], truth)
        assert np.array_equal(theirs[..., k].astype(bool), truth)
        reference = mask_util.encode(np.asfortranarray(truth.astype(np.uint8)))
        assert obj["segmentation"]["counts"] == reference["counts"].decode()
        assert obj["bbox"] == mask_util.toBbox(reference).tolist()
        assert obj["area"] == int(truth.sum())


# --------------------------------------------------------------------------- real samples


def test_real_stage1_test_rows_decode_to_our_objects():
    data = realdata_path("dsb2018")
    solution = solution_rows(data / "stage1_solution.csv")
    prepared, split, records, report = records_of("nuclei_stage_1_test", data)
    assert prepared.name == "nuclei_stage_1_test" and split == "test"
    assert [r["image_id"][:8] for r in records] == ["0114f484", "eea70a79"]
    assert [len(r["objects"]) for r in records] == [7, 55]
    for record in records:
        assert_objects_equal_csv_rows(record, solution[record["image_id"]])
        image_path = data / "stage1_test" / record["image_id"] / "images" / f"{record['image_id']}.png"
        assert record["image"]["bytes"] == image_path.read_bytes()
        assert record["metadata"]["annotation"] == "complete"
        assert record["metadata"]["modality"] == "fluorescence"
    assert [
        Image.open(data / "stage1_test" / r["image_id"] / "images" / f"{r['image_id']}.png").mode for r in records
    ] == [
        "RGBA",
        "RGB",
    ]
    # The portrait image keeps its orientation: 253 wide, 519 high.
    assert (records[1]["width"], records[1]["height"]) == (253, 519)
    # Rows of the 63 absent images: one counted skip each (build report, log), never records.
    index = index_csv(data / "stage1_solution.csv")
    assert index.absent(r["image_id"] for r in records) == (63, 4090)
    assert report.records == 2 and report.objects == 62 and len(report.skipped) == 63
    assert sorted(image_id for image_id, _ in report.skipped) == sorted(set(index.rows) - {r["image_id"] for r in records})
    rows_named = sum(int(reason.split(" row(s) in stage1_solution.csv")[0]) for _, reason in report.skipped)
    assert rows_named == 4090 and all("but no image folder" in reason for _, reason in report.skipped)


def test_real_stage1_test_absent_images_are_one_log_line_and_every_one_in_the_report(tmp_path):
    data = realdata_path("dsb2018")
    _, _, records, report = records_of("nuclei_stage_1_test", data)
    # The build report keeps every absent image with its own reason, text unchanged ...
    assert len(report.skipped) == 63
    first_id, first_reason = report.skipped[0]
    assert first_reason == f"59 row(s) in stage1_solution.csv but no image folder {first_id}/images/{first_id}.png"
    # ... and the reasons say they are one group, which survives pickling (worker processes).
    assert {reason.summary for _, reason in report.skipped} == {"images named in stage1_solution.csv are absent"}
    copy = pickle.loads(pickle.dumps(first_reason))
    assert copy == first_reason and copy.summary == first_reason.summary
    ids = [image_id for image_id, _ in report.skipped]
    assert summarise_skips(report.skipped) == [
        f"63 images named in stage1_solution.csv are absent (e.g. {ids[0]}, {ids[1]}, {ids[2]}, ...; "
        "all in the build report)"
    ]
    # Other skips stay one line each, ahead of the groups.
    assert summarise_skips([("x", "no masks"), *report.skipped[:2]]) == [
        "x: no masks",
        f"2 images named in stage1_solution.csv are absent (e.g. {ids[0]}, {ids[1]}; all in the build report)",
    ]
    # Through a build: the report file lists all 63 with their reasons.
    out = tmp_path / "out"
    build("nuclei_stage_1_test", data_dir=data, out=out)
    saved = json.loads((out / ".nuclei_collection" / "nuclei_stage_1_test.json").read_text())
    assert json.dumps(saved).count("but no image folder") == 63


def test_real_stage1_test_logs_one_line_for_the_absent_images(caplog):
    data = realdata_path("dsb2018")
    with caplog.at_level("WARNING", logger="nuclei_collection"):
        records_of_logged = prepare("nuclei_stage_1_test", data, {})
        ((_, items),) = records_of_logged.splits.items()
        list(iter_split(records_of_logged.source, items))
    text = caplog.text
    assert "63 images named in stage1_solution.csv are absent (e.g. " in text
    assert text.count("but no image folder") == 0


def test_real_stage1_train_csv_and_mask_labels_agree():
    data = realdata_path("dsb2018")
    _, _, from_masks, _ = records_of("nuclei_stage1_train", data)
    prepared, _, from_csv, _ = records_of("nuclei_stage1_train", data, labels="csv")
    assert prepared.name == "nuclei_stage1_train_csv_labels"
    assert len(from_csv) == 7 and sum(len(r["objects"]) for r in from_csv) == 205
    # The sample's upstream files agree (MANIFEST 1.3), so must our two variants.
    assert label_differences(from_masks, from_csv) == {}
    for a, b in zip(from_masks, from_csv):
        assert a["metadata"] == b["metadata"] and a["image"] == b["image"]


def test_real_nuclei_class_and_modality():
    data = realdata_path("dsb2018")
    _, _, records, _ = records_of("nuclei_stage1_train", data)
    classes = {r["image_id"][:8]: (r["metadata"]["nuclei_class"], r["metadata"]["modality"]) for r in records}
    assert classes["4cbd6c37"] == ("purple_purple_320_256_sparse", "histology")  # pale H&E, 13 nuclei
    assert classes["33a5b0ff"] == ("purple_purple_320_256_dense", "histology")
    assert classes["602f2674"] == ("white_black_696_520_sparse", "fluorescence")


# --------------------------------------------------------------------------- generated fixtures


def test_stage2_private_ignored_and_unlabelled_images(tmp_path):
    fixture = write_stage_test(
        tmp_path,
        "stage2_test_final",
        "stage2_solution_final.csv",
        n_images=8,
        seed=5,
        scored_usage="Private",
        n_ignored=3,
        n_without_rows=1,
        n_absent=2,
    )
    solution = solution_rows(fixture.csv_path)
    prepared, split, records, report = records_of("nuclei_stage_2_test", tmp_path)
    assert split == "test" and len(records) == 8
    assert [r["image_id"] for r in records] == sorted(fixture.modes)
    for record in records:
        image_id, metadata = record["image_id"], record["metadata"]
        usage = fixture.usage[image_id]
        if usage == "Private":
            assert metadata["annotation"] == "complete"
            assert_objects_equal_csv_rows(record, solution[image_id])
            assert np.array_equal(decode_masks(record["objects"]), fixture.truth[image_id])
            assert metadata["nuclei_class"].split("_")[2:4] == [str(record["width"]), str(record["height"])]
        else:
            # Ignored decoys and images without rows: unlabelled, never "no nuclei".
            assert metadata["annotation"] == "none" and record["objects"] == []
            assert metadata["nuclei_class"] is None
        assert metadata["modality"] in ("fluorescence", "brightfield", "histology")
        assert Image.open(fixture.images_dir / image_id / "images" / f"{image_id}.png").mode == fixture.modes[image_id]
    assert report.objects == sum(len(m) for m in fixture.truth.values())
    assert sum("no scored rows" in note for note in report.notes) == 4
    assert sum("1 Ignored" in note for note in report.notes) == 3
    assert index_csv(fixture.csv_path).absent(fixture.modes) == (fixture.absent_images, fixture.absent_rows)


def test_stage1_test_flat_layout_and_missing_csv(tmp_path):
    fixture = write_stage_test(tmp_path / "flat", ".", n_images=3, seed=2)  # ids directly in data_dir
    _, _, records, _ = records_of("nuclei_stage_1_test", fixture.root)
    assert len(records) == 3 and all(r["metadata"]["annotation"] == "complete" for r in records)
    fixture.csv_path.unlink()
    with pytest.raises(MissingDataError, match="no stage1_solution.csv there or one folder up"):
        prepare("nuclei_stage_1_test", fixture.root)


def test_bad_solution_row_names_csv_line_and_image(tmp_path):
    fixture = write_stage_test(tmp_path, n_images=2, seed=3)
    lines = fixture.csv_path.read_text().splitlines()
    image_id, _, rest = lines[3].partition(",")
    lines[3] = f"{image_id},{5 * 10**6} 4,{rest.split(',', 1)[1]}"  # a run far beyond the image
    fixture.csv_path.write_text("\n".join(lines) + "\n")
    prepared = prepare("nuclei_stage_1_test", tmp_path)
    with pytest.raises(BadInputError, match=f"stage1_solution.csv: line 4, image {image_id}: run 1 .* beyond"):
        list(iter_split(prepared.source, prepared.splits["test"]))


def test_csv_labels_differences_are_reported(tmp_path):
    """A fixed mask tree (lopuhin-style edits) against the original CSV: the differing images, counted."""
    ids = write_dsb2018_stage1_train(tmp_path / "stage1_train", n_images=4, seed=11)
    n_rows = write_stage1_train_labels(tmp_path / "stage1_train", tmp_path / "stage1_train_labels.csv")
    # "Fix" image 1: drop one nucleus; image 2: redraw one nucleus; image 3: remove the image.
    masks_1 = sorted((tmp_path / "stage1_train" / ids[1] / "masks").glob("*.png"))
    masks_1[0].unlink()
    masks_2 = sorted((tmp_path / "stage1_train" / ids[2] / "masks").glob("*.png"))
    redrawn = np.array(Image.open(masks_2[0])) > 0
    Image.fromarray((np.roll(redrawn, 2, axis=1) * 255).astype(np.uint8)).save(masks_2[0])
    shutil.rmtree(tmp_path / "stage1_train" / ids[3])

    _, _, from_masks, _ = records_of("nuclei_stage1_train", tmp_path)
    _, _, from_csv, _ = records_of("nuclei_stage1_train", tmp_path, labels="csv")
    differences = label_differences(from_masks, from_csv)
    n2 = len(masks_2)
    assert differences == {
        ids[1]: {"first": len(masks_1) - 1, "second": len(masks_1), "only_first": 0, "only_second": 1},
        ids[2]: {"first": n2, "second": n2, "only_first": 1, "only_second": 1},
    }
    assert (
        sum(len(r["objects"]) for r in from_csv) + index_csv(tmp_path / "stage1_train_labels.csv").absent(ids[:3])[1]
        == n_rows
    )


def test_csv_variant_is_exported_under_its_own_name(synthetic_dsb, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_dsb, raw)
    write_stage1_train_labels(raw / "stage1_train", raw / "stage1_train_labels.csv")
    out = tmp_path / "out"
    (masks_report,) = build("nuclei_stage1_train", data_dir=raw, out=out)
    (csv_report,) = build("nuclei_stage1_train", data_dir=raw, out=out, options={"labels": "csv"})
    assert (masks_report.name, csv_report.name) == ("nuclei_stage1_train", "nuclei_stage1_train_csv_labels")
    assert (out / "nuclei_stage1_train").is_dir() and (out / "nuclei_stage1_train_csv_labels").is_dir()
    assert masks_report.splits["train"]["objects"] == csv_report.splits["train"]["objects"]
    assert "nuclei_stage1_train_csv_labels" in (out / "README.md").read_text()


def test_labels_option_is_checked():
    with pytest.raises(ValueError, match="labels must be masks or csv"):
        prepare("nuclei_stage1_train", ".", {"labels": "pngs"})


# --------------------------------------------------------------------------- nuclei_class rule


def paint(height, width, background, foreground, coverage):
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = background
    nuclei = np.zeros((height, width), bool)
    nuclei.flat[: int(round(coverage * height * width))] = True
    pixels[nuclei] = foreground
    return pixels, nuclei


@pytest.mark.parametrize(
    "background,foreground,coverage,expected",
    [
        ((230, 150, 180), (90, 40, 160), 0.05, "purple_pink_40_30_sparse"),
        ((180, 160, 210), (95, 30, 185), 0.25, "purple_purple_40_30_dense"),
        ((10, 10, 10), (40, 40, 40), 0.10, "white_black_40_30_medium"),
        ((230, 230, 230), (90, 90, 90), 0.079, "black_white_40_30_sparse"),
        ((120, 120, 120), (124, 124, 124), 0.2, "grey_grey_40_30_dense"),
        ((250, 250, 250), (150, 100, 40), 0.1, "brown_white_40_30_medium"),
        ((0, 0, 0), (30, 60, 200), 0.1, "blue_black_40_30_medium"),
        ((0, 0, 0), (40, 200, 60), 0.1, "green_black_40_30_medium"),
    ],
)
def test_nuclei_class_rule(background, foreground, coverage, expected):
    pixels, nuclei = paint(30, 40, background, foreground, coverage)
    assert nuclei_class_of(pixels, nuclei) == expected
    alpha = np.full((30, 40, 1), 255, np.uint8)
    assert nuclei_class_of(np.concatenate([pixels, alpha], axis=2), nuclei) == expected  # RGBA: alpha ignored


def test_nuclei_class_is_none_without_nuclei():
    pixels, _ = paint(8, 8, (0, 0, 0), (255, 255, 255), 0.5)
    assert nuclei_class_of(pixels, np.zeros((8, 8), bool)) is None
