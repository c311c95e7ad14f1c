"""Evaluation speed: the fast metrics against the brute-force reference the tests use.

    python bench/eval_bench.py [--images 2656] [--reference-images 200] [--seed 0]

1. A generated PanNuke-like fold: 2,656 patches 256 x 256 with the real per-image,
   per-class nucleus counts and tissue of PanNuke fold 1 (CellViT's cell_count.csv and
   types.npy in ../shared/realdata; Poisson(24) counts and random tissues when absent),
   nuclei = random ellipses painted into a label map (no overlaps, as in PanNuke), predictions
   = the truth perturbed (dropped, jittered, resized, class flipped nuclei, false positives).
   Truth and prediction are object lists in the collection's schema (RLE + category), fed
   image by image to ``PanNukeAggregator`` (bPQ, mPQ, mPQ+ and the tables in one pass).
   The reference (tests/metrics_reference.py) scores the first ``--reference-images``
   images; its fold time is extrapolated per image (printed as such).
2. A 1000 x 1000 MoNuSeg-like image with ~700 nuclei (some overlapping, as MoNuSeg's
   polygons): PQ + AJI, fast vs reference, both on the same object lists.
3. Peak RSS of this process (``resource.getrusage``): generated inputs + fold evaluation.
4. COCO mask AP (issue 20): the sparse implementation (``metrics.coco_ap``) against
   pycocotools' ``COCOeval`` (tests/metrics_reference.py ``coco_eval``, maxDets raised) on the
   real MoNuSeg training image of ../shared/realdata (359 overlapping polygons) with a
   perturbed, scored prediction, and on the generated 1000 x 1000 image; values must be equal.
5. The default report on that real MoNuSeg image: ``nuclei-collection evaluate`` in a fresh
   process (imports included), truth painted first-wins as a label-map prediction; best of 3.

Runs on one core (thread pools limited to 1 before numpy loads). Not part of the test suite.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))
REALDATA = Path(os.environ.get("NUCLEI_REALDATA", PROJECT.parent / "shared" / "realdata")) / "pannuke"

from metrics_reference import Reference, as_objects, coco_eval, pannuke_split  # noqa: E402
from timing import best_of  # noqa: E402  (bench/timing.py)

from nuclei_collection_builders import rle  # noqa: E402
from nuclei_collection_builders.evaluation import metrics  # noqa: E402

CLASSES = (1, 2, 3, 4, 5)  # the generated fold's category values (one per PanNuke class)
CLASS_COLUMNS = ("Neoplastic", "Inflammatory", "Connective", "Dead", "Epithelial")
PATCH = 256


# --------------------------------------------------------------------------- generated data


def fold_layout(n_images: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str], str]:
    """(per-image per-class counts (n, 5), tissue per image, where they came from)."""
    counts_csv = REALDATA / "cellvit_meta" / "fold0" / "cell_count.csv"  # CellViT fold0 = PanNuke fold 1
    types_npy = REALDATA / "fold1" / "types.npy"
    if counts_csv.exists() and types_npy.exists():
        with counts_csv.open(newline="") as handle:
            rows = {int(row["Image"].split("_")[1].split(".")[0]): row for row in csv.DictReader(handle)}
        counts = np.array([[int(rows[k][c]) for c in CLASS_COLUMNS] for k in sorted(rows)])
        tissues = [str(t) for t in np.load(types_npy, allow_pickle=False)]
        reps = math.ceil(n_images / len(counts))
        return np.tile(counts, (reps, 1))[:n_images], (tissues * reps)[:n_images], "real fold-1 counts and tissues"
    counts = rng.multinomial(1, [0.41, 0.17, 0.26, 0.02, 0.14], size=(n_images, 24)).sum(axis=1)
    counts[rng.random(n_images) < 0.044] = 0
    names = [f"tissue_{k:02d}" for k in range(19)]
    return counts, [names[int(k)] for k in rng.integers(0, 19, n_images)], "synthetic counts (realdata absent)"


def ellipse_box(cy: float, cx: float, a: float, b: float, angle: float, height: int, width: int):
    """(y0, x0, bool mask in its clipped bounding box) of a rotated ellipse, or None if outside."""
    r = max(a, b)
    y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 2, height)
    x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 2, width)
    if y1 <= y0 or x1 <= x0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1]
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    mask = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return (y0, x0, mask) if mask.any() else None


def paint_label_map(nuclei: list[tuple], size: int) -> tuple[np.ndarray, dict[int, int]]:
    """Nuclei (cy, cx, a, b, angle, category) painted in order; returns labels and label -> category."""
    label_map = np.zeros((size, size), dtype=np.int32)
    category = {}
    for label, (cy, cx, a, b, angle, cls) in enumerate(nuclei, start=1):
        box = ellipse_box(cy, cx, a, b, angle, size, size)
        if box is not None:
            y0, x0, mask = box
            label_map[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]][mask] = label
            category[label] = cls
    return label_map, category


def objects_of(label_map: np.ndarray, category: dict[int, int]) -> list[dict]:
    objects = rle.encode_label_map(label_map)  # labels hidden by later nuclei disappear here
    for obj in objects:
        obj["category"] = category[obj["id"]]
        obj["iscrowd"] = False
    return objects


def perturbed(nuclei: list[tuple], rng: np.random.Generator, size: int) -> list[tuple]:
    """Drop 8 %, jitter centres by up to 2 px, radii by +-20 %, flip 10 % of classes, add false positives."""
    out = []
    for cy, cx, a, b, angle, cls in nuclei:
        if rng.random() < 0.08:
            continue
        if rng.random() < 0.1:
            cls = int(rng.integers(1, 6))
        out.append((cy + rng.uniform(-2, 2), cx + rng.uniform(-2, 2), a * rng.uniform(0.8, 1.2),
                    b * rng.uniform(0.8, 1.2), angle, cls))  # fmt: skip
    for _ in range(int(rng.poisson(1.0))):
        out.append(random_nucleus(rng, size, int(rng.integers(1, 6))))
    return out


def random_nucleus(rng: np.random.Generator, size: int, cls: int, radii=(3.0, 9.0)) -> tuple:
    return (
        rng.uniform(0, size),
        rng.uniform(0, size),
        rng.uniform(*radii),
        rng.uniform(*radii),
        rng.uniform(0, np.pi),
        cls,
    )


def generate_fold(n_images: int, seed: int):
    rng = np.random.default_rng(seed)
    counts, tissues, origin = fold_layout(n_images, rng)
    fold = []
    for k in range(n_images):
        nuclei = [random_nucleus(rng, PATCH, c + 1) for c in range(5) for _ in range(int(counts[k, c]))]
        order = rng.permutation(len(nuclei))
        nuclei = [nuclei[i] for i in order]
        truth = objects_of(*paint_label_map(nuclei, PATCH))
        pred = objects_of(*paint_label_map(perturbed(nuclei, rng, PATCH), PATCH))
        fold.append((truth, pred, tissues[k]))
    return fold, origin


def monuseg_like(n_nuclei: int, seed: int, size: int = 1000) -> tuple[list[dict], list[dict]]:
    """Overlapping ellipse nuclei as RLE objects built from their column runs (no full-frame mask)."""
    rng = np.random.default_rng(seed)

    def encode(nuclei: list[tuple]) -> list[dict]:
        starts, lengths = [], []
        for cy, cx, a, b, angle, _ in nuclei:
            box = ellipse_box(cy, cx, a, b, angle, size, size)
            if box is None:
                continue
            y0, x0, mask = box
            cols = np.flatnonzero(mask.any(axis=0))  # an ellipse column is one run
            first = mask[:, cols].argmax(axis=0)
            starts.append((x0 + cols) * size + y0 + first)
            lengths.append(mask[:, cols].sum(axis=0))
        return rle.encode_runs(starts, lengths, size, size)

    truth = [random_nucleus(rng, size, 1, radii=(6.0, 14.0)) for _ in range(n_nuclei)]
    return encode(truth), encode(perturbed(truth, rng, size))


# --------------------------------------------------------------------------- measurements


def fast_fold(fold) -> metrics.PanNukeResult:
    aggregator = metrics.PanNukeAggregator(CLASSES, [c.lower() for c in CLASS_COLUMNS])
    for truth, pred, tissue in fold:
        aggregator.add(truth, pred, tissue)
    return aggregator.result()


def input_parsing(fold, batch: int = 256) -> float:
    """Seconds spent turning the fold's RLE objects into runs (the mosaics the aggregator builds)."""
    start = time.perf_counter()
    for first in range(0, len(fold), batch):
        chunk = fold[first : first + batch]
        metrics.mosaic([truth for truth, _, _ in chunk])
        metrics.mosaic([pred for _, pred, _ in chunk])
    return time.perf_counter() - start


def reference_fold(fold) -> dict:
    images = [(Reference(truth, pred, (PATCH, PATCH)).pannuke(CLASSES), tissue) for truth, pred, tissue in fold]
    return pannuke_split(images, CLASSES)


def monuseg_real(seed: int) -> tuple[list[dict], list[dict]] | None:
    """The real MoNuSeg training image's objects and a perturbed, scored prediction (None when absent)."""
    data_dir = REALDATA.parent / "monuseg"
    if not data_dir.exists():
        return None
    from test_metrics import perturb  # noqa: E402  (tests/: the same perturbation the tests use)

    from nuclei_collection_builders.pipeline import iter_split
    from nuclei_collection_builders.sources import prepare

    prepared = prepare("nucleisegmentationbenchmark", data_dir)
    record = next(iter_split(prepared.source, prepared.splits["train"]))
    truth = list(record["objects"])
    rng = np.random.default_rng(seed)
    pred = [dict(obj, score=float(rng.integers(0, 10)) / 10)
            for obj in perturb(as_objects(truth), (record["height"], record["width"]), seed)]  # fmt: skip
    return truth, pred


def coco_rows(cases: list[tuple[str, list[dict], list[dict]]]) -> list[tuple]:
    """COCO AP, sparse vs COCOeval, per case; asserts equal values."""
    rows = []
    for name, truth, pred in cases:
        fast = best_of(3, lambda pairs=[(truth, pred)]: metrics.coco_ap(pairs))
        start = time.perf_counter()
        want = coco_eval([(truth, pred)])
        reference = time.perf_counter() - start
        got = metrics.coco_ap([(truth, pred)])
        same = all((math.isnan(v) and math.isnan(got[k])) or got[k] == v for k, v in want.items())
        print(f"{name}: coco_AP {got['AP']:.4f}, AR {got['AR']:.4f}, maxDets {got['max_dets']}; "
              f"equal to COCOeval: {same}")  # fmt: skip
        if not same:
            raise SystemExit(f"COCO AP differs from COCOeval on {name}: {got} vs {want}")
        rows.append((f"COCO mask AP, {name}", f"{fast * 1000:.1f} ms", f"{reference:.2f} s (COCOeval)",
                     reference / fast, "equal values"))  # fmt: skip
    return rows


def default_report_seconds(working_dir: Path, repeat: int = 3) -> tuple[float, float, str] | None:
    """(wall s, CPU s, first output line) of ``nuclei-collection evaluate`` (fresh process, default
    metrics) on the real MoNuSeg image, best of ``repeat``. CPU time (user + system of the child)
    is what a busy shared machine does not inflate."""
    import subprocess
    import tempfile

    from PIL import Image

    data_dir = REALDATA.parent / "monuseg"
    if not data_dir.exists():
        return None
    from pycocotools import mask as mask_utils

    from nuclei_collection_builders.pipeline import iter_split
    from nuclei_collection_builders.sources import prepare

    prepared = prepare("nucleisegmentationbenchmark", data_dir)
    record = next(iter_split(prepared.source, prepared.splits["train"]))
    label_map = np.zeros((record["height"], record["width"]), np.int32)
    for k, obj in reversed(list(enumerate(record["objects"], start=1))):  # first object wins
        segmentation = dict(obj["segmentation"], counts=obj["segmentation"]["counts"].encode())
        label_map[mask_utils.decode(segmentation) > 0] = k
    with tempfile.TemporaryDirectory() as scratch:
        pred = Path(scratch) / "pred"
        pred.mkdir()
        Image.fromarray(label_map.astype(np.uint16)).save(pred / f"{record['image_id']}.png")
        # The installed command's entry point (pyproject [project.scripts]): app.cli.main.
        entry = "from nuclei_collection_builders.app.cli import main; raise SystemExit(main())"
        command = [sys.executable, "-c", entry, "evaluate", "nucleisegmentationbenchmark",
                   "--pred", str(pred), "--data-dir", str(data_dir), "--split", "train",
                   "--out", str(Path(scratch) / "report")]  # fmt: skip
        best, best_cpu, output = float("inf"), float("inf"), ""
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=working_dir)
            best = min(best, time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            output = done.stdout.splitlines()[0]
    return best, best_cpu, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2656)
    parser.add_argument("--reference-images", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    fold, origin = generate_fold(args.images, args.seed)
    n_true = sum(len(t) for t, _, _ in fold)
    n_pred = sum(len(p) for _, p, _ in fold)
    print(f"generated {len(fold)} patches ({origin}): {n_true} true / {n_pred} predicted nuclei, "
          f"{n_true / len(fold):.1f} per patch, {time.perf_counter() - start:.1f} s")  # fmt: skip

    start = time.perf_counter()
    result = fast_fold(fold)
    fold_seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parse_seconds = input_parsing(fold)

    subset = fold[: args.reference_images]
    fast_subset = best_of(3, lambda: fast_fold(subset))
    start = time.perf_counter()
    want = reference_fold(subset)
    reference_subset = time.perf_counter() - start
    got = fast_fold(subset)
    drift = max(abs(got.bpq - want["bpq"]), abs(got.mpq - want["mpq"]), abs(got.mpq_plus - want["mpq_plus"]))
    reference_fold_seconds = reference_subset / len(subset) * len(fold)

    truth, pred = monuseg_like(700, args.seed)
    fast_image = best_of(5, lambda: (lambda m: (metrics.pq_of(m), metrics.aji_of(m)))(metrics.match(truth, pred)))
    start = time.perf_counter()
    ref = Reference(truth, pred, (1000, 1000))
    ref_pq, ref_aji = ref.pq(), ref.aji()
    reference_image = time.perf_counter() - start
    m = metrics.match(truth, pred)
    image_drift = max(abs(metrics.pq_of(m).pq - ref_pq["pq"]), abs(metrics.aji_of(m).aji - ref_aji))

    print(f"\nfold: bPQ {result.bpq:.4f}  mPQ {result.mpq:.4f}  mPQ+ {result.mpq_plus:.4f}  "
          f"({result.counts['n_images_empty_truth']} patches with empty truth left out of bPQ)")  # fmt: skip
    print(f"fast fold time split: input parsing (RLE strings -> runs, {parse_seconds:.2f} s) "
          f"+ matching and metrics ({fold_seconds - parse_seconds:.2f} s)")  # fmt: skip
    print(f"reference agreement: fold subset max |diff| {drift:.1e}, 1000x1000 image max |diff| {image_drift:.1e}")
    print(
        f"1000x1000 image: {len(truth)} true / {len(pred)} predicted nuclei, "
        f"PQ {metrics.pq_of(m).pq:.4f} AJI {metrics.aji_of(m).aji:.4f}"
    )
    rows = [
        ("PanNuke-like fold, bPQ+mPQ+mPQ+ (one pass)", f"{fold_seconds:.2f} s", f"{reference_fold_seconds:.1f} s *",
         reference_fold_seconds / fold_seconds, "< 10 s and >= 30x"),
        (f"  same, first {len(subset)} patches side by side", f"{fast_subset:.3f} s", f"{reference_subset:.2f} s",
         reference_subset / fast_subset, ">= 30x"),
        ("1000x1000, ~700 nuclei: PQ + AJI", f"{fast_image * 1000:.1f} ms", f"{reference_image:.2f} s",
         reference_image / fast_image, ">= 50x"),
    ]  # fmt: skip
    cases = [("generated 1000x1000, ~700 overlapping nuclei", truth, [dict(o, score=0.5) for o in pred])]
    real = monuseg_real(args.seed)
    if real is not None:
        cases.insert(0, ("real MoNuSeg image, 359 nuclei", *real))
    rows += coco_rows(cases)
    report = default_report_seconds(PROJECT)
    if report is not None:
        print(f"default report on the real MoNuSeg image: {report[2]}")
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} (wall time grows with it, CPU time does not)")
        rows.append(("`nuclei-collection evaluate` default metrics, real MoNuSeg image, fresh process",
                     f"{report[0]:.2f} s wall, {report[1]:.2f} s CPU", "", float("nan"), "< 3 s"))  # fmt: skip
    print("\n| case | fast | reference | ratio | target |\n|---|---|---|---|---|")
    for name, fast, reference, ratio, target in rows:
        shown = "" if math.isnan(ratio) else f"{ratio:.0f}x"
        print(f"| {name} | {fast} | {reference} | {shown} | {target} |")
    print(f"| peak RSS (generated fold + evaluation) | {peak_mib:.0f} MiB | | | < 1 GB |")
    print(
        f"\n* reference fold time extrapolated from {len(subset)} patches ({reference_subset / len(subset) * 1000:.1f} ms/patch)"
    )


if __name__ == "__main__":
    main()
