"""COCO export/import in the NucleiDetectron layout: pycocotools reads it, masks exact, round trip identical."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pycocotools.mask as mask_util
import pytest
from PIL import Image
from pycocotools.coco import COCO

import nuclei_collection_builders.exporters.coco as coco_module
from conftest import realdata_path
from fixtures.dsb2018 import write_stage_test
from nuclei_collection import BadInputError, MissingDataError, NucleiCollectionError, build, decode_masks, main
from nuclei_collection_builders.exporters.coco import export_coco, image_file_name, write_coco
from nuclei_collection_builders.pipeline import iter_split
from nuclei_collection_builders.sources import prepare


def digest_tree(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def records(config, data_dir, **options):
    prepared = prepare(config, data_dir, options)
    return [r for items in prepared.splits.values() for r in iter_split(prepared.source, items)]


def check_export_against_records(out, name, expected, class_names=("nucleus",)):
    """pycocotools loads the JSON; per image, mask_util.decode(segments) is exactly our masks."""
    api = COCO(str(out / "annotations" / f"{name}.json"))
    assert sorted(api.getImgIds()) == list(range(1, len(expected) + 1))
    assert [c["name"] for c in api.loadCats(api.getCatIds())] == list(class_names)
    n_objects = sum(len(r["objects"]) for r in expected)
    assert sorted(api.getAnnIds()) == list(range(1, n_objects + 1))  # unique, 1..N
    for number, record in enumerate(expected, start=1):
        (image,) = api.loadImgs(number)
        assert image["file_name"] == f"{record['image_id']}.png"
        assert (image["height"], image["width"]) == (record["height"], record["width"])
        assert image["nuclei_class"] == record["metadata"]["nuclei_class"]
        assert (out / name / image["file_name"]).read_bytes() == record["image"]["bytes"]
        annotations = api.loadAnns(api.getAnnIds(imgIds=[number]))
        assert len(annotations) == len(record["objects"])
        if not annotations:
            continue
        segments = [a["segmentation"] for a in annotations]
        masks = mask_util.decode(segments)  # the seed's snippet: (h, w, n)
        assert np.array_equal(np.moveaxis(masks, 2, 0).astype(bool), decode_masks(record["objects"]))
        for annotation, obj in zip(annotations, record["objects"]):
            assert annotation["area"] == obj["area"] == int(mask_util.area(annotation["segmentation"]))
            assert annotation["bbox"] == obj["bbox"]
            assert annotation["category_id"] == obj["category"] + 1
            assert annotation["iscrowd"] == int(obj["iscrowd"])


def test_real_stage1_train_export_is_exact_against_mask_pngs(tmp_path):
    data = realdata_path("dsb2018")
    result = export_coco("nuclei_stage1_train", tmp_path / "coco", data_dir=data)
    assert (result.images, result.annotations, result.splits) == (7, 205, {"train": 7})
    expected = records("nuclei_stage1_train", data)
    check_export_against_records(tmp_path / "coco", "nuclei_stage1_train", expected)
    # ... and the upstream mask PNGs, pixel for pixel
    api = COCO(str(result.json_path))
    for image in api.loadImgs(api.getImgIds()):
        image_id = image["file_name"][: -len(".png")]
        mask_files = sorted((data / "stage1_train" / image_id / "masks").glob("*.png"))
        decoded = mask_util.decode([a["segmentation"] for a in api.loadAnns(api.getAnnIds(imgIds=[image["id"]]))])
        upstream = np.stack([np.array(Image.open(p)) > 0 for p in mask_files], axis=2)
        assert np.array_equal(decoded.astype(bool), upstream)


def test_round_trip_is_byte_identical_for_stage2_and_overlaps(tmp_path, synthetic_dsb):
    write_stage_test(tmp_path / "raw2", "stage2_test_final", "stage2_solution_final.csv", 6, 4, "Private", n_ignored=2)
    for config, data_dir in (("nuclei_stage_2_test", tmp_path / "raw2"), ("nuclei_stage1_train", synthetic_dsb)):
        first = export_coco(config, tmp_path / "first", data_dir=data_dir)
        check_export_against_records(tmp_path / "first", config, records(config, data_dir))
        second = export_coco(
            "coco", tmp_path / "second", data_dir=tmp_path / "first", options={"json": first.json_path}, name=config
        )
        assert (second.images, second.annotations, second.splits) == (first.images, first.annotations, first.splits)
    assert digest_tree(tmp_path / "first") == digest_tree(tmp_path / "second")
    imported = records("coco", tmp_path / "first", json="annotations/nuclei_stage_2_test.json")
    assert [r["metadata"] for r in imported] == [
        r["metadata"] for r in records("nuclei_stage_2_test", tmp_path / "raw2")
    ]
    assert sum(r["metadata"]["annotation"] == "none" for r in imported) == 2


def test_coco_import_export_name_and_json_discovery(tmp_path, synthetic_dsb):
    export_coco("nuclei_stage_1_local_val_split", tmp_path / "c", data_dir=synthetic_dsb)
    prepared = prepare("coco", tmp_path / "c")  # the only JSON in c/annotations
    assert prepared.name == "coco_nuclei_stage_1_local_val_split"
    assert list(prepared.splits) == ["validation"]
    export_coco("nuclei_stage1_train", tmp_path / "c", data_dir=synthetic_dsb)
    with pytest.raises(MissingDataError, match="2 JSONs"):
        prepare("coco", tmp_path / "c")
    # data_dir = the image folder itself
    image_dir = prepare(
        "coco", tmp_path / "c" / "nuclei_stage1_train", {"json": tmp_path / "c/annotations/nuclei_stage1_train.json"}
    )
    assert image_dir.root == tmp_path / "c" / "nuclei_stage1_train"


def test_parquet_export_read_back_gives_the_same_coco_files(tmp_path, synthetic_dsb):
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=tmp_path / "parquet")
    (shard,) = sorted((tmp_path / "parquet" / "nuclei_stage1_train").glob("*.parquet"))
    from_parquet = pq.read_table(shard).to_pylist()
    write_coco("nuclei_stage1_train", {"train": from_parquet}, tmp_path / "a")
    export_coco("nuclei_stage1_train", tmp_path / "b", data_dir=synthetic_dsb)
    assert digest_tree(tmp_path / "a") == digest_tree(tmp_path / "b")


def _nd_style_collection(root):
    """A JSON + JPEG folder shaped like the original NucleiDetectron files (ids from 0, 'Nucleus')."""
    rng = np.random.default_rng(1)
    images_dir = root / "stage_1_train"
    images_dir.mkdir(parents=True)
    masks = np.zeros((3, 24, 32), bool)
    masks[0, 2:8, 3:9] = True
    masks[1, 10:20, 12:30] = True
    masks[2, 15:23, 0:6] = True
    pixels = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(images_dir / "abc.jpg", quality=90)
    rles = [mask_util.encode(np.asfortranarray(m.astype(np.uint8))) for m in masks]
    compressed = {"size": rles[0]["size"], "counts": rles[0]["counts"].decode()}
    polygon = [[12.0, 10.0, 29.0, 10.0, 29.0, 19.0, 12.0, 19.0]]  # pixel centres of mask 1's corners
    column_major = masks[2].T.reshape(-1).astype(int)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], column_major, [2]))) != 0)
    uncompressed = {"size": [24, 32], "counts": np.diff(np.concatenate(([0], edges))).tolist()}
    document = {
        "images": [{"id": 0, "file_name": "abc.jpg", "height": 24, "width": 32, "nuclei_class": "purple_white_32_24"}],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 1, "segmentation": compressed, "iscrowd": 0},
            {"id": 1, "image_id": 0, "category_id": 1, "segmentation": polygon, "iscrowd": 0},
            {"id": 2, "image_id": 0, "category_id": 1, "segmentation": uncompressed, "iscrowd": 1},
        ],
        "categories": [{"id": 1, "name": "Nucleus"}],
    }
    (root / "annotations").mkdir()
    (root / "annotations" / "stage1_train.json").write_text(json.dumps(document))
    return images_dir, masks, np.asarray(Image.open(images_dir / "abc.jpg"))


def test_import_of_original_collection_style_json(tmp_path):
    images_dir, masks, pixels = _nd_style_collection(tmp_path)
    (record,) = records("coco", images_dir, json=tmp_path / "annotations" / "stage1_train.json")
    assert record["image_id"] == "abc"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(record["image"]["bytes"]))), pixels)  # lossless PNG
    decoded = decode_masks(record["objects"])
    assert np.array_equal(decoded[0], masks[0]) and np.array_equal(decoded[2], masks[2])
    polygon_reference = mask_util.decode(
        mask_util.merge(mask_util.frPyObjects([[12.0, 10.0, 29.0, 10.0, 29.0, 19.0, 12.0, 19.0]], 24, 32))
    )
    assert np.array_equal(decoded[1], polygon_reference.astype(bool))
    assert [o["iscrowd"] for o in record["objects"]] == [False, False, True]
    assert {o["category"] for o in record["objects"]} == {0}  # the JSON's one category, "nucleus"
    metadata = record["metadata"]
    assert metadata["nuclei_class"] == "purple_white_32_24" and metadata["license"] is None
    assert metadata["source"] == "COCO import (stage1_train.json)"


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["images"][0].update(width=31), "the JSON says 31x24"),
        (lambda d: d["categories"][0].update(name="Cell"), "category 'Cell' is none of"),
        (lambda d: d["annotations"][0].update(image_id=7), "refer to image ids not in 'images'"),
        (lambda d: d["annotations"][0]["segmentation"].update(size=[10, 10]), "RLE size"),
        (lambda d: d["annotations"][0]["segmentation"].update(counts="zz"), "annotation 0: RLE counts"),
        (lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"]), "annotation id .* occurs twice"),
        (lambda d: d["images"].append(dict(d["images"][0])), "image id .* occurs twice"),
    ],
)
def test_bad_coco_input_is_named(tmp_path, edit, message):
    images_dir, _, _ = _nd_style_collection(tmp_path)
    json_path = tmp_path / "annotations" / "stage1_train.json"
    document = json.loads(json_path.read_text())
    edit(document)
    json_path.write_text(json.dumps(document))
    with pytest.raises(BadInputError, match=message) as error:
        records("coco", images_dir, json=json_path)
    assert "stage1_train.json" in str(error.value)


def test_export_is_atomic_and_never_replaces_foreign_folders(tmp_path, synthetic_dsb, monkeypatch):
    out = tmp_path / "coco"
    export_coco("nuclei_stage1_train", out, data_dir=synthetic_dsb)
    before = digest_tree(out)

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(coco_module, "_annotation", explode)
    with pytest.raises(OSError, match="disk full"):
        export_coco("nuclei_stage1_train", out, data_dir=synthetic_dsb)
    assert digest_tree(out) == before and not list(out.glob(".staging-*"))
    monkeypatch.undo()
    # a parquet export folder of the same name is not a COCO export: refuse, touch nothing
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=tmp_path / "mixed")
    with pytest.raises(NucleiCollectionError, match="not a COCO export"):
        export_coco("nuclei_stage1_train", tmp_path / "mixed", data_dir=synthetic_dsb)
    assert list((tmp_path / "mixed" / "nuclei_stage1_train").glob("*.parquet"))


def test_cli_export_coco(tmp_path, synthetic_dsb, capsys):
    code = main(["export-coco", "nuclei_stage1_train", "--data-dir", str(synthetic_dsb), "--out", str(tmp_path / "c")])
    assert code == 0
    out = capsys.readouterr().out
    assert "nuclei_stage1_train: 12 images (train: 12)" in out
    assert COCO(str(tmp_path / "c" / "annotations" / "nuclei_stage1_train.json")).getImgIds()
    code = main(["export-coco", "coco", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "d")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("image_id", ["", "../x", "a//b", "a/./b", "/abs", "a\\b", "a/.."])
def test_image_ids_that_escape_the_folder_are_refused(image_id):
    with pytest.raises(NucleiCollectionError, match="cannot be used as a file name"):
        image_file_name(image_id)
    assert image_file_name("gnf/dna-1") == "gnf/dna-1.png"


def test_export_name_must_be_a_plain_folder_name(tmp_path):
    with pytest.raises(NucleiCollectionError, match="export name"):
        write_coco("../elsewhere", {"train": []}, tmp_path)
    assert not list(tmp_path.iterdir())


def crowded_record(n_nuclei: int, size: int = 240) -> dict:
    """One record of ``n_nuclei`` separate 4x4 squares (more than COCOeval's default 100 detections)."""
    from nuclei_collection_builders.base import Sample
    from nuclei_collection_builders.schema import record_for

    label_map = np.zeros((size, size), dtype=np.int32)
    for k in range(n_nuclei):
        y, x = divmod(k, size // 8)
        label_map[y * 8 : y * 8 + 4, x * 8 : x * 8 + 4] = k + 1
    image = np.full((size, size), 40, dtype=np.uint8)
    sample = Sample(image_id="crowded", image=image, label_map=label_map, metadata={"annotation": "complete"})
    return record_for("instance", sample, ("nucleus",))


def coco_eval_code() -> str:
    """The ```python block of docs/coco.md that sets maxDets (the lines users copy)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "coco.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    (block,) = [b for b in blocks if "E.params.maxDets = [1, 10, max_nuclei]" in b]
    return block


def test_info_carries_max_nuclei_and_documented_max_dets_score_ground_truth_as_perfect(tmp_path, monkeypatch):
    result = write_coco("crowded", {"train": [crowded_record(150), crowded_record(20) | {"image_id": "few"}]}, tmp_path)
    document = json.loads(result.json_path.read_text())
    assert document["info"]["max_nuclei_per_image"] == 150 == result.max_nuclei_per_image
    detections = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"], "score": 1.0}
        for a in document["annotations"]
    ]
    (tmp_path / "predictions.json").write_text(json.dumps(detections))

    # With COCOeval's defaults the ground truth against itself is far from perfect ...
    from pycocotools.cocoeval import COCOeval

    ground_truth = COCO(str(result.json_path))
    default = COCOeval(ground_truth, ground_truth.loadRes(str(tmp_path / "predictions.json")), "segm")
    default.evaluate()
    default.accumulate()
    default.summarize()
    assert default.stats[0] < 0.8
    # ... and with the documented lines (run as written in docs/coco.md) it is exactly 1.
    code = coco_eval_code().replace("Nuclei/annotations/BBBC006.json", str(result.json_path))
    code = code.replace('"predictions.json"', repr(str(tmp_path / "predictions.json")))
    namespace: dict = {}
    exec(compile(code, "docs/coco.md", "exec"), namespace)
    assert namespace["E"].params.maxDets == [1, 10, 150]
    assert namespace["ap"] == 1.0 and namespace["E"].stats[1] == 1.0
