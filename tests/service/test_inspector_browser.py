"""The inspector in a real headless browser: Debian's Chromium driven by Playwright (which
downloads no browser of its own), against ``python -m service`` with a small model, a real
Redis, an API key and an admin token. An engineer types the token, an item id and a user id;
the page must show what the public routes answer, with categories and reasons.

``INSPECTOR_SCREENSHOT=docs/inspector.png`` also saves the page as the docs' screenshot
(docs/inspector.md). Skipped only when no ``chromium`` executable exists (``make browser``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from contracts import artifacts
from contracts.interactions import Interaction

from app_fixtures import items_with
from running import Running, running_service

CHROMIUM = shutil.which("chromium") or next(
    (p for p in ("/usr/bin/chromium",) if Path(p).is_file()), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium executable (Debian: `make browser` installs it)"
)

ADMIN = "browser-admin-token-0123456789"
KEY = "browser-api-key-0123456789"
HEADERS = {"X-API-Key": KEY, "Authorization": f"Bearer {ADMIN}"}
VIEW, CART = Interaction.VIEW, Interaction.CART
PAST = {"view": "viewed", "cart": "carted"}
WAIT_MS = 10_000


def png(width: int, height: int) -> bytes:
    """A valid grey PNG (the evaluation's plot stand-in: the browser must decode it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x99" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))


def call(service: Running, path: str, body: object = None) -> dict:
    """The service's own answer, as the page should show it."""
    data = None if body is None else json.dumps(body).encode()
    headers = HEADERS | ({"Content-Type": "application/json"} if data else {})
    request = urllib.request.Request(service.url + path, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read()) if response.status != 204 else {}


def cells(page: Page, rows: str, column: int) -> list[str]:
    return page.locator(f"{rows} > td:nth-child({column})").all_inner_texts()


@pytest.fixture
def service(artifacts_dir, redis_url, trained, tmp_path):
    folder = artifacts.version_dir(artifacts_dir, trained.version) / artifacts.EVALUATION
    folder.mkdir()
    rates = {"view": {"50": 0.3912, "200": 0.5344}, "purchase": {"50": 0.2805, "200": 0.3924}}
    models = {"served": {"hit_rate": rates, "coverage": {"items": 0.97}}}
    (folder / "metrics.json").write_text(json.dumps({"ks": [50, 200], "models": models}))
    (folder / "coverage.png").write_bytes(png(40, 30))
    access = {"ADMIN_TOKEN": ADMIN, "API_KEYS": KEY}
    with running_service(artifacts_dir, redis_url, tmp_path, **access) as running:
        yield running


def test_an_engineer_inspects_an_items_neighbours_and_a_users_modules(service, model):
    viewed, carted = items_with(model, VIEW)[:6], items_with(model, CART)[:2]
    events = [{"user_id": "alice", "item_id": i, "interaction": "view"} for i in viewed]
    events += [{"user_id": "alice", "item_id": i, "interaction": "cart"} for i in carted]
    assert call(service, "/v1/events", {"events": events})["accepted"] == len(events)
    item = items_with(model, VIEW, CART)[0]
    query = urllib.parse.urlencode({"interaction": "view", "target": "cart", "k": 10})
    neighbors = call(service, f"/v1/items/{item}/neighbors?{query}")["neighbors"]
    answer = call(service, "/v1/users/alice/candidates?k=5")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.set_default_timeout(WAIT_MS)
            requested: list[str] = []
            errors: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{service.url}/inspect")

            # without the token, the page says what it needs; with it, the served version
            expect(page.locator("#access-status")).to_contain_text("401")
            page.fill("#admin-token", ADMIN)
            page.fill("#api-key", KEY)
            page.click("#access-form button")
            expect(page.locator("#version-id")).to_have_text(model.version)
            expect(page.locator("#access-status")).to_be_empty()
            events_figure = page.locator(".figure", has_text="events")
            expect(events_figure).to_contain_text(f"{model.manifest.data.events:,}")

            # an item: "because you viewed this, you may cart these", with categories
            page.fill("#item-id", item)
            page.select_option("#seed-interaction", "view")
            page.select_option("#target", "cart")
            page.fill("#item-k", "10")
            page.click("#item-form button")
            rows = "#neighbors tbody tr"
            expect(page.locator(rows)).to_have_count(len(neighbors))
            assert cells(page, rows, 2) == [n["item_id"] for n in neighbors]
            assert cells(page, rows, 4) == [f"{n['score']:.4f}" for n in neighbors]
            categories = [model.item_category[model.item_row[n["item_id"]]] for n in neighbors]
            assert cells(page, rows, 3) == [c or "—" for c in categories]
            expect(page.locator("#item-facts")).to_contain_text(
                model.item_category[model.item_row[item]] or "—"
            )

            # a user: the raw history (seeds highlighted) and both modules with their reasons
            page.fill("#user-id", "alice")
            page.fill("#user-k", "5")
            page.click("#user-form button")
            modules = page.locator("#modules .module")
            expect(modules).to_have_count(2)
            expect(page.locator("#history dd").first.locator(".chip")).to_have_count(6)
            expect(page.locator("#history .chip.seed")).to_have_count(4 + 2)
            seeds_shown = 0
            for module in answer["modules"]:
                box = f"#modules .module[data-module='{module['name']}']"
                expect(page.locator(f"{box} h3")).to_have_text(module["title"])
                rows = f"{box} tbody tr"
                expect(page.locator(rows)).to_have_count(len(module["candidates"]))
                assert cells(page, rows, 2) == [c["item_id"] for c in module["candidates"]]
                for because, shown in zip(
                    (c["because"] for c in module["candidates"]),
                    cells(page, rows, 7),
                    strict=True,
                ):
                    if because["reason"] == "seed":
                        assert shown == f"you {PAST[because['interaction']]} {because['item_id']}"
                        seeds_shown += 1
                    else:
                        assert shown.startswith("popular"), shown
            assert seeds_shown, "no candidate explained by a seed: the test shows nothing"

            # the evaluation: its headline, and its plot fetched with the token
            served = page.locator("#evaluation tr.highlight")
            expect(served).to_contain_text("39.12")
            plot = page.locator("#evaluation .plots img")
            expect(plot).to_have_attribute("src", re.compile(r"^blob:"))
            assert plot.evaluate("img => img.decode().then(() => img.naturalWidth)") == 40

            if target := os.environ.get("INSPECTOR_SCREENSHOT"):
                page.evaluate("window.scrollTo(0, 0)")
                main = page.locator("main").bounding_box()
                assert main is not None
                bottom = main["y"] + main["height"] + 8  # down to the two panels' end
                page.screenshot(path=target, clip={"x": 0, "y": 0, "width": 1440, "height": bottom})
                if full := os.environ.get("INSPECTOR_SCREENSHOT_FULL"):
                    page.screenshot(path=full, full_page=True)

            # the token outlives a reload of the tab (sessionStorage)
            page.reload()
            expect(page.locator("#version-id")).to_have_text(model.version)
            assert not errors, errors
            assert all(url.startswith(service.url) or url.startswith("blob:") for url in requested)
        finally:
            browser.close()
