"""What Lizard and the CoNIC patches cut from it share: the class table and Lizard's citation.

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

#: BibTeX of Lizard (CoNIC asks to cite it too)
LIZARD_CITATION = """@inproceedings{graham2021lizard,
  title     = {Lizard: A Large-Scale Dataset for Colonic Nuclear Instance Segmentation and Classification},
  author    = {Graham, Simon and Jahanifar, Mostafa and Azam, Ayesha and Nimir, Mohammed and Tsang, Yee-Wah
               and Dodd, Katherine and Hero, Emily and Sahota, Harvir and Tank, Atisha and Benes, Ksenija
               and Wahab, Noorul and Minhas, Fayyaz and Raza, Shan E Ahmed and El Daly, Hesham
               and Gopalakrishnan, Kishore and Snead, David and Rajpoot, Nasir},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV) Workshops},
  pages     = {684--693},
  year      = {2021},
  eprint    = {2108.11195},
  archivePrefix = {arXiv}
}"""
