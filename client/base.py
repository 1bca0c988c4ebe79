"""What the sync and the async client share: their options, how a ``Call`` becomes an HTTP
request, and how an answer (or its absence) becomes a model or an ``ApiError``. Only the loop
that sends, waits and tries again differs between the two, since one blocks and one awaits.
"""

from __future__ import annotations

import copy
import inspect
import logging
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Generic, Self, TypeVar

import httpx
from pydantic import ValidationError

from client import errors
from client.calls import A, Call
from client.policy import DEFAULT_RETRY, DEFAULT_TIMEOUTS, UNSENT, Retry, Timeouts

log = logging.getLogger("client")

USER_AGENT = "interaction-candidates-client/1"


H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class ClientBase(Generic[H]):
    """A client of the candidates service over one pool of keep-alive connections: share one
    (per process, or per event loop for the async one) and close it at the end.

    ``base_url``: where the service answers (``http://candidates:8000``; a path prefix is
    kept). ``api_key``: sent as ``X-API-Key`` (needed when the service sets ``API_KEYS``).
    ``admin_token``: sent as ``Authorization: Bearer`` to the admin routes only. ``timeout``:
    seconds, or ``Timeouts(connect=…, read=…)``. ``retry``: a ``Retry`` policy (``NO_RETRY``
    never retries). ``request_id``: the ``X-Request-ID`` of every call (else a new one per
    call, the same for all its tries). ``headers``: more headers for every request. Every
    failure raises an ``ApiError`` (``client.errors``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        admin_token: str | None = None,
        timeout: float | Timeouts = DEFAULT_TIMEOUTS,
        retry: Retry = DEFAULT_RETRY,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._admin_token = admin_token
        self._timeouts = _timeouts(timeout)
        self._retry = retry
        self._request_id = request_id
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if api_key is not None:
            sent["X-API-Key"] = api_key
        self._http: H = self._connect(sent)
        self._owns_http = True

    def _connect(self, headers: dict[str, str]) -> H:
        """The httpx client the calls go through."""
        raise NotImplementedError

    def with_options(
        self,
        *,
        timeout: float | Timeouts | None = None,
        retry: Retry | None = None,
        request_id: str | None = None,
    ) -> Self:
        """This client with other options for the calls made through it (its connections are
        shared, and closing it leaves them open): ``client.with_options(timeout=0.2,
        request_id=incoming_id).candidates(user)``."""
        clone = copy.copy(self)
        clone._owns_http = False
        if timeout is not None:
            clone._timeouts = _timeouts(timeout)
        if retry is not None:
            clone._retry = retry
        if request_id is not None:
            clone._request_id = request_id
        return clone

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _request(self, call: Call[Any]) -> httpx.Request:
        """The HTTP request of ``call``: one ``X-Request-ID`` for all its tries (the caller's,
        else a new one), the admin token only where it is needed."""
        headers = {"X-Request-ID": self._request_id or uuid.uuid4().hex}
        if call.admin and self._admin_token is not None:
            headers["Authorization"] = f"Bearer {self._admin_token}"
        return self._http.build_request(
            call.method,
            call.path,
            params=call.params,
            json=call.body,
            headers=headers,
            timeout=self._timeouts.for_httpx(),
        )

    def _pause(
        self, call: Call[Any], outcome: httpx.Response | httpx.RequestError, attempt: int
    ) -> float | None:
        """Seconds before the next try of ``call``, or None when ``outcome`` settles it."""
        if isinstance(outcome, httpx.Response) and outcome.status_code in call.also_answers:
            return None
        pause = self._retry.pause(call.idempotent, outcome, attempt)
        if pause is not None:
            what = outcome.status_code if isinstance(outcome, httpx.Response) else repr(outcome)
            log.info(
                "%s %s: %s; try %d of %d in %.2f s",
                call.method, call.path, what, attempt + 2, self._retry.attempts, pause,
            )  # fmt: skip
        return pause

    def _settle(
        self,
        call: Call[A],
        request: httpx.Request,
        outcome: httpx.Response | httpx.RequestError,
    ) -> A:
        """The answer of ``call``, or the ``ApiError`` its last outcome stands for."""
        request_id = request.headers["X-Request-ID"]
        if isinstance(outcome, httpx.RequestError):
            sent = not isinstance(outcome, UNSENT)
            raise errors.from_transport(outcome, request, request_id, sent) from outcome
        if outcome.is_success or outcome.status_code in call.also_answers:
            try:
                return call.answer.model_validate_json(outcome.content)
            except ValidationError as exc:
                if outcome.status_code < 400:
                    rid = outcome.headers.get("x-request-id", request_id)
                    first = exc.errors(include_url=False, include_input=False)[0]
                    where = ".".join(map(str, first["loc"]))
                    detail = f"an answer this client does not understand: {where}: {first['msg']}"
                    message = f"{outcome.status_code} {call.method} {call.path}: {detail}"
                    raise errors.ApiError(
                        message, status=outcome.status_code, detail=detail, request_id=rid
                    ) from exc
        raise errors.from_response(outcome, request_id)


def method_of(build: Callable[..., Any], method: Callable[..., Any]) -> None:
    """Give a client's ``method`` the name, documentation and signature of the call builder it
    sends (``help(client.candidates)`` shows the options, not ``*args, **kwargs``)."""
    method.__name__ = method.__qualname__ = build.__name__
    method.__doc__ = build.__doc__
    signature = inspect.signature(build)
    (answer,) = typing.get_args(typing.get_type_hints(build)["return"])  # Call[answer]
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[this, *signature.parameters.values()], return_annotation=answer
    )


def _timeouts(value: float | Timeouts) -> Timeouts:
    return value if isinstance(value, Timeouts) else Timeouts(connect=value, read=value)
