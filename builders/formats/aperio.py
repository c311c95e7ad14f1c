"""Aperio ImageScope XML annotations (MoNuSAC; the same schema as MoNuSeg's).

Schema, as the upstream files have it::

    <Annotations MicronsPerPixel="0.252000">
      <Annotation Id="1" Name="" ...>
        <Attributes><Attribute Name="Epithelial" Id="0" Value=""/></Attributes>
        <Regions>
          <RegionAttributeHeaders>...</RegionAttributeHeaders>
          <Region Id="1" ...><Attributes/><Vertices><Vertex X="316" Y="503"/>...</Vertices></Region>
        </Regions>
        <Plots/>
      </Annotation>
      ...
    </Annotations>

:func:`parse_aperio` returns every ``Region`` in document order with the label of the
``Annotation`` it belongs to (the ``Name`` of the Annotation's first ``Attribute``: MoNuSAC
keeps the cell type there and leaves ``Annotation@Name`` empty). Parsing goes through
defusedxml: files from the web must not expand entities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import defusedxml.ElementTree as SafeET
import numpy as np
from defusedxml import DefusedXmlException

from ..base import BadInputError


@dataclass(frozen=True)
class AperioRegion:
    """One ``Region``: its polygon and where it sits in the file."""

    #: 1-based position of the enclosing Annotation in the file
    annotation: int
    #: ``Name`` of the Annotation's first ``Attributes/Attribute`` (None when it has none)
    label: str | None
    #: the Region's ``Id`` attribute as written (for messages)
    region_id: str | None
    #: (n, 2) float64 vertex coordinates, columns x, y
    vertices: np.ndarray


def parse_aperio(path: Path | str) -> tuple[float | None, list[AperioRegion]]:
    """(``MicronsPerPixel`` of the root or None, every Region in document order)."""
    path = Path(path)
    try:
        root = SafeET.parse(str(path)).getroot()
    except FileNotFoundError:
        raise BadInputError(path, "annotation file not found") from None
    except DefusedXmlException as error:
        raise BadInputError(path, f"refusing unsafe XML ({type(error).__name__})") from None
    except SafeET.ParseError as error:
        raise BadInputError(path, f"not well-formed XML: {error}") from None
    if root.tag != "Annotations":
        raise BadInputError(path, f"root element is <{root.tag}>, expected Aperio <Annotations>")
    mpp_text = root.get("MicronsPerPixel")
    try:
        mpp = float(mpp_text) if mpp_text else None
    except ValueError:
        raise BadInputError(path, f"MicronsPerPixel={mpp_text!r} is not a number") from None
    regions = []
    for annotation_index, annotation in enumerate(root.findall("./Annotation"), start=1):
        attribute = annotation.find("./Attributes/Attribute")
        label = attribute.get("Name") if attribute is not None else None
        for region in annotation.findall("./Regions/Region"):
            regions.append(
                AperioRegion(annotation_index, label, region.get("Id"), _vertices(path, annotation_index, region))
            )
    return mpp, regions


def _vertices(path: Path, annotation_index: int, region) -> np.ndarray:
    where = f"Annotation {annotation_index}, Region Id={region.get('Id')}"
    try:
        vertices = [(float(v.get("X")), float(v.get("Y"))) for v in region.findall("./Vertices/Vertex")]
    except (TypeError, ValueError):
        raise BadInputError(path, f"{where} has a vertex without numeric X/Y") from None
    array = np.array(vertices, dtype=np.float64).reshape(-1, 2)
    if len(array) == 0 or not np.isfinite(array).all():
        raise BadInputError(path, f"{where} has no or non-finite vertices")
    return array
