"""Every ```python block of README.md, docs/*.md and docs/sources/*.md is checked.

* **Every** block is compiled and its import statements are executed (a renamed or
  removed module or name fails here even when the block cannot run).
* Every block **not** marked ``<!-- no-run: REASON -->`` (on the line before its fence) is
  executed, the blocks of one document in order, in one namespace and one working folder,
  as a reader would paste them. The working folder holds generated data in place of the
  documents' example paths:

  - ``~/raw/dsb2018``: a synthetic DSB2018 ``stage1_train`` tree (builders/app/synthetic.py);
  - ``nuclei_collection/`` and ``demo_export/``: a ``build`` export of it
    (``nuclei_stage1_train``), as ``build --out`` or ``demo`` would leave them;
  - ``records``: records of that config (what ``write_coco`` documents as "any records").

* A marked block is reported as a skip with its reason (``pytest -ra`` lists them), so
  the number of blocks that only compile is visible; a marker that is not followed by a
  python block fails.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md"), *(PROJECT_ROOT / "docs" / "sources").glob("*.md")]
)
NO_RUN = re.compile(r"^<!--\s*no-run:\s*(?P<reason>.*?)\s*-->\s*$")
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
#: example paths of the documents -> the generated stand-in (relative to the working folder)
RAW_PATHS = {"~/raw/dsb2018": "raw/dsb2018"}
CONFIG = "nuclei_stage1_train"


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    no_run: str | None  # the marker's reason, or None

    @property
    def name(self) -> str:
        shown = self.path.relative_to(PROJECT_ROOT) if self.path.is_relative_to(PROJECT_ROOT) else self.path
        return f"{shown.as_posix()}:{self.line}"


def python_blocks(path: Path) -> list[Block]:
    """The python blocks of a markdown file, with their no-run marker; a stray marker is an error."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, index, pending = [], 0, None
    while index < len(lines):
        line = lines[index]
        marker = NO_RUN.match(line)
        fence = FENCE.match(line)
        if marker:
            if not marker["reason"]:
                raise AssertionError(f"{path}:{index + 1}: no-run marker without a reason")
            pending = (index + 1, marker["reason"])
        elif fence:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            if fence["lang"] == "python":
                reason = pending[1] if pending and pending[0] == index else None  # marker right above
                blocks.append(Block(path, index + 1, "\n".join(lines[index + 1 : end]) + "\n", reason))
            if pending and pending[0] == index and fence["lang"] != "python":
                raise AssertionError(f"{path}:{pending[0]}: no-run marker above a {fence['lang'] or 'plain'} block")
            pending = None
            index = end
        elif pending:
            raise AssertionError(f"{path}:{pending[0]}: no-run marker not directly above a python block")
        index += 1
    if pending:
        raise AssertionError(f"{path}:{pending[0]}: no-run marker at the end of the file")
    return blocks


ALL_BLOCKS = [block for path in DOCUMENTS for block in python_blocks(path)]


def test_the_documents_have_python_blocks():
    # Guards the collection itself: a broken parser would make every test below vacuous.
    assert len(ALL_BLOCKS) >= 10
    assert sum(block.no_run is None for block in ALL_BLOCKS) >= 4


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.name)
def test_block_compiles_and_its_imports_resolve(block):
    tree = ast.parse(block.code, filename=block.name)
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    module = ast.Module(body=imports, type_ignores=[])
    exec(compile(module, block.name, "exec"), {})


def substitute(code: str, workdir: Path) -> str:
    for example, generated in RAW_PATHS.items():
        code = code.replace(example, str(workdir / generated))
    return code


def run_blocks(blocks: list[Block], workdir: Path, namespace: dict) -> list[Block]:
    """Execute the blocks without a no-run marker, in order, in ``workdir``; returns the skipped ones."""
    skipped = []
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        for block in blocks:
            if block.no_run is not None:
                skipped.append(block)
                continue
            exec(compile(substitute(block.code, workdir), block.name, "exec"), namespace)
    finally:
        os.chdir(previous)
    return skipped


@pytest.fixture(scope="module")
def doc_data(tmp_path_factory):
    """Generated raw data and its export, copied into each document's working folder."""
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
    from nuclei_collection_builders.exporters.build import build
    from nuclei_collection_builders.pipeline import iter_split
    from nuclei_collection_builders.sources import prepare

    root = tmp_path_factory.mktemp("doc_data")
    write_dsb2018_stage1_train(root / "raw" / "dsb2018" / "stage1_train", n_images=4, seed=11)
    build(CONFIG, data_dir=root / "raw" / "dsb2018", out=root / "nuclei_collection")
    prepared = prepare(CONFIG, root / "raw" / "dsb2018")
    records = list(iter_split(prepared.source, prepared.splits["train"]))
    return root, records


def workdir_for(doc_data, tmp_path: Path) -> Path:
    import shutil

    root, _ = doc_data
    workdir = tmp_path / "work"
    shutil.copytree(root, workdir, symlinks=True)
    (workdir / "demo_export").symlink_to("nuclei_collection")
    return workdir


DOCUMENTS_WITH_BLOCKS = sorted({block.path for block in ALL_BLOCKS})


@pytest.mark.parametrize("path", DOCUMENTS_WITH_BLOCKS, ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_runnable_blocks_run(path, doc_data, tmp_path):
    workdir = workdir_for(doc_data, tmp_path)
    blocks = [block for block in ALL_BLOCKS if block.path == path]
    run_blocks(blocks, workdir, {"__name__": "__doc__", "records": doc_data[1]})


@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if b.no_run is not None], ids=lambda b: b.name
)  # fmt: skip
def test_blocks_marked_no_run(block):
    """One visible skip per marked block (only compiled and import-checked above)."""
    pytest.skip(f"{block.name}: no-run: {block.no_run}")


# --------------------------------------------------------------------------- the checker itself


def test_a_failing_block_fails_and_a_marked_one_is_skipped(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "Intro\n\n<!-- no-run: needs the real data -->\n```python\nraise SystemExit('must not run')\n```\n\n"
        "```bash\necho not python\n```\n\n```python\nvalue = open('~/raw/dsb2018/x.txt').read()\n```\n\n"
        "```python\nassert value == 'generated', value\n1 / 0\n```\n",
        encoding="utf-8",
    )
    blocks = python_blocks(doc)
    assert [(b.line, b.no_run) for b in blocks] == [(4, "needs the real data"), (12, None), (16, None)]
    (tmp_path / "raw" / "dsb2018").mkdir(parents=True)
    (tmp_path / "raw" / "dsb2018" / "x.txt").write_text("generated")
    with pytest.raises(ZeroDivisionError):  # the raw path was substituted, the last block really ran
        run_blocks(blocks, tmp_path, {})
    with pytest.raises(ModuleNotFoundError):
        test_block_compiles_and_its_imports_resolve(
            Block(doc, 1, "from nuclei_collection_builders.training import instance_loader\n", "any")
        )


def test_stray_markers_are_errors(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- no-run: x -->\nsome text\n```python\npass\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="not directly above a python block"):
        python_blocks(doc)
    doc.write_text("<!-- no-run: x -->\n```bash\nls\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="above a bash block"):
        python_blocks(doc)
