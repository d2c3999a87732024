"""A one-line progress display on stderr, redrawn in place; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
_REDRAW_SECONDS = 0.1


def render(label: str, done: int, total: int | None = None, unit: str = "trunks") -> str:
    """``label [#####-----] 600/1,200 trunks`` with a known total, ``label: 600 trunks`` without
    (a listing learns its size only at its last page)."""
    if total is None:
        return f"{label}: {done:,} {unit}"
    filled = BAR_WIDTH * min(done, total) // total if total else BAR_WIDTH
    return f"{label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done:,}/{total:,} {unit}"


class Progress:
    def __init__(self, stream: TextIO | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        """``stream`` None: display nothing."""
        self._stream = stream
        self._clock = clock
        self._last_draw = float("-inf")
        self._width = 0

    @classmethod
    def on_stderr(cls, *, quiet: bool) -> Progress:
        """Shown only on a terminal (never in a pipe, a log or CI) and not with ``--quiet``."""
        return cls(None if quiet or not sys.stderr.isatty() else sys.stderr)

    def update(self, label: str, done: int, total: int | None = None, unit: str = "trunks") -> None:
        if self._stream is None:
            return
        now = self._clock()
        final = total is not None and done >= total  # always drawn
        if not final and now - self._last_draw < _REDRAW_SECONDS:
            return
        self._last_draw = now
        line = render(label, done, total, unit)
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)

    def finish(self) -> None:
        """Clear the line, so that what follows on the terminal starts clean."""
        if self._stream is not None and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0
