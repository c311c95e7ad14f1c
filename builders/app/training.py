"""Training integration: stream an export, split it across nodes and DataLoader workers,
decode the RLE masks only when a batch is formed (see docs/training.md).

    stream = load_dataset(PATH, CONFIG, split="train", streaming=True)      # or all_nuclei(PATH)
    stream = split_dataset_by_node(stream.shuffle(seed=0, buffer_size=256), rank=rank, world_size=world)
    loader = instance_loader(stream, batch_size=8, num_workers=4)

The stream carries compressed RLE strings between processes (a few bytes per nucleus);
:func:`collate_instances` turns them into masks inside each worker, batch by batch, so no
decoded mask is ever stored or pickled. torch is optional (``pip install
"nuclei-collection[train]"``); everything except :func:`collate_instances` and
:func:`instance_loader` works without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import rle
from ..base import NucleiCollectionError
from ..exporters.build import load_reports
from ..views.taxonomy import harmonise


def decode_instances(record: Mapping[str, Any]) -> dict[str, Any]:
    """numpy arrays for one instance record (decoded image, RLE objects).

    Returns ``image`` (h, w, c) in the stored dtype (uint8, or uint16 for 16-bit sources),
    ``masks`` (n, h, w) bool with overlaps kept, ``labels`` (n,) int64 category indices
    into :data:`schema.CATEGORIES` (0 = nucleus; add 1 for torchvision detection models,
    where 0 means background), ``boxes`` (n, 4) float32 as [x0, y0, x1, y1], ``area``
    (n,) int64, ``iscrowd`` (n,) bool, and ``image_id``.
    """
    image = np.asarray(record["image"])
    if image.ndim == 2:
        image = image[..., None]
    height, width = int(record["height"]), int(record["width"])
    objects = record["objects"]
    masks = rle.decode_masks(objects) if objects else np.zeros((0, height, width), dtype=bool)
    boxes = np.array([obj["bbox"] for obj in objects], dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]  # COCO [x, y, w, h] -> [x0, y0, x1, y1]
    return {
        "image_id": record["image_id"],
        "image": image,
        "masks": masks,
        "labels": np.array([obj["category"] for obj in objects], dtype=np.int64),
        "boxes": boxes,
        "area": np.array([obj["area"] for obj in objects], dtype=np.int64),
        "iscrowd": np.array([obj["iscrowd"] for obj in objects], dtype=bool),
    }


def collate_instances(batch: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """DataLoader ``collate_fn``: decode a batch of records into torch tensors.

    Images differ in size, so the batch is a dict of lists (the torchvision detection
    convention): ``image_id`` (str), ``image`` (c, h, w) uint8/uint16 tensors, and
    ``target`` dicts with ``masks`` (n, h, w) bool, ``labels``, ``boxes``, ``area``,
    ``iscrowd`` as in :func:`decode_instances`.
    """
    import torch

    collated: dict[str, list[Any]] = {"image_id": [], "image": [], "target": []}
    for record in batch:
        decoded = decode_instances(record)
        collated["image_id"].append(decoded.pop("image_id"))
        image = np.ascontiguousarray(decoded.pop("image").transpose(2, 0, 1))
        collated["image"].append(torch.from_numpy(image))
        collated["target"].append({key: torch.from_numpy(value) for key, value in decoded.items()})
    return collated


def instance_loader(dataset: Any, batch_size: int = 1, num_workers: int = 0, **kwargs: Any):
    """A torch DataLoader over a (streaming) instance dataset with :func:`collate_instances`.

    An ``IterableDataset`` from ``load_dataset(..., streaming=True)`` hands each worker a
    disjoint set of shards, so ``num_workers`` should divide the number of shards the
    node gets (``dataset.num_shards``); idle workers are wasted, never duplicated.
    Extra keyword arguments go to ``torch.utils.data.DataLoader``.
    """
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_instances, **kwargs)


# --------------------------------------------------------------------------- all_nuclei


def collection_reports(path: str | Path, revision: str | None = None) -> dict[str, dict[str, Any]]:
    """Build reports of a collection: a local export folder, or a Hub repo id."""
    if Path(path).is_dir():
        return load_reports(path)
    from huggingface_hub import HfApi

    from ..exporters.hub import remote_reports

    return remote_reports(HfApi(), str(path), revision)


def parent_config(report: Mapping[str, Any]) -> str | None:
    """The config whose images this one re-uses: ``subset_of``, or the config a view was cut from."""
    return report.get("subset_of") or (report.get("view") or {}).get("of")


def combinable_configs(reports: Mapping[str, Mapping[str, Any]], split: str) -> list[str]:
    """Instance configs with ``split`` whose images are not also in another selected config.

    A config that re-uses the images of a config that is present (the DSB local splits or
    the csv-labels variant of ``nuclei_stage1_train``, a PanNuke fold of ``PanNuke``, a
    tiled or rescaled view of its config) is left out, and so is a config that declares
    ``overlaps`` with a present one (Lizard re-cuts CoNSeP and PanNuke images), so no
    tissue is seen twice per epoch.
    """
    candidates = {
        name for name, report in reports.items() if report["source"]["kind"] == "instance" and split in report["splits"]
    }
    kept = {name for name in candidates if parent_config(reports[name]) not in candidates}
    return sorted(name for name in kept if not set(reports[name].get("overlaps", ())) & kept)


def all_nuclei(
    path: str | Path,
    split: str = "train",
    configs: Sequence[str] | None = None,
    probabilities: str | Sequence[float] | None = "size",
    seed: int = 0,
    stopping_strategy: str = "all_exhausted_without_replacement",
    streaming: bool = True,
    taxonomy: str | None = None,
    revision: str | None = None,
):
    """Every instance config of a collection interleaved into one dataset.

    * ``configs``: default :func:`combinable_configs` (instance configs that have
      ``split``, minus subsets of configs already included).
    * ``probabilities``: ``"size"`` (default) samples each config in proportion to its
      number of images in ``split``, so all configs run out at about the same time and the
      mix matches plain concatenation; ``None`` alternates one record per config in turn;
      or one weight per config (normalised here) to up- or down-weight sources.
    * ``seed``: drives the choice of source at each step (same seed, same order).
    * ``stopping_strategy``: ``"all_exhausted_without_replacement"`` (default) yields every
      record of every config exactly once per epoch; ``"first_exhausted"`` stops at the
      first config that runs out (drops data), ``"all_exhausted"`` restarts configs that run
      out until all have been seen (repeats data). In DataLoader workers and across nodes
      the strategy applies per process, on that process's shards.
    * ``taxonomy``: ``"binary"`` or ``"pannuke"`` maps every config's categories onto that
      shared taxonomy (:func:`taxonomy.harmonise`, docs/views.md); None keeps the schema's
      categories, which are already shared by all instance configs.
    """
    from datasets import interleave_datasets, load_dataset

    reports = collection_reports(path, revision)
    names = combinable_configs(reports, split) if configs is None else list(configs)
    missing = [name for name in names if name not in reports or split not in reports[name]["splits"]]
    if not names or missing:
        raise NucleiCollectionError(
            f"{path}: no instance config with split {split!r} to interleave"
            if not names
            else f"{path}: config(s) {missing} have no split {split!r} (or are not in the collection)"
        )
    parts = [load_dataset(str(path), name, split=split, streaming=streaming, revision=revision) for name in names]
    if taxonomy is not None:
        parts = [harmonise(part, taxonomy) for part in parts]
    if probabilities == "size":
        sizes = np.array([reports[name]["splits"][split]["records"] for name in names], dtype=np.float64)
        weights: list[float] | None = list(sizes / sizes.sum())
    elif probabilities is None:
        weights = None
    else:
        given = np.asarray(probabilities, dtype=np.float64)
        if len(given) != len(names) or (given < 0).any() or given.sum() <= 0:
            raise ValueError(f"probabilities must be {len(names)} non-negative weights for {names}")
        weights = list(given / given.sum())
    if len(parts) == 1:
        return parts[0]
    return interleave_datasets(parts, probabilities=weights, seed=seed, stopping_strategy=stopping_strategy)
