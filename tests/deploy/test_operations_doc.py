"""docs/operations.md's settings table is the code's: every variable the service reads, with its
real default, and nothing else — so the guide cannot drift from service/settings.py.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

from service.settings import Settings

from deploy_helpers import ROOT

DOC = ROOT / "docs/operations.md"
ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| `([^`]*)` \|")


def documented() -> dict[str, str]:
    """Variable → default from the table under '## Settings'."""
    section = DOC.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return dict(m.groups() for line in section.splitlines() if (m := ROW.match(line)))


def shown(value: object) -> str:
    """A default as the table writes it."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(shown(v) for v in value)
    if isinstance(value, Enum):
        return str(getattr(value, "label", value.name))
    if isinstance(value, Path):
        return str(value)
    return str(value)


def in_code() -> dict[str, str]:
    """Every setting, the process's included (HOST, PORT, WORKERS…)."""
    return {name.upper(): shown(f.default) for name, f in Settings.model_fields.items()}


def test_operations_guide_lists_every_setting_with_its_default():
    assert documented() == in_code()
