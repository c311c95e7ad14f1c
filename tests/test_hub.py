"""push_to_hub against an in-memory Hub (tests/fixtures/fake_hub.py): what one commit holds,
idempotent and resumable re-pushes, single-config pushes, and the pushed layout loading."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import yaml
from datasets import load_dataset

import nuclei_collection_builders.exporters.hub as hub_module
from fixtures.fake_hub import FakeHfApi, FakeHub, SimulatedNetworkError, is_lfs
from nuclei_collection import build, decode_masks, main, push_to_hub
from nuclei_collection_builders.base import NucleiCollectionError
from nuclei_collection_builders.exporters.build import load_reports

CONFIGS = ["nuclei_stage1_train", "nuclei_stage_1_local_train_split", "nuclei_stage_1_local_val_split"]
REPO = "org/nuclei_collection"


def export_files(out):
    """What a push must put in the repo: the export's files minus staging leftovers."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and ".staging" not in p.as_posix()
    }


def yaml_header(readme: bytes):
    return yaml.safe_load(readme.decode().split("---")[1])


@pytest.fixture(scope="module")
def exported(synthetic_dsb, tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "nuclei_collection"
    build(CONFIGS, data_dir=synthetic_dsb, out=out, num_shards=3)
    return out


@pytest.fixture
def hub(tmp_path):
    return FakeHub(tmp_path / "downloads")


def test_push_puts_every_config_in_one_commit(exported, hub):
    result = push_to_hub(exported, REPO, api=hub.api())

    commits = hub.commits(REPO)
    assert len(commits) == 2  # the repo's initial commit + exactly one push commit
    assert result.commit_oid == commits[-1].oid
    files = hub.files(REPO)
    expected = export_files(exported)
    assert {p: d for p, d in files.items() if p != ".gitattributes"} == expected
    for config in CONFIGS:
        shards = sorted(p for p in files if p.startswith(f"{config}/"))
        split = next(iter(load_reports(exported)[config]["splits"]))
        assert shards == [f"{config}/{split}-{i:05d}-of-00003.parquet" for i in range(3)]
    header = yaml_header(files["README.md"])
    assert [c["config_name"] for c in header["configs"]] == CONFIGS
    assert [i["config_name"] for i in header["dataset_info"]] == CONFIGS
    assert files["README.md"] == (exported / "README.md").read_bytes()  # all configs pushed: same card
    # large files went through the LFS preupload, before the one commit
    lfs = [p for p in expected if is_lfs(p)]
    assert hub.uploaded_files == len(lfs) == 3 * 3 + 3  # 9 shards + 3 previews
    assert hub.uploaded_bytes == sum(len(expected[p]) for p in lfs)
    assert hub.calls.index("preupload_lfs_files") < hub.calls.index("create_commit")
    assert hub.calls.count("create_commit") == 1


def test_repush_uploads_nothing_and_makes_no_commit(exported, hub):
    push_to_hub(exported, REPO, api=hub.api())
    sent = hub.uploaded_bytes
    result = push_to_hub(exported, REPO, api=hub.api())
    assert result.commit_oid is None and result.plan.is_empty
    assert len(result.plan.unchanged) == len(export_files(exported))
    assert len(hub.commits(REPO)) == 2
    assert hub.uploaded_bytes == sent


def test_repush_of_a_resharded_config_leaves_no_orphan_shard(exported, synthetic_dsb, hub, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(exported, out)
    push_to_hub(out, REPO, api=hub.api())
    before = dict(hub.files(REPO))
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=out, num_shards=2)

    push_to_hub(out, REPO, api=hub.api())
    commit = hub.commits(REPO)[-1]
    assert len(hub.commits(REPO)) == 3
    assert sorted(commit.deleted) == [f"nuclei_stage1_train/train-{i:05d}-of-00003.parquet" for i in range(3)]
    files = hub.files(REPO)
    assert sorted(p for p in files if p.startswith("nuclei_stage1_train/")) == [
        f"nuclei_stage1_train/train-{i:05d}-of-00002.parquet" for i in range(2)
    ]
    # only what changed was sent: new shards, report, README (same preview: same first images)
    assert sorted(commit.added) == [
        ".nuclei_collection/nuclei_stage1_train.json",
        "README.md",
        "nuclei_stage1_train/train-00000-of-00002.parquet",
        "nuclei_stage1_train/train-00001-of-00002.parquet",
    ]
    for path, data in before.items():
        if not path.startswith("nuclei_stage1_train") and path not in (
            "README.md",
            ".nuclei_collection/nuclei_stage1_train.json",
        ):
            assert files[path] == data, path
    assert len(load_dataset(str(hub.materialize(REPO, tmp_path / "pushed")), "nuclei_stage1_train")["train"]) == 12


def test_single_config_push_keeps_the_others_in_the_card(exported, synthetic_dsb, hub, tmp_path):
    push_to_hub(exported, REPO, configs=["nuclei_stage_1_local_val_split"], api=hub.api())
    assert yaml_header(hub.files(REPO)["README.md"])["configs"][0]["config_name"] == "nuclei_stage_1_local_val_split"
    assert not [p for p in hub.files(REPO) if p.startswith("nuclei_stage1_train")]

    # another machine exports only nuclei_stage1_train and pushes it
    other = tmp_path / "other"
    build("nuclei_stage1_train", data_dir=synthetic_dsb, out=other, num_shards=2)
    push_to_hub(other, REPO, configs=["nuclei_stage1_train"], api=hub.api())

    files = hub.files(REPO)
    header = yaml_header(files["README.md"])
    assert [c["config_name"] for c in header["configs"]] == ["nuclei_stage1_train", "nuclei_stage_1_local_val_split"]
    readme = files["README.md"].decode()
    assert "previews/nuclei_stage_1_local_val_split.png" in readme and "previews/nuclei_stage1_train.png" in readme
    val_files = {p: d for p, d in export_files(exported).items() if "local_val" in p}
    assert all(files[p] == d for p, d in val_files.items())
    pushed = hub.materialize(REPO, tmp_path / "pushed")
    assert len(load_dataset(str(pushed), "nuclei_stage_1_local_val_split", split="validation")) == 3
    assert len(load_dataset(str(pushed), "nuclei_stage1_train", split="train")) == 12


def test_interrupted_push_resumes_without_resending(exported, hub):
    hub.fail_after_uploads = 4
    with pytest.raises(SimulatedNetworkError):
        push_to_hub(exported, REPO, api=hub.api())
    assert len(hub.commits(REPO)) == 1  # nothing committed: the repo still looks as before
    first_run = hub.uploaded_bytes

    hub.fail_after_uploads = None
    push_to_hub(exported, REPO, api=hub.api())
    expected = export_files(exported)
    lfs_bytes = sum(len(d) for p, d in expected.items() if is_lfs(p))
    assert hub.uploaded_files == 12 and hub.uploaded_bytes == lfs_bytes  # every object sent exactly once
    assert 0 < first_run < lfs_bytes
    assert len(hub.commits(REPO)) == 2
    assert {p: d for p, d in hub.files(REPO).items() if p != ".gitattributes"} == expected


def test_pushed_layout_loads_per_config_and_streaming(exported, hub, tmp_path):
    push_to_hub(exported, REPO, api=hub.api())
    pushed = hub.materialize(REPO, tmp_path / "pushed")
    for config in CONFIGS:
        local = load_dataset(str(exported), config)
        remote = load_dataset(str(pushed), config)
        assert list(remote) == list(local)
        for split in remote:
            assert remote[split]["image_id"] == local[split]["image_id"]
            streamed = load_dataset(str(pushed), config, split=split, streaming=True)
            rows = list(streamed)
            assert [r["image_id"] for r in rows] == local[split]["image_id"]
            first = rows[0]
            assert decode_masks(first["objects"]).shape == (len(first["objects"]), first["height"], first["width"])
            assert np.array_equal(np.asarray(first["image"]), np.asarray(local[split][0]["image"]))


def test_push_to_a_branch_leaves_main_alone(exported, hub):
    result = push_to_hub(exported, REPO, configs=["nuclei_stage_1_local_val_split"], revision="dev", api=hub.api())
    assert result.commit_oid == hub.commits(REPO, "dev")[-1].oid
    assert sorted(hub.files(REPO)) == [".gitattributes"]
    assert "README.md" in hub.files(REPO, "dev")


def test_concurrent_push_is_refused_not_mixed(exported, hub):
    class RacingApi(FakeHfApi):
        def preupload_lfs_files(self, repo_id, additions, **kwargs):
            # someone else commits between our comparison and our commit
            push_to_hub(exported, repo_id, configs=["nuclei_stage_1_local_val_split"], api=hub.api())
            return super().preupload_lfs_files(repo_id, additions, **kwargs)

    with pytest.raises(RuntimeError, match="412"):
        push_to_hub(exported, REPO, api=RacingApi(hub))
    assert len(hub.commits(REPO)) == 2  # initial + the other push only
    assert not [p for p in hub.files(REPO) if p.startswith("nuclei_stage1_train/")]


def test_damaged_export_is_refused(exported, hub, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(exported, out)
    (out / "nuclei_stage1_train" / "train-00001-of-00003.parquet").unlink()
    with pytest.raises(NucleiCollectionError, match="train-00001-of-00003.parquet: shard listed"):
        push_to_hub(out, REPO, api=hub.api())
    with pytest.raises(NucleiCollectionError, match="not exported here"):
        push_to_hub(out, REPO, configs=["BBBC999"], api=hub.api())
    assert "create_commit" not in hub.calls


def test_cli_push(exported, hub, monkeypatch, capsys):
    monkeypatch.setattr(hub_module, "HfApi", lambda token=None: hub.api(token))
    args = ["push", str(exported), "--repo-id", REPO, "--config", "nuclei_stage_1_local_val_split"]
    assert main([*args, "--dry-run"]) == 0
    assert "to upload" in capsys.readouterr().out
    assert REPO not in hub.repos  # a dry run creates nothing

    assert main([*args, "--private"]) == 0
    out = capsys.readouterr().out
    assert "committed: https://huggingface.co/datasets/org/nuclei_collection/commit/" in out
    assert hub.repos[REPO].private
    digest = hashlib.sha256(hub.files(REPO)["README.md"]).hexdigest()

    assert main(args) == 0
    assert "nothing changed: no commit made" in capsys.readouterr().out
    assert hashlib.sha256(hub.files(REPO)["README.md"]).hexdigest() == digest

    assert main(["push", str(exported), "--repo-id", REPO, "--config", "nope"]) == 2
    assert "not exported here" in capsys.readouterr().err
