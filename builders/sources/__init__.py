"""The readers, one module per upstream format, and the registry of every config.

A new source = one reader module here + one line in :data:`READERS`. This package is
where config *names* are resolved (:func:`get_spec`, :func:`prepare`): the core below it
receives a :class:`~..base.ConfigSpec`, never a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import pipeline
from ..base import ConfigSpec
from ..views import ViewSpec, apply_view
from . import (
    bbbc006,
    bbbc007,
    bbbc018,
    bbbc020,
    bcss,
    cluster_nuclei,
    coco,
    dsb2018,
    isbi2009,
    janowczyk,
    monuseg,
    pannuke,
    tnbc,
)

#: Reader modules; each exposes ``CONFIGS``, a tuple of :class:`ConfigSpec`.
READERS: tuple[ModuleType, ...] = (
    dsb2018,
    bbbc006,
    bbbc007,
    bbbc018,
    bbbc020,
    isbi2009,
    cluster_nuclei,
    monuseg,
    tnbc,
    janowczyk,
    pannuke,
    bcss,
    coco,
)


def _collect() -> dict[str, ConfigSpec]:
    specs: dict[str, ConfigSpec] = {}
    for module in READERS:
        for spec in module.CONFIGS:
            if spec.name in specs:
                raise RuntimeError(f"config {spec.name!r} is declared twice ({module.__name__})")
            specs[spec.name] = spec
    return specs


CONFIG_SPECS: dict[str, ConfigSpec] = _collect()


def get_spec(name: str) -> ConfigSpec:
    try:
        return CONFIG_SPECS[name]
    except KeyError:
        raise KeyError(f"unknown config {name!r}; known configs: {', '.join(sorted(CONFIG_SPECS))}") from None


def prepare(
    name: str,
    data_dir: Path | str | None = None,
    options: Mapping[str, Any] | None = None,
    dl_manager: Any = None,
    cache_dir: Path | str | None = None,
    view: ViewSpec | Mapping[str, Any] | None = None,
) -> pipeline.PreparedConfig:
    """Locate (or download) the raw data of config ``name`` and list its items per split.

    ``view`` (tiles / rescaling, see :mod:`..views`) wraps the reader; the export name gets
    the view's suffix.
    """
    return pipeline.prepare(
        get_spec(name), data_dir, options, dl_manager, cache_dir, wrap=lambda source: apply_view(source, view, name)
    )
