"""Who may call what: API keys for ``/v1`` (and ``/metrics``), a token for ``/admin``.

* ``API_KEYS`` (comma-separated; in k8s from a Secret): when set, every ``/v1`` route needs one
  of them, as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``; ``/metrics`` too unless
  ``METRICS_OPEN=true``. When unset, ``/v1`` is open (a private network, or a gateway that
  authenticates in front).
* ``ADMIN_TOKEN``: ``/admin/*`` needs ``Authorization: Bearer TOKEN``; without the setting the
  admin routes are off (403), since reloading re-hashes a version on demand.
* Probes (``/healthz``, ``/readyz``) and the API description are open.

Keys are compared in constant time, against every configured key whatever the first gives, so
timing says nothing about a key. The threat model is in docs/operations.md ("Security").
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.settings import Settings

_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="One of API_KEYS (when the service sets any)."
)
_BEARER = HTTPBearer(
    auto_error=False,
    description="One of API_KEYS for /v1 and /metrics; ADMIN_TOKEN for /admin.",
)
KeyHeader = Annotated[str | None, Security(_KEY_HEADER)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]


def matches(given: str, secrets: tuple[str, ...]) -> bool:
    """Whether ``given`` is one of ``secrets``, in time independent of which (or how close)."""
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(given.encode(), secret.encode())
    return found


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _check_key(
    settings: Settings, key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> None:
    keys = settings.api_key_values
    if not keys:
        return
    given = key if key is not None else (bearer.credentials if bearer else None)
    if given is None:
        raise HTTPException(
            401,
            "an API key is required: X-API-Key: KEY or Authorization: Bearer KEY",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not matches(given, keys):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})


async def api_key(request: Request, key: KeyHeader, bearer: Bearer) -> None:
    """A ``/v1`` route's guard: one of ``API_KEYS`` when any is set."""
    _check_key(_settings(request), key, bearer)


async def metrics_key(request: Request, key: KeyHeader, bearer: Bearer) -> None:
    """``/metrics``' guard: as ``/v1`` unless ``METRICS_OPEN``."""
    settings = _settings(request)
    if not settings.metrics_open:
        _check_key(settings, key, bearer)


async def admin_token(request: Request, bearer: Bearer) -> None:
    """An ``/admin`` route's guard: ``Authorization: Bearer ADMIN_TOKEN``; off without one."""
    token = _settings(request).admin_token
    if token is None:
        raise HTTPException(403, "the admin routes are off: set ADMIN_TOKEN to use them")
    if bearer is None or not matches(bearer.credentials, (token.get_secret_value(),)):
        raise HTTPException(
            401,
            "Authorization: Bearer ADMIN_TOKEN required",
            headers={"WWW-Authenticate": "Bearer"},
        )


UNAUTHORIZED: dict[int | str, dict[str, object]] = {
    401: {"description": "API_KEYS is set and the request has none of them."}
}
ApiKey = Depends(api_key)
MetricsKey = Depends(metrics_key)
AdminToken = Depends(admin_token)
