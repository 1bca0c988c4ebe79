"""Progress: a live bar on a terminal, whole log records everywhere else."""

from __future__ import annotations

import io
import logging

from trainer import progress


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_off_a_terminal_progress_is_log_records_without_carriage_returns(monkeypatch, caplog):
    stderr = Pipe()
    monkeypatch.setattr(progress.sys, "stderr", stderr)
    with (
        caplog.at_level(logging.INFO, "trainer.progress"),
        progress.bar(total=3, desc="sgns", unit="tok") as shown,
    ):
        for _ in range(3):
            shown.update(1)
    lines = [r.getMessage() for r in caplog.records if r.name == "trainer.progress"]
    assert lines and all("\r" not in line and "\n" not in line for line in lines)
    assert lines[-1].startswith("sgns: 100%") and "3/3" in lines[-1]
    assert "\r" not in stderr.getvalue()  # tqdm wrote nothing itself: logging's format decides


def test_a_disabled_bar_writes_nothing(monkeypatch, caplog):
    stderr = Pipe()
    monkeypatch.setattr(progress.sys, "stderr", stderr)
    with caplog.at_level(logging.INFO, "trainer.progress"):
        for _ in progress.bar(range(3), enabled=False):
            pass
    assert not caplog.records
