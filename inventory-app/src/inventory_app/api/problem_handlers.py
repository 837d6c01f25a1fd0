"""Turn every error into `application/problem+json` (never a bare 500 for bad input)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from inventory_app.problems import FieldError, ProblemError

log = logging.getLogger("inventory_app")

PROBLEM_JSON = "application/problem+json"


def problem_response(problem: ProblemError) -> Response:
    body = json.dumps(problem.to_body(), ensure_ascii=False, default=str).encode("utf-8")
    headers = {"Cache-Control": "no-store", **problem.headers}
    return Response(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or str(loc[0] if loc else "body")


async def _validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(_field(err.get("loc", ())), str(err.get("msg", ""))) for err in exc.errors()
    ]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5]) or "invalid request"
    return problem_response(ProblemError(422, "validation-error", "Validation error", detail,
                                         errors))


async def _problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc)


async def _http(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    problem = ProblemError(exc.status_code, slug, str(exc.detail), str(exc.detail))
    if exc.headers:
        problem.headers.update(exc.headers)
    return problem_response(problem)


def _db_reason(exc: Exception) -> str:
    """The driver's one-line reason, without the statement or its parameters."""
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)  # psycopg: no DETAIL (it holds values)
    if primary:
        return str(primary)
    text = str(orig if orig is not None else type(exc).__name__)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


async def _data_error(_request: Request, exc: Exception) -> Response:
    """Values the database refuses (NUL characters, out-of-range numbers): the client's fault."""
    log.info("database refused a value", extra={"fields": {"reason": _db_reason(exc)}})
    return problem_response(ProblemError(
        422, "invalid-value", "Invalid value",
        "a value in the request cannot be stored (e.g. a NUL character or a number out of range)",
        [FieldError("body", "value refused by the database")]))


async def _integrity_error(_request: Request, exc: Exception) -> Response:
    log.info("integrity error", extra={"fields": {"reason": _db_reason(exc)}})
    return problem_response(ProblemError(
        409, "conflict", "Conflict", "the request conflicts with existing data",
        [FieldError("body", "conflicts with existing data")]))


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(ProblemError(500, "internal-error", "Internal server error",
                                         "an unexpected error happened; it was logged"))


def install(app: FastAPI) -> None:
    """Register the problem+json exception handlers on `app`."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unexpected)
