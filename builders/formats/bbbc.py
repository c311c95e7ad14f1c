"""What the Broad Bioimage Benchmark Collection readers share (BBBC006, 007, 018, 020).

Each BBBC image set has its own reader module (the formats differ); they share the
download host, the collection's citation, the CC0 waiver, where a set's folders may sit
below ``data_dir``, and the metadata every BBBC field carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..base import Download, Source, find_layout_root, relative_posix
from ..catalog import SourceInfo

BBBC_DATA_URL = "https://data.broadinstitute.org/bbbc/"
BBBC_PAGE_URL = "https://bbbc.broadinstitute.org/"

#: The BBBC asks every user of a set to cite this paper (besides the set's own reference).
LJOSA_CITATION = """@article{ljosa2012annotated,
  title   = {Annotated high-throughput microscopy image sets for validation},
  author  = {Ljosa, Vebjorn and Sokolnicki, Katherine L. and Carpenter, Anne E.},
  journal = {Nature Methods},
  volume  = {9},
  number  = {7},
  pages   = {637},
  year    = {2012},
  doi     = {10.1038/nmeth.2083}
}"""


def bbbc_download(set_id: str, filename: str, sha256: str | None = None) -> Download:
    """One file of a BBBC set on the collection's download host."""
    return Download(url=f"{BBBC_DATA_URL}{set_id}/{filename}", filename=filename, sha256=sha256)


def channel_entries(root: Path, channels: Iterable[tuple[str, Path | None]]) -> list[dict[str, str]] | None:
    """``metadata["other_channels"]``: (channel name, path) pairs that exist, paths relative to root."""
    entries = [{"name": name, "path": relative_posix(path, root)} for name, path in channels if path is not None]
    return entries or None


#: The BBBC sets are fluorescence images, fully annotated unless a reader says otherwise.
BBBC_FIELD_METADATA = {"modality": "fluorescence", "annotation": "complete"}


def bbbc_info(set_id: str, **facts: Any) -> SourceInfo:
    """The declared facts of a BBBC set: its page, the CC0 waiver, fluorescence, the field's metrics.

    ``facts`` adds the set's own (title, citation, stain, ...) and may override a default
    (BBBC020's licence).
    """
    defaults: dict[str, Any] = {
        "name": set_id,
        "homepage": BBBC_PAGE_URL + set_id,
        "license": BBBCSource.license,
        "modality": "fluorescence",
        "metrics": ("pq", "aji", "dice", "f1", "dsb2018"),
    }
    return SourceInfo(**{**defaults, **facts})


class BBBCSource(Source):
    """A BBBC image set: CC0 fluorescence images under ``data_dir[/BBBC0xx]``."""

    #: e.g. "BBBC007"; also the optional folder the set's archives were unpacked into
    set_id: ClassVar[str]
    #: paths (relative to the root) that must exist for the layout to be recognised
    layout_markers: ClassVar[Sequence[str]]
    license = "CC0-1.0"

    def find_root(self, data_dir: Path) -> Path | None:
        return find_layout_root(data_dir, self.layout_markers)

    #: metadata every BBBC field carries (FolderSource readers take it as their fixed metadata)
    metadata = BBBC_FIELD_METADATA

    def field_metadata(self, root: Path, image_path: Path, **values: Any) -> dict[str, Any]:
        """Metadata shared by every BBBC field; ``values`` adds or overrides fields."""
        return self.base_metadata(
            **{**BBBC_FIELD_METADATA, "upstream_path": relative_posix(image_path, root), **values}
        )
