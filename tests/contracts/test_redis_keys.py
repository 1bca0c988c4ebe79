"""The Redis key format: one spelling, and no key built from an id that could make it ambiguous."""

from __future__ import annotations

import zlib

import pytest

from contracts.interactions import Interaction
from contracts.redis_keys import (
    DEFAULT_PREFIX,
    ITEM_CATEGORY_SHARDS,
    KeyLayout,
    check_id,
    check_prefix,
    history_key,
    item_category_key,
    item_category_shard,
    times_key,
)


def test_key_is_prefix_u_user_interaction_label() -> None:
    assert history_key("ic", "42", Interaction.VIEW) == "ic:u:42:view"
    assert history_key("ic", "42", Interaction.PURCHASE) == "ic:u:42:purchase"


def test_each_list_has_its_times_hash_beside_it() -> None:
    assert times_key("ic", "42", Interaction.CART) == "ic:u:42:cart:at"
    with pytest.raises(ValueError, match="user id"):
        times_key("ic", "a:b", Interaction.CART)


def test_default_prefix_is_ic() -> None:
    assert DEFAULT_PREFIX == "ic"


def test_every_interaction_has_its_own_key() -> None:
    keys = {history_key("ic", "u1", i) for i in Interaction}
    assert keys == {"ic:u:u1:view", "ic:u:u1:favorite", "ic:u:u1:cart", "ic:u:u1:purchase"}


@pytest.mark.parametrize(
    "value",
    ["42", "u-1", "a.b@example.com", "0f8fad5b-d9cb-469f-a165-70867728950e", "A_b", "x" * 128],
)
def test_typical_ids_are_accepted_unchanged(value: str) -> None:
    assert check_id(value, "user id") == value


@pytest.mark.parametrize(
    "value",
    ["", "a:b", "a b", " a", "a\n", "a\t", "a\x00", "-a", ".a", "_a", "é", "x" * 129, "{a}"],
)
def test_ids_that_could_break_a_key_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="invalid user id"):
        check_id(value, "user id")


def test_refusal_names_what_was_checked_and_the_rule() -> None:
    with pytest.raises(ValueError) as caught:
        check_id("a:b", "item id")
    message = str(caught.value)
    assert "item id" in message and "'a:b'" in message
    assert "1 to 128 characters" in message and "no ':'" in message


def test_a_huge_refused_id_is_shortened_in_the_message() -> None:
    with pytest.raises(ValueError) as caught:
        check_id("x" * 10_000, "user id")
    assert len(str(caught.value)) < 400


def test_non_strings_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid user id 42"):
        check_id(42, "user id")  # type: ignore[arg-type]


def test_history_key_refuses_an_invalid_user_id() -> None:
    with pytest.raises(ValueError, match="invalid user id 'a:b'"):
        history_key("ic", "a:b", Interaction.VIEW)


@pytest.mark.parametrize("prefix", ["ic", "staging:ic", "shop-1.ic", "a:b:c:d"])
def test_namespaced_prefixes_are_accepted(prefix: str) -> None:
    assert check_prefix(prefix) == prefix
    assert history_key(prefix, "u1", Interaction.CART) == f"{prefix}:u:u1:cart"


@pytest.mark.parametrize("prefix", ["", ":ic", "ic:", "a::b", "i c", "ic*", "a:b:c:d:e", "x" * 33])
def test_malformed_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid Redis key prefix"):
        history_key(prefix, "u1", Interaction.VIEW)


def test_item_categories_are_one_hash_per_prefix() -> None:
    assert item_category_key("ic") == "ic:item_category"
    assert item_category_key("staging:ic") == "staging:ic:item_category"


def test_the_category_hash_never_collides_with_a_history_key() -> None:
    histories = {history_key("ic", user, i) for user in ("item_category", "u") for i in Interaction}
    assert item_category_key("ic") not in histories


def test_item_category_key_refuses_a_malformed_prefix() -> None:
    with pytest.raises(ValueError, match="invalid Redis key prefix"):
        item_category_key("ic:")


def test_the_v2_format_puts_a_user_in_one_slot_and_spreads_the_categories() -> None:
    v2 = KeyLayout("ic", "v2")
    assert v2.history("42", Interaction.VIEW) == "ic:u:{42}:view"
    assert v2.times("42", Interaction.CART) == "ic:u:{42}:cart:at"
    assert v2.hidden() == ("ic:{hidden}", "ic:{hidden}:version")
    # the documented shard rule, which upstream writers follow: crc32 of the UTF-8 id mod 1024
    assert v2.item_category("i-1") == f"ic:item_category:{zlib.crc32(b'i-1') % 1024}"
    assert item_category_shard("i-1") == zlib.crc32(b"i-1") % ITEM_CATEGORY_SHARDS
    groups = v2.item_categories([f"i-{n}" for n in range(5000)])
    assert len(groups) == ITEM_CATEGORY_SHARDS  # every shard used, none holding them all
    assert sum(map(len, groups.values())) == 5000 and max(map(len, groups.values())) < 20


def test_the_v1_layout_is_the_contract_functions() -> None:
    v1 = KeyLayout("ic")
    assert v1.history("42", Interaction.VIEW) == history_key("ic", "42", Interaction.VIEW)
    assert v1.item_category("any") == item_category_key("ic")
    assert v1.item_categories(["a", "b"]) == {"ic:item_category": ["a", "b"]}


def test_a_layout_checks_its_ids_prefix_and_format() -> None:
    with pytest.raises(ValueError, match="user id"):
        KeyLayout("ic", "v2").history("a}b", Interaction.VIEW)
    with pytest.raises(ValueError, match="prefix"):
        KeyLayout("ic:", "v2")
    with pytest.raises(ValueError, match="key format"):
        KeyLayout("ic", "v3")  # type: ignore[arg-type]
