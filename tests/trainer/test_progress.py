"""Progress: a live bar on a terminal, whole lines in a log."""

from __future__ import annotations

import io

from trainer import progress


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_off_a_terminal_progress_is_whole_lines_without_carriage_returns(monkeypatch):
    log = Pipe()
    monkeypatch.setattr(progress.sys, "stderr", log)
    with progress.bar(total=3, desc="sgns", unit="tok") as shown:
        for _ in range(3):
            shown.update(1)
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    assert text.splitlines()[-1].startswith("sgns: 100%") and "3/3" in text.splitlines()[-1]


def test_a_disabled_bar_writes_nothing(monkeypatch):
    log = Pipe()
    monkeypatch.setattr(progress.sys, "stderr", log)
    for _ in progress.bar(range(3), enabled=False):
        pass
    assert log.getvalue() == ""
