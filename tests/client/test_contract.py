"""The client and the service's OpenAPI document agree: every public operation has a client
call with the document's method, path and parameter names, and every answer model has the
fields, required fields and allowed values of its schema, all the way down. A field added,
renamed or made optional on one side and not on the other fails here, not in production."""

from __future__ import annotations

import re
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from client import Event, calls
from client.calls import Call

SAMPLES: list[Call[Any]] = [
    calls.candidates("u", k=1, k_viewed=1, k_carted=1, offset=1, category=["c"], exclude=["e"]),
    calls.candidates("u", k=1, category=["c"], exclude=[f"e{n}" for n in range(200)]),
    calls.item_neighbors("i", interaction="view", target="cart", k=1),
    calls.entity_neighbors("query", "red shoes/2", target="view", k=1),
    calls.post_events(Event(user_id="u", item_id="i", interaction="view", timestamp=1.0)),
    calls.health(),
    calls.ready(),
    calls.reload(),
    calls.change_hidden(hide=["i"], show=["j"]),
]


@pytest.fixture(scope="module")
def document(service) -> dict[str, Any]:
    return httpx.get(f"{service.url}/openapi.json", timeout=10).json()


def operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (method, path template, operation)."""
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    }


def test_every_public_operation_has_a_client_call(document):
    public = {
        op_id
        for op_id, (_, path, _) in operations(document).items()
        if path.startswith(("/v1/", "/admin/")) or path in ("/healthz", "/readyz")
    }
    assert public == {call.operation for call in SAMPLES}


@pytest.mark.parametrize("call", SAMPLES, ids=lambda c: c.operation)
def test_each_call_has_its_operations_method_path_and_parameters(document, call):
    method, template, operation = operations(document)[call.operation]
    assert call.method == method
    pattern = re.sub(r"\{[^}]+\}", "[^/]+", template.replace(":any_text", ""))
    assert re.fullmatch(pattern, call.path), (call.path, template)
    declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    assert {name for name, _ in call.params} <= declared
    if call.body is not None:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        properties = properties_of(document, schema)
        assert set(call.body) <= properties, (set(call.body), properties)


@pytest.mark.parametrize("call", SAMPLES, ids=lambda c: c.operation)
def test_each_answer_model_has_its_schemas_fields(document, call):
    _, _, operation = operations(document)[call.operation]
    status = next(s for s in operation["responses"] if s.startswith("2"))
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    if "$ref" not in schema:  # /healthz: a free-form object
        assert call.operation == "getHealth"
        return
    assert differences(call.answer, schema, document) == []


def test_the_candidates_options_are_the_get_parameters_and_the_post_body(document):
    options = set(typing.get_type_hints(calls.candidates)) - {"user_id", "return"}
    get = operations(document)["getCandidates"][2]["parameters"]
    assert options == {p["name"] for p in get if p["in"] == "query"}
    body = operations(document)["postCandidates"][2]["requestBody"]["content"]
    assert options == properties_of(document, body["application/json"]["schema"])


def test_an_event_has_the_fields_the_service_takes(document):
    assert differences(Event, {"$ref": "#/components/schemas/EventIn"}, document) == []


def differences(
    model: type[BaseModel], schema: dict[str, Any], document: dict[str, Any]
) -> list[str]:
    """What differs between ``model`` and the component ``schema`` refers to, recursively:
    field names, required fields, allowed values (Literal vs enum), nested models."""
    name = schema["$ref"].rsplit("/", 1)[1]
    component = document["components"]["schemas"][name]
    where = f"{model.__name__} vs {name}"
    fields, properties = model.model_fields, component["properties"]
    found = []
    if set(fields) != set(properties):
        found.append(f"{where}: fields {_sides(set(fields), set(properties))}")
    required = {n for n, f in fields.items() if f.is_required()}
    if required != set(component.get("required", [])):
        found.append(f"{where}: required {_sides(required, set(component.get('required', [])))}")
    for field in sorted(set(fields) & set(properties)):
        annotation, prop = fields[field].annotation, properties[field]
        mine, theirs = literals(annotation), enums(prop)
        if mine != theirs:
            found.append(f"{where}.{field}: values {_sides(mine, theirs)}")
        nested, refs = models(annotation), references(prop)
        if len(nested) != len(refs):
            found.append(f"{where}.{field}: models {[m.__name__ for m in nested]} vs {refs}")
            continue
        for inner, ref in zip(nested, refs, strict=True):
            found += differences(inner, {"$ref": ref}, document)
    return found


def _sides(client: set[Any], service: set[Any]) -> str:
    return f"only in the client {sorted(client - service)}, only in the service " + str(
        sorted(service - client)
    )


def literals(annotation: Any) -> set[object]:
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    return set().union(*(literals(a) for a in typing.get_args(annotation)))


def models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.GenericAlias | types.UnionType) or typing.get_args(annotation):
        return [m for a in typing.get_args(annotation) for m in models(a)]
    return []


def enums(schema: Any) -> set[object]:
    if isinstance(schema, list):
        return set().union(*(enums(s) for s in schema))
    if not isinstance(schema, dict):
        return set()
    found = set(schema.get("enum", [])) | ({schema["const"]} if "const" in schema else set())
    return found.union(*(enums(v) for k, v in schema.items() if k not in ("enum", "const")))


def references(schema: Any) -> list[str]:
    if isinstance(schema, list):
        return [r for s in schema for r in references(s)]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        return [schema["$ref"]]
    return [r for value in schema.values() for r in references(value)]


def properties_of(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The property names of a request body schema (its ``$ref``, or each ``anyOf`` option's)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return set(document["components"]["schemas"][name].get("properties", {}))
    return set().union(*(properties_of(document, s) for s in schema.get("anyOf", [])))


def test_the_client_needs_nothing_of_the_service():
    """``pip install 'interaction-candidates[client]'`` brings httpx and pydantic only."""
    service_side = ["service", "trainer", "contracts", "fastapi", "starlette", "numba", "numpy",
                    "redis", "uvicorn", "hnswlib", "orjson"]  # fmt: skip
    probe = (
        "import sys, client; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {service_side!r}))"
    )
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "[]"
