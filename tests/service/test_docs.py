"""The API description: /docs and /redoc work offline (every asset served by the service), and
operation ids and summaries are readable and distinct (generated clients name methods by them)."""

from __future__ import annotations

import re

import pytest

OPERATIONS = {
    "getCandidates", "postCandidates", "getItemNeighbors", "getEntityNeighbors", "postEvents",
    "getHealth", "getReady", "getMetrics", "postReload", "postHidden",
}  # fmt: skip


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_every_asset_from_the_service_itself(client, page):
    html = client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    assert assets and not [a for a in assets if "://" in a or a.startswith("//")]
    for asset in assets:
        fetched = client.get(asset)
        assert fetched.status_code == 200 and len(fetched.content) > 1000, asset
    assert "/openapi.json" in html.text


def test_operation_ids_and_summaries_are_readable_and_distinct(client):
    schema = client.get("/openapi.json").json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert {op["operationId"] for op in operations} == OPERATIONS
    summaries = [op["summary"] for op in operations]
    assert len(set(summaries)) == len(summaries) == len(OPERATIONS)
