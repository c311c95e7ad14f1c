"""``nuclei-collection demo``: the whole pipeline on synthetic DSB2018-layout data, offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..exporters.build import build
from ..exporters.preview import contact_sheet, record_overlay
from .synthetic import write_dsb2018_stage1_train

DEMO_CONFIGS = ("nuclei_stage1_train", "nuclei_stage_1_local_train_split", "nuclei_stage_1_local_val_split")


def run(
    out: Path | str = "nuclei_collection",
    raw: Path | str = "nuclei_collection_demo_raw",
    preview: Path | str = "nuclei_collection_preview.png",
    n_images: int = 12,
    seed: int = 0,
    num_proc: int = 1,
) -> list[dict]:
    """Generate raw data, build the DSB configs, load them back with ``load_dataset``.

    Returns one summary row per (config, split); writes an overlay preview PNG.
    """
    from datasets import load_dataset

    out, raw = Path(out).resolve(), Path(raw).resolve()
    stage1 = raw / "stage1_train"
    if stage1.exists():
        shutil.rmtree(stage1)
    write_dsb2018_stage1_train(stage1, n_images=n_images, seed=seed)
    print(f"synthetic raw data (DSB2018 stage1_train layout): {stage1}")
    build(DEMO_CONFIGS, data_dir=raw, out=out, num_proc=num_proc)

    rows = []
    tiles = []
    # load_dataset as a user would: from the export's parent folder, by folder name.
    previous = Path.cwd()
    os.chdir(out.parent)
    try:
        for config in DEMO_CONFIGS:
            for split, dataset in load_dataset(out.name, config).items():
                objects = [len(r) for r in dataset["objects"]]
                modalities = sorted({m["modality"] for m in dataset["metadata"]})
                rows.append(
                    {
                        "config": config,
                        "split": split,
                        "images": len(dataset),
                        "nuclei": sum(objects),
                        "nuclei/image": round(sum(objects) / max(len(dataset), 1), 1),
                        "modalities": ",".join(modalities),
                    }
                )
                if config == DEMO_CONFIGS[0]:
                    tiles = [record_overlay(r) for r in dataset.select(range(min(6, len(dataset))))]
    finally:
        os.chdir(previous)
    preview = Path(preview)
    contact_sheet(tiles, columns=3).save(preview)
    print_table(rows)
    print(f"\nexport: {out}  (load_dataset({out.name!r}, CONFIG) from {out.parent})")
    print(f"preview: {preview.resolve()}")
    return rows


def print_table(rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("\n" + "  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))
