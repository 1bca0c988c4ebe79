"""``popular.json``: the popular items of a version, overall and per category.

Written by the trainer (``trainer/popular.py``), read by the service (fallback and backfill)
and by ``evaluate --artifacts``: this is its one definition. The file is
``{"overall": [{"item_id", "score"}, ...], "by_category": {"<category>": [...]}}``, each list
best first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.artifacts import ArtifactError

Ranked = list[tuple[str, float]]


@dataclass(frozen=True)
class Popular:
    """Ranked (item id, score) lists, best first: overall and per category id."""

    overall: Ranked
    by_category: dict[str, Ranked]

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": _entries(self.overall),
            "by_category": {c: _entries(r) for c, r in self.by_category.items()},
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Popular:
        """The file's lists; ArtifactError naming the file when it is not of this shape."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                overall=_ranked(raw["overall"]),
                by_category={str(c): _ranked(e) for c, e in raw["by_category"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ArtifactError(f"{path.name} is not a popular-items file: {exc!r}") from exc


def _entries(ranked: Ranked) -> list[dict[str, Any]]:
    return [{"item_id": item, "score": score} for item, score in ranked]


def _ranked(entries: list[dict[str, Any]]) -> Ranked:
    return [(str(e["item_id"]), float(e["score"])) for e in entries]
