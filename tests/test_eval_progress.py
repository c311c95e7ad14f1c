"""Long evaluations show progress without a terminal too (issue 19, item 8).

Under pytest stderr is not a TTY: the per-image loop must then log through the
``nuclei_collection`` logger (builders/progress.py), and stay silent with ``progress=False``.
"""

from __future__ import annotations

import logging

from test_evaluate import split_records

from fixtures import raw_writer
from nuclei_collection import evaluate
from nuclei_collection_builders import progress as progress_module

CONFIG = "TNBC_NucleiSegmentation"


def test_progress_is_logged_without_a_tty(tmp_path, caplog, monkeypatch):
    raw_writer(CONFIG)(tmp_path)
    records = split_records(CONFIG, tmp_path)
    predictions = {r["image_id"]: r["objects"] for r in records}
    ticks = iter(range(0, 10_000, 10))  # every image 10 "seconds" later: a line per image
    monkeypatch.setattr(progress_module, "clock", lambda: next(ticks))
    with caplog.at_level(logging.INFO, logger="nuclei_collection"):
        evaluate(CONFIG, predictions, data_dir=tmp_path, progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{CONFIG}/train:")]
    assert lines[-1].startswith(f"{CONFIG}/train: {len(records)} images in"), lines
    assert any(f"/{len(records)} images" in line for line in lines[:-1]), lines
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="nuclei_collection"):
        evaluate(CONFIG, predictions, data_dir=tmp_path, progress=False)
    assert not [r for r in caplog.records if r.getMessage().startswith(f"{CONFIG}/train:")]
