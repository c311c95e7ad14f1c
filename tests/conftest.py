"""Shared test fixtures.

Real upstream samples are read in place from ../shared/realdata (relative to the project
root, or $NUCLEI_REALDATA); tests that need them skip with the reason when absent. No
test touches the network except 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("NUCLEI_REALDATA", PROJECT_ROOT.parent / "shared" / "realdata"))


@pytest.fixture(scope="session", autouse=True)
def _offline_hf(tmp_path_factory):
    """Keep the datasets/hub caches inside the test tmp dir and forbid hub access."""
    cache = tmp_path_factory.mktemp("hf_cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.setenv("HF_DATASETS_CACHE", str(cache / "datasets"))
    patch.setenv("HF_HOME", str(cache / "home"))
    import datasets.config

    patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "datasets")
    patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    yield
    patch.undo()


def realdata_path(*parts: str) -> Path:
    """Path below ../shared/realdata, or skip the test saying what is missing."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real upstream sample not available: {path} (see ../shared/realdata/README.md)")
    return path


@pytest.fixture(scope="session")
def synthetic_dsb(tmp_path_factory) -> Path:
    """A generated DSB2018 stage1_train tree (12 images, 3 modalities, some overlaps)."""
    from nuclei_collection_builders.app.synthetic import write_dsb2018_stage1_train

    root = tmp_path_factory.mktemp("dsb_raw")
    write_dsb2018_stage1_train(root / "stage1_train", n_images=12, seed=7)
    return root


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving the files of a fresh folder.

    Yields ``(base_url, folder)``: put generated archives into ``folder`` and point a
    source's ``Download.url`` at ``base_url + name``. datasets' offline switch is lifted
    for the test (it blocks every URL, loopback included); only 127.0.0.1 is contacted.
    """
    import functools
    import http.server
    import threading

    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()
        server.server_close()


def _quiet_handler_base():
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

    return Handler


_QuietHandler = _quiet_handler_base()
