"""nuclei-collection: public nucleus-segmentation data sets as one Hugging Face collection.

This module is deliberately thin: the config registry, the ``datasets`` builder, the
public API re-exports and the CLI entry point. Readers, the RLE codec, the schema and
the exporters live in the ``builders`` folder, installed as ``nuclei_collection_builders``.

    >>> from nuclei_collection import NucleiCollection
    >>> builder = NucleiCollection(config_name="nuclei_stage1_train", data_dir="raw/dsb2018")
    >>> builder.download_and_prepare()
    >>> ds = builder.as_dataset(split="train")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from nuclei_collection_builders import rle, schema
from nuclei_collection_builders.app.cli import main
from nuclei_collection_builders.app.training import all_nuclei, instance_loader
from nuclei_collection_builders.base import (
    BadInputError,
    MissingDataError,
    NucleiCollectionError,
    Sample,
    Source,
)
from nuclei_collection_builders.evaluation import EvaluationResult, evaluate
from nuclei_collection_builders.exporters.build import build
from nuclei_collection_builders.exporters.hub import push_to_hub
from nuclei_collection_builders.pipeline import features_for, input_fingerprint, iter_split
from nuclei_collection_builders.rle import decode_masks, decode_objects, encode_label_map, encode_masks
from nuclei_collection_builders.sources import CONFIG_SPECS, prepare
from nuclei_collection_builders.views import ViewSpec, apply_view
from nuclei_collection_builders.views.taxonomy import TAXONOMIES, harmonise

__version__ = "0.3.0"

__all__ = [
    "CONFIGS",
    "TAXONOMIES",
    "all_nuclei",
    "NucleiCollection",
    "NucleiCollectionConfig",
    "BadInputError",
    "MissingDataError",
    "NucleiCollectionError",
    "Sample",
    "Source",
    "ViewSpec",
    "build",
    "decode_masks",
    "decode_objects",
    "encode_label_map",
    "encode_masks",
    "evaluate",
    "EvaluationResult",
    "export",
    "harmonise",
    "instance_loader",
    "load",
    "main",
    "push_to_hub",
    "rle",
    "schema",
]


class NucleiCollectionConfig(datasets.BuilderConfig):
    """A named source config; ``options`` are reader options (e.g. ``{"labels": "csv"}``),
    ``view`` a training view (e.g. ``{"tile": 512}``, ``{"target_mpp": 0.5}``; docs/views.md)."""

    def __init__(
        self,
        *args: Any,
        options: dict[str, Any] | None = None,
        input_fingerprint: str | None = None,
        view: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.options = dict(options or {})
        self.input_fingerprint = input_fingerprint
        self.view = view


#: config name -> NucleiCollectionConfig, one per registered source config.
CONFIGS: dict[str, NucleiCollectionConfig] = {
    name: NucleiCollectionConfig(name=name, version=datasets.Version(__version__), description=spec.description)
    for name, spec in CONFIG_SPECS.items()
}


class NucleiCollection(datasets.GeneratorBasedBuilder):
    """One ``datasets`` builder for every source; pick the source with ``config_name``.

    Pass ``data_dir`` to read a local raw copy; without it the source's files are
    downloaded (where the host allows it). ``options={...}`` sets reader options.
    """

    BUILDER_CONFIG_CLASS = NucleiCollectionConfig
    BUILDER_CONFIGS = list(CONFIGS.values())
    DEFAULT_WRITER_BATCH_SIZE = 16  # rows hold whole images

    def __init__(self, *args: Any, **kwargs: Any):
        data_dir = kwargs.get("data_dir")
        if data_dir is not None and kwargs.get("input_fingerprint") is None and Path(data_dir).exists():
            # Part of the cache key: changed raw files -> new cache entry, never a stale hit.
            kwargs["input_fingerprint"] = input_fingerprint(data_dir)
        spec = ViewSpec.of(kwargs.pop("view", None))
        if spec is not None:
            # Validated early, stored as plain settings (part of the cache key).
            kwargs["view"] = spec.options()
        kwargs.setdefault("dataset_name", "nuclei_collection")
        super().__init__(*args, **kwargs)

    def _source(self) -> Source:
        source = CONFIG_SPECS[self.config.name].make_source(**self.config.options)
        if source.classes_need_data and self.config.data_dir is not None:
            source.list_items(source.locate(self.config.data_dir))  # its classes come from the data
        return apply_view(source, self.config.view, self.config.name)

    def _info(self) -> datasets.DatasetInfo:
        source = self._source()
        return datasets.DatasetInfo(
            description=CONFIG_SPECS[self.config.name].description or source.description,
            features=features_for(source),
            homepage=source.homepage,
            citation=source.citation,
            license=source.license,
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        prepared = prepare(
            self.config.name, self.config.data_dir, self.config.options, dl_manager=dl_manager, view=self.config.view
        )
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"items": items}) for split, items in prepared.splits.items()
        ]

    def _generate_examples(self, items: list):
        for record in iter_split(self._source(), items):
            yield record["image_id"], record


def load(
    config: str,
    data_dir: str | Path | None = None,
    split: str | None = None,
    streaming: bool = False,
    options: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    num_proc: int | None = None,
    view: ViewSpec | dict[str, Any] | None = None,
    **kwargs: Any,
):
    """Build and load a config straight from raw files (the old loading-script experience).

    ``view`` loads a training view instead (tiles / rescaling, docs/views.md).

    ``streaming=True`` reads the raw files lazily (no cache written); otherwise the
    config is prepared into the ``datasets`` cache first. Returns a Dataset (or
    IterableDataset) when ``split`` is given, else a dict of them. Other keyword
    arguments go to the builder (e.g. ``token``).
    """
    builder = NucleiCollection(
        config_name=config,
        data_dir=str(data_dir) if data_dir is not None else None,
        options=options,
        cache_dir=str(cache_dir) if cache_dir is not None else None,
        view=view,
        **kwargs,
    )
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare(num_proc=num_proc)
    return builder.as_dataset(split=split)


#: export formats -> the function behind them (all consume the same records)
EXPORT_FORMATS = ("parquet", "coco", "imagemask")


def export(config: str, out: str | Path, format: str = "parquet", data_dir: str | Path | None = None, **kwargs: Any):
    """Export one config from raw data (or a download) in one of :data:`EXPORT_FORMATS`.

    * ``parquet``: the Hub layout ``out/<config>/<split>-*.parquet`` + README (:func:`build`);
    * ``coco``: ``out/<config>/`` images + ``out/annotations/<config>.json`` (docs/coco.md);
    * ``imagemask``: ``out/{train,valid,test}/{images,masks}/`` PNGs (docs/imagemask.md).

    Other keyword arguments go to the exporter (``options``, ``split``, ``seed``, ``mask``,
    ``num_proc``, ``view``, ...). Returns what the exporter returns.
    """
    if format == "parquet":
        return build(config, data_dir=data_dir, out=out, **kwargs)
    if format == "coco":
        from nuclei_collection_builders.exporters.coco import export_coco

        return export_coco(config, out, data_dir=data_dir, **kwargs)
    if format == "imagemask":
        from nuclei_collection_builders.exporters.imagemask import export_imagemask

        return export_imagemask(config, out, data_dir=data_dir, **kwargs)
    raise ValueError(f"unknown export format {format!r}; known: {', '.join(EXPORT_FORMATS)}")


if __name__ == "__main__":
    raise SystemExit(main())
