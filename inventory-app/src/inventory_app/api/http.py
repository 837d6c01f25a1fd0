"""HTTP helpers: JSON responses with cache headers, ETags, If-Match, cursors, Link headers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response

from inventory_app.problems import FieldError, ProblemError
from inventory_app.schemas import Problem

# DESIGN §3 rule 7
PUBLIC_STALE = "public, max-age=0, stale-if-error=604800"
NO_STORE = "no-store"
IMMUTABLE = "public, max-age=31536000, immutable"

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": desc, "content": {"application/problem+json": {}}}
    for code, desc in (
        (400, "bad request (missing Idempotency-Key, malformed cursor)"),
        (401, "missing or invalid credentials"),
        (403, "role not allowed"),
        (404, "unknown resource"),
        (409, "conflict (insufficient stock, key in flight, duplicate)"),
        (412, "If-Match does not match"),
        (422, "validation error with field-level messages"),
        (428, "If-Match required"),
    )
}

_ETAG_VERSION = re.compile(r'^"(?P<tag>[a-z_]+)-(?P<id>[^"]+)-v(?P<version>\d+)"$')


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body_etag(body: bytes) -> str:
    """Strong ETag of a representation (hash of its bytes)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def version_etag(tag: str, ident: object, version: int) -> str:
    """Strong ETag of a versioned resource (masters, documents)."""
    return f'"{tag}-{ident}-v{version}"'


def to_jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [to_jsonable(item) for item in data]
    if isinstance(data, dict):
        return {k: to_jsonable(v) for k, v in data.items()}
    return data


def json_response(
    data: Any,
    *,
    status: int = 200,
    cache: str = PUBLIC_STALE,
    etag: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON response with `Cache-Control` and a strong ETag (body hash unless given)."""
    # a model serializes itself straight to compact UTF-8 JSON (no dict of it first)
    body = data.model_dump_json().encode() if isinstance(data, BaseModel) else dumps(
        to_jsonable(data))
    all_headers = {"Cache-Control": cache}
    if etag is not None:
        all_headers["ETag"] = etag
    if headers:
        all_headers.update(headers)
    return Response(body, status_code=status, media_type="application/json", headers=all_headers)


def expected_version(request: Request, tag: str, ident: object) -> int | None:
    """The version named by `If-Match` (428 when missing, -1 → 412 when it names another).

    Returns None for `If-Match: *`.
    """
    raw = request.headers.get("if-match")
    if raw is None:
        raise ProblemError(
            428,
            "precondition-required",
            "Precondition required",
            "send If-Match with the ETag you last saw",
            [FieldError("If-Match", "required for updates of master data and drafts")],
        )
    raw = raw.strip()
    if raw == "*":
        return None
    for candidate in (c.strip() for c in raw.split(",")):
        match = _ETAG_VERSION.match(candidate)
        if match and match["tag"] == tag and match["id"] == str(ident):
            return int(match["version"])
    return -1


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(dumps({"k": key})).decode("ascii").rstrip("=")


def decode_cursor(
    cursor: str | None, arity: int, types: tuple[type, ...] = (int,)
) -> list[Any] | None:
    """Decode an opaque cursor; a malformed one is a 400 problem."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        key = data["k"]
        if not isinstance(key, list) or len(key) != arity:
            raise ValueError("bad arity")
        for i, value in enumerate(key):
            expected = types[i] if i < len(types) else types[-1]
            if not isinstance(value, expected) or isinstance(value, bool):
                raise ValueError("bad type")
            if isinstance(value, int) and not 0 <= value < 2**62:
                raise ValueError("out of range")
        return key
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as exc:
        raise ProblemError(
            400,
            "invalid-cursor",
            "Invalid cursor",
            "the cursor is malformed; use the `next` link of the previous page",
            [FieldError("cursor", "malformed cursor")],
        ) from exc


def next_link(request: Request, cursor: str | None) -> tuple[str | None, dict[str, str]]:
    """The relative URL of the next page and the `Link` header for it."""
    if cursor is None:
        return None, {}
    params = dict(request.query_params)
    params["cursor"] = cursor
    from urllib.parse import urlencode

    url = f"{request.url.path}?{urlencode(params)}"
    return url, {"Link": f'<{url}>; rel="next"'}


def page_response(
    request: Request,
    items: list[Any],
    limit: int,
    key_of: Any,
    *,
    extra: dict[str, Any] | None = None,
    cache: str = PUBLIC_STALE,
) -> Response:
    """A list page `{"results": [...], "next": url|null}` with `Link: rel="next"`."""
    cursor = encode_cursor(key_of(items[-1])) if len(items) == limit and items else None
    url, headers = next_link(request, cursor)
    body: dict[str, Any] = {"results": items, "next": url}
    if extra:
        body.update(extra)
    return json_response(body, cache=cache, headers=headers)
