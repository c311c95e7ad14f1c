"""Training views of instance configs: rescaled and/or tiled, through the one pipeline.

A view is ``raw reader -> transform -> encoder``: :class:`ViewSource` wraps a config's
reader and transforms every Sample the reader yields (rescale first, then tile), and
everything downstream (schema, builder, parquet export, streaming, push, card) is the
same code as for the config itself. Without a view nothing is wrapped (no overhead).

Export names (see docs/views.md)::

    <config>[_mpp<M> | _scale<F>][_tiles<S>[_stride<T>][_min<A>]]

e.g. ``BBBC020_tiles512``, ``nuclei_stage1_train_tiles256_stride128``,
``nucleisegmentationbenchmark_mpp0.5_tiles256``. ``_stride`` appears only when the stride
differs from the tile size, ``_min`` only when the minimum piece area is not the default.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..base import Item, NucleiCollectionError, Sample, Source
from .resample import rescale_instance_sample
from .tiles import DEFAULT_MIN_AREA, tile_instance_sample


class ViewError(NucleiCollectionError, ValueError):
    """A view cannot be built for this config (e.g. --target-mpp without a known mpp)."""


def _number(value: float) -> str:
    """Short decimal form for export names: 0.5 -> "0.5", 2.0 -> "2"."""
    return f"{value:g}"


@dataclass(frozen=True)
class ViewSpec:
    """What a view does. ``tile``/``stride``/``min_area`` in pixels of the (rescaled) image.

    ``target_mpp``: resample every image to this many microns per pixel (needs
    ``metadata.mpp``); ``scale``: resample by this factor (any source). At most one of the
    two. ``stride`` defaults to ``tile`` and ``min_area`` to :data:`tiles.DEFAULT_MIN_AREA`.
    """

    tile: int | None = None
    stride: int | None = None
    min_area: int | None = None
    target_mpp: float | None = None
    scale: float | None = None

    def __post_init__(self) -> None:
        for name in ("tile", "stride", "min_area"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"view {name} must be an integer number of pixels, got {value!r}")
        if self.tile is not None and self.tile < 1:
            raise ValueError(f"view tile must be >= 1 px, got {self.tile}")
        if self.tile is None and (self.stride is not None or self.min_area is not None):
            raise ValueError("view stride and min_area apply to tiles: give tile as well")
        if self.stride is not None and not 1 <= self.stride <= self.tile:
            raise ValueError(
                f"view stride must be 1..tile ({self.tile}), got {self.stride}: a larger stride leaves gaps"
            )
        if self.min_area is not None and self.min_area < 0:
            raise ValueError(f"view min_area must be >= 0 px, got {self.min_area}")
        if self.target_mpp is not None and self.scale is not None:
            raise ValueError("give either target_mpp (sources with a known mpp) or scale, not both")
        for name in ("target_mpp", "scale"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise ValueError(f"view {name} must be a positive number, got {value!r}")

    @classmethod
    def of(cls, view: ViewSpec | Mapping[str, Any] | None) -> ViewSpec | None:
        """A ViewSpec from a spec or a mapping of its fields; None when nothing is asked for."""
        if view is None:
            return None
        if not isinstance(view, ViewSpec):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(view) - known)
            if unknown:
                raise ValueError(f"unknown view option(s) {unknown}; valid: {', '.join(sorted(known))}")
            view = cls(**{key: value for key, value in view.items() if value is not None})
        return view if view.active else None

    @property
    def active(self) -> bool:
        return self.tile is not None or self.target_mpp is not None or self.scale is not None

    def options(self) -> dict[str, Any]:
        """The view's settings with defaults filled in (for reports and the card)."""
        settings: dict[str, Any] = {}
        if self.target_mpp is not None:
            settings["target_mpp"] = self.target_mpp
        if self.scale is not None:
            settings["scale"] = self.scale
        if self.tile is not None:
            settings["tile"] = self.tile
            settings["stride"] = self.stride or self.tile
            settings["min_area"] = DEFAULT_MIN_AREA if self.min_area is None else self.min_area
        return settings

    def suffix(self) -> str:
        """What the view appends to the config's export name (module docstring)."""
        parts = []
        if self.target_mpp is not None:
            parts.append(f"mpp{_number(self.target_mpp)}")
        if self.scale is not None:
            parts.append(f"scale{_number(self.scale)}")
        if self.tile is not None:
            settings = self.options()
            parts.append(f"tiles{self.tile}")
            if settings["stride"] != self.tile:
                parts.append(f"stride{settings['stride']}")
            if settings["min_area"] != DEFAULT_MIN_AREA:
                parts.append(f"min{settings['min_area']}")
        return "".join(f"_{part}" for part in parts)

    def describe(self) -> str:
        """One line for the card: what was done to the images."""
        settings, parts = self.options(), []
        if self.target_mpp is not None:
            parts.append(f"resampled to {_number(self.target_mpp)} µm/px")
        if self.scale is not None:
            parts.append(f"resampled by x{_number(self.scale)}")
        if self.tile is not None:
            minimum = settings["min_area"]
            dropped = f"clipped pieces under {minimum} px dropped" if minimum else "no clipped piece dropped"
            parts.append(f"{self.tile} px tiles, stride {settings['stride']}, {dropped}")
        return "; ".join(parts)

    def transform(self, sample: Sample, config_name: str) -> Iterator[Sample]:
        """The samples this view makes of one reader sample: rescale first, then tile."""
        if self.target_mpp is not None:
            mpp = sample.metadata.get("mpp")
            if mpp is None:
                raise ViewError(
                    f"{config_name}: --target-mpp needs each image's pixel size (metadata.mpp), but image "
                    f"{sample.image_id} has none: this source does not record microns per pixel. "
                    "Use --scale F instead (e.g. --scale 0.5 halves width and height)."
                )
            sample = rescale_instance_sample(sample, float(mpp) / self.target_mpp, mpp=self.target_mpp)
        elif self.scale is not None:
            sample = rescale_instance_sample(sample, float(self.scale))
        if self.tile is None:
            yield sample
        else:
            yield from tile_instance_sample(sample, self.tile, self.stride, self.options()["min_area"])


class ViewSource:
    """A config's reader seen through a view.

    Everything (name, licence, downloads, ``list_items``, ``options`` ...) is the reader's
    own, except :meth:`samples` (transformed) and :meth:`export_name` (suffixed). It is a
    plain object, so it pickles to worker processes like the reader does.
    """

    def __init__(self, source: Source, view: ViewSpec, config_name: str):
        if source.kind != "instance":
            raise ViewError(
                f"{config_name}: views (--tile, --scale, --target-mpp) apply to instance configs; this config is "
                f"{source.kind} (the tissue-region configs have their own tiled variants, e.g. BCSS_1024)"
            )
        self.source, self.view, self.config_name = source, view, config_name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("source", "view", "config_name"):
            raise AttributeError(name)  # not set yet (unpickling): never recurse
        return getattr(self.source, name)

    def samples(self, item: Item) -> Iterator[Sample]:
        for sample in self.source.samples(item):
            yield from self.view.transform(sample, self.config_name)

    def export_name(self, config_name: str) -> str:
        return self.source.export_name(config_name) + self.view.suffix()

    def report(self, config_name: str) -> dict[str, Any]:
        """The build report's ``view`` entry: which export this is a view of, and how."""
        return {"of": self.source.export_name(config_name), "description": self.view.describe(), **self.view.options()}


def apply_view(source: Source, view: ViewSpec | Mapping[str, Any] | None, config_name: str) -> Source | ViewSource:
    """``source`` wrapped in the view, or ``source`` itself when no view is asked for."""
    spec = ViewSpec.of(view)
    return source if spec is None else ViewSource(source, spec, config_name)
