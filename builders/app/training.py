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
from ..base import NucleiCollectionError, logger
from ..exporters.build import load_reports
from ..views.taxonomy import harmonise


def decode_instances(record: Mapping[str, Any]) -> dict[str, Any]:
    """numpy arrays for one instance record (decoded image, RLE objects).

    Returns ``image`` (h, w, c) in the stored dtype (uint8, or uint16 for 16-bit sources),
    ``masks`` (n, h, w) bool with overlaps kept, ``labels`` (n,) int64 category indices
    into the dataset's ClassLabel (``features["objects"].feature["category"].names``: the
    config's own classes, or a taxonomy's after ``harmonise``; add 1 for torchvision
    detection models, where 0 means background), ``boxes`` (n, 4) float32 as [x0, y0, x1, y1], ``area``
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


def lineage(reports: Mapping[str, Mapping[str, Any]], name: str) -> list[str]:
    """``name``, the config it re-uses the images of, that one's, ... (as far as the reports say)."""
    chain = [name]
    parent = parent_config(reports[name]) if name in reports else None
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = parent_config(reports[parent]) if parent in reports else None
    return chain


def _declared_overlaps(reports: Mapping[str, Mapping[str, Any]], name: str) -> set[str]:
    """Configs ``name`` (or a config it re-uses the images of) declares ``overlaps`` with."""
    return {other for member in lineage(reports, name) for other in (reports.get(member) or {}).get("overlaps", ())}


def share_tissue(reports: Mapping[str, Mapping[str, Any]], first: str, second: str) -> bool:
    """Whether either config declares an overlap with the other (or with a config the other
    re-uses the images of: ``PanNuke_fold1`` is ``PanNuke``, a view is its config)."""
    return bool(
        _declared_overlaps(reports, first) & set(lineage(reports, second))
        or _declared_overlaps(reports, second) & set(lineage(reports, first))
    )


def mix_splits(
    reports: Mapping[str, Mapping[str, Any]], split: str = "train", folds: Mapping[str, str | Sequence[str]] | None = None
) -> dict[str, tuple[str, ...]]:
    """Instance config -> the splits of it that count as training (``split``) in a mix.

    ``folds`` maps a config to the split name(s) to take from it instead of ``split``, so
    configs without that split join: ``{"Lizard": ["fold1", "fold2"], "PanNuke": ["train",
    "validation"]}``. A config mapped to no split (``[]``) is left out. Every other
    instance config takes ``split`` if it has it.
    """
    folds = dict(folds or {})
    unknown = sorted(set(folds) - set(reports))
    if unknown:
        raise NucleiCollectionError(f"folds names config(s) {unknown} that are not in the collection")
    chosen: dict[str, tuple[str, ...]] = {}
    for name, report in reports.items():
        if name in folds:
            wanted = (folds[name],) if isinstance(folds[name], str) else tuple(folds[name])
            if report["source"]["kind"] != "instance":
                raise NucleiCollectionError(f"folds: {name!r} is a {report['source']['kind']} config, not an instance one")
            absent = [s for s in wanted if s not in report["splits"]]
            if absent:
                raise NucleiCollectionError(f"folds: config {name!r} has no split(s) {absent}; it has {list(report['splits'])}")
            if wanted:
                chosen[name] = wanted
        elif report["source"]["kind"] == "instance" and split in report["splits"]:
            chosen[name] = (split,)
    return chosen


def mix_size(report: Mapping[str, Any], splits: Sequence[str]) -> tuple[int, int]:
    """(nuclei, records) a config brings to a mix from ``splits``, from its build report."""
    stats = [report["splits"][split] for split in splits]
    return sum(int(s.get("objects", 0)) for s in stats), sum(int(s.get("records", 0)) for s in stats)


def combinable_configs(
    reports: Mapping[str, Mapping[str, Any]], split: str = "train", folds: Mapping[str, str | Sequence[str]] | None = None
) -> list[str]:
    """Instance configs of a training mix (those of :func:`mix_splits`), no tissue twice.

    * A config that re-uses the images of a config that is present (the DSB local splits
      or the csv-labels variant of ``nuclei_stage1_train``, a PanNuke fold next to
      ``PanNuke``, a tiled or rescaled view next to its config) is left out.
    * Of two configs that share tissue (``overlaps`` declared by either side: Lizard
      re-cuts CoNSeP and PanNuke images, BBBC039 fields are DSB2018 images), the LARGER
      one is kept: more nuclei in the splits the mix takes (build report ``objects``), then
      more records, then name order. Nuclei rather than records, so a tiled view of
      the smaller set does not outweigh the whole larger one. Checked greedily from the
      largest config down, so the result does not depend on which side declared it.
    """
    chosen = mix_splits(reports, split, folds)
    present = {name for name in chosen if parent_config(reports[name]) not in chosen}
    for name in sorted(set(chosen) - present):
        logger.info("all_nuclei: %s left out: its images are in %s", name, parent_config(reports[name]))

    def largest_first(name: str) -> tuple[int, int, str]:
        nuclei, records = mix_size(reports[name], chosen[name])
        return -nuclei, -records, name

    kept: list[str] = []
    for name in sorted(present, key=largest_first):
        partner = next((other for other in kept if share_tissue(reports, name, other)), None)
        if partner is None:
            kept.append(name)
        else:
            logger.info("all_nuclei: %s left out: it shares tissue with the larger %s", name, partner)
    return sorted(kept)


def category_names(dataset: Any) -> tuple[str, ...] | None:
    """The class names of a loaded instance dataset's ``objects.category`` ClassLabel (None if unknown)."""
    try:
        return tuple(dataset.features["objects"].feature["category"].names)
    except (AttributeError, KeyError, TypeError):
        return None


def _check_same_classes(labels: Mapping[str, tuple[str, ...] | None]) -> None:
    """Interleaving needs one ClassLabel: configs whose classes differ must be harmonised first."""
    if len(set(labels.values())) <= 1 and None not in labels.values():
        return
    listed = "; ".join(f"{name}: {', '.join(names) if names else 'unknown'}" for name, names in labels.items())
    raise NucleiCollectionError(
        "the configs of this mix have different category ClassLabels (categories are per config), so their "
        f"records cannot be interleaved as they are ({listed}). Pass taxonomy=\"binary\" (every nucleus one class) "
        "or taxonomy=\"pannuke\" (PanNuke's classes, untyped nuclei 'unclassified') to map them onto one shared "
        "ClassLabel first (harmonise, docs/views.md), or choose configs with the same classes"
    )


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
    folds: Mapping[str, str | Sequence[str]] | None = None,
):
    """Every instance config of a collection interleaved into one dataset.

    * ``configs``: default :func:`combinable_configs` (instance configs that have
      ``split`` or are named in ``folds``, minus subsets of configs already included and
      the smaller of two configs that share tissue).
    * ``folds``: config -> the split name(s) of that config to take instead of ``split``,
      for configs whose splits are folds: ``{"Lizard": ["fold1", "fold2"]}``,
      ``{"PanNuke": ["train", "validation"]}``; ``{"PanNuke_fold3": []}`` leaves a config
      out. Applies to ``configs`` given explicitly too.
    * ``probabilities``: ``"size"`` (default) samples each config in proportion to its
      number of images in the splits taken, so all configs run out at about the same time
      and the mix matches plain concatenation; ``None`` alternates one record per part
      (config split) in turn; or one weight per config (normalised here; a config with
      several splits shares its weight among them by their sizes).
    * ``seed``: drives the choice of source at each step (same seed, same order).
    * ``stopping_strategy``: ``"all_exhausted_without_replacement"`` (default) yields every
      record of every config exactly once per epoch; ``"first_exhausted"`` stops at the
      first config that runs out (drops data), ``"all_exhausted"`` restarts configs that run
      out until all have been seen (repeats data). In DataLoader workers and across nodes
      the strategy applies per process, on that process's shards.
    * ``taxonomy``: ``"binary"`` or ``"pannuke"`` maps every config's categories onto that
      shared taxonomy (:func:`taxonomy.harmonise`, docs/views.md). None keeps each
      config's own ClassLabel, which works only when all the mixed configs have the same
      classes; otherwise a :class:`NucleiCollectionError` says to pass a taxonomy.
    """
    from datasets import interleave_datasets, load_dataset

    reports = collection_reports(path, revision)
    if configs is None:
        chosen = mix_splits(reports, split, folds)
        names = combinable_configs(reports, split, folds)
    else:
        names = list(configs)
        unknown = [name for name in names if name not in reports]
        if unknown:
            raise NucleiCollectionError(f"{path}: config(s) {unknown} are not in the collection")
        from_folds = mix_splits(reports, split, folds)  # also checks every entry of folds
        chosen = {name: from_folds.get(name, ()) if name in (folds or {}) else (split,) for name in names}
        missing = [name for name in names if not set(chosen[name]) <= set(reports[name]["splits"])]
        if missing:
            raise NucleiCollectionError(f"{path}: config(s) {missing} have no split {split!r} (pass folds= to name theirs)")
    names = [name for name in names if chosen.get(name)]
    if not names:
        raise NucleiCollectionError(f"{path}: no instance config with split {split!r} to interleave (folds= names others)")
    parts_of = [(name, part_split) for name in names for part_split in chosen[name]]
    parts = [load_dataset(str(path), name, split=s, streaming=streaming, revision=revision) for name, s in parts_of]
    if taxonomy is not None:
        parts = [harmonise(part, taxonomy) for part in parts]
    elif len(parts) > 1:
        _check_same_classes({name: category_names(part) for (name, _), part in zip(parts_of, parts)})
    sizes = np.array([reports[name]["splits"][s]["records"] for name, s in parts_of], dtype=np.float64)
    if probabilities == "size":
        weights: list[float] | None = list(sizes / sizes.sum())
    elif probabilities is None:
        weights = None
    else:
        given = np.asarray(probabilities, dtype=np.float64)
        if given.ndim != 1 or len(given) != len(names) or (given < 0).any() or given.sum() <= 0:
            raise ValueError(f"probabilities must be {len(names)} non-negative weights for {names}")
        per_config = dict(zip(names, given / given.sum()))
        config_records = {name: sum(reports[name]["splits"][s]["records"] for s in chosen[name]) for name in names}
        weights = [per_config[name] * size / config_records[name] for (name, _), size in zip(parts_of, sizes)]
    if len(parts) == 1:
        return parts[0]
    return interleave_datasets(parts, probabilities=weights, seed=seed, stopping_strategy=stopping_strategy)
