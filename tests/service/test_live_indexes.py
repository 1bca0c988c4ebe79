"""LIVE_INDEXES=none: a worker without hnswlib indexes serves the modules from the tables."""

from __future__ import annotations

from contracts.interactions import Interaction

from app_fixtures import items_with, make_client

VIEW, CART = Interaction.VIEW, Interaction.CART


def test_without_live_indexes_both_modules_come_from_the_tables(artifacts_dir, redis_url, model):
    viewed = items_with(model, VIEW)[:4]
    carted = items_with(model, CART)[:2]
    without_cart_pair = items_with(model, VIEW, without=CART)[:1]
    events = [(i, "view") for i in viewed] + [(i, "cart") for i in [*carted, *without_cart_pair]]
    with make_client(artifacts_dir, redis_url, live_indexes="none") as client:
        body = {"events": [{"user_id": "tim", "item_id": i, "interaction": x} for i, x in events]}
        assert client.post("/v1/events", json=body).status_code == 202
        # deeper than the tables' rows: as many as the tables hold, no error
        deep = model.tables[("view", "view")].k + 50
        answer = client.get("/v1/users/tim/candidates", params={"k": deep}).json()
        found = {m["name"]: m for m in answer["modules"]}
        assert found["viewed"]["candidates"] and found["carted"]["candidates"]
        embeddings = {c["embedding"] for c in found["carted"]["candidates"]}
        # the item>item table answered too; past the tables' depth, the labelled backfill
        assert embeddings - {"popular"} == {"item-interaction", "item"}
        assert client.get(f"/v1/items/{viewed[0]}/neighbors?interaction=view&target=view").json()[
            "neighbors"
        ]
        refused = client.get(f"/v1/items/{viewed[0]}/neighbors?interaction=view&target=purchase")
        assert refused.status_code == 422 and "LIVE_INDEXES" in refused.text
        assert "ic_index_items{" not in client.get("/metrics").text
