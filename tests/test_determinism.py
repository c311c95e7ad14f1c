"""Same raw input -> byte-identical export, across processes, hash seeds, listing orders and --num-proc.

"Another machine" is simulated by what differs between machines and can change output:
the hash seed (PYTHONHASHSEED), the order in which the file system lists a folder (the raw
tree is copied file by file in reverse order), the absolute location of the raw data and of
the output, and the number of reader processes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from fixtures.histology import write_monuseg
from fixtures.isbi2009 import write_isbi2009
from fixtures.pannuke import write_fold
from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

CONFIGS = {
    "nuclei_stage_1_local_val_split": lambda root: write_dsb2018_stage1_train(root / "stage1_train", 9, seed=3),
    "2009_ISBI_2DNuclei": write_isbi2009,
    "nucleisegmentationbenchmark": write_monuseg,
    "PanNuke_fold1": lambda root: write_fold(root, 1, 4, "warwick", seed=2),
}

BUILD = """
import sys
from nuclei_collection import build
for config, data_dir in zip(sys.argv[3::2], sys.argv[4::2]):
    build(config, data_dir=data_dir, out=sys.argv[1], num_proc=int(sys.argv[2]))
"""


def copy_in_reverse_order(source: Path, target: Path) -> None:
    """Copy a tree creating entries in reverse name order (a different directory order on disk)."""
    for path in sorted(source.rglob("*"), reverse=True):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)


def run_build(out: Path, num_proc: int, data_dirs: dict[str, Path], hash_seed: str) -> None:
    argv = [str(out), str(num_proc)]
    for config, data_dir in data_dirs.items():
        argv += [config, str(data_dir)]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", BUILD, *argv], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_export_is_byte_identical_across_processes_orders_and_num_proc(tmp_path):
    first, second = {}, {}
    for config, write in CONFIGS.items():
        raw = tmp_path / "machine_a" / config
        raw.mkdir(parents=True)
        write(raw)
        first[config] = raw
        second[config] = tmp_path / "elsewhere" / "machine_b" / config
        copy_in_reverse_order(raw, second[config])
    run_build(tmp_path / "out_a", 1, first, hash_seed="1")
    run_build(tmp_path / "b" / "out_b", 2, second, hash_seed="2")
    a, b = digests(tmp_path / "out_a"), digests(tmp_path / "b" / "out_b")
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
    assert sum(name.endswith(".parquet") for name in a) >= len(CONFIGS)
