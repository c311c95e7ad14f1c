"""COCO mask AP from the sparse intersections equals pycocotools' COCOeval (issue 20, item 3).

Every case is scored twice: by :func:`metrics.coco_ap` and by ``COCOeval`` itself
(tests/metrics_reference.py ``coco_eval``, maxDets raised the same way), and every value
(AP, AP50, AP75, AP small / medium / large, AR) must be the same float. Cases: the real
samples in ../shared/realdata (DSB2018 per-nucleus masks, ISBI2009 label maps, a MoNuSeg
image with overlapping polygons, PanNuke fold-1 class counts), with perturbed predictions
whose scores tie often; crowd truth; a capped maxDets; hypothesis-drawn overlapping objects.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metrics_reference import as_objects, coco_eval
from PIL import Image
from test_metrics import _dsb_images, _dsb_truth, encode, label_map_of, perturb

from conftest import realdata_path
from nuclei_collection_builders.evaluation import metrics as M


def with_scores(objects: list[dict], seed: int, levels: int = 7) -> list[dict]:
    """Scores on a coarse grid (many ties: the order rules matter) plus a few distinct ones."""
    rng = np.random.default_rng(seed)
    out = []
    for obj in objects:
        score = float(rng.integers(0, levels)) / levels if rng.random() < 0.8 else float(rng.random())
        out.append(dict(obj, score=score))
    return out


def assert_same_as_cocoeval(pairs: list[tuple[list[dict], list[dict]]], max_dets: int | None = None) -> dict:
    got = M.coco_ap(pairs, max_dets=max_dets)
    want = coco_eval(pairs, max_dets=max_dets)
    assert set(got) == set(want)
    for key, value in want.items():
        same = (isinstance(value, float) and math.isnan(value) and math.isnan(got[key])) or got[key] == value
        assert same, (key, got[key], value)
    return got


# --------------------------------------------------------------------------- real samples


@pytest.fixture(scope="module")
def monuseg_sample(tmp_path_factory) -> tuple[list[dict], tuple[int, int]]:
    """The first real MoNuSeg training image's objects (overlapping polygons) through the pipeline."""
    import nuclei_collection

    ds = nuclei_collection.load(
        "nucleisegmentationbenchmark", data_dir=realdata_path("monuseg"), split="train",
        cache_dir=tmp_path_factory.mktemp("monuseg"),
    )  # fmt: skip
    record = ds[0]
    return list(record["objects"]), (record["height"], record["width"])


def test_dsb2018_real_masks_equal_cocoeval():
    pairs = []
    for n, image_dir in enumerate(_dsb_images()):
        truth, shape = _dsb_truth(image_dir)
        pred = with_scores(perturb(as_objects(truth), shape, seed=n), seed=n)
        assert_same_as_cocoeval([(truth, pred)])
        pairs.append((truth, pred))
    got = assert_same_as_cocoeval(pairs)
    assert 0 < got["AP"] < 1 and got["max_dets"] >= 100


def test_dsb2018_with_crowd_truth_equals_cocoeval():
    """Every fifth nucleus marked crowd: COCO's own crowd rule (IoU = intersection / detection area)."""
    pairs = []
    for n, image_dir in enumerate(_dsb_images()[:4]):
        truth, shape = _dsb_truth(image_dir)
        pred = with_scores(perturb(as_objects(truth), shape, seed=10 + n), seed=10 + n)
        crowded = [dict(obj, iscrowd=k % 5 == 0) for k, obj in enumerate(truth)]
        pairs.append((crowded, pred))
    assert_same_as_cocoeval(pairs)


def test_isbi2009_real_label_maps_equal_cocoeval():
    root = realdata_path("isbi2009", "data", "preprocessed-data")
    pairs = []
    for n, path in enumerate(sorted(root.glob("*/*.png"))):
        truth_map = np.array(Image.open(path))
        truth = [encode(truth_map == label, k + 1) for k, label in enumerate(np.unique(truth_map)[1:])]
        pred = with_scores(perturb(as_objects(truth_map), truth_map.shape, seed=200 + n), seed=n)
        pairs.append((truth, pred))
        # A label-map truth gives the same as its objects.
        assert M.coco_ap([(truth_map, pred)]) == M.coco_ap([(truth, pred)])
    assert len(pairs) >= 2
    assert_same_as_cocoeval(pairs)


def test_monuseg_overlapping_polygons_equal_cocoeval(monuseg_sample):
    truth, shape = monuseg_sample
    pred = with_scores(perturb(as_objects(truth), shape, seed=3), seed=3)
    got = assert_same_as_cocoeval([(truth, pred)])
    assert got["max_dets"] == max(len(truth), len(pred)) > 100
    # COCO's default cap of 100 detections per image: still equal to COCOeval, and lower.
    capped = assert_same_as_cocoeval([(truth, pred)], max_dets=100)
    assert capped["AR"] < got["AR"]


def _pannuke_counts(n_images: int) -> np.ndarray:
    path = realdata_path("pannuke", "cellvit_meta", "fold0", "cell_count.csv")  # CellViT fold0 = PanNuke fold 1
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:n_images]
    return np.array([[int(row[c]) for c in ("Neoplastic", "Inflammatory", "Connective", "Dead", "Epithelial")]
                     for row in rows])  # fmt: skip


def test_pannuke_fold1_counts_equal_cocoeval():
    """256x256 patches with the real per-class nucleus counts of PanNuke fold 1's first 40 patches."""
    counts = _pannuke_counts(40)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    pairs = []
    for k, row in enumerate(counts):
        label_map = np.zeros((256, 256), np.int32)
        for label in range(1, int(row.sum()) + 1):
            cy, cx, r = rng.integers(0, 256), rng.integers(0, 256), rng.integers(3, 12)
            label_map[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = label
        truth = [encode(label_map == v, n + 1) for n, v in enumerate(np.unique(label_map)[1:])]
        pred = with_scores(perturb(as_objects(truth), (256, 256), seed=k), seed=k) if k % 7 else []
        pairs.append((truth, pred))
    assert_same_as_cocoeval(pairs)


# --------------------------------------------------------------------------- generated


@st.composite
def ap_splits(draw):
    """A few images of one size: overlapping rectangles and random masks, crowd truth, tied scores."""
    h, w = draw(st.integers(4, 48)), draw(st.integers(4, 48))

    def objects(crowd_allowed: bool, scored: bool):
        out = []
        for k in range(draw(st.integers(0, 6))):
            mask = np.zeros((h, w), dtype=bool)
            y, x = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
            mask[y : y + draw(st.integers(1, h)), x : x + draw(st.integers(1, w))] = True
            if out and draw(st.booleans()):  # a copy of an earlier object: IoU ties
                mask = label_map_of([out[draw(st.integers(0, len(out) - 1))]], (h, w)) > 0
            obj = encode(mask, k + 1, None, crowd_allowed and draw(st.integers(0, 4)) == 0)
            if scored:
                obj["score"] = draw(st.sampled_from([0.25, 0.5, 0.5, 0.75, 1.0]))
            out.append(obj)
        return out

    images = [(objects(True, False), objects(False, True)) for _ in range(draw(st.integers(1, 4)))]
    return images


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ap_splits())
def test_generated_splits_equal_cocoeval(images):
    has_truth = any(true for true, _ in images)
    has_detection = any(pred for _, pred in images)
    if not (has_truth and has_detection):  # pycocotools cannot load an empty result list
        got = M.coco_ap(images)
        if not has_truth:
            assert all(math.isnan(got[k]) for k in ("AP", "AR"))
        return
    assert_same_as_cocoeval(images)
    assert_same_as_cocoeval(images, max_dets=2)


def test_large_objects_fill_every_area_range():
    """Objects of 16 to 120 px side: small, medium and large ranges all defined and equal."""
    rng = np.random.default_rng(1)
    shape = (240, 240)
    pairs = []
    for n in range(3):
        truth = []
        for k, side in enumerate((16, 24, 40, 64, 100, 120)):
            mask = np.zeros(shape, bool)
            y, x = rng.integers(0, 240 - side, 2)
            mask[y : y + side, x : x + side] = True
            truth.append(encode(mask, k + 1))
        pred = with_scores(perturb(as_objects(truth), shape, seed=n), seed=n)
        pairs.append((truth, pred))
    got = assert_same_as_cocoeval(pairs)
    assert not any(math.isnan(got[k]) for k in ("AP_small", "AP_medium", "AP_large"))


def test_fast_on_a_monuseg_sized_image(monuseg_sample):
    """The reason for the rewrite: pycocotools took 15.6 s on this image; the sparse path is far below 1 s."""
    import time

    truth, shape = monuseg_sample
    pred = with_scores(perturb(as_objects(truth), shape, seed=5), seed=5)
    start = time.perf_counter()
    M.coco_ap([(truth, pred)])
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("bad", [[{"segmentation": {"size": [4, 4], "counts": "zz"}}]])
def test_bad_prediction_is_a_metric_input_error(bad):
    truth = [encode(np.ones((4, 4), bool), 1)]
    with pytest.raises(M.MetricInputError):
        M.coco_ap([(truth, bad)])
