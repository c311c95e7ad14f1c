"""progress(): a tqdm bar on a terminal, log lines every LOG_INTERVAL seconds otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from nuclei_collection_builders import progress as progress_module
from nuclei_collection_builders.progress import progress


class FakeClock:
    """A clock that advances ``step`` seconds each time it is read."""

    def __init__(self, step: float):
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_tty(monkeypatch):
    stream = io.StringIO()  # not a terminal: isatty() is False
    monkeypatch.setattr("sys.stderr", stream)
    return stream


def progress_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "nuclei_collection"]


def test_without_tty_logs_every_interval_and_a_final_line(no_tty, monkeypatch, caplog):
    # Every read of the clock moves 1 s on; the loop reads it once per item (+ start, end).
    monkeypatch.setattr(progress_module, "clock", FakeClock(1.0))
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 5.0)
    caplog.set_level(logging.INFO, logger="nuclei_collection")
    items = list(range(12))
    assert list(progress(items, desc="BBBC020 train")) == items  # yielded unchanged, in order
    lines = progress_lines(caplog)
    # 12 items, 1 s each: a line after items 5 and 10, then the final one.
    assert lines == [
        "BBBC020 train: 5/12 images (1.0/s)",
        "BBBC020 train: 10/12 images (1.0/s)",
        "BBBC020 train: 12 images in 13.0 s (0.9/s)",
    ]
    assert no_tty.getvalue() == ""  # no tqdm bar drawn into a log file or pipe


def test_interval_is_configurable_and_quick_loops_log_only_the_final_line(no_tty, monkeypatch, caplog):
    monkeypatch.setattr(progress_module, "clock", FakeClock(0.5))
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 5.0)
    caplog.set_level(logging.INFO, logger="nuclei_collection")
    list(progress(iter(range(4)), total=4, desc="quick", unit="tile"))
    assert progress_lines(caplog) == ["quick: 4 tiles in 2.5 s (1.6/s)"]

    caplog.clear()
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 1.0)
    list(progress(iter(range(4)), desc="no total", unit="tile"))  # a generator: total unknown
    assert progress_lines(caplog) == [
        "no total: 2 tiles (2.0/s)",
        "no total: 4 tiles (2.0/s)",
        "no total: 4 tiles in 2.5 s (1.6/s)",
    ]


def test_no_final_line_when_the_consumer_stops_early(no_tty, monkeypatch, caplog):
    monkeypatch.setattr(progress_module, "clock", FakeClock(1.0))
    caplog.set_level(logging.INFO, logger="nuclei_collection")
    for n in progress(range(10), desc="stopped"):
        if n == 2:
            break
    assert not any(" in " in line for line in progress_lines(caplog))


def test_tty_draws_a_bar_and_logs_nothing(monkeypatch, caplog):
    tty = FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    caplog.set_level(logging.INFO, logger="nuclei_collection")
    assert list(progress(range(3), desc="bar")) == [0, 1, 2]
    assert "bar" in tty.getvalue()  # tqdm drew (and cleared) its bar on the terminal
    assert progress_lines(caplog) == []


def test_cli_logging_shows_progress_lines_by_default(monkeypatch):
    """main()'s logging set-up lets INFO lines of our logger through (not only warnings)."""
    from nuclei_collection_builders.app.cli import configure_logging
    from nuclei_collection_builders.base import logger

    monkeypatch.setattr(logger, "level", logging.NOTSET)
    configure_logging(verbose=False)
    assert logger.isEnabledFor(logging.INFO) and not logger.isEnabledFor(logging.DEBUG)
    configure_logging(verbose=True)
    assert logger.isEnabledFor(logging.DEBUG)


def test_build_and_coco_export_report_progress_per_item_with_identical_bytes(tmp_path, monkeypatch, caplog):
    """The exporters' loops go through progress(); the bytes written do not depend on it."""
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train
    from nuclei_collection_builders.exporters.build import build
    from nuclei_collection_builders.exporters.coco import export_coco

    write_dsb2018_stage1_train(tmp_path / "raw" / "stage1_train", n_images=3, seed=5)
    monkeypatch.setattr("sys.stderr", FakeTTY())
    build("nuclei_stage1_train", data_dir=tmp_path / "raw", out=tmp_path / "bar")

    monkeypatch.setattr("sys.stderr", io.StringIO())
    monkeypatch.setattr(progress_module, "clock", FakeClock(1.0))
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 1.0)  # a line after every item
    caplog.set_level(logging.INFO, logger="nuclei_collection")
    build("nuclei_stage1_train", data_dir=tmp_path / "raw", out=tmp_path / "logged")
    export_coco("nuclei_stage1_train", tmp_path / "coco", data_dir=tmp_path / "raw")
    lines = [line for line in progress_lines(caplog) if line.startswith("nuclei_stage1_train/train: ")]
    steps = ["nuclei_stage1_train/train: 1/3 images (1.0/s)", "nuclei_stage1_train/train: 2/3 images (1.0/s)"]
    steps.append("nuclei_stage1_train/train: 3/3 images (1.0/s)")
    done = "nuclei_stage1_train/train: 3 images in 4.0 s (0.8/s)"
    assert lines == [*steps, done, *steps, done]  # build, then the COCO export

    shards = sorted((tmp_path / "bar" / "nuclei_stage1_train").glob("*.parquet"))
    assert shards
    for shard in shards:
        assert (tmp_path / "logged" / "nuclei_stage1_train" / shard.name).read_bytes() == shard.read_bytes()
