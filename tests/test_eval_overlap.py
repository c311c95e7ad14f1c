"""Overlapping ground truth and label-map predictions (issue 19, item 6).

Ground truth whose objects overlap (DSB2018 fixed labels, MoNuSeg polygons) cannot be
reproduced by a label map (one object per pixel). Scoring the truth painted first-wins
into a label map must therefore either give exactly 1.0 (no overlap) or the report must
state how much of the truth overlaps (pixels under two or more objects, objects involved)
and why 1.0 is impossible. The overlap figures are checked against a direct count on the
decoded masks (pycocotools), the 1.0 against the same truth given as object lists.
"""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_utils
from test_evaluate import split_records

from conftest import realdata_path
from fixtures import raw_writer
from nuclei_collection import evaluate
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

METRICS = "pq,aji,aji_plus,dsb2018,f1,dice"


def masks_of(record: dict) -> np.ndarray:
    """(n, h, w) bool masks of the non-crowd truth objects, decoded by pycocotools."""
    out = []
    for obj in record["objects"]:
        if obj["iscrowd"]:
            continue
        segmentation = dict(obj["segmentation"], counts=obj["segmentation"]["counts"].encode())
        out.append(mask_utils.decode(segmentation).astype(bool))
    return np.array(out) if out else np.zeros((0, record["height"], record["width"]), bool)


def painted_first_wins(record: dict) -> np.ndarray:
    """The truth as a label map: a pixel under several objects keeps the first object's label."""
    label_map = np.zeros((record["height"], record["width"]), np.int32)
    for k, mask in reversed(list(enumerate(masks_of(record), start=1))):
        label_map[mask] = k
    return label_map


def expected_overlap(records: list[dict]) -> tuple[int, int, int]:
    """(images, pixels under >= 2 objects, objects sharing a pixel with another), counted on the masks."""
    images = pixels = objects = 0
    for record in records:
        masks = masks_of(record)
        if len(masks) < 2:
            continue
        depth = masks.sum(axis=0)
        shared = depth >= 2
        if shared.any():
            images += 1
            pixels += int(shared.sum())
            objects += int((masks & shared[None]).any(axis=(1, 2)).sum())
    return images, pixels, objects


def assert_overlap_stated_or_one(config: str, data_dir, records: list[dict], split: str | None = None) -> tuple:
    painted = {r["image_id"]: painted_first_wins(r) for r in records}
    result = evaluate(config, painted, data_dir=data_dir, split=split, metrics=METRICS, progress=False)
    images, pixels, objects = expected_overlap(records)
    counts = result.counts
    assert (counts["n_images_truth_overlap"], counts["n_truth_overlap_pixels"], counts["n_truth_overlap_objects"]) == (
        images, pixels, objects,
    )  # fmt: skip
    if images == 0:
        assert all(v == 1.0 for v in result.summary.values()), result.summary
        assert result.notes == []
    else:
        assert result.summary["pq"] < 1.0  # 1.0 is impossible, and the report says why
        text = "\n".join(result.lines())
        assert f"{pixels} px lie in two or more of {objects} objects" in text and "label map" in text
        assert result.to_json()["notes"] == result.notes
        # The same truth as object lists (overlaps kept) scores exactly 1.0.
        as_objects = {r["image_id"]: [o for o in r["objects"] if not o["iscrowd"]] for r in records}
        exact = evaluate(config, as_objects, data_dir=data_dir, split=split, metrics=METRICS, progress=False)
        assert all(v == 1.0 for v in exact.summary.values()), exact.summary
    return result, images


def test_dsb2018_overlapping_masks_are_stated(tmp_path):
    write_dsb2018_stage1_train(tmp_path / "stage1_train", n_images=12, seed=7)
    records = split_records("nuclei_stage1_train", tmp_path)
    _, images = assert_overlap_stated_or_one("nuclei_stage1_train", tmp_path, records)
    assert images > 0, "the synthetic DSB2018 tree holds overlapping masks (as the fixed labels do)"


def test_truth_without_overlap_painted_scores_exactly_one(tmp_path):
    config = "TNBC_NucleiSegmentation"
    raw_writer(config)(tmp_path)
    _, images = assert_overlap_stated_or_one(config, tmp_path, split_records(config, tmp_path))
    assert images == 0


def test_real_monuseg_polygons_overlap_is_stated():
    data_dir = realdata_path("monuseg")
    config = "nucleisegmentationbenchmark"
    records = split_records(config, data_dir, "train")
    _, images = assert_overlap_stated_or_one(config, data_dir, records, split="train")
    assert images == len(records) > 0
