"""The readers, one module per upstream format, and the registry of every config.

A new source = one reader module here + one line in :data:`READERS`. Each module exposes
``CONFIGS`` (its :class:`~..base.ConfigSpec` s); each reader class declares its facts as
``info = SourceInfo(...)`` (:mod:`..catalog`). Everything else that lists sources (docs
tables, ``list``, the card, class vocabularies, evaluation defaults) is derived from
:data:`CONFIG_SPECS` and :data:`SOURCES` here. This package is where config *names* are
resolved (:func:`get_spec`, :func:`prepare`): the core below it receives a ConfigSpec,
never a name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import pipeline
from ..base import ConfigSpec, NucleiCollectionError
from ..catalog import ClassInfo, SourceInfo, register_classes
from ..views import ViewSpec, apply_view
from . import (
    bbbc006,
    bbbc007,
    bbbc018,
    bbbc020,
    bbbc039,
    bcss,
    cluster_nuclei,
    coco,
    conic,
    consep,
    cpm,
    cryonuseg,
    dsb2018,
    glysac,
    isbi2009,
    janowczyk,
    lizard,
    monusac,
    monuseg,
    nucls,
    nuinsseg,
    pannuke,
    puma,
    s_bsst265,
    tnbc,
)

#: Reader modules; each exposes ``CONFIGS``, a tuple of :class:`ConfigSpec`.
READERS: tuple[ModuleType, ...] = (
    dsb2018,
    bbbc006,
    bbbc007,
    bbbc018,
    bbbc020,
    bbbc039,
    s_bsst265,
    isbi2009,
    cluster_nuclei,
    monuseg,
    monusac,
    nuinsseg,
    cryonuseg,
    tnbc,
    janowczyk,
    pannuke,
    lizard,
    conic,
    consep,
    glysac,
    cpm,
    puma,
    nucls,
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


def _sources() -> tuple[SourceInfo, ...]:
    infos: dict[int, SourceInfo] = {}
    for spec in CONFIG_SPECS.values():
        if getattr(spec.source, "info", None) is None:  # Source itself only annotates it
            raise RuntimeError(f"config {spec.name!r}: reader {spec.source.__name__} declares no SourceInfo")
        infos.setdefault(id(spec.info), spec.info)
    return tuple(infos.values())


#: Every declared source, in registry order (one per reader family).
SOURCES: tuple[SourceInfo, ...] = _sources()
for _info in SOURCES:
    if _info.kind == "instance":  # nucleus classes share one vocabulary; tissue codes are per source
        register_classes(_info.classes + _info.option_classes, _info.name)


def configs_of(info: SourceInfo) -> list[ConfigSpec]:
    """The configs built from source ``info``, in registry order."""
    return [spec for spec in CONFIG_SPECS.values() if spec.info is info]


def config_classes(name: str, options: Mapping[str, Any] | None = None) -> tuple[ClassInfo, ...]:
    """The classes of config ``name`` (with reader ``options``): index = exported category value."""
    return get_spec(name).make_source(**dict(options or {})).classes()


class UnknownConfigError(NucleiCollectionError, KeyError):
    """A config name that is not registered; the message suggests the closest names."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


def unknown_config_message(name: str, known: Iterable[str]) -> str:
    """``unknown config 'X'; did you mean 'Y'?`` (closest names first), else the list of known names."""
    known = sorted(known)
    wanted = name.lower()

    def names_of(config: str) -> tuple[str, ...]:  # a config is also found by its source's name
        spec = CONFIG_SPECS.get(config)
        return (config.lower(), spec.source.name.lower()) if spec else (config.lower(),)

    # Case-insensitive or prefix matches first ("bbbc006", "monuseg", "tnbc"), then difflib's.
    close = [k for k in known if any(n == wanted or (len(wanted) >= 3 and n.startswith(wanted)) for n in names_of(k))]
    close += [k for k in get_close_matches(name, known, n=3, cutoff=0.6) if k not in close]
    if close:
        suggestions = " or ".join(map(repr, close[:3]))
        return f"unknown config {name!r}; did you mean {suggestions}? (`nuclei-collection list` shows all)"
    return f"unknown config {name!r}; known configs: {', '.join(known)}"


def get_spec(name: str) -> ConfigSpec:
    try:
        return CONFIG_SPECS[name]
    except KeyError:
        raise UnknownConfigError(unknown_config_message(name, CONFIG_SPECS)) from None


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
