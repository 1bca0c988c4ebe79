"""Settings come from the environment and refuse impossible values at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.interactions import Interaction
from service.settings import Settings


def test_environment_variables_set_every_field(monkeypatch):
    monkeypatch.setenv("ARTIFACTS_DIR", "/srv/artifacts")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("REDIS_TIMEOUT_MS", "25")
    monkeypatch.setenv("VIEWED_TARGETS", "view, cart")
    monkeypatch.setenv("K_MAX", "300")
    settings = Settings()
    assert settings.artifacts_dir == Path("/srv/artifacts")
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.redis_timeout_seconds == 0.025
    assert settings.viewed_targets == (Interaction.VIEW, Interaction.CART)
    assert settings.k_max == 300


@pytest.mark.parametrize(
    "name, value",
    [
        ("REDIS_TIMEOUT_MS", "0"),
        ("K_DEFAULT", "900"),
        ("CARTED_TARGETS", "teleport"),
        ("KEY_PREFIX", "bad prefix"),
        ("SEEDS_PER_MODULE", "0"),
        ("LIVE_INDEXES", "view,teleport"),
        ("GC_THRESHOLD0", "10"),
        ("GC_THRESHOLD0", "many"),
        ("GC_THRESHOLD0", ""),
        ("GC_FREEZE", "maybe"),
        ("BACKLOG", "0"),
        ("KEEP_ALIVE_SECONDS", "0"),
    ],
)
def test_impossible_values_are_refused_naming_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert name.lower() in str(caught.value).lower() or "k_default" in str(caught.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("all", None),
        ("none", ()),
        ("view, item", ("view", "item")),
        ("cart,cart", ("cart",)),
        ("view,query,shop", ("view", "query", "shop")),
    ],
)
def test_live_indexes_are_all_none_or_a_list_of_names(monkeypatch, value, expected):
    monkeypatch.setenv("LIVE_INDEXES", value)
    assert Settings().live_index_names == expected


def test_the_garbage_collector_settings_default_to_a_freeze_and_a_raised_threshold(monkeypatch):
    assert (Settings().gc_freeze, Settings().gc_threshold0) == (True, 10_000)
    monkeypatch.setenv("GC_THRESHOLD0", "700")
    monkeypatch.setenv("GC_FREEZE", "false")
    assert (Settings().gc_freeze, Settings().gc_threshold0) == (False, 700)
