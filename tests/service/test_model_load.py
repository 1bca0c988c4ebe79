"""Loading a version: entity tokens and cold vectors are optional, and must agree when present."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from contracts import artifacts
from contracts.interactions import Interaction
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


def test_a_popular_file_of_another_shape_is_refused_naming_it(trained, tmp_path):
    root = trained.copy_to(tmp_path / "artifacts")
    rewrite(artifacts.version_dir(root, trained.version), artifacts.POPULAR, b'{"overall": 3}')
    with pytest.raises(VersionRefused, match=r"popular\.json is not a popular-items file"):
        PublishedVersion.open(root, trained.version)


def as_catalogue_format_1(folder: Path) -> None:
    """The version as trainers before the catalogue's arrays wrote it: schema 1, no catalog/."""
    remove(folder, "catalog/")
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
