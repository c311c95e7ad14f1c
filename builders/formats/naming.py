"""File-name conventions several readers share."""

from __future__ import annotations

import re


def natural_key(name: str) -> tuple:
    """Sort key under which ``x_2`` comes before ``x_10`` (digit runs compare as numbers).

    Upstream numbering is often not zero-padded (``Neuroblastoma_2`` / ``_10``, MoNuSAC's
    ``_1`` / ``_10``); text order would interleave them. Either order is deterministic; this
    one is the authors' numbering.
    """
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
