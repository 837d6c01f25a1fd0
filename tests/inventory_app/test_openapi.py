"""The OpenAPI document tells the truth: errors are problem+json, the headers the app reads are
declared, the security schemes exist, and every status seen in the tests is documented (the
session-wide check in conftest.py; here on a small sample, and the check itself can fail)."""

from __future__ import annotations

from typing import Any

from tests.inventory_app import openapi_recorder
from tests.inventory_app.api_support import World


def _ops(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()
            if p.startswith("/api/")]


def _headers(op: dict[str, Any]) -> dict[str, bool]:
    return {p["name"]: p.get("required", False) for p in op.get("parameters", [])
            if p["in"] == "header"}


def test_errors_are_problem_json_with_the_schema(world: World) -> None:
    spec = world.get("/openapi.json").json()
    assert "Problem" in spec["components"]["schemas"]
    for method, path, op in _ops(spec):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            assert list(response.get("content", {})) == ["application/problem+json"], (
                method, path, status)
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
        assert {"401", "422", "500"} <= set(op["responses"]), (method, path)
    digests = spec["paths"]["/api/auth/token-digests"]["get"]["responses"]
    assert "403" in digests and "200" in digests


def test_headers_and_security_are_declared(world: World) -> None:
    spec = world.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session_cookie"]["in"] == "cookie"
    assert schemes["session_cookie"]["name"] == "inventory_session"
    for method, path, op in _ops(spec):
        headers = _headers(op)
        assert op["security"] == [{"bearer": []}, {"session_cookie": []}], (method, path)
        if method in ("post", "patch"):
            assert headers.get("Idempotency-Key") is True, (method, path)
            assert {"400", "409", "413", "503"} <= set(op["responses"]), (method, path)
        if method in ("patch", "delete"):
            assert headers.get("If-Match") is True, (method, path)
            assert {"412", "428"} <= set(op["responses"]), (method, path)
        if method == "get":
            assert "If-None-Match" in headers and "304" in op["responses"], (method, path)
    create = spec["paths"]["/api/documents"]["post"]
    assert {"X-Edge-Device-Authorization", "X-Edge-Queued-At"} <= set(_headers(create))
    assert "410" in spec["paths"]["/api/changes"]["get"]["responses"]


def test_seen_statuses_are_documented_and_the_check_can_fail(world: World) -> None:
    spec = openapi_recorder.openapi_document()
    r = world.get("/api/auth/token-digests", role="clerk")
    assert r.status_code == 403
    etag = world.get("/api/products").headers["etag"]
    assert world.get("/api/products", headers={"If-None-Match": etag}).status_code == 304
    assert world.post("/api/products", {"sku": "X"}, key=None).status_code == 400
    seen = {s for s in openapi_recorder.SEEN
            if s[1].removeprefix(openapi_recorder.RAW) in ("/api/auth/token-digests",
                                                           "/api/products")}
    assert ("get", "/api/auth/token-digests", 403) in seen
    assert ("get", "/api/products", 304) in seen
    assert ("post", openapi_recorder.RAW + "/api/products", 400) in seen  # middleware answer
    assert openapi_recorder.undocumented(seen, spec) == []
    fake = {("get", "/api/me", 412), ("delete", "/api/products/{ident}", 400)}
    assert openapi_recorder.undocumented(fake, spec) == sorted(fake)
