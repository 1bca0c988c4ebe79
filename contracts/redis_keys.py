"""The Redis key formats: a public contract, spelled only here.

A user's history for one interaction lives at ``{prefix}:u:{user_id}:{interaction}`` (for example
``ic:u:42:view``): a list of item ids, newest first, distinct, trimmed to a configurable length
(default 50) and expiring after a TTL (default 30 days) that every write refreshes.

Beside each list, ``{prefix}:u:{user_id}:{interaction}:at`` is a hash from the list's item ids
to the unix seconds of the event that put each there (same TTL, fields removed with the items
trimmed from the list). It lets a late event (one older than what the list holds, delivered
after it) take its place in time instead of the front, and a replay change nothing. Writers
that keep no times may leave it out: an item without a time counts as older than any timed
event, so lists written that way behave as before.

Items' categories live in one hash, ``{prefix}:item_category`` (for example ``ic:item_category``):
field item id, value category id, no TTL (a catalogue fact, overwritten by a newer one). The
service reads it for history items the model does not know, which it can then seed from their
category's vector (cold items); ``POST /v1/events`` writes it when an event names a category.

Hidden items (out of stock, delisted) are the set ``{prefix}:hidden`` of item ids, which no
route of the service returns, and ``{prefix}:hidden:version``, an integer that every writer of
the set increments (``INCR``) in the same transaction: the service reads the counter with each
history and the set only when the counter moved. ``POST /admin/hidden`` writes both.

Upstream systems may write these keys directly, so the formats are part of the public contract.

**Two key formats.** The above is format ``v1``, for a single Redis node (the default there).
Redis Cluster refuses a script or transaction whose keys lie in different hash slots, so format
``v2`` (required with ``REDIS_CLUSTER=true``, docs/operations.md "Redis Cluster") puts every key
of one user in one slot with a hash tag around the user id, and spreads what is global:

* history list: v1 ``ic:u:42:view``, v2 ``ic:u:{42}:view``;
* its times hash: v1 ``ic:u:42:view:at``, v2 ``ic:u:{42}:view:at``;
* item → category: v1 the one hash ``ic:item_category``; v2 1024 hashes
  ``ic:item_category:{shard}`` with shard = crc32(UTF-8 item id) mod 1024, in decimal (so the
  item ``i-1`` is in ``ic:item_category:872``);
* hidden set and counter: v1 ``ic:hidden``, ``ic:hidden:version``; v2 ``ic:{hidden}``,
  ``ic:{hidden}:version``.

The ``{…}`` around the user id and ``hidden`` are literal braces (Redis hashes only what is
between them); ``{shard}`` is the number itself. The category shards are
plain keys (no tag), so they spread over the cluster's nodes and none grows with the catalogue.
The hidden set and its counter share one tag, so a change to both stays one transaction.

Ids are checked before a key is built from them: a ':' inside a user id would make two keys
ambiguous (``u:a:b:view``), and whitespace or control characters in keys break tooling. The rule
is deliberately narrow (letters, digits and ``_ . @ -``) so that e-mail-like ids, UUIDs and
numeric ids pass and nothing that needs escaping does.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from contracts.interactions import Interaction

DEFAULT_PREFIX = "ic"
KEY_FORMAT = "{prefix}:u:{user_id}:{interaction}"
TIMES_FORMAT = KEY_FORMAT + ":at"
ITEM_CATEGORY_FORMAT = "{prefix}:item_category"
HIDDEN_FORMAT = "{prefix}:hidden"
HIDDEN_VERSION_FORMAT = "{prefix}:hidden:version"

KeyFormat = Literal["v1", "v2"]
KEY_FORMATS: tuple[KeyFormat, ...] = ("v1", "v2")
KEY_FORMAT_V2 = "{prefix}:u:{{{user_id}}}:{interaction}"
ITEM_CATEGORY_SHARDS = 1024
ITEM_CATEGORY_FORMAT_V2 = "{prefix}:item_category:{shard}"
HIDDEN_FORMAT_V2 = "{prefix}:{{hidden}}"
HIDDEN_VERSION_FORMAT_V2 = "{prefix}:{{hidden}}:version"

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
ID_RULE = (
    "1 to 128 characters from letters, digits and '_', '.', '@', '-', "
    "starting with a letter or digit (no ':', whitespace or control characters)"
)

PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,32}(:[A-Za-z0-9_.-]{1,32}){0,3}$")
PREFIX_RULE = (
    "1 to 4 ':'-separated segments of 1 to 32 letters, digits, '_', '.' or '-' "
    "(for example 'ic' or 'staging:ic')"
)


def _shown(value: object) -> str:
    """``repr`` of a value, shortened so that an error message stays readable."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def check_id(value: str, what: str) -> str:
    """``value`` if it is a valid id, else ValueError naming ``what`` and the rule."""
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise ValueError(f"invalid {what} {_shown(value)}: expected {ID_RULE}")
    return value


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is a valid key prefix, else ValueError stating the rule."""
    if not isinstance(prefix, str) or PREFIX_PATTERN.fullmatch(prefix) is None:
        raise ValueError(f"invalid Redis key prefix {_shown(prefix)}: expected {PREFIX_RULE}")
    return prefix


def history_key(prefix: str, user_id: str, interaction: Interaction) -> str:
    """The key of ``user_id``'s history for ``interaction``; ValueError for a bad id or prefix."""
    return KEY_FORMAT.format(
        prefix=check_prefix(prefix),
        user_id=check_id(user_id, "user id"),
        interaction=Interaction(interaction).label,
    )


def item_category_key(prefix: str) -> str:
    """The key of the item id → category id hash; ValueError for a bad prefix."""
    return ITEM_CATEGORY_FORMAT.format(prefix=check_prefix(prefix))


def times_key(prefix: str, user_id: str, interaction: Interaction) -> str:
    """The key of the item id → event time hash beside ``history_key``'s list."""
    return history_key(prefix, user_id, interaction) + TIMES_FORMAT[len(KEY_FORMAT) :]


def hidden_keys(prefix: str) -> tuple[str, str]:
    """The keys of the hidden-items set and of its version counter; ValueError for a bad prefix."""
    checked = check_prefix(prefix)
    return HIDDEN_FORMAT.format(prefix=checked), HIDDEN_VERSION_FORMAT.format(prefix=checked)


def item_category_shard(item_id: str) -> int:
    """The v2 shard of an item's category: crc32 of its UTF-8 id, mod ITEM_CATEGORY_SHARDS."""
    return zlib.crc32(item_id.encode()) % ITEM_CATEGORY_SHARDS


@dataclass(frozen=True)
class KeyLayout:
    """Every key of one prefix in one format; ``v1`` is the functions above."""

    prefix: str = DEFAULT_PREFIX
    format: KeyFormat = "v1"

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        if self.format not in KEY_FORMATS:
            raise ValueError(f"unknown Redis key format {_shown(self.format)}: {KEY_FORMATS}")

    def history(self, user_id: str, interaction: Interaction) -> str:
        """The list of ``user_id``'s items for ``interaction``; ValueError for a bad id."""
        if self.format == "v1":
            return history_key(self.prefix, user_id, interaction)
        return KEY_FORMAT_V2.format(
            prefix=self.prefix,
            user_id=check_id(user_id, "user id"),
            interaction=Interaction(interaction).label,
        )

    def times(self, user_id: str, interaction: Interaction) -> str:
        """The item → event time hash beside ``history``'s list."""
        return self.history(user_id, interaction) + TIMES_FORMAT[len(KEY_FORMAT) :]

    def item_category(self, item_id: str) -> str:
        """The hash that holds ``item_id``'s category."""
        if self.format == "v1":
            return item_category_key(self.prefix)
        return ITEM_CATEGORY_FORMAT_V2.format(
            prefix=self.prefix, shard=item_category_shard(item_id)
        )

    def item_categories(self, item_ids: Iterable[str]) -> dict[str, list[str]]:
        """``item_ids`` grouped by the hash that holds their categories (order kept)."""
        groups: dict[str, list[str]] = defaultdict(list)
        for item in item_ids:
            groups[self.item_category(item)].append(item)
        return dict(groups)

    def hidden(self) -> tuple[str, str]:
        """The hidden-items set and its version counter."""
        if self.format == "v1":
            return hidden_keys(self.prefix)
        return (
            HIDDEN_FORMAT_V2.format(prefix=self.prefix),
            HIDDEN_VERSION_FORMAT_V2.format(prefix=self.prefix),
        )
