"""Input rules that hold on both databases: NUL characters refused with a field message (422),
no SQL or request values in the logs of refused writes, LIKE wildcards in `q=` match literally,
and repeated failed logins are throttled (429 + Retry-After)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest
from edgelab.process import wait_until
from fastapi.testclient import TestClient
from inventory_app.api import problem_handlers
from inventory_app.api.observability import JsonFormatter
from inventory_app.main import create_app
from inventory_app.models import Product
from inventory_app.services import auth
from inventory_app.services.login_throttle import LoginThrottle
from inventory_app.settings import Settings
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from tests.inventory_app.api_support import PROBLEM, World


def _field_error(r: object, field: str) -> str:
    body = r.json()  # type: ignore[attr-defined]
    assert r.status_code == 422, body  # type: ignore[attr-defined]
    assert r.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert field in messages, messages
    return messages[field]


def test_nul_characters_are_refused_with_a_field_message(world: World) -> None:
    assert "NUL" in _field_error(world.post("/api/products", {"sku": "N1", "name": "a\x00b"}),
                                 "name")
    assert "NUL" in _field_error(world.post("/api/partners", {"type": "customer", "name": "ok",
                                                              "contact": "x\x00"}), "contact")
    doc = {"id": str(uuid.uuid4()), "type": "other_in", "warehouse_id": world.central,
           "reason": "found\x00", "lines": [{"product_id": world.products[0], "qty": 1}]}
    assert "NUL" in _field_error(world.post("/api/documents", doc), "reason")
    assert "NUL" in _field_error(world.get("/api/products?q=%00"), "q")
    assert "NUL" in _field_error(world.get("/api/ledger?document_id=a%00b"), "document_id")
    assert "NUL" in _field_error(world.post("/api/users/a%00b/end-sessions", {}, role="admin"),
                                 "username")
    names = [p["name"] for p in world.get("/api/products").json()["results"]]
    assert not any("\x00" in n for n in names)
    assert world.balance(world.central, world.products[0]) == 0


@pytest.fixture
def app_log() -> Iterator[list[str]]:
    """The app's log lines (as its JSON formatter writes them) during a test."""
    lines: list[str] = []
    formatter = JsonFormatter()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Collect()
    logger = logging.getLogger("inventory_app")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_refused_writes_log_no_sql_and_no_values(world: World, app_log: list[str]) -> None:
    secret = f"SKU-{uuid.uuid4().hex[:8]}"
    assert world.post("/api/products", {"sku": secret, "name": "one"}).status_code == 201
    assert world.post("/api/products", {"sku": secret, "name": "two"}).status_code == 409
    assert world.post("/api/products", {"sku": secret + "\x00", "name": "n"}).status_code == 422
    # the database's own refusal, as the API's error handler sees it
    with pytest.raises(IntegrityError) as refused, world.db.write() as s:
        s.execute(insert(Product).values(sku=secret, name="three"))
    assert "parameters hidden" in str(refused.value)  # the engine never renders parameters
    response = asyncio.run(problem_handlers._integrity_error(None, refused.value))  # type: ignore[arg-type]
    assert response.status_code == 409 and secret.encode() not in bytes(response.body)
    logged = "\n".join(app_log)
    assert "integrity error" in logged and "reason" in logged
    for leak in (secret, "INSERT", "parameters"):
        assert leak not in logged, logged


def test_like_wildcards_in_q_match_literally(world: World) -> None:
    for sku, name in (("W1", "100% juice"), ("W2", "a_b"), ("W3", "back\\slash"),
                      ("W4", "plain")):
        assert world.post("/api/products", {"sku": sku, "name": name}).status_code == 201

    def found(q: str) -> list[str]:
        r = world.client.get("/api/products", params={"q": q}, headers=world.headers(key=None))
        assert r.status_code == 200, r.text
        return sorted(p["name"] for p in r.json()["results"])

    assert found("%") == ["100% juice"]
    assert found("_") == ["a_b"]
    assert found("\\") == ["back\\slash"]
    assert found("0% j") == ["100% juice"]
    assert found("a_") == ["a_b"]
    assert found("PLAIN") == ["plain"]  # still case-insensitive
    assert len(found("Product")) == 5


def _login(client: TestClient, username: str, password: str) -> object:
    """Post the real login form (with its double-submit CSRF value from GET /login)."""
    assert client.get("/login").status_code == 200
    data = {"username": username, "password": password,
            "csrf_token": client.cookies.get("inventory_login_csrf") or ""}
    return client.post("/login", data=data, follow_redirects=False)


def test_repeated_failed_logins_are_throttled(world: World) -> None:
    with world.db.write() as s:
        auth.create_user(s, "zhao", "right-pw", "clerk")
    settings = Settings(database_url=world.url, log_requests=False, login_max_failures=3,
                        login_lockout_s=1.5)
    app = create_app(settings, db=world.db)
    with TestClient(app, raise_server_exceptions=False) as client, \
            TestClient(app, raise_server_exceptions=False, client=("10.9.8.7", 4242)) as other:
        for _ in range(3):
            assert _login(client, "zhao", "wrong").status_code == 401  # type: ignore[attr-defined]
        locked = _login(client, "zhao", "right-pw")  # even the right password waits
        assert locked.status_code == 429, locked.text  # type: ignore[attr-defined]
        assert locked.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
        assert int(locked.headers["retry-after"]) >= 1  # type: ignore[attr-defined]
        assert locked.json()["errors"][0]["field"] == "username"  # type: ignore[attr-defined]
        # another user, and the same user from another address, are not locked
        assert _login(client, "nobody", "wrong").status_code == 401  # type: ignore[attr-defined]
        assert _login(other, "zhao", "right-pw").status_code == 303  # type: ignore[attr-defined]
        answers: list[int] = []

        def lockout_over() -> bool:
            answers.append(_login(client, "zhao", "right-pw").status_code)  # type: ignore[attr-defined]
            return answers[-1] != 429

        wait_until(lockout_over, timeout_s=30, what="the lockout ending", interval_s=0.2)
        assert answers[-1] == 303


def test_throttle_rule() -> None:
    throttle = LoginThrottle(max_failures=2, window_s=10, lockout_s=5)
    key = throttle.key(" Zhao ", "1.2.3.4")
    assert key == throttle.key("zhao", "1.2.3.4")
    throttle.failed(key, 100.0)
    assert throttle.retry_after(key, 100.0) is None
    throttle.failed(key, 101.0)
    assert throttle.retry_after(key, 102.0) == pytest.approx(4.0)
    assert throttle.retry_after(key, 106.5) is None
    throttle.failed(key, 107.0)  # still 2 failures within the window: blocked again
    assert throttle.retry_after(key, 107.0) == pytest.approx(5.0)
    throttle.succeeded(key)
    assert throttle.retry_after(key, 107.0) is None
    throttle.failed(key, 200.0)  # old failures are forgotten
    assert throttle.retry_after(key, 200.0) is None
    assert LoginThrottle(0, 10, 5).retry_after(key, 0.0) is None
