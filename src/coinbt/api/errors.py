"""One JSON shape for every API error: ``{"error": {"code", "message", "field", "hint"}}``.

* :class:`~coinbt.errors.CoinbtError` (and subclasses) answer with their own ``status``
  and ``code``: 422 for bad input, 404 for unknown pairs, strategies or runs, 409 for a
  conflict, 503 when the store is unavailable.
* FastAPI's request validation becomes a 422 naming the first field at fault
  (``parameters.fast``, ``crypto_ids.0``, ``body`` for malformed JSON) and the reason.
* Starlette's own errors (an unknown route 404, a wrong method 405) keep their status.
* Anything else is a bug: :class:`CatchAllMiddleware` logs the traceback and answers a
  plain 500 that leaks nothing.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coinbt.api.responses import JSONBody
from coinbt.errors import CoinbtError

logger = logging.getLogger("coinbt.api")

_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})
_UNION_MEMBER = re.compile(r"int|str|float|bool|constrained-\w+|function-\w+|.*\[.*\].*")
_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


class UnauthorizedError(CoinbtError):
    """An admin route was called without the right API key."""

    code = "unauthorized"
    status = 401


class ForbiddenError(CoinbtError):
    """An admin route is disabled on this server."""

    code = "forbidden"
    status = 403


def error_body(
    code: str, message: str, *, field: str | None = None, hint: str | None = None
) -> dict[str, Any]:
    """The one error shape."""
    return {"error": {"code": code, "message": message, "field": field, "hint": hint}}


def error_response(exc: CoinbtError) -> JSONBody:
    """The response for a coinbt error (with ``WWW-Authenticate`` on a 401)."""
    headers = {"WWW-Authenticate": 'Bearer realm="coinbt"'} if exc.status == 401 else None
    body = error_body(exc.code, exc.message, field=exc.field, hint=exc.hint or None)
    return JSONBody(body, status_code=exc.status, headers=headers)


async def _coinbt_error(request: Request, exc: Exception) -> JSONBody:
    assert isinstance(exc, CoinbtError)
    if exc.status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONBody:
    assert isinstance(exc, RequestValidationError)
    problems = list(exc.errors())
    first = problems[0] if problems else {"loc": ("body",), "msg": "invalid request"}
    field = _field(first.get("loc", ()))
    reason = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":  # the location is a character offset
        field = "body"
        context = first.get("ctx")
        detail = context.get("error", reason) if isinstance(context, dict) else reason
        reason = f"not valid JSON ({detail})"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return JSONBody(
        error_body(
            "invalid_input",
            f"{field}: {reason}{more}",
            field=field,
            hint="fix the request as described; the schema is at /api/openapi.json",
        ),
        status_code=422,
    )


async def _http_error(request: Request, exc: Exception) -> JSONBody:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # FastAPI could not even decode the body: bad input, a 422
        return JSONBody(
            error_body(
                "invalid_input",
                f"body: {exc.detail}",
                field="body",
                hint="send a UTF-8 JSON body as described in /api/openapi.json",
            ),
            status_code=422,
        )
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    hint = "see /api/docs for the routes" if exc.status_code in (404, 405) else None
    return JSONBody(
        error_body(code, str(exc.detail), hint=hint),
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error raised inside a request to the one JSON shape."""
    app.add_exception_handler(CoinbtError, _coinbt_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


def _field(loc: Any) -> str:
    """``parameters.fast`` from pydantic's ``("body", "parameters", "fast", "int")``: the
    location and the names of union members tried are not fields."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS and len(parts) > 1:
        parts = parts[1:]
    kept = parts[:1] + [p for p in parts[1:] if not _UNION_MEMBER.fullmatch(p)]
    return ".".join(kept) or "body"


class CatchAllMiddleware:
    """Answer an unexpected exception with a bare 500 in the error shape, log it, and keep
    it from reaching the server (which would print it again and drop the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            logger.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                body = error_body(
                    "internal",
                    "internal error",
                    hint="this is a bug in coinbt; retry, and report it if it repeats",
                )
                await JSONBody(body, status_code=500)(scope, receive, send)
