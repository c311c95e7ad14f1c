"""What a source *is*, declared as data: :class:`SourceInfo` and its class table.

Every reader declares one :class:`SourceInfo` (``info = SourceInfo(...)`` on its reader
class). Everything that describes sources is derived from these tables and nowhere else
kept by hand: README's config table and ``docs/sources/README.md`` (``app/docs.py``),
``nuclei-collection list``, the dataset card, the per-config ``ClassLabel`` of the
exports, the harmonised taxonomies (``views/taxonomy.py``) and the evaluation defaults.

Categories are per config: an export's ``objects.category`` ClassLabel holds exactly the
classes its source declares, in the declared order (index = position in
``SourceInfo.classes``). Adding a class to one source therefore changes no other config's
export. The class *names* form one shared vocabulary: a name means the same cell type
everywhere, and each declares its PanNuke group once (checked by :func:`register_classes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Harmonised taxonomies: name -> class names (the ClassLabel of a harmonised dataset).
#: ``pannuke`` index 0-4 = PanNuke mask channels 0-4; ``unclassified`` (a nucleus of no or
#: of an unmappable type) is not PanNuke's channel 5, which is background. Every taxonomy
#: ends with ``ambiguous``: don't-care regions stay a class of their own, never nuclei.
TAXONOMIES: dict[str, tuple[str, ...]] = {
    "binary": ("nucleus", "ambiguous"),
    "pannuke": ("neoplastic", "inflammatory", "connective", "dead", "epithelial", "unclassified", "ambiguous"),
}

#: What kind of microscopy a source is (``metadata.modality`` holds the per-image value).
MODALITIES: tuple[str, ...] = ("fluorescence", "brightfield", "histology", "mixed")


@dataclass(frozen=True)
class ClassInfo:
    """One object class of a source: the name exported, and what upstream calls it.

    * ``name``: the category name stored in exports (shared vocabulary across sources);
    * ``upstream``: the upstream code or label it comes from (mask value, channel, XML
      name, CSV label), as documentation and for readers that look it up;
    * ``pannuke``: its class in the ``pannuke`` taxonomy (one of ``TAXONOMIES["pannuke"]``);
    * ``crowd``: a don't-care region class (always ``iscrowd`` objects, never a nucleus).
    """

    name: str
    upstream: int | str | None = None
    pannuke: str = "unclassified"
    crowd: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.pannuke not in TAXONOMIES["pannuke"]:
            raise ValueError(f"class {self.name!r}: pannuke group {self.pannuke!r} is not one of {TAXONOMIES['pannuke']}")
        if self.crowd != (self.pannuke == "ambiguous"):
            raise ValueError(f"class {self.name!r}: crowd classes and only they map to 'ambiguous'")


#: The class of sources without cell types.
NUCLEUS = ClassInfo("nucleus", None, "unclassified", description="a nucleus (the source gives no type)")


def ambiguous(upstream: int | str | None = None, description: str = "don't-care region") -> ClassInfo:
    """The don't-care region class (MoNuSAC ambiguous areas, NuInsSeg vague areas, ...)."""
    return ClassInfo("ambiguous", upstream, "ambiguous", crowd=True, description=description)


@dataclass(frozen=True)
class SourceInfo:
    """The declared facts of one upstream source (one per reader class).

    ``mpp`` / ``magnification``: a number when the whole source has one, else a short text
    ("varies", "per image", "unknown") — per-image values live in the records' metadata.
    ``metrics``: the metrics the field reports on this source (evaluation's defaults),
    names as ``nuclei-collection evaluate --metrics`` takes them.
    ``doc``: the page ``docs/sources/<doc>.md``.
    """

    name: str
    title: str
    homepage: str
    citation: str
    license: str
    doc: str
    modality: str
    description: str = ""
    license_note: str = ""
    stain: str = ""
    organ: str = ""
    mpp: float | str | None = None
    magnification: float | str | None = None
    classes: tuple[ClassInfo, ...] = (NUCLEUS,)
    #: classes a reader option exports instead (CoNSeP ``classes=grouped``, NuCLS ``classes=main``):
    #: they join the shared vocabulary like ``classes``
    option_classes: tuple[ClassInfo, ...] = ()
    kind: str = "instance"
    metrics: tuple[str, ...] = ("pq", "aji", "dice", "f1")
    annotation: str = "complete"

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"{self.name}: modality {self.modality!r} is not one of {MODALITIES}")
        if self.kind not in ("instance", "semantic"):
            raise ValueError(f"{self.name}: kind {self.kind!r} is not 'instance' or 'semantic'")
        if self.annotation not in ("complete", "partial"):
            raise ValueError(f"{self.name}: annotation {self.annotation!r} is not 'complete' or 'partial'")
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: class names repeat in {names}")

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)


#: Every class name seen by :func:`register_classes` -> its declaration (the shared vocabulary).
_VOCABULARY: dict[str, ClassInfo] = {}


def register_classes(classes: Iterable[ClassInfo], where: str = "") -> None:
    """Add classes to the shared vocabulary; a name must keep one PanNuke group and crowd flag."""
    for cls in classes:
        known = _VOCABULARY.get(cls.name)
        if known is not None and (known.pannuke, known.crowd) != (cls.pannuke, cls.crowd):
            raise ValueError(
                f"{where}: class {cls.name!r} maps to {cls.pannuke!r} here but to {known.pannuke!r} elsewhere; "
                "one name means one cell type across the collection"
            )
        _VOCABULARY.setdefault(cls.name, cls)


def vocabulary() -> Mapping[str, ClassInfo]:
    """Every registered class name -> its declaration (registration order)."""
    return dict(_VOCABULARY)


def taxonomy_class(name: str, taxonomy: str) -> str:
    """The class of ``taxonomy`` that category ``name`` maps to."""
    if taxonomy not in TAXONOMIES:
        raise ValueError(f"unknown taxonomy {taxonomy!r}; known: {', '.join(TAXONOMIES)}")
    declared = _VOCABULARY.get(name)
    if declared is None:
        raise KeyError(f"category {name!r} is declared by no source; declare it in a SourceInfo.classes table")
    if declared.crowd:
        return "ambiguous"
    return "nucleus" if taxonomy == "binary" else declared.pannuke
