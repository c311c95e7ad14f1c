"""The class table of Lizard and of the CoNIC patches cut from it (one truth for both readers).

Code = the ``class`` value of Lizard's ``.mat`` files and of CoNIC's ``labels.npy`` class
channel (CoNIC notebooks/data.ipynb; Lizard's release README lists code 5 as "Neutrophil" a
second time, a typo: 5 is eosinophil, as CoNIC's notebook and counts.csv column order show).
"""

from __future__ import annotations

from ..catalog import ClassInfo

LIZARD_CLASSES: tuple[ClassInfo, ...] = (
    ClassInfo("neutrophil", 1, "inflammatory"),
    ClassInfo("epithelial", 2, "epithelial"),
    ClassInfo("lymphocyte", 3, "inflammatory"),
    ClassInfo("plasma", 4, "inflammatory"),
    ClassInfo("eosinophil", 5, "inflammatory"),
    ClassInfo("connective", 6, "connective"),
)

#: upstream class code -> category name, derived from the table
CLASS_OF_CODE: dict[int, str] = {int(c.upstream): c.name for c in LIZARD_CLASSES}
