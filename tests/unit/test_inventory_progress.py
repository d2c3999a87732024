"""The stderr progress display: its rendering, its pacing, and silence off a terminal."""

from __future__ import annotations

import io

import pytest

from siptrunk_operator.inventory.progress import Progress, render


@pytest.mark.parametrize(
    ("done", "total", "expected"),
    [
        (0, None, "listing: 0 trunks"),
        (1200, None, "listing: 1,200 trunks"),
        (0, 1200, "listing [------------------------] 0/1,200 trunks"),
        (600, 1200, "listing [############------------] 600/1,200 trunks"),
        (1200, 1200, "listing [########################] 1,200/1,200 trunks"),
        (5, 0, "listing [########################] 5/0 trunks"),
    ],
)
def test_render(done: int, total: int | None, expected: str) -> None:
    assert render("listing", done, total) == expected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_redraws_in_place_at_most_ten_times_a_second_and_always_the_final_state() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, clock=clock)
    progress.update("writing", 1, 3, unit="files")
    clock.now = 0.05
    progress.update("writing", 2, 3, unit="files")  # too soon: skipped
    progress.update("writing", 3, 3, unit="files")  # final: drawn
    assert stream.getvalue().count("\r") == 2
    assert stream.getvalue().endswith("3/3 files")
    progress.finish()
    assert stream.getvalue().endswith("\r" + " " * len(render("writing", 3, 3, "files")) + "\r")


def test_nothing_is_written_without_a_stream() -> None:
    progress = Progress(None)
    progress.update("listing", 10)
    progress.finish()  # no stream, no error


def test_off_when_quiet_or_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    Progress.on_stderr(quiet=True).update("listing", 1)
    assert terminal.getvalue() == ""
    Progress.on_stderr(quiet=False).update("listing", 1)
    assert terminal.getvalue() == "\rlisting: 1 trunks"
    monkeypatch.setattr("sys.stderr", io.StringIO())
    Progress.on_stderr(quiet=False).update("listing", 1)  # a pipe: nothing, and no error
