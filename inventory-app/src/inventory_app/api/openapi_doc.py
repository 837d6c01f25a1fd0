"""The OpenAPI document, made to tell the truth about what each operation can answer.

FastAPI documents what the routes declare; the middleware and dependencies add more (the
Idempotency-Key rules, ETag/304, If-Match/428/412, NUL refusal, role checks). `refine()` takes
FastAPI's document and, per operation:
- replaces the error responses by the statuses that operation can really answer, each with the
  `Problem` schema under `application/problem+json` (never `application/json`);
- declares the headers the app reads: `Idempotency-Key` (POST/PATCH), `If-Match` (PATCH/DELETE),
  `If-None-Match` (GET), and the edge-replay headers on document posting;
- declares the bearer-token and session-cookie security schemes.
`tests/inventory_app/conftest.py` records every (method, route, status) the API tests see and
fails when one is not documented here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from inventory_app.schemas import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_CONTENT = {"application/problem+json": {"schema": PROBLEM_REF}}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "API, device or session token: `Authorization: Bearer <token>`"},
    "session_cookie": {"type": "apiKey", "in": "cookie", "name": "inventory_session",
                       "description": "the web UI's session cookie (its value is a token)"},
}
DESCRIPTIONS = {
    304: "Not Modified: If-None-Match matched the current ETag",
    400: "bad request: missing or too long Idempotency-Key, malformed cursor",
    401: "missing, invalid, expired or revoked credentials",
    403: "the role (or the device's warehouse) may not do this",
    404: "unknown resource",
    409: "conflict: Idempotency-Key in flight (with Retry-After), insufficient stock, "
         "duplicate or existing data",
    410: "since is older than the change retention",
    412: "If-Match does not match the current ETag",
    413: "body larger than 4 MiB",
    422: "validation error with field-level messages (incl. NUL characters, a reused "
         "Idempotency-Key with another body)",
    428: "If-Match required",
    500: "unexpected error (logged)",
    503: "not committed (storage failed); retry with the same Idempotency-Key (Retry-After)",
}
WRITES = ("post", "patch")


def _header(name: str, required: bool, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string", **schema}}


IDEMPOTENCY_KEY = _header("Idempotency-Key", True, "unique per intended change (1-255 "
                          "characters); a retry with the same key gets the stored response",
                          minLength=1, maxLength=255)
IF_MATCH = _header("If-Match", True, "the ETag last seen (`*` for any); 428 when missing, 412 "
                   "when it does not match")
IF_NONE_MATCH = _header("If-None-Match", False, "ETags held; 304 when one matches")
EDGE_HEADERS = [
    _header("X-Edge-Device-Authorization", False, "`Bearer <device token>`: the request is "
            "replayed from that edge's outbox (an oversold sale is accepted and flagged)"),
    _header("X-Edge-Queued-At", False, "RFC 3339 time the shop accepted the write (used as "
            "occurred_at; clamped when further in the future than the allowed clock skew)"),
]


def _calls(dependant: Any) -> Iterable[Callable[..., Any]]:
    for dep in getattr(dependant, "dependencies", []):
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def _checks_role(route: Any) -> bool:
    return any(getattr(call, "__qualname__", "") == "require.<locals>.check"
               for call in _calls(route.dependant))


def api_routes(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], Any]:
    """(lower-case method, path template) → the route (with its router's prefix applied)."""
    out: dict[tuple[str, str], Any] = {}
    for context in routing.iter_route_contexts(list(routes)):
        if isinstance(context.original_route, APIRoute):
            for method in context.methods or ():
                out[(method.lower(), str(context.path_format))] = context
    return out


def statuses(method: str, route: Any) -> set[int]:
    """Every error status (and 304) the operation `method route.path_format` can answer."""
    path = route.path_format
    out = {500}
    if not path.startswith("/api/"):
        return out | ({503} if path == "/readyz" else set())
    out |= {401, 422}
    if _checks_role(route):
        out.add(403)
    has_path_params = "{" in path
    if has_path_params:
        out.add(404)
    query = {p.alias for p in route.dependant.query_params}
    if method == "get":
        out.add(304)
        if "cursor" in query:
            out.add(400)
    if method in WRITES:
        out |= {400, 409, 413, 503}
    if method in ("patch", "delete"):
        out |= {409, 412, 428}
    if path == "/api/changes":
        out.add(410)
    return out


def _response(status: int) -> dict[str, Any]:
    if status == 304:
        return {"description": DESCRIPTIONS[304]}
    return {"description": DESCRIPTIONS[status], "content": PROBLEM_CONTENT}


def _add_params(op: dict[str, Any], extra: list[dict[str, Any]]) -> None:
    params = op.setdefault("parameters", [])
    have = {(p.get("in"), str(p.get("name", "")).lower()) for p in params}
    for param in extra:
        if ("header", param["name"].lower()) not in have:
            params.append(param)


def refine(spec: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """Fix up FastAPI's OpenAPI document in place (see the module docstring); returns it."""
    by_key = api_routes(routes)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            route = by_key.get((method, path))
            if route is None:
                continue
            responses = op.setdefault("responses", {})
            for code in [c for c in responses if c.isdigit() and int(c) >= 400]:
                del responses[code]
            for status in sorted(statuses(method, route)):
                responses[str(status)] = _response(status)
            if not path.startswith("/api/"):
                continue
            op["security"] = [{"bearer": []}, {"session_cookie": []}]
            extra: list[dict[str, Any]] = []
            if method in WRITES:
                extra.append(IDEMPOTENCY_KEY)
            if method in ("patch", "delete"):
                extra.append(IF_MATCH)
            if method == "get":
                extra.append(IF_NONE_MATCH)
            if method == "post" and (path == "/api/documents" or path.endswith("/post")):
                extra.extend(EDGE_HEADERS)
            _add_params(op, extra)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def install(app: FastAPI) -> None:
    """Serve the refined document at /openapi.json (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
            app.openapi_schema = refine(spec, app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
