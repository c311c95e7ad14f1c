"""Sources are data: every table that lists sources is derived from the declared registry.

README's config table, docs/sources/README.md and the class table of docs/views.md are
generated (builders/app/docs.py); these tests fail when a doc and the registry disagree, when
a declared fact points nowhere (a doc page, a metric name), or when a config's declared
splits differ from what its reader lists on its generated fixture.
"""

from __future__ import annotations

import pytest

from conftest import PROJECT_ROOT
from fixtures import raw_writer
from nuclei_collection_builders.app import docs
from nuclei_collection_builders.catalog import MODALITIES
from nuclei_collection_builders.sources import CONFIG_SPECS, SOURCES, configs_of, prepare

#: Metric names `evaluate --metrics` takes (docs/evaluation.md).
KNOWN_METRICS = {
    "pq", "aji", "aji_plus", "dsb2018", "f1", "dice", "coco_ap", "bpq", "mpq", "mpq_plus", "f1_annotated", "iou",
}  # fmt: skip


def test_generated_doc_tables_match_the_registry():
    diffs = docs.stale()
    assert not diffs, "stale generated tables (run python -m nuclei_collection_builders.app.docs --write):\n" + "".join(
        diffs.values()
    )


def test_a_stale_table_is_detected(tmp_path):
    for relative in docs.GENERATED:
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((PROJECT_ROOT / relative).read_text())
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("| `BBBC007` |", "| `BBBC007_renamed` |"))
    assert set(docs.stale(tmp_path)) == {"README.md"}
    docs.write(tmp_path)
    assert docs.stale(tmp_path) == {}


@pytest.mark.parametrize("info", SOURCES, ids=lambda info: info.name)
def test_every_source_declares_complete_facts(info):
    assert info.title and info.homepage is not None and info.license and info.modality in MODALITIES
    assert (PROJECT_ROOT / "docs" / ("coco.md" if info.doc == "coco" else f"sources/{info.doc}.md")).is_file()
    assert set(info.metrics) <= KNOWN_METRICS, set(info.metrics) - KNOWN_METRICS
    assert configs_of(info), f"{info.name} declares no config"
    if info.kind == "instance":
        assert sum(c.crowd for c in info.classes) <= 1
    if info.annotation == "partial":  # unlabelled pixels are not background: only annotated-region F1
        assert info.metrics == ("f1_annotated",)


@pytest.mark.parametrize("config", sorted(CONFIG_SPECS))
def test_declared_splits_are_the_splits_the_reader_lists(config, tmp_path):
    writer = raw_writer(config)
    if writer is None:
        pytest.skip(f"{config}: its fixture module has no write_raw")
    try:
        writer(tmp_path / "raw")
    except LookupError as why:  # the fixture needs real files that are absent (it says which)
        pytest.skip(str(why))
    prepared = prepare(config, tmp_path / "raw")
    listed = tuple(split for split, items in prepared.splits.items() if items)
    assert listed == CONFIG_SPECS[config].splits


def test_list_verbose_shows_each_configs_declared_facts():
    from nuclei_collection_builders.app.cli import config_lines

    text = " ".join(" ".join(config_lines(100, full=True)).split())
    for name, spec in CONFIG_SPECS.items():
        if spec.source.classes_need_data:
            continue
        expected = f"splits: {', '.join(spec.splits)}; classes: {', '.join(spec.make_source().class_names())};"
        assert expected in text, name
