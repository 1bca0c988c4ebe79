"""The inspector over plain HTTP: its page and files, who may read its data, and the JSON it
adds to /v1 (version summary, evaluation files, catalogue facts, raw histories)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from contracts import artifacts
from contracts.interactions import Interaction
from service.routes.inspect import ASSETS, PAGE

from app_fixtures import ADMIN_TOKEN, items_with, make_client, problems

VIEW, CART = Interaction.VIEW, Interaction.CART
KEY = "inspect-api-key-0123456789"
API = ("/inspect/api/version", "/inspect/api/users/u1/history")
INSPECTOR = resources.files("service") / "inspector"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # a header is enough: the route serves bytes


def evaluation_dir(root: Path, version: str) -> Path:
    folder = artifacts.version_dir(root, version) / artifacts.EVALUATION
    folder.mkdir()
    return folder


def metrics(models: dict[str, dict[str, dict[str, float]]]) -> dict:
    """A metrics.json in the trainer's shape (trainer/evaluation/results.py), rates only."""
    return {
        "split": {"cutoff": "2026-11-20T00:00:00+00:00", "test_days": 1.0},
        "ks": [10, 50, 200],
        "models": {
            name: {"hit_rate": rates, "coverage": {"items": 0.5, "traffic": 0.75}}
            for name, rates in models.items()
        },
    }


# ---- the page and its files ----------------------------------------------------------------


def test_the_page_is_html_whose_script_and_style_the_service_serves(client):
    page = client.get("/inspect", headers={})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert sorted(linked) == ["inspect/static/app.js", "inspect/static/style.css"]
    script, style = client.get("/inspect/static/app.js"), client.get("/inspect/static/style.css")
    assert script.status_code == style.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert 'id="item-form"' in page.text and 'id="user-form"' in page.text
    assert "inspect/api/version" in script.text and "v1/users/" in script.text


def test_every_file_of_the_folder_is_served_and_none_names_another_host():
    files = {f.name: f.read_text(encoding="utf-8") for f in INSPECTOR.iterdir() if f.is_file()}
    assert set(files) == {PAGE, *ASSETS}, "a file in service/inspector/ that nothing serves"
    for name, text in files.items():
        assert not re.search(r"https?:|(?:src|href|url)\s*[=(]\s*[\"']?//", text), name
        assert "@import" not in text, name


@pytest.mark.parametrize(
    "path",
    ["/inspect/static/index.html", "/inspect/static/inspect.py", "/inspect/static/..%2Fapp.py"],
)
def test_only_the_pages_own_files_are_served(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "app.py" not in response.text


def test_the_inspector_is_not_in_the_api_description(client):
    assert not [p for p in client.get("/openapi.json").json()["paths"] if "inspect" in p]


# ---- access -----------------------------------------------------------------------------------


def test_with_an_admin_token_the_data_needs_it_and_the_page_does_not(artifacts_dir, redis_url):
    with make_client(artifacts_dir, redis_url, headers={}, api_keys=KEY) as client:
        assert client.get("/inspect").status_code == 200
        assert client.get("/inspect/static/app.js").status_code == 200
        for path in API:
            refused = client.get(path)
            assert refused.status_code == 401 and "ADMIN_TOKEN" in refused.json()["detail"]
            assert client.get(path, headers={"X-API-Key": KEY}).status_code == 401
            assert client.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 401
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-API-Key": KEY}
            assert client.get(path, headers=admin).status_code == 200
        # the page's two headers together also open /v1 (X-API-Key is read first there)
        assert client.get("/v1/users/u1/candidates", headers=admin).status_code == 200


def test_without_an_admin_token_the_data_is_guarded_as_v1_is(artifacts_dir, redis_url):
    with make_client(artifacts_dir, redis_url, headers={}, admin_token=None) as client:
        for path in API:
            assert client.get(path).status_code == 200
    with make_client(
        artifacts_dir, redis_url, headers={}, admin_token=None, api_keys=KEY
    ) as client:
        for path in API:
            assert client.get(path).status_code == 401
            assert client.get(path, headers={"X-API-Key": KEY}).status_code == 200


# ---- the served version ------------------------------------------------------------------------


def test_the_version_summary_names_the_served_version_and_its_figures(client, model):
    response = client.get("/inspect/api/version")
    assert response.status_code == 200
    body = response.json()
    manifest = model.manifest
    assert body["version"] == response.headers["X-Model-Version"] == model.version
    assert body["dim"] == manifest.dim and body["similarity"] == manifest.similarity
    assert body["data"]["events"] == manifest.data.events > 0
    assert body["data"]["pairs_per_interaction"] == manifest.data.pairs_per_interaction
    assert set(body["training"]) == set(manifest.training)
    view = next(i for i in body["indexes"] if i["name"] == "view")
    assert view["live"] is True and view["count"] > 0 and view["recall"]
    assert {(t["seed"], t["target"]) for t in body["tables"]} >= {("view", "view")}
    assert body["targets"][:4] == ["view", "favorite", "cart", "purchase"]
    assert body["files"]["count"] == len(manifest.files)
    assert "files" not in body["config"] and body["config"] == manifest.config
    assert body["evaluation"] is None


def test_the_evaluation_headline_comes_from_metrics_json(artifacts_dir, redis_url, trained):
    folder = evaluation_dir(artifacts_dir, trained.version)
    served = {"view": {"10": 0.1, "50": 0.25, "200": 0.5}, "purchase": {"50": 0.125, "200": 0.2}}
    popular = {"view": {"50": 0.05, "200": 0.1}, "purchase": {"50": 0.01}}
    (folder / "metrics.json").write_text(
        json.dumps(metrics({"served": served, "popular": popular}))
    )
    (folder / "report.md").write_text("# Offline evaluation of version X on later.csv\n\n…\n")
    (folder / "coverage.png").write_bytes(PNG)
    with make_client(artifacts_dir, redis_url) as client:
        evaluation = client.get("/inspect/api/version").json()["evaluation"]
    assert evaluation["title"] == "Offline evaluation of version X on later.csv"
    assert evaluation["plots"] == ["coverage.png"] and evaluation["report"] is True
    assert evaluation["problem"] is None and evaluation["split"]["test_days"] == 1.0
    headline = evaluation["headline"]
    assert headline["columns"] == [["view", 50], ["view", 200], ["purchase", 50], ["purchase", 200]]
    assert headline["rows"] == [
        {"model": "served", "hit_rate": [25.0, 50.0, 12.5, 20.0], "coverage": 50.0},
        {"model": "popular", "hit_rate": [5.0, 10.0, 1.0, None], "coverage": 50.0},
    ]


def test_a_broken_metrics_json_is_reported_not_a_failure(artifacts_dir, redis_url, trained):
    folder = evaluation_dir(artifacts_dir, trained.version)
    (folder / "metrics.json").write_text('{"models": [1, 2')
    (folder / "hit_rate_vs_k.png").write_bytes(PNG)
    with make_client(artifacts_dir, redis_url) as client:
        response = client.get("/inspect/api/version")
    assert response.status_code == 200
    evaluation = response.json()["evaluation"]
    assert evaluation["problem"] == "metrics.json is not valid JSON"
    assert evaluation["headline"] is None and evaluation["plots"] == ["hit_rate_vs_k.png"]


def test_the_plot_route_serves_the_served_versions_plots_and_nothing_else(
    artifacts_dir, redis_url, trained
):
    folder = evaluation_dir(artifacts_dir, trained.version)
    (folder / "coverage.png").write_bytes(PNG)
    (folder / "report.md").write_text("# report\n")
    (folder / "metrics.json").write_text("{}")
    (folder / "secret.png").write_bytes(PNG)
    with make_client(artifacts_dir, redis_url) as client:
        plot = client.get("/inspect/api/evaluation/coverage.png")
        assert plot.status_code == 200 and plot.content == PNG
        assert plot.headers["content-type"] == "image/png"
        report = client.get("/inspect/api/evaluation/report.md")
        assert report.status_code == 200 and report.text == "# report\n"
        for name in (
            "hit_rate_vs_k.png",  # a known plot this version lacks
            "secret.png",  # present, but no evaluation draws it
            "metrics.json",
            "..%2Fmanifest.json",
            "..%2F..%2F..%2FCURRENT",
            "x" * 5000,
        ):
            refused = client.get(f"/inspect/api/evaluation/{name}")
            assert refused.status_code == 404, name
            assert len(refused.text) < 300 and "xxxx" not in refused.text
        assert client.get("/inspect/api/evaluation/../../manifest.json").status_code == 404


# ---- items and histories -----------------------------------------------------------------------


def test_item_facts_give_each_items_category_and_pairs(client, model):
    both = items_with(model, VIEW, CART)[0]
    row = model.item_row[both]
    response = client.post("/inspect/api/items", json={"items": [both, "never-seen"]})
    assert response.status_code == 200
    found = response.json()["items"]
    assert found[0]["item_id"] == both and found[0]["known"] is True
    assert found[0]["category_id"] == model.item_category[row]
    assert {"view", "cart"} <= set(found[0]["pairs"])
    assert found[1] == {"item_id": "never-seen", "known": False, "category_id": None, "pairs": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": ["a:b"]}, "body.items.0"),
        ({"items": ["i"] * 2001}, "body.items"),
        ({"items": "i1"}, "body.items"),
        ({"item": ["i1"]}, "body.item"),
    ],
)
def test_bad_item_lists_get_a_422_naming_the_field(client, body, field):
    assert problems(client.post("/inspect/api/items", json=body)).startswith(field)


def test_the_history_route_lists_what_redis_holds_newest_first(client, model):
    views, cart = items_with(model, VIEW)[:3], items_with(model, CART)[0]
    events = [{"user_id": "alice", "item_id": i, "interaction": "view"} for i in views]
    events += [{"user_id": "alice", "item_id": cart, "interaction": "cart"}]
    events += [{"user_id": "alice", "item_id": "new-1", "interaction": "view", "category_id": "c9"}]
    assert client.post("/v1/events", json={"events": events}).status_code == 202
    response = client.get("/inspect/api/users/alice/history")
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "alice" and body["model_version"] == model.version
    lists = body["lists"]
    assert [f["item_id"] for f in lists["view"]] == ["new-1", *reversed(views)]
    assert lists["view"][0] == {
        "item_id": "new-1",
        "known": False,
        "category_id": "c9",
        "pairs": [],
    }
    assert lists["view"][1]["category_id"] == model.item_category[model.item_row[views[-1]]]
    assert [f["item_id"] for f in lists["cart"]] == [cart]
    assert lists["favorite"] == lists["purchase"] == []


def test_a_user_without_history_has_empty_lists(client):
    lists = client.get("/inspect/api/users/nobody/history").json()["lists"]
    assert lists == {"view": [], "favorite": [], "cart": [], "purchase": []}


@pytest.mark.parametrize("user", ["a:b", "-x", "u" * 129, "a%20b"])
def test_invalid_user_ids_get_a_short_422_naming_the_field(client, raw, user):
    response = client.get(f"/inspect/api/users/{user}/history")
    assert problems(response).startswith("path.user_id")
    assert len(response.text) < 400 and user not in response.text
    assert raw.dbsize() == 0


def test_an_unavailable_redis_is_a_503_for_the_history(artifacts_dir, redis_url, redis_server):
    with make_client(artifacts_dir, redis_url, redis_timeout_ms=100) as client:
        redis_server.pause()
        try:
            response = client.get("/inspect/api/users/alice/history")
        finally:
            redis_server.resume()
    assert response.status_code == 503 and "unavailable" in response.json()["detail"]
