"""``python -m service`` for the people who run it: its version, every setting in --help, and
one line naming the variable for a bad setting (no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys

from service.settings import Settings


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_service_says_its_version():
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("python -m service 0.")


def test_help_lists_every_setting_with_its_default():
    help_text = run("--help").stdout
    for name in Settings.model_fields:
        assert name.upper() in help_text
    assert "K_MAX" in help_text and "[500]" in help_text


def test_a_bad_setting_is_one_line_naming_the_variable():
    done = run(K_MAX="many")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "invalid setting K_MAX: Input should be a valid integer, unable to parse string as an "
        "integer"
    ]
