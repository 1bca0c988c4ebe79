"""Two versions side by side: which users the canary version answers.

A user's **bucket** is a stable function of the user id alone, so a user sees the same arm on
every pod, worker and restart, and a re-ranker or an analytics job can reproduce the split:

    bucket = int.from_bytes(sha256(user_id.encode("utf-8")).digest()[:8], "big") % 10_000

A user is in the canary arm when ``bucket < round(CANARY_PERCENT * 100)``: ``CANARY_PERCENT=5``
routes buckets 0–499, ``0.5`` buckets 0–49 (steps of 0.01 %). Raising the percent only adds
users to the canary arm; nobody who was in it leaves (docs/operations.md "Canary and pinned
versions").
"""

from __future__ import annotations

import hashlib
from typing import Literal

BUCKETS = 10_000
"""Buckets of the split: one is 0.01 % of the users."""

Arm = Literal["primary", "canary"]
Unloaded = Literal["loading", "missing", "refused", "unavailable"]
"""Why the canary does not answer its users: not tried yet, not published, refused (a file's
sha256, shapes, schema), or its store unreachable. Its users get the primary meanwhile."""


def bucket(user_id: str) -> int:
    """The user's bucket, 0 to 9,999: the first 8 bytes of the sha256 of the UTF-8 id (big
    endian) modulo 10,000."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def threshold(percent: float) -> int:
    """The buckets below this one are the canary's (``percent`` of 100, in steps of 0.01)."""
    return round(percent * BUCKETS / 100)


def arm(user_id: str, percent: float) -> Arm:
    """The arm a user belongs to for a canary answering ``percent`` % of the users."""
    return "canary" if bucket(user_id) < threshold(percent) else "primary"
