"""Progress of long steps (building a split, scoring a config), with or without a terminal.

:func:`progress` wraps the loop over a step's items. On a terminal (stderr is a TTY) it
draws a tqdm bar that disappears when the step ends; otherwise (CI logs, ``nohup``, a pipe)
it writes a line through the ``nuclei_collection`` logger at most every
:data:`LOG_INTERVAL` seconds, e.g. ``BBBC020 train: 12/40 images (3.1/s)``, and a final
line when the loop completes. The CLI shows INFO lines of that logger by default.

It only observes the iteration: the items are yielded unchanged and in order.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from .base import logger

T = TypeVar("T")

#: Seconds between two log lines when stderr is not a terminal.
LOG_INTERVAL = 5.0
#: The clock (seconds, monotonic); a module attribute so tests can replace it.
clock = time.monotonic


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str, unit: str = "image") -> Iterator[T]:
    """Yield the items of ``iterable`` while showing how far the loop is.

    ``total`` defaults to ``len(iterable)`` where it has one; ``desc`` names the step
    (``"BBBC020 train"``), ``unit`` what is counted (pluralised with an ``s``).
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    stream = sys.stderr
    if stream is not None and getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm

        yield from tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, file=stream)
        return
    yield from _logged(iterable, total, desc, unit)


def _logged(iterable: Iterable[T], total: int | None, desc: str, unit: str) -> Iterator[T]:
    start = last = clock()
    count = 0
    for item in iterable:
        yield item
        count += 1
        now = clock()
        if now - last >= LOG_INTERVAL:
            last = now
            logger.info("%s", _line(desc, count, total, unit, now - start))
    # Only after the whole loop: a consumer that stops early (an error) gets no "done" line.
    elapsed = clock() - start
    logger.info("%s", _line(desc, count, total, unit, elapsed, done=True))


def _line(desc: str, count: int, total: int | None, unit: str, elapsed: float, done: bool = False) -> str:
    units = unit if count == 1 and (total is None or total == 1) else f"{unit}s"
    counted = f"{count}/{total}" if total is not None and not done else f"{count}"
    rate = f"{count / elapsed:.1f}/s" if elapsed > 0 else "-/s"
    if done:
        return f"{desc}: {counted} {units} in {elapsed:.1f} s ({rate})"
    return f"{desc}: {counted} {units} ({rate})"
