"""Who may call what: API keys for ``/v1`` (and ``/metrics``), a token for ``/admin``.

* ``API_KEYS`` (comma-separated; in k8s from a Secret): when set, every ``/v1`` route needs one
  of them, as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``; ``/metrics`` too unless
  ``METRICS_OPEN=true``. When unset, ``/v1`` is open (a private network, or a gateway that
  authenticates in front).
* ``ADMIN_TOKEN``: ``/admin/*`` needs ``Authorization: Bearer TOKEN``; without the setting the
  admin routes are off (403), since reloading re-hashes a version on demand.
* The inspector's data (``/inspect/api/*``: users' histories, the version's evaluation) needs
  ``Authorization: Bearer ADMIN_TOKEN`` when the setting is there; without it, it is guarded as
  ``/v1`` is (so never less than the histories' own route). Its page and static files
  (``/inspect``, ``/inspect/static/*``) hold no data and stay open: a browser's navigation
  cannot send a header, the page sends the token with each of its requests (docs/inspector.md).
* Probes (``/healthz``, ``/readyz``) and the API description are open.

A plain ASGI middleware rather than a FastAPI dependency: a dependency costs every request
~30–60 µs of resolving even with no keys configured, a path check costs nothing. Keys are
compared in constant time, against every configured key whatever the first gives, so timing
says nothing about a key. The OpenAPI document declares the schemes this instance enforces
(``openapi_security``). The threat model is in docs/operations.md ("Security").
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from service.settings import Settings

API_KEY_SCHEME, BEARER_SCHEME = "ApiKeyHeader", "Bearer"
INSPECT_API = "/inspect/api/"


def matches(given: str, secrets: tuple[str, ...]) -> bool:
    """Whether ``given`` is one of ``secrets``, in time independent of which (or how close)."""
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(given.encode(), secret.encode())
    return found


class Access:
    """Refuses what the settings guard, with 401 (or 403 for the admin routes when they are
    off) and a short JSON ``detail``, before the application runs."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.keys = settings.api_key_values
        self.metrics_open = settings.metrics_open
        token = settings.admin_token
        self.admin_token = None if token is None else token.get_secret_value()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope["path"], scope["headers"])
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        await self.app(scope, receive, send)

    def refusal(self, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
        """(status, message) when the request may not pass; None when it may."""
        if path.startswith("/admin/"):
            if self.admin_token is None:
                return 403, "the admin routes are off: set ADMIN_TOKEN to use them"
            return self._admin(headers, self.admin_token)
        inspecting = path.startswith(INSPECT_API)
        if inspecting and self.admin_token is not None:
            return self._admin(headers, self.admin_token)
        guarded = (
            path.startswith("/v1/") or inspecting or (path == "/metrics" and not self.metrics_open)
        )
        if not self.keys or not guarded:
            return None
        given = _header(headers, b"x-api-key") or _bearer(headers)
        if given is None:
            return 401, "an API key is required: X-API-Key: KEY or Authorization: Bearer KEY"
        if not matches(given, self.keys):
            return 401, "invalid API key"
        return None

    @staticmethod
    def _admin(headers: list[tuple[bytes, bytes]], token: str) -> tuple[int, str] | None:
        bearer = _bearer(headers)
        if bearer is None or not matches(bearer, (token,)):
            return 401, "Authorization: Bearer ADMIN_TOKEN required"
        return None


def openapi_security(schema: dict[str, Any], settings: Settings) -> None:
    """Declare in the OpenAPI document what ``Access`` enforces on this instance."""
    schemes = {
        API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        BEARER_SCHEME: {"type": "http", "scheme": "bearer"},
    }
    schema.setdefault("components", {})["securitySchemes"] = schemes
    unauthorized = {"description": "The request lacks a valid key (or admin token)."}
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            if path.startswith("/admin/"):
                operation["security"] = [{BEARER_SCHEME: []}]
                operation["responses"]["401"] = unauthorized
                operation["responses"]["403"] = {"description": "ADMIN_TOKEN is not set."}
            elif settings.api_keys and (
                path.startswith("/v1/") or (path == "/metrics" and not settings.metrics_open)
            ):
                operation["security"] = [{API_KEY_SCHEME: []}, {BEARER_SCHEME: []}]
                operation["responses"]["401"] = unauthorized


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    value = _header(headers, b"authorization")
    if value is None:
        return None
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


async def _refuse(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"detail": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
