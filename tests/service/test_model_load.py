"""Loading a version: entity tokens and cold vectors are optional, and must agree when present."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from contracts import artifacts
from contracts.interactions import Interaction
from contracts.popular import Popular
from contracts.published import PublishedVersion, VersionRefused
from contracts.strings import StringTable, table_files
from service.model import ModelLoadError, load_model
from service.retrieval import neighbors

from app_fixtures import items_with, make_client


def edit_manifest(folder: Path, change) -> None:
    path = folder / artifacts.MANIFEST
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def rewrite(folder: Path, relative: str, data: bytes) -> None:
    """Replace a file of a published version and its manifest entry, so that the version still
    verifies and only the service's own checks can refuse it."""
    (folder / relative).write_bytes(data)
    entry = artifacts.file_entry(folder / relative).model_dump()
    edit_manifest(folder, lambda manifest: manifest["files"].__setitem__(relative, entry))


def remove(folder: Path, *prefixes: str) -> None:
    """Delete a published version's files whose names start with ``prefixes``, as if the
    trainer had never written them (manifest entries and neighbour tables included)."""

    def change(manifest: dict) -> None:
        doomed = [name for name in manifest["files"] if name.startswith(prefixes)]
        for name in doomed:
            (folder / name).unlink()
            del manifest["files"][name]
        tables = manifest["neighbor_tables"]
        manifest["neighbor_tables"] = [t for t in tables if t["tokens"] not in doomed]

    edit_manifest(folder, change)


def cold_vectors_of_another_shape(folder: Path) -> None:
    data = io.BytesIO()
    np.save(data, np.zeros((3, 16), np.float32))
    rewrite(folder, artifacts.COLD_VECTORS, data.getvalue())


def cold_categories_without_vectors(folder: Path) -> None:
    remove(folder, artifacts.COLD_VECTORS)


def an_entity_line_missing(folder: Path) -> None:
    """The last entity dropped from the catalogue's arrays (its id and its kind)."""
    ids = list(StringTable.open(folder, artifacts.CATALOG_ENTITIES))
    StringTable.build(ids[:-1]).write(folder, artifacts.CATALOG_ENTITIES)
    kinds = np.load(folder / artifacts.CATALOG_ENTITY_KIND)
    np.save(folder / artifacts.CATALOG_ENTITY_KIND, kinds[:-1])
    for name in (*table_files(artifacts.CATALOG_ENTITIES), artifacts.CATALOG_ENTITY_KIND):
        rewrite(folder, name, (folder / name).read_bytes())


def test_an_entity_versions_pair_vectors_hold_pairs_then_entities(entity_model):
    n_entities = len(entity_model.entity_ids)
    assert entity_model.pair_vectors.shape[0] == entity_model.n_pairs + n_entities
    assert entity_model.entity_kinds == {"query", "category", "shop"}
    token = entity_model.entity_token[("shop", "s0001")]
    assert entity_model.entity_ids[token - entity_model.n_pairs] == "s0001"


def test_a_version_without_cold_files_still_loads_and_serves(trained, tmp_path, redis_url, model):
    root = trained.copy_to(tmp_path / "artifacts")
    remove(artifacts.version_dir(root, trained.version), "cold/", "neighbors/cold-")
    with make_client(root, redis_url) as client:
        known = items_with(model, Interaction.VIEW)[0]
        category = model.item_category[model.item_row[known]]
        events = [
            {"user_id": "old", "item_id": known, "interaction": "view"},
            {"user_id": "old", "item_id": "new", "interaction": "view", "category_id": category},
        ]
        assert client.post("/v1/events", json={"events": events}).status_code == 202
        answer = client.get("/v1/users/old/candidates").json()
        assert answer["model_version"] == trained.version
        viewed = answer["modules"][0]
        assert viewed["seeds"] == [known] and viewed["unknown_seeds"] == ["new"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (cold_vectors_of_another_shape, r"cold vectors \(3, 16\) != \(20 categories, 16\)"),
        (cold_categories_without_vectors, "come together"),
        (an_entity_line_missing, r"pair vectors .* entities"),
    ],
)
def test_a_version_whose_files_disagree_is_refused(entity_trained, tmp_path, damage, message):
    root = entity_trained.copy_to(tmp_path / "artifacts")
    damage(artifacts.version_dir(root, entity_trained.version))
    with pytest.raises(ModelLoadError, match=message):
        load_model(root, entity_trained.version)


def test_the_service_and_the_evaluation_read_a_version_through_one_reader(entity_trained):
    files = PublishedVersion.open(entity_trained.root, entity_trained.version)
    model = load_model(entity_trained.root, entity_trained.version)
    assert files.manifest == model.manifest and files.popular == model.popular
    assert isinstance(files.pair_vectors, np.memmap) and not files.pair_vectors.flags.writeable
    assert files.pair_outputs().shape == files.pair_vectors.shape
    assert set(files.tables) == set(model.tables) and files.problems() == []


def as_schema_2(folder: Path) -> None:
    """The version as trainers before the popular arrays wrote it: schema 2, ``popular.json``."""
    lists = Popular.open(folder / artifacts.POPULAR).to_json()
    remove(folder, artifacts.POPULAR + "/")
    rewrite(folder, artifacts.POPULAR_JSON, json.dumps(lists).encode())
    edit_manifest(folder, lambda manifest: manifest.__setitem__("schema_version", 2))


def test_a_popular_json_of_another_shape_is_refused_naming_it(trained, tmp_path):
    root = trained.copy_to(tmp_path / "artifacts")
    folder = artifacts.version_dir(root, trained.version)
    as_schema_2(folder)
    rewrite(folder, artifacts.POPULAR_JSON, b'{"overall": 3}')
    with pytest.raises(VersionRefused, match=r"popular\.json is not a popular-items file"):
        PublishedVersion.open(root, trained.version)


def as_catalogue_format_1(folder: Path) -> None:
    """The version as trainers before the catalogue's arrays wrote it: schema 1, no catalog/."""
    remove(folder, "catalog/")
    as_schema_2(folder)
    edit_manifest(folder, lambda manifest: manifest.__setitem__("schema_version", 1))


def test_a_version_of_catalogue_format_1_loads_and_answers_as_with_arrays(
    entity_trained, entity_model, tmp_path
):
    root = entity_trained.copy_to(tmp_path / "artifacts")
    as_catalogue_format_1(artifacts.version_dir(root, entity_trained.version))
    old = load_model(root, entity_trained.version)
    assert list(old.item_ids) == list(entity_model.item_ids)
    assert list(old.item_category) == list(entity_model.item_category)
    assert list(zip(old.entity_kind, old.entity_ids, strict=True)) == list(
        zip(entity_model.entity_kind, entity_model.entity_ids, strict=True)
    )
    view = Interaction.VIEW
    for item in items_with(entity_model, view)[:5]:
        assert neighbors(old, item, view, view, 10) == neighbors(entity_model, item, view, view, 10)
    assert old.entity_token_of("shop", "s0001") == entity_model.entity_token_of("shop", "s0001")


def test_a_version_of_schema_3_memory_maps_its_popular_lists(trained, model):
    folder = artifacts.version_dir(trained.root, trained.version)
    assert model.manifest.schema_version == artifacts.SCHEMA_VERSION == 3
    assert not (folder / artifacts.POPULAR_JSON).exists()
    assert set(artifacts.POPULAR_FILES) <= set(model.manifest.files)
    assert isinstance(model.popular.category_scores.base, np.memmap)
    assert model.popular == Popular.open(folder / artifacts.POPULAR)
    overall = model.popular.overall.head()
    assert len(overall) == 500 and overall[0][1] >= overall[-1][1] > 0
    for row in range(0, model.n_items, 97):  # an item's list, by its category's code
        category, found = model.category_of(row), model.popular_of(row)
        listed = model.popular.of_category(category) if category is not None else None
        assert (found and found.head()) == (listed and listed.head())


def answers(client, model) -> list[dict]:
    """The answers the popular lists shape: the cold-start fallback (overall, then of a bought
    item's categories), the backfill of a long module, a category filter."""
    bought = items_with(model, Interaction.PURCHASE)[0]
    viewed = items_with(model, Interaction.VIEW)[:3]
    events = [{"user_id": "buyer", "item_id": bought, "interaction": "purchase"}]
    events += [{"user_id": "viewer", "item_id": i, "interaction": "view"} for i in viewed]
    assert client.post("/v1/events", json={"events": events}).status_code == 202
    seed_category = model.item_category[model.item_row[viewed[0]]]
    other = next(c for c in model.popular.categories if c != seed_category)
    found = []
    for user, params in [
        ("nobody", {"k": 30}),
        ("buyer", {"k": 30}),
        ("viewer", {"k": 300}),
        ("viewer", {"k": 40, "category": [seed_category, other]}),
    ]:
        response = client.get(f"/v1/users/{user}/candidates", params=params)
        assert response.status_code == 200, response.text
        found.append(response.json())
    return found


def test_a_version_of_schema_2_with_popular_json_loads_and_answers_as_with_arrays(
    trained, model, tmp_path, redis_url
):
    root = trained.copy_to(tmp_path / "artifacts")
    as_schema_2(artifacts.version_dir(root, trained.version))
    old = load_model(root, trained.version)
    assert old.manifest.schema_version == 2 and old.popular == model.popular
    assert not isinstance(old.popular.category_scores.base, np.memmap)  # converted in memory
    with make_client(root, redis_url) as client:
        from_json = answers(client, model)
    with make_client(trained.copy_to(tmp_path / "arrays"), redis_url) as client:
        from_arrays = answers(client, model)
    assert from_json == from_arrays
    reasons = {c["because"]["reason"] for body in from_arrays for m in body["modules"]
               for c in m["candidates"]}  # fmt: skip
    assert {"popular", "popular_in_category"} <= reasons


def offsets_decrease(folder: Path) -> None:
    offsets = np.load(folder / artifacts.POPULAR / "category_offsets.npy")
    offsets[1], offsets[2] = offsets[2], offsets[1]
    data = io.BytesIO()
    np.save(data, offsets)
    rewrite(folder, f"{artifacts.POPULAR}/category_offsets.npy", data.getvalue())


def test_popular_arrays_that_disagree_are_refused_and_the_old_version_keeps_serving(
    trained, artifacts_dir, redis_url
):
    with make_client(artifacts_dir, redis_url) as client:
        bad = trained.publish_another(artifacts_dir)
        offsets_decrease(artifacts.version_dir(artifacts_dir, bad))  # the sha256 still verifies
        result = client.post("/admin/reload").json()
        assert result["result"] == "refused" and result["model_version"] == trained.version
        assert "popular/category_offsets.npy: offsets decrease" in result["detail"]
        response = client.get("/v1/users/nobody/candidates")
        assert response.status_code == 200
        assert response.headers["X-Model-Version"] == trained.version


def test_a_schema_3_version_without_its_popular_arrays_listed_is_refused(trained, tmp_path):
    root = trained.copy_to(tmp_path / "artifacts")
    remove(artifacts.version_dir(root, trained.version), f"{artifacts.POPULAR}/overall")
    with pytest.raises(VersionRefused, match=r"popular/overall\.bytes is missing"):
        PublishedVersion.open(root, trained.version)
