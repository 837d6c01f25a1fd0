"""Revocation: an admin revokes a token or ends all sessions of a user (API and CLI); the token
stops working, leaves `/api/auth/token-digests` at once and appears in the change feed as a
tombstone (`entity: token`, `id: <sha256>`, `op: delete`) that an edge can apply."""

from __future__ import annotations

import hashlib

import pytest
from inventory_app import cli
from inventory_app.services import auth

from tests.inventory_app.api_support import World


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _digests(world: World) -> dict[str, dict[str, object]]:
    r = world.get("/api/auth/token-digests", role="device")
    assert r.status_code == 200
    return {d["sha256"]: d for d in r.json()["digests"]}


def _tombstones(world: World, since: int) -> list[str]:
    results = world.get(f"/api/changes?since={since}").json()["results"]
    return [c["id"] for c in results if c["entity"] == "token" and c["op"] == "delete"]


def _token_id(world: World, name: str) -> int:
    tokens = world.get("/api/auth/tokens", role="admin").json()["results"]
    return next(t["id"] for t in tokens if t["name"] == name)


def test_admin_revokes_a_token(world: World) -> None:
    since = world.get("/api/changes").json()["last_seq"]
    viewer = world.tokens["viewer"]
    assert world.get("/api/me", role="viewer").status_code == 200
    digests = _digests(world)
    assert digests[_digest(viewer)]["role"] == "viewer"  # the edge refuses a viewer's writes
    token_id = _token_id(world, "test-viewer")
    r = world.post(f"/api/auth/tokens/{token_id}/revoke", {}, role="admin")
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None and r.headers["cache-control"] == "no-store"
    assert world.get("/api/me", role="viewer").status_code == 401
    assert _digest(viewer) not in _digests(world)
    assert _tombstones(world, since) == [_digest(viewer)]
    again = world.post(f"/api/auth/tokens/{token_id}/revoke", {}, role="admin")
    assert again.status_code == 200 and _tombstones(world, since) == [_digest(viewer)]
    assert world.post("/api/auth/tokens/999999/revoke", {}, role="admin").status_code == 404


def test_only_admins_revoke(world: World) -> None:
    token_id = _token_id(world, "test-viewer")
    for role in ("clerk", "viewer", "device"):
        assert world.post(f"/api/auth/tokens/{token_id}/revoke", {}, role=role).status_code == 403
        assert world.get("/api/auth/tokens", role=role).status_code == 403
        assert world.post("/api/users/admin/end-sessions", {}, role=role).status_code == 403
    assert world.get("/api/me", role="viewer").status_code == 200


def test_end_sessions_logs_a_user_out_everywhere(world: World) -> None:
    with world.db.write() as s:
        auth.create_user(s, "mei", "secret-pw", "clerk")
        sessions = [auth.login(s, "mei", "secret-pw") for _ in range(2)]
    assert all(sessions)
    cookies = [str(t) for t in sessions]
    for token in cookies:
        world.client.cookies.set("inventory_session", token)
        assert world.client.get("/api/me").status_code == 200
    since = world.get("/api/changes").json()["last_seq"]
    r = world.post("/api/users/mei/end-sessions", {}, role="admin")
    assert r.status_code == 200, r.text
    assert len(r.json()["revoked"]) == 2
    for token in cookies:
        world.client.cookies.set("inventory_session", token)
        assert world.client.get("/api/me").status_code == 401
        assert _digest(token) not in _digests(world)
    world.client.cookies.clear()
    assert sorted(_tombstones(world, since)) == sorted(_digest(t) for t in cookies)
    assert world.post("/api/users/nobody/end-sessions", {}, role="admin").status_code == 404


def test_logout_is_announced_in_the_change_feed(world: World) -> None:
    with world.db.write() as s:
        auth.create_user(s, "li", "pw-of-li", "viewer")
        token = auth.login(s, "li", "pw-of-li")
    assert token is not None
    since = world.get("/api/changes").json()["last_seq"]
    with world.db.write() as s:
        auth.logout(s, token)
    assert _tombstones(world, since) == [_digest(token)]


def test_cli_lists_and_revokes(world: World, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INVENTORY_DATABASE_URL", world.url)
    with world.db.write() as s:
        auth.create_user(s, "wang", "pw-of-wang", "clerk")
        session_token = auth.login(s, "wang", "pw-of-wang")
    assert session_token is not None
    assert cli.main(["list-tokens"]) == 0
    listing = capsys.readouterr().out
    assert "test-clerk" in listing and world.tokens["clerk"] not in listing
    assert cli.main(["revoke-token", "--name", "test-clerk"]) == 0
    assert "revoked 1 token" in capsys.readouterr().out
    assert world.get("/api/me", role="clerk").status_code == 401
    token_id = _token_id(world, "test-viewer")
    assert cli.main(["revoke-token", "--id", str(token_id)]) == 0
    assert world.get("/api/me", role="viewer").status_code == 401
    assert cli.main(["revoke-token", "--name", "no-such-token"]) == 1
    assert cli.main(["end-sessions", "--user", "wang"]) == 0
    assert "ended 1 session" in capsys.readouterr().out
    assert _digest(session_token) not in _digests(world)
    assert cli.main(["end-sessions", "--user", "nobody"]) == 1
