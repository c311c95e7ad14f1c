"""CoNIC reader: pixel-exact objects from the (N, H, W, 2) label array, classes, the baseline
train/valid split (by source image, reproducing scikit-learn 0.23.1's StratifiedShuffleSplit),
bad input, and a build -> load_dataset -> streaming round trip."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from pycocotools import mask as mask_util

from fixtures.conic import CLASS_NAMES, EMPTY_PATCH, source_names, write_conic
from fixtures.records import image_pixels, split_records
from fixtures.roundtrip import build_and_load
from nuclei_collection import BadInputError, MissingDataError, decode_objects
from nuclei_collection_builders.sources import conic, get_spec, prepare
from nuclei_collection_builders.sources.conic import (
    COUNTS_DISAGREE,
    approximate_mode,
    baseline_split,
    stratified_shuffle_splits,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("conic")
    return root, write_conic(root)


def all_records(root):
    prepared = prepare("CoNIC", root)
    records, notes = {}, []
    for split in prepared.splits:
        by_id, report = split_records(prepared, split)
        assert not report.skipped
        records.update({image_id: (split, record) for image_id, record in by_id.items()})
        notes += report.notes
    return records, notes


def test_every_patch_pixel_exact_with_classes(tree):
    root, truth = tree
    records, notes = all_records(root)
    assert sorted(records) == sorted(truth)
    class_names = get_spec("CoNIC").make_source().class_names()
    assert class_names == CLASS_NAMES
    for name, (_split, record) in records.items():
        expected = truth[name]
        assert np.array_equal(image_pixels(record), expected.image)
        height, width = expected.label_map.shape
        assert np.array_equal(decode_objects(record["objects"], height, width), expected.label_map)
        assert [o["id"] for o in record["objects"]] == sorted(expected.classes)
        for obj in record["objects"]:
            reference = mask_util.encode(np.asfortranarray((expected.label_map == obj["id"]).astype(np.uint8)))
            assert obj["segmentation"]["counts"] == reference["counts"].decode("ascii")
            assert obj["area"] == int(mask_util.area(reference))
            assert np.allclose(obj["bbox"], mask_util.toBbox(reference))
            assert class_names[obj["category"]] == expected.classes[obj["id"]]
            assert obj["iscrowd"] is False
        meta = record["metadata"]
        assert meta["parent_image_id"] == expected.source and meta["collection"] == expected.source.split("_")[0]
        assert meta["upstream_path"] == f"images.npy[{expected.index}]"
        assert (meta["mpp"], meta["magnification"], meta["organ"], meta["license"]) == (
            0.5,
            20.0,
            "colon",
            "CC-BY-NC-SA-4.0",
        )
    assert records[EMPTY_PATCH][1]["objects"] == []
    # counts.csv agrees with the labels everywhere: nothing counted but the one empty patch
    assert not [n for n in notes if n.startswith(COUNTS_DISAGREE)]


def test_split_is_by_source_image_and_matches_the_baseline(tree):
    root, truth = tree
    prepared = prepare("CoNIC", root)
    assert list(prepared.splits) == ["train", "valid"]
    split_of_source: dict[str, set[str]] = {}
    for split, items in prepared.splits.items():
        for item in items:
            split_of_source.setdefault(truth[item.image_id].source, set()).add(split)
    assert all(len(splits) == 1 for splits in split_of_source.values())  # never split by patch
    valid = sorted(s for s, splits in split_of_source.items() if splits == {"valid"})
    # scikit-learn 1.9.1, StratifiedShuffleSplit(10, train_size=0.8, test_size=0.2, random_state=5)
    # over these 21 sorted source names, stratified by cohort: trial 0's test set.
    assert valid == ["consep_3", "crag_1", "dpath_4", "glas_1", "pannuke_4"]
    # patches keep the order of patch_info.csv within a split
    for items in prepared.splits.values():
        assert [truth[i.image_id].index for i in items] == sorted(truth[i.image_id].index for i in items)


def test_approximate_mode_matches_the_examples_in_scikit_learn_0_23_1():
    # The doctest of sklearn/utils/__init__.py::_approximate_mode in scikit-learn 0.23.1.
    cases = [([4, 2], 3, 0, [2, 1]), ([5, 2], 4, 0, [3, 1]), ([2, 2, 2, 1], 2, 0, [0, 1, 1, 0])]
    cases.append(([2, 2, 2, 1], 2, 42, [1, 1, 0, 0]))
    for counts, draws, seed, expected in cases:
        got = approximate_mode(np.array(counts), draws, np.random.RandomState(seed))
        assert got.tolist() == expected


LIZARD_LIKE = [
    f"{cohort}_{k}"
    for cohort, n in (("consep", 16), ("crag", 64), ("dpath", 69), ("glas", 52), ("pannuke", 37))
    for k in range(1, n + 1)
]
#: scikit-learn 1.9.1, same splitter as generate_split.py, trial 0 test set of LIZARD_LIKE.
LIZARD_LIKE_VALID = (
    "consep_12 consep_7 consep_8 crag_10 crag_2 crag_20 crag_21 crag_23 crag_24 crag_34 crag_37 crag_45 crag_5 "
    "crag_52 crag_54 crag_58 dpath_14 dpath_20 dpath_21 dpath_22 dpath_31 dpath_38 dpath_39 dpath_40 dpath_46 "
    "dpath_49 dpath_5 dpath_50 dpath_59 dpath_63 glas_14 glas_16 glas_17 glas_19 glas_20 glas_23 glas_28 glas_3 "
    "glas_39 glas_52 glas_9 pannuke_1 pannuke_17 pannuke_19 pannuke_22 pannuke_26 pannuke_28 pannuke_37"
).split()


def modern_approximate_mode(class_counts, n_draws, rng):
    """scikit-learn >= 1.x's share, ``count / total * n`` (0.23.1: ``n * count / total``); otherwise the same."""
    exact = class_counts / class_counts.sum() * n_draws
    allotted = np.floor(exact)
    missing = int(n_draws - allotted.sum())
    fraction = exact - allotted
    for value in np.sort(np.unique(fraction))[::-1] if missing > 0 else []:
        (tied,) = np.where(fraction == value)
        take = min(len(tied), missing)
        allotted[rng.choice(tied, size=take, replace=False)] += 1
        missing -= take
        if missing == 0:
            break
    return allotted.astype(np.int64)


def test_baseline_split_of_238_lizard_like_images_matches_scikit_learn(monkeypatch):
    names = [f"{source}-{k:04d}" for source in LIZARD_LIKE for k in range(2)]
    split = baseline_split(names)
    assert sorted(s for s, where in split.items() if where == "valid") == sorted(LIZARD_LIKE_VALID)
    assert sum(where == "train" for where in split.values()) == 190  # floor(0.8 * 238)
    # The reference came from scikit-learn 1.9.1, whose proportional share rounds differently
    # from 0.23.1's (the baseline's pin) in the last bit. With 1.9.1's rounding our procedure
    # gives the same split here, so the reference checks the 0.23.1 procedure too.
    monkeypatch.setattr(conic, "approximate_mode", modern_approximate_mode)
    assert conic.baseline_split(names) == split


def test_later_trials_consume_the_random_stream_like_scikit_learn():
    _, strata = np.unique([s.split("_")[0] for s in source_names()], return_inverse=True)
    trials = list(stratified_shuffle_splits(strata, 0.8, 0.2, 5, 10))
    names = np.array(source_names())
    # scikit-learn 1.9.1 trial 3 of the fixture's sources (depends on every draw of trials 0-2)
    assert sorted(names[trials[3][1]].tolist()) == ["consep_1", "crag_5", "dpath_1", "glas_4", "pannuke_4"]
    for train, test in trials:
        assert len(train) == 16 and len(test) == 5 and not set(train) & set(test)


# ----------------------------------------------------------------------------- bad input


def damaged(tmp_path, **changes):
    """A fresh fixture with some arrays or files replaced."""
    truth = write_conic(tmp_path)
    labels = np.load(tmp_path / "labels.npy")
    for key, value in changes.items():
        if key == "labels":
            value(labels)
            np.save(tmp_path / "labels.npy", labels)
        else:
            (tmp_path / key).write_bytes(value)
    return truth


@pytest.mark.parametrize("file", ["images.npy", "labels.npy"])
def test_truncated_empty_html_arrays_are_errors_naming_the_file(tmp_path, file):
    write_conic(tmp_path)
    original = (tmp_path / file).read_bytes()
    for data in (original[: len(original) // 2], b"", b"<!DOCTYPE html><html>quota exceeded</html>"):
        (tmp_path / file).write_bytes(data)
        with pytest.raises(BadInputError, match=file.replace(".", r"\.")):
            all_records(tmp_path)


def test_pickled_and_float_arrays_are_refused(tmp_path):
    write_conic(tmp_path)
    objects = np.empty((1,), dtype=object)
    objects[0] = {"a": 1}
    np.save(tmp_path / "images.npy", objects, allow_pickle=True)
    with pytest.raises(BadInputError, match=r"images\.npy: .*(allow_pickle|not an integer)"):
        prepare("CoNIC", tmp_path)
    write_conic(tmp_path)
    np.save(tmp_path / "labels.npy", np.load(tmp_path / "labels.npy").astype(np.float64))
    with pytest.raises(BadInputError, match=r"labels\.npy: dtype float64 is not an integer type"):
        prepare("CoNIC", tmp_path)


def test_any_integer_label_dtype_that_fits_gives_the_same_records(tmp_path, tree):
    root, _ = tree
    reference, _ = all_records(root)
    write_conic(tmp_path)
    np.save(tmp_path / "labels.npy", np.load(tmp_path / "labels.npy").astype(np.int32))
    records, _ = all_records(tmp_path)
    assert {k: v[1]["objects"] for k, v in records.items()} == {k: v[1]["objects"] for k, v in reference.items()}


def test_shape_mismatches_are_errors(tmp_path):
    write_conic(tmp_path)
    labels = np.load(tmp_path / "labels.npy")
    np.save(tmp_path / "labels.npy", labels[:-1])
    with pytest.raises(BadInputError, match=r"labels\.npy: shape \(30, 64, 64, 2\) does not match"):
        prepare("CoNIC", tmp_path)
    np.save(tmp_path / "labels.npy", labels[..., :1])
    with pytest.raises(BadInputError, match=r"labels\.npy"):
        prepare("CoNIC", tmp_path)


def test_one_array_missing_is_an_error_naming_it(tmp_path):
    write_conic(tmp_path)
    (tmp_path / "labels.npy").unlink()  # images without their labels
    with pytest.raises(BadInputError, match=r"labels\.npy: missing"):
        prepare("CoNIC", tmp_path)
    write_conic(tmp_path)
    (tmp_path / "images.npy").unlink()  # labels without their images
    with pytest.raises(BadInputError, match=r"images\.npy: missing"):
        prepare("CoNIC", tmp_path)


def test_patch_info_faults_are_errors_naming_the_line(tmp_path):
    truth = write_conic(tmp_path)
    info = tmp_path / "patch_info.csv"
    names = list(truth)
    cases = {
        "name\n" + "".join(f"{n}\n" for n in names): "no column 'patch_info'",
        "patch_info\n" + "".join(f"{n}\n" for n in names[:-1]): "30 patch names for 31 patches",
        "patch_info\n" + "".join(f"{n}\n" for n in [*names[:-1], names[0]]): "line 32: 'consep_1-0000' is listed twice",
        "patch_info\n" + "".join(f"{n}\n" for n in [*names[:-1], "consep1"]): "line 32: 'consep1' is not a patch name",
        "<html><body>Google Drive - Virus scan warning</body></html>": "HTML",
    }
    for text, message in cases.items():
        info.write_text(text)
        with pytest.raises(BadInputError, match=rf"patch_info\.csv: .*{message}"):
            prepare("CoNIC", tmp_path)


def test_a_cut_down_copy_that_cannot_be_stratified_is_an_error(tmp_path):
    truth = write_conic(tmp_path)
    # the first 7 patches: 4 consep images and crag_1 alone, a cohort of one image (not stratifiable)
    keep = list(truth)[:7]
    for name in ("images.npy", "labels.npy"):
        np.save(tmp_path / name, np.load(tmp_path / name)[:7])
    (tmp_path / "patch_info.csv").write_text("patch_info\n" + "".join(f"{n}\n" for n in keep))
    (tmp_path / "counts.csv").unlink()
    with pytest.raises(BadInputError, match=r"patch_info\.csv: the baseline split cannot be made"):
        prepare("CoNIC", tmp_path)


def test_counts_csv_faults(tmp_path):
    truth = write_conic(tmp_path)
    counts = tmp_path / "counts.csv"
    rows = counts.read_text().splitlines()
    counts.write_text("\n".join(["a,b,c,d,e,f", *rows[1:]]) + "\n")
    with pytest.raises(BadInputError, match=r"counts\.csv: expected the header neutrophil,epithelial"):
        prepare("CoNIC", tmp_path)
    counts.write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(BadInputError, match=r"counts\.csv: 30 rows for 31 patches"):
        prepare("CoNIC", tmp_path)
    # a count that disagrees with the labels is counted, and the labels are kept
    first = list(truth.values())[0]
    wrong = [str(c + 1) if i == 0 else str(c) for i, c in enumerate(first.counts)]
    counts.write_text("\n".join([rows[0], ",".join(wrong), *rows[2:]]) + "\n")
    records, notes = all_records(tmp_path)
    disagree = [n for n in notes if n.startswith(COUNTS_DISAGREE)]
    assert len(disagree) == 1 and first.name in disagree[0]
    assert np.array_equal(decode_objects(records[first.name][1]["objects"], 64, 64), first.label_map)
    counts.unlink()  # counts.csv is optional
    assert sorted(all_records(tmp_path)[0]) == sorted(truth)


def set_code(code):
    def damage(classes, instances):
        classes[instances == 1] = code

    return damage


def two_codes(classes, instances):
    rows, cols = np.nonzero(instances == 1)
    classes[rows[::2], cols[::2]] = classes[rows[0], cols[0]] % 6 + 1  # half the pixels another class


def class_outside(classes, instances):
    classes[instances == 0] = 3


@pytest.mark.parametrize(
    "damage, message",
    [
        (set_code(7), r"class codes \[7\] are not 0\.\.6"),
        (set_code(0), r"instance\(s\) \[1\] have pixels of class 0"),
        (two_codes, r"instance\(s\) \[1\] carry more than one class code"),
        (class_outside, r"\d+ px carry a class but belong to no instance"),
    ],
    ids=["unknown code", "class 0", "two codes", "class outside instances"],
)
def test_inconsistent_class_channel_is_an_error_naming_the_patch(tmp_path, damage, message):
    truth = write_conic(tmp_path)
    patch = next(p for p in truth.values() if p.classes)
    index = patch.index
    labels = np.load(tmp_path / "labels.npy")
    damage(labels[index, ..., 1], labels[index, ..., 0])
    np.save(tmp_path / "labels.npy", labels)
    with pytest.raises(BadInputError, match=rf"labels\.npy: patch {index} \({patch.name}\): {message}"):
        all_records(tmp_path)


def test_instance_ids_with_gaps_are_renumbered_and_counted(tmp_path):
    truth = write_conic(tmp_path)
    patch = next(p for p in truth.values() if len(p.classes) >= 3)
    labels = np.load(tmp_path / "labels.npy")
    instances = labels[patch.index, ..., 0]
    instances[instances > 0] += 10  # ids 11.. instead of 1..
    np.save(tmp_path / "labels.npy", labels)
    records, notes = all_records(tmp_path)
    assert np.array_equal(decode_objects(records[patch.name][1]["objects"], 64, 64), patch.label_map)
    assert any(n.startswith("conic ids renumbered") and patch.name in n for n in notes)


def test_build_load_dataset_and_streaming_round_trip(tree, tmp_path, monkeypatch):
    root, truth = tree
    loaded = build_and_load("CoNIC", root, tmp_path, monkeypatch)
    assert set(loaded) == {"train", "valid"}
    assert sum(len(rows) for rows in loaded.values()) == len(truth)
    for rows in loaded.values():
        for row in rows:
            expected = truth[row["image_id"]]
            assert np.array_equal(np.asarray(row["image"]), expected.image)
            objects = [
                {
                    "segmentation": {"size": o["segmentation"]["size"], "counts": o["segmentation"]["counts"]},
                    "id": o["id"],
                }
                for o in row["objects"]
            ]
            assert np.array_equal(decode_objects(objects, 64, 64), expected.label_map)
            assert [CLASS_NAMES[o["category"]] for o in row["objects"]] == [
                expected.classes[o["id"]] for o in row["objects"]
            ]


def test_no_data_gives_the_manual_steps(tmp_path):
    with pytest.raises(MissingDataError, match="conic-challenge.grand-challenge.org"):
        prepare("CoNIC", tmp_path)


def sparse_npy(path, shape, dtype):
    """A .npy file of ``shape`` whose data is a hole (no disk, no memory): only its header is written."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
        )
        handle.truncate(handle.tell() + int(np.prod(shape)) * np.dtype(dtype).itemsize)


def test_patches_are_read_one_at_a_time_never_the_whole_arrays(tmp_path):
    n = 20_000  # 3.9 GB of images and 5.2 GB of labels at the real patch size, all holes
    sparse_npy(tmp_path / "images.npy", (n, 256, 256, 3), np.uint8)
    sparse_npy(tmp_path / "labels.npy", (n, 256, 256, 2), np.uint16)
    names = [
        f"{cohort}_{k // 40}-{k % 40:04d}" for cohort in ("consep", "crag", "glas", "dpath") for k in range(n // 4)
    ]
    (tmp_path / "patch_info.csv").write_text("patch_info\n" + "".join(f"{name}\n" for name in names))
    tracemalloc.start()
    try:
        prepared = prepare("CoNIC", tmp_path)
        item = prepared.splits["valid"][-1]
        tracemalloc.reset_peak()
        (sample,) = prepared.source.samples(item)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sample.image.shape == (256, 256, 3) and not sample.image.any()
    # One patch's labels as int64 are 1 MiB and processing makes a few such temporaries; reading
    # either whole array would allocate gigabytes.
    assert peak < 32 * 2**20, f"reading one patch allocated {peak / 2**20:.1f} MiB"


def test_a_full_size_copy_whose_split_differs_from_the_authors_is_reported(tmp_path, caplog):
    n = 4981  # the release's patch count; the authors' notebook prints 3963 / 1018 for trial 0
    sparse_npy(tmp_path / "images.npy", (n, 256, 256, 3), np.uint8)
    sparse_npy(tmp_path / "labels.npy", (n, 256, 256, 2), np.uint16)
    names = [f"{('consep', 'crag', 'glas', 'dpath')[k % 4]}_{k // 80}-{k:04d}" for k in range(n)]
    (tmp_path / "patch_info.csv").write_text("patch_info\n" + "".join(f"{name}\n" for name in names))
    with caplog.at_level("WARNING", logger="nuclei_collection"):
        prepared = prepare("CoNIC", tmp_path)
    sizes = (len(prepared.splits["train"]), len(prepared.splits["valid"]))
    assert sizes != (3963, 1018)
    assert f"{sizes[0]} train / {sizes[1]} valid patches, the authors' notebook 3963 / 1018" in caplog.text
