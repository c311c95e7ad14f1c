"""Exactness of the evaluation metrics against the brute-force reference (tests/metrics_reference.py).

Real samples (DSB2018 per-nucleus masks, ISBI2009 label maps, MoNuSeg overlapping polygons)
are scored against perturbed copies of their truth; hypothesis draws label maps and
overlapping object lists. Every metric must equal the reference to 1e-9, and the truth
scored against itself must give exactly 1.0.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from metrics_reference import Reference, RefObject, as_objects, pannuke_split, semantic
from PIL import Image
from scipy import ndimage

from conftest import realdata_path
from nuclei_collection_builders.evaluation import metrics as M

TOL = 1e-9
CLASSES = (1, 2, 3, 4, 5)


# --------------------------------------------------------------------------- helpers


def close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOL


def encode(full: np.ndarray, object_id: int, category: int | None = None, crowd: bool = False) -> dict:
    """One schema object from a full-frame mask, encoded by pycocotools (not our codec)."""
    encoded = mask_utils.encode(np.asfortranarray(full.astype(np.uint8)))
    return {
        "id": object_id,
        "segmentation": {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode()},
        "category": category,
        "iscrowd": crowd,
    }


def place(crop: np.ndarray, y0: int, x0: int, shape: tuple[int, int]) -> np.ndarray:
    """A crop pasted into an empty frame at (y0, x0), clipped to the frame."""
    frame = np.zeros(shape, dtype=bool)
    h, w = crop.shape
    fy0, fx0 = max(y0, 0), max(x0, 0)
    fy1, fx1 = min(y0 + h, shape[0]), min(x0 + w, shape[1])
    if fy1 > fy0 and fx1 > fx0:
        frame[fy0:fy1, fx0:fx1] = crop[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return frame


def perturb(truth: list[RefObject], shape: tuple[int, int], seed: int) -> list[dict]:
    """A plausible prediction: nuclei kept, dropped, split, merged, dilated, eroded, shifted; plus false positives.

    Categories follow the source nucleus, one in ten flipped; dilation and shifts make
    predictions overlap each other.
    """
    rng = np.random.default_rng(seed)
    kinds = rng.choice(
        ["keep", "drop", "split", "merge", "dilate", "erode", "shift"],
        size=len(truth),
        p=[0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
    )
    pieces: list[tuple[np.ndarray, int]] = []
    skip = False
    for k, (obj, kind) in enumerate(zip(truth, kinds)):
        if skip:
            skip = False
            continue
        full = place(obj.mask, obj.y0, obj.x0, shape)
        category = obj.category if rng.random() > 0.1 else int(rng.integers(1, 6))
        if kind == "drop":
            continue
        if kind == "split" and obj.mask.shape[1] >= 2:
            cut = obj.x0 + obj.mask.shape[1] // 2
            left, right = full.copy(), full.copy()
            left[:, cut:] = False
            right[:, :cut] = False
            pieces += [(left, category), (right, category)]
            continue
        if kind == "merge" and k + 1 < len(truth):
            other = truth[k + 1]
            pieces.append((full | place(other.mask, other.y0, other.x0, shape), category))
            skip = True
            continue
        if kind == "dilate":
            full = ndimage.binary_dilation(full, iterations=int(rng.integers(1, 3)))
        elif kind == "erode":
            eroded = ndimage.binary_erosion(full)
            full = eroded if eroded.any() else full
        elif kind == "shift":
            dy, dx = (int(v) for v in rng.integers(-4, 5, size=2))
            full = place(obj.mask, obj.y0 + dy, obj.x0 + dx, shape)
            if not full.any():
                continue
        pieces.append((full, category))
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for _ in range(max(1, len(truth) // 10)):
        cy, cx, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(2, 8)
        pieces.append(((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r, int(rng.integers(1, 6))))
    order = rng.permutation(len(pieces))
    return [encode(pieces[i][0], n + 1, pieces[i][1]) for n, i in enumerate(order)]


def label_map_of(objects: list[dict], shape: tuple[int, int]) -> np.ndarray:
    """Objects painted in list order (later wins): the lossy form a label-map file would hold."""
    out = np.zeros(shape, dtype=np.int32)
    for obj in objects:
        out[mask_utils.decode(dict(obj["segmentation"], counts=obj["segmentation"]["counts"].encode())) > 0] = obj["id"]
    return out


def assert_same_as_reference(true, pred, shape: tuple[int, int], classes=CLASSES) -> M.Matching:
    """Every metric of the fast path equals the brute-force reference (1e-9)."""
    ref = Reference(true, pred, shape)
    m = M.match(true, pred)
    assert (m.n_true, m.n_pred) == (len(ref.true), len(ref.pred))
    for threshold in (0.5, 0.75, 0.3):
        got, want = M.pq_of(m, threshold), ref.pq(threshold)
        assert (got.tp, got.fp, got.fn) == (want["tp"], want["fp"], want["fn"]), threshold
        for name in ("pq", "dq", "sq"):
            assert close(getattr(got, name), want[name]), (threshold, name, got, want)
        got_f1, want_f1 = M.f1_of(m, threshold), ref.f1(threshold)
        for name in ("precision", "recall", "f1"):
            assert close(getattr(got_f1, name), want_f1[name]), (threshold, name)
    assert close(M.aji_of(m).aji, ref.aji()), (M.aji_of(m), ref.aji())
    assert close(M.aji_plus_of(m).aji, ref.aji_plus()), (M.aji_plus_of(m), ref.aji_plus())
    assert close(M.dsb2018_of(m).score, ref.dsb2018())
    assert close(M.dice_of(m).dice, ref.dice())
    stats = M.pannuke_image(true, pred, tuple(classes))
    want = ref.pannuke(classes)
    assert (stats.binary.tp, stats.binary.fp, stats.binary.fn) == want["binary"][:3]
    for k, c in enumerate(classes):
        tp, fp, fn, sum_iou = want["per_class"][c]
        assert (stats.tp[k], stats.fp[k], stats.fn[k]) == (tp, fp, fn), c
        assert abs(stats.sum_iou[k] - sum_iou) <= TOL
    return m


def assert_perfect(true) -> None:
    """The truth scored against itself gives exactly 1.0 for every metric."""
    m = M.match(true, true)
    assert M.pq_of(m).pq == 1.0 and M.pq_of(m).dq == 1.0 and M.pq_of(m).sq == 1.0
    assert M.aji_of(m).aji == 1.0 and M.aji_plus_of(m).aji == 1.0
    assert M.dsb2018_of(m).score == 1.0
    assert M.f1_of(m).f1 == 1.0 and M.dice_of(m).dice == 1.0


# --------------------------------------------------------------------------- real samples


def _dsb_images() -> list[Path]:
    root = realdata_path("dsb2018", "stage1_train")
    return sorted(p for p in root.iterdir() if (p / "masks").is_dir())


def _dsb_truth(image_dir: Path) -> tuple[list[dict], tuple[int, int]]:
    masks = [np.array(Image.open(p)) > 0 for p in sorted((image_dir / "masks").glob("*.png"))]
    shape = masks[0].shape
    return [encode(mask, k + 1, int(k % 5) + 1) for k, mask in enumerate(masks)], shape


def test_dsb2018_real_masks_match_reference():
    for n, image_dir in enumerate(_dsb_images()):
        truth, shape = _dsb_truth(image_dir)
        pred = perturb(as_objects(truth), shape, seed=n)
        m = assert_same_as_reference(truth, pred, shape)
        assert m.n_true == len(truth) and 0 < M.pq_of(m).pq < 1
        assert_perfect(truth)
        # The same image as label maps (one-per-nucleus PNGs do not overlap in stage1_train).
        truth_map = label_map_of(truth, shape)
        assert M.pq_of(M.match(truth_map, truth)).pq == 1.0
        assert_same_as_reference(truth_map, label_map_of(pred, shape), shape, classes=())


def test_isbi2009_real_label_maps_match_reference():
    root = realdata_path("isbi2009", "data", "preprocessed-data")
    paths = sorted(root.glob("*/*.png"))
    assert paths
    for n, path in enumerate(paths):
        truth_map = np.array(Image.open(path))
        assert truth_map.ndim == 2 and truth_map.max() > 10
        shape = truth_map.shape
        pred = perturb(as_objects(truth_map), shape, seed=100 + n)
        assert_same_as_reference(truth_map, pred, shape, classes=())
        assert_same_as_reference(truth_map, label_map_of(pred, shape), shape, classes=())
        assert_perfect(truth_map)


@pytest.fixture(scope="module")
def monuseg_truth(tmp_path_factory) -> tuple[list[dict], tuple[int, int]]:
    import nuclei_collection

    data_dir = realdata_path("monuseg")
    ds = nuclei_collection.load(
        "nucleisegmentationbenchmark", data_dir=data_dir, split="train", cache_dir=tmp_path_factory.mktemp("monuseg")
    )
    record = ds[0]
    objects = [dict(obj, category=int(k % 5) + 1) for k, obj in enumerate(record["objects"])]
    return objects, (record["height"], record["width"])


def test_monuseg_overlapping_polygons_match_reference(monuseg_truth):
    truth, shape = monuseg_truth
    assert len(truth) == 359
    painted = label_map_of(truth, shape)
    overlapping = sum(obj["area"] for obj in truth) - int((painted > 0).sum())
    assert overlapping > 0, "the MoNuSeg sample is expected to have overlapping polygons"
    pred = perturb(as_objects(truth), shape, seed=7)
    m = assert_same_as_reference(truth, pred, shape)
    assert 0 < M.aji_of(m).aji < 1 and 0 < M.aji_plus_of(m).aji < 1 and M.aji_of(m).aji != M.aji_plus_of(m).aji
    assert_perfect(truth)


def test_monuseg_coco_ap_needs_raised_max_dets(monuseg_truth):
    truth, _ = monuseg_truth
    scored = [dict(obj, score=1.0) for obj in truth]
    full = M.coco_ap([(truth, scored)])
    assert full["max_dets"] == 359
    assert full["AP"] == 1.0 and full["AP50"] == 1.0 and full["AP75"] == 1.0 and full["AR"] == 1.0
    capped = M.coco_ap([(truth, scored)], max_dets=100)
    assert capped["AP"] == 28 / 101  # pycocotools' default cap: recall <= 100/359, 28 of 101 recall points


# --------------------------------------------------------------------------- hypothesis


@st.composite
def label_map_pairs(draw):
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    labels = st.integers(0, 5)
    true = draw(arrays(np.int32, (h, w), elements=labels))
    pred = draw(arrays(np.int32, (h, w), elements=labels))
    return true, pred


@st.composite
def rectangle_label_map_pairs(draw):
    h, w = draw(st.integers(4, 24)), draw(st.integers(4, 24))

    def painted():
        out = np.zeros((h, w), dtype=np.int32)
        for _ in range(draw(st.integers(0, 7))):
            y, x = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
            out[y : y + draw(st.integers(1, 8)), x : x + draw(st.integers(1, 8))] = draw(st.integers(1, 40))
        return out

    return painted(), painted()


@st.composite
def overlapping_object_pairs(draw):
    """Object lists whose masks overlap freely; some truth objects are crowd, all have a class."""
    h, w = draw(st.integers(2, 12)), draw(st.integers(2, 12))

    def objects(allow_crowd: bool):
        out = []
        for k in range(draw(st.integers(0, 6))):
            if draw(st.booleans()):
                mask = draw(arrays(np.bool_, (h, w)))
            else:  # a rectangle: larger, more realistic IoUs
                mask = np.zeros((h, w), dtype=bool)
                y, x = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
                mask[y : y + draw(st.integers(1, h)), x : x + draw(st.integers(1, w))] = True
            crowd = allow_crowd and draw(st.integers(0, 5)) == 0
            out.append(encode(mask, k + 1, draw(st.integers(1, 3)), crowd))
        return out

    return objects(True), objects(False), (h, w)


HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(label_map_pairs())
def test_random_label_maps_match_reference(pair):
    true, pred = pair
    assert_same_as_reference(true, pred, true.shape, classes=())


@HYPOTHESIS
@given(rectangle_label_map_pairs())
def test_rectangle_label_maps_match_reference(pair):
    true, pred = pair
    assert_same_as_reference(true, pred, true.shape, classes=())
    if true.any():
        assert_perfect(true)


@HYPOTHESIS
@given(overlapping_object_pairs())
def test_overlapping_objects_match_reference(case):
    true, pred, shape = case
    m = assert_same_as_reference(true, pred, shape, classes=(1, 2, 3))
    assert m.n_crowd == sum(obj["iscrowd"] for obj in true)
    # Truth against itself is perfect once exact duplicates are dropped (Kumar's AJI gives
    # both copies of a duplicated nucleus the same, first, prediction: a documented property).
    clean = {obj["segmentation"]["counts"]: obj for obj in true if not obj["iscrowd"] and mask_area(obj) > 0}
    if clean:
        assert_perfect(list(clean.values()))


def mask_area(obj: dict) -> int:
    return int(mask_utils.area(dict(obj["segmentation"], counts=obj["segmentation"]["counts"].encode())))


@HYPOTHESIS
@given(overlapping_object_pairs())
def test_mixed_label_map_and_objects(case):
    """A label-map truth against object predictions gives the same as objects on both sides."""
    true, pred, shape = case
    true = [obj for obj in true if not obj["iscrowd"]]
    true_map = label_map_of(true, shape)
    as_list = [o for o in M.Instances.from_label_map(true_map).ids.tolist()]
    assert as_list == sorted({int(v) for v in true_map.ravel()} - {0})
    assert_same_as_reference(true_map, pred, shape, classes=())


# --------------------------------------------------------------------------- PanNuke protocol


def _generated_fold(n_images: int, size: int, seed: int):
    """PanNuke-like images: disc nuclei with classes 1-5, tissues, some empty, some classes absent."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    tissues = ["Breast", "Colon", "Kidney", "Skin"]
    for n in range(n_images):
        count = 0 if n % 9 == 0 else int(rng.integers(1, 12))
        truth = []
        for k in range(count):
            cy, cx, r = rng.integers(0, size), rng.integers(0, size), rng.integers(2, 6)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            category = int(rng.choice([1, 2, 3])) if n % 4 else int(rng.integers(1, 6))
            truth.append(encode(mask, k + 1, category))
        pred = perturb(as_objects(truth), (size, size), seed=n) if n % 13 else []
        yield truth, pred, tissues[n % len(tissues)]


def test_pannuke_protocol_matches_reference():
    aggregator = M.PanNukeAggregator(CLASSES, ["neoplastic", "inflammatory", "connective", "dead", "epithelial"])
    reference_images = []
    for truth, pred, tissue in _generated_fold(60, 48, seed=3):
        aggregator.add(truth, pred, tissue)
        reference_images.append((Reference(truth, pred, (48, 48)).pannuke(CLASSES), tissue))
    result = aggregator.result()
    want = pannuke_split(reference_images, CLASSES)
    assert close(result.bpq, want["bpq"]) and close(result.mpq, want["mpq"])
    assert close(result.mpq_plus, want["mpq_plus"])
    for row in result.per_tissue:
        assert close(row["bpq"], want["tissue_bpq"][row["tissue"]])
        assert close(row["mpq"], want["tissue_mpq"][row["tissue"]])
    for k, row in enumerate(result.per_class):
        assert close(row["pq"], want["class_pq"][k]) and close(row["pq_plus"], want["class_pq_plus"][k])
    assert result.counts["n_images"] == 60 and result.counts["n_images_empty_truth"] == 7
    assert len(aggregator.rows) == 60 and set(aggregator.rows[0]) >= {"bpq", "mpq", "pq_dead", "tissue"}
    # mPQ+ from the per-image statistics equals the aggregator's
    stats = [M.pannuke_image(t, p, CLASSES) for t, p, _ in _generated_fold(60, 48, seed=3)]
    value, per_class = M.mpq_plus(stats)
    assert close(value, result.mpq_plus) and len(per_class) == 5


def test_pannuke_truth_against_itself_is_one_and_absent_classes_are_left_out():
    aggregator = M.PanNukeAggregator(CLASSES)
    for truth, _, tissue in _generated_fold(30, 40, seed=5):
        aggregator.add(truth, truth, tissue)
        stats = M.pannuke_image(truth, truth, CLASSES)
        present = stats.n_true > 0
        assert np.all(np.isnan(stats.class_pq[~present])) and np.all(stats.class_pq[present] == 1.0)
    result = aggregator.result()
    assert result.bpq == 1.0 and result.mpq == 1.0 and result.mpq_plus == 1.0
    assert all(row["pq"] == 1.0 for row in result.per_class)


def test_pannuke_batches_equal_image_by_image_scoring():
    """Mosaic batches (one RLE parse, one matching) give the image-by-image figures, for any
    batch size, mixed input forms (label maps, object lists, Instances) and image sizes."""
    images = []
    for k, (truth, pred, tissue) in enumerate(
        list(_generated_fold(25, 32, seed=11)) + list(_generated_fold(6, 20, seed=12))
    ):
        if k % 3 == 1:  # a label-map truth with a category table
            label_map = label_map_of(truth, (32, 32) if k < 25 else (20, 20))
            truth = M.Instances.from_label_map(label_map, {o["id"]: o["category"] for o in truth})
        images.append((truth, pred, tissue))
    by_image = M.PanNukeAggregator(CLASSES)
    for truth, pred, tissue in images:
        by_image.add_stats(M.pannuke_image(truth, pred, CLASSES), tissue)
    want = by_image.result()
    for batch_size in (1, 7, 256):
        aggregator = M.PanNukeAggregator(CLASSES, batch_size=batch_size)
        for k, (truth, pred, tissue) in enumerate(images):
            aggregator.add(truth, pred, tissue, image_id=f"image-{k}")
        got = aggregator.result()
        assert [row["image_id"] for row in aggregator.rows] == [f"image-{k}" for k in range(len(images))]
        assert [row["bpq"] for row in aggregator.rows] == pytest.approx(
            [row["bpq"] for row in by_image.rows], nan_ok=True
        )
        assert close(got.bpq, want.bpq) and close(got.mpq, want.mpq) and close(got.mpq_plus, want.mpq_plus)


def test_pannuke_aggregator_names_the_bad_image():
    aggregator = M.PanNukeAggregator(CLASSES)
    good = [encode(np.ones((8, 8), dtype=bool), 1, 1)]
    aggregator.add(good, good, "Breast", image_id="fine")
    aggregator.add(good, [{"segmentation": {"size": [8, 8], "counts": "zz"}}], "Breast", image_id="broken")
    with pytest.raises(M.MetricInputError, match="broken: unreadable RLE"):
        aggregator.result()


def test_pannuke_rules_for_empty_truth_and_absent_class():
    disc = np.zeros((20, 20), dtype=bool)
    disc[5:10, 5:10] = True
    other = np.zeros((20, 20), dtype=bool)
    other[12:16, 12:16] = True
    # Empty truth with a prediction: left out of bPQ (PanNuke), unlike the generic PQ (0).
    stats = M.pannuke_image([], [encode(disc, 1, 1)], CLASSES)
    assert math.isnan(stats.bpq) and math.isnan(stats.mpq)
    assert M.pq(np.zeros((20, 20), int), [encode(disc, 1, 1)]).pq == 0.0
    # Class 2 predicted but absent from the truth: its false positive does not enter mPQ ...
    truth = [encode(disc, 1, 1)]
    pred = [encode(disc, 1, 1), encode(other, 2, 2)]
    stats = M.pannuke_image(truth, pred, CLASSES)
    assert stats.mpq == 1.0 and stats.bpq < 1.0
    # ... but it does enter mPQ+ (counts summed over the split).
    value, per_class = M.mpq_plus([stats])
    assert per_class[1].fp == 1 and per_class[1].pq == 0.0 and value == 0.5
    # Classes absent from truth and prediction everywhere are left out of mPQ+.
    assert all(math.isnan(p.pq) for p in per_class[2:])


# --------------------------------------------------------------------------- conventions


def test_empty_images_conventions():
    empty = np.zeros((8, 8), dtype=np.int32)
    one = empty.copy()
    one[2:5, 2:5] = 1
    both = M.match(empty, empty)
    for result in (
        M.pq_of(both),
        M.aji_of(both),
        M.aji_plus_of(both),
        M.dsb2018_of(both),
        M.f1_of(both),
        M.dice_of(both),
    ):
        assert math.isnan(result.value)
    for result in (M.pq(empty, one), M.aji(empty, one), M.dsb2018(empty, one), M.f1(empty, one), M.dice(empty, one)):
        assert result.value == 0.0
    for result in (M.pq(one, empty), M.aji_plus(one, empty), M.dsb2018(one, empty), M.dice(one, empty)):
        assert result.value == 0.0
    assert M.pq([], []).n_true == 0  # empty object lists need no size

    excluded = M.MeanOverImages()
    scored = M.MeanOverImages(empty_score=1.0)
    for aggregator in (excluded, scored):
        for true, pred in ((one, one), (empty, empty), (empty, one), (one, empty)):
            aggregator.add(M.pq(true, pred))
    assert excluded.mean == 1 / 3 and excluded.n_scored == 3 and excluded.n_empty_both == 1
    assert scored.mean == 0.5 and scored.n_scored == 4
    summary = excluded.summary()
    assert summary["n_images"] == 4 and summary["n_empty_truth_with_pred"] == 1


def test_crowd_regions_are_dont_care():
    shape = (30, 30)

    def box(y0, y1, x0, x1):
        mask = np.zeros(shape, dtype=bool)
        mask[y0:y1, x0:x1] = True
        return mask

    crowd = box(0, 10, 0, 30)  # rows 0-9: a don't-care band
    truth = [encode(box(20, 26, 20, 26), 1, 1), encode(crowd, 2, None, crowd=True)]
    pred = [
        encode(box(20, 26, 20, 26), 1, 1),  # the nucleus: TP
        encode(box(2, 6, 2, 6), 2, 1),  # entirely in the crowd band: ignored
        encode(box(8, 12, 10, 14), 3, 1),  # 8 of 16 px in the band, not more than half: FP
        encode(box(7, 11, 20, 24), 4, 1),  # 12 of 16 px in the band: ignored
    ]
    m = M.match(truth, pred)
    assert (m.n_crowd, m.n_ignored, m.n_true, m.n_pred) == (1, 2, 1, 2)
    result = M.pq_of(m)
    assert (result.tp, result.fp, result.fn) == (1, 1, 0)
    assert M.aji_of(m).union == 36 + 16
    # Dice is a pixel rule over all predictions: crowd-band pixels count for nothing, the
    # 8 + 4 px of the FP and of the ignored prediction outside the band do.
    assert M.dice_of(m).pred_area == 36 + 8 + 4 and M.dice_of(m).true_area == 36
    assert_same_as_reference(truth, pred, shape)
    # Crowd-only truth with predictions inside it: nothing left to score.
    only = M.match([truth[1]], pred[1:2])
    assert math.isnan(M.pq_of(only).pq)


def test_threshold_is_strict_and_matching_is_exact():
    # IoU exactly 1/2: not a match at 0.5 (published PQ, DSB) -- a ">=" rule would count it.
    true = np.zeros((4, 8), dtype=np.int32)
    true[:, 0:4] = 1
    pred = np.zeros((4, 8), dtype=np.int32)
    pred[:, 0:2] = 1
    assert float(M.match(true, pred).iou[0]) == 0.5
    assert M.pq(true, pred).tp == 0 and M.f1(true, pred).tp == 0
    # IoU exactly 3/4: a hit at 0.70, not at 0.75.
    pred[:, 0:3] = 1
    dsb = M.dsb2018(true, pred)
    assert dsb.tp == (1, 1, 1, 1, 1, 0, 0, 0, 0, 0) and dsb.score == 0.5
    # No epsilon: SQ of a perfect match is exactly 1 (HoVer-Net's +1e-6 gives 0.999999).
    assert M.pq(true, true).sq == 1.0


def test_duplicate_predictions_are_matched_once():
    """Overlapping duplicates both have IoU > 0.5 with one nucleus: one TP, one FP."""
    shape = (10, 10)
    mask = np.zeros(shape, dtype=bool)
    mask[2:8, 2:8] = True
    bigger = mask.copy()
    bigger[2:8, 8] = True
    truth = [encode(mask, 1)]
    pred = [encode(bigger, 1), encode(mask, 2)]
    result = M.pq(truth, pred)
    assert (result.tp, result.fp, result.fn, result.sq) == (1, 1, 0, 1.0)  # the exact copy wins
    assert_same_as_reference(truth, pred, shape, classes=())


def test_aji_counts_a_shared_prediction_twice_and_aji_plus_does_not():
    true = np.zeros((6, 12), dtype=np.int32)
    true[:, 0:6] = 1
    true[:, 6:12] = 2
    pred = np.ones((6, 12), dtype=np.int32)  # one prediction over both nuclei
    assert M.aji(true, pred).aji == (36 + 36) / (72 + 72)
    assert M.aji_plus(true, pred).aji == 36 / (72 + 36)


def test_aji_tie_takes_the_larger_intersection():
    """Equal IoU (3/6 and 4/8): the nucleus takes the prediction sharing more pixels, as
    HoVer-Net's +1e-6 in the IoU denominator makes it do."""
    shape = (2, 6)
    truth = np.zeros(shape, dtype=bool)
    truth[0, :] = True
    first = np.zeros(shape, dtype=bool)
    first[0, 0:3] = True
    second = np.zeros(shape, dtype=bool)
    second[0, 2:6] = True
    second[1, 0:2] = True
    objects = [encode(first, 1), encode(second, 2)]
    assert sorted(M.match([encode(truth, 1)], objects).iou.tolist()) == [0.5, 0.5]
    assert M.aji([encode(truth, 1)], objects).aji == 4 / (8 + 3)
    assert_same_as_reference([encode(truth, 1)], objects, shape, classes=())


def test_aji_plus_ties_take_the_larger_intersection():
    """Issue 20: true objects 1 and 3 reach IoU 1/4 with predicted object 3 (1 of 4 px vs 2 of 8 px).
    HoVer-Net's get_fast_aji_plus (inter / (union + 1e-6)) pairs object 3: AJI+ = 3/15 = 0.2,
    where an exact-IoU assignment gave 2/16 = 0.125."""
    true = np.array([[0, 1, 0], [2, 0, 0], [3, 3, 0], [3, 3, 0], [3, 3, 0]], dtype=np.int32)
    pred = np.array([[0, 3, 1], [2, 3, 2], [0, 0, 1], [3, 0, 2], [3, 0, 1]], dtype=np.int32)
    m = M.match(true, pred)
    assert sorted(float(v) for v in m.iou) == [0.25, 0.25, 1 / 3]
    result = M.aji_plus_of(m)
    assert (result.aji, result.intersection, result.union) == (0.2, 3, 15)
    assert Reference(true, pred, true.shape).aji_plus() == 0.2  # the reference builds HoVer-Net's full matrix
    # The same with the labels renumbered (tie-break by size, not by label order).
    swapped = np.where(true == 1, 3, np.where(true == 3, 1, true))
    assert M.aji_plus(swapped, pred).aji == 0.2


def test_semantic_dice_iou_matches_reference_and_ignores_code_zero():
    rng = np.random.default_rng(0)
    accumulator = M.SemanticAccumulator(5)
    totals = np.zeros((5, 5), dtype=np.int64)
    for _ in range(4):
        true = rng.integers(0, 5, size=(30, 40))
        pred = rng.integers(0, 5, size=(30, 40))
        got = accumulator.add(true, pred)
        want = semantic(true, pred, 5)
        for c in range(1, 5):
            assert close(got.dice[c], want["dice"][c]) and close(got.iou[c], want["iou"][c])
        assert math.isnan(got.dice[0])
        totals += got.confusion
    assert np.array_equal(accumulator.result().confusion, totals)
    perfect = M.semantic_dice_iou(true, true, 5)
    assert np.all(perfect.dice[1:] == 1.0) and perfect.mean_iou == 1.0
    # Predictions where the truth is 0 change nothing.
    changed = true.copy()
    changed[true == 0] = 3
    assert M.semantic_dice_iou(true, changed, 5).mean_dice == 1.0
    with pytest.raises(M.MetricInputError):
        M.semantic_dice_iou(true, pred + 5, 5)


def test_coco_ap_truth_against_itself_and_label_maps():
    true = np.zeros((20, 20), dtype=np.int32)
    true[2:6, 2:6] = 1
    true[10:16, 10:14] = 2
    result = M.coco_ap([(true, true), (np.zeros_like(true), np.zeros_like(true))])
    assert result["AP"] == 1.0 and result["max_dets"] == 100
    shifted = np.roll(true, 1, axis=1)
    assert M.coco_ap([(true, shifted)])["AP"] < 1.0
    nothing = M.coco_ap([(true, np.zeros_like(true))])
    assert nothing["AP"] == 0.0 and nothing["AR"] == 0.0 and math.isnan(nothing["AP_large"])
    assert math.isnan(M.coco_ap([(np.zeros_like(true), true)])["AP"])


def test_bad_inputs_raise_metric_input_error():
    with pytest.raises(M.MetricInputError, match="different sizes"):
        M.pq(np.zeros((4, 4), int), np.zeros((4, 5), int))
    with pytest.raises(M.MetricInputError, match="integers"):
        M.pq(np.zeros((4, 4), float), np.zeros((4, 4), int))
    with pytest.raises(M.MetricInputError, match="negative"):
        M.pq(-np.ones((4, 4), int), np.zeros((4, 4), int))
    with pytest.raises(M.MetricInputError, match="2-D"):
        M.pq(np.zeros((2, 4, 4), int), np.zeros((4, 4), int))
    with pytest.raises(M.MetricInputError, match="RLE"):
        M.pq([{"segmentation": {"size": [4, 4], "counts": "zz"}}], np.zeros((4, 4), int))
    with pytest.raises(M.MetricInputError, match="polygons"):
        M.pq([{"segmentation": [[0, 0, 1, 1, 2, 0]]}], np.zeros((4, 4), int))
    with pytest.raises(M.MetricInputError, match="threshold"):
        M.pq(np.zeros((4, 4), int), np.zeros((4, 4), int), iou=1.0)


def test_columnar_objects_and_instances_are_accepted():
    true = np.zeros((10, 10), dtype=np.int32)
    true[1:4, 1:4] = 3
    true[5:9, 5:9] = 8
    objects = [encode(true == 3, 3, 1), encode(true == 8, 8, 2)]
    columnar = {key: [obj[key] for obj in objects] for key in objects[0]}
    instances = M.Instances.from_label_map(true, categories={3: 1, 8: 2})
    for form in (columnar, instances, objects):
        assert M.pq(form, true).pq == 1.0
        assert M.pannuke_image(form, objects, CLASSES).mpq == 1.0
