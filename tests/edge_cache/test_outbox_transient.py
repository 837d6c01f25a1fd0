"""The replayer never gives up on a transient answer (issue 14): `409` with `Retry-After` (the
key is still in flight at the origin), `429`, `503` and transport errors are waits, not attempts;
dead letters are for terminal answers only, each with its reason; a write the origin already
applied (stored response replayed) is completed. Against a scripted origin on a loopback port,
with an injected clock so the schedule (Retry-After honoured, capped) is checked exactly."""

from __future__ import annotations

import email.utils
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from edge_cache.health import OriginHealth
from edge_cache.messages import Request
from edge_cache.origin_client import OriginClient
from edge_cache.outbox import DEAD, Outbox, Replayer
from edge_cache.outbox.verdict import judge, retry_after_seconds, wait_delay

from tests.support.origins import Script, ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, SidecarFactory
from tests.support.waiting import wait_until

PROBLEM = {"Content-Type": "application/problem+json"}


def in_flight(retry_after: str = "1") -> Script:
    body = {"type": "https://inventory.example/problems/idempotency-key-in-flight",
            "title": "Request in progress", "status": 409,
            "detail": "a request with this Idempotency-Key is still being processed"}
    return Script(409, {**PROBLEM, "Retry-After": retry_after}, json.dumps(body).encode())


@dataclass
class Answers:
    """A queue of scripted answers for one write route; the last one repeats."""

    scripts: list[Script]
    seen: list[str] = field(default_factory=list)  # Idempotency-Key of every request

    def __call__(self, request: web.Request, body: bytes) -> Script:
        self.seen.append(request.headers.get("Idempotency-Key", ""))
        return self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]


class Rig:
    def __init__(self, origin: ScriptedOrigin, outbox: Outbox, health: OriginHealth,
                 replayer: Replayer, clock: FakeClock) -> None:
        self.origin, self.outbox, self.health = origin, outbox, health
        self.replayer, self.clock = replayer, clock

    def answer(self, path: str, *scripts: Script) -> Answers:
        answers = Answers(list(scripts))
        self.origin.route(path, method="POST", handler=answers)
        return answers

    async def enqueue(self, path: str, key: str) -> int:
        entry = await self.outbox.enqueue(Request(
            "POST", path, [("Content-Type", "application/json"), ("Idempotency-Key", key)],
            b'{"qty": 1}'))
        return entry.id

    async def next_try(self, entry_id: int, requests: int, answers: Answers) -> float:
        """Wait until the origin saw `requests` requests and the entry is scheduled again;
        return its next try, in seconds from the (fake) now."""
        await wait_until(lambda: len(answers.seen) >= requests
                         and not self.replayer.inflight())
        ref = self.outbox.queued_ref(entry_id)
        assert ref is not None, "the entry left the queue"
        return ref.next_attempt_at - self.clock()


@pytest.fixture
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Rig]:
    origin = ScriptedOrigin()
    await origin.start()
    outbox = Outbox(tmp_path, clock=clock)
    outbox.open()
    client = OriginClient(origin.url, timeout=5.0)
    health = OriginHealth(client, interval=0.2, timeout=2.0)
    replayer = Replayer(outbox, health, client, backoff_base=0.5, backoff_cap=2.0,
                        max_attempts=2, retry_after_cap=300.0, clock=clock)
    r = Rig(origin, outbox, health, replayer, clock)
    health.start()
    await wait_until(health.is_online)
    replayer.start()
    yield r
    await replayer.stop()
    await health.stop()
    await client.close()
    await outbox.close()
    await origin.close()


def test_verdicts_for_every_kind_of_answer() -> None:
    def verdict(status: int, retry_after: str | None = None, replayed: bool = False,
                attempts: int = 1) -> tuple[str, str]:
        v = judge(status, retry_after=retry_after, replayed=replayed, body=None,
                  attempts=attempts, max_attempts=3)
        return v.action, v.result

    assert verdict(201) == ("complete", "ok")
    assert verdict(200, replayed=True) == ("complete", "already_applied")
    assert verdict(409, retry_after="1") == ("wait", "wait")
    assert verdict(409, retry_after="1", attempts=99) == ("wait", "wait")  # never exhausted
    for status in (429, 502, 503, 504):
        assert verdict(status, attempts=99) == ("wait", "wait")
    assert verdict(500) == ("retry", "retry") and verdict(408) == ("retry", "retry")
    assert verdict(500, attempts=3) == ("dead", "exhausted")
    assert verdict(409) == ("dead", "conflict") and verdict(412) == ("dead", "conflict")
    for status in (400, 403, 404, 422):
        assert verdict(status) == ("dead", "rejected")
    reason = judge(409, retry_after=None, replayed=False, attempts=1, max_attempts=0,
                   body=b'{"type": "https://x/problems/document-exists", "title": "Conflict",'
                        b' "detail": "document d1 exists with different content"}').reason
    assert reason == ("conflict: HTTP 409 document-exists (Conflict): document d1 exists with "
                      "different content")


def test_retry_after_parsing_and_capping() -> None:
    now = 1_800_000_000.0
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(email.utils.formatdate(now + 90, usegmt=True), now) == 90.0
    assert retry_after_seconds(email.utils.formatdate(now - 90, usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None
    kw = {"base": 0.5, "cap": 2.0, "retry_after_cap": 300.0}
    assert wait_delay(1, 7.0, jitter=0.0, **kw) == 7.0
    assert wait_delay(1, 7.0, jitter=1.0, **kw) == 7.0 * 1.25
    assert wait_delay(1, 1e6, jitter=0.0, **kw) == 300.0  # capped
    assert wait_delay(1, 0.0, jitter=0.0, **kw) == 0.5  # never a busy loop
    assert [wait_delay(n, None, jitter=1.0, **kw) for n in (1, 2, 3, 9)] == [0.5, 1.0, 2.0, 2.0]


async def test_in_flight_409_is_a_wait_not_an_attempt(rig: Rig) -> None:
    n_waits = 6  # more than max_attempts (2): waits are never counted
    answers = rig.answer("/sales", *[in_flight("30")] * n_waits,
                         Script(201, {"Content-Type": "application/json"}, b'{"id": 1}'))
    entry_id = await rig.enqueue("/sales", "k-1")
    for n in range(1, n_waits + 1):
        ahead = await rig.next_try(entry_id, n, answers)
        assert 30.0 <= ahead <= 30.0 * 1.25  # Retry-After honoured, not the 2 s back-off cap
        assert len(answers.seen) == n  # and nothing was sent before it was due
        ref = rig.outbox.queued_ref(entry_id)
        assert ref is not None and ref.attempts == 0 and ref.waits == n
        assert ref.last_status == 409 and ref.last_error is not None
        assert "in flight" in ref.last_error and "idempotency-key-in-flight" in ref.last_error
        rig.clock.advance(ahead)
        rig.replayer._kick.set()
    await wait_until(lambda: rig.outbox.depth() == 0 and not rig.replayer.inflight())
    assert rig.outbox.dead_count() == 0
    assert set(answers.seen) == {"k-1"}  # the same key every time
    assert rig.replayer.counts["wait"] == n_waits and rig.replayer.counts["ok"] == 1


async def test_http_date_retry_after_and_its_cap(rig: Rig) -> None:
    date = email.utils.formatdate(rig.clock() + 90, usegmt=True)
    answers = rig.answer("/a", Script(503, {"Retry-After": date}), Script(429, {
        "Retry-After": "86400"}), Script(201))
    entry_id = await rig.enqueue("/a", "k-a")
    ahead = await rig.next_try(entry_id, 1, answers)
    assert 89.0 <= ahead <= 90.0 * 1.25
    rig.clock.advance(ahead)
    rig.replayer._kick.set()
    ahead = await rig.next_try(entry_id, 2, answers)
    assert 300.0 <= ahead <= 300.0 * 1.25  # a day's Retry-After is capped at 5 minutes
    rig.clock.advance(ahead)
    rig.replayer._kick.set()
    await wait_until(lambda: rig.outbox.depth() == 0)
    assert rig.outbox.dead_count() == 0 and len(answers.seen) == 3


async def test_busy_answers_without_retry_after_back_off_and_keep_the_entry(rig: Rig) -> None:
    answers = rig.answer("/b", *[Script(503)] * 4, Script(429), Script(502), Script(504),
                         Script(201))
    entry_id = await rig.enqueue("/b", "k-b")
    for n in range(1, 8):
        ahead = await rig.next_try(entry_id, n, answers)
        assert 0.25 <= ahead <= 2.0  # exponential back-off from 0.5 s, capped at 2 s
        rig.clock.advance(ahead)
        rig.replayer._kick.set()
    await wait_until(lambda: rig.outbox.depth() == 0)
    assert rig.outbox.dead_count() == 0 and rig.replayer.counts["wait"] == 7


async def test_a_replayed_stored_response_completes_the_entry(rig: Rig) -> None:
    rig.answer("/c", Script(200, {"Idempotent-Replayed": "true",
                                  "Content-Type": "application/json"}, b'{"id": 7}'))
    await rig.enqueue("/c", "k-c")
    await wait_until(lambda: rig.outbox.depth() == 0 and not rig.replayer.inflight())
    assert rig.outbox.dead_count() == 0
    assert rig.replayer.counts["already_applied"] == 1 and rig.replayer.counts["ok"] == 0


async def test_terminal_answers_are_dead_letters_with_their_reason(rig: Rig) -> None:
    conflict = {"type": "https://x/problems/document-exists", "title": "Conflict",
                "detail": "document d1 exists with different content"}
    rig.answer("/d409", Script(409, PROBLEM, json.dumps(conflict).encode()))
    rig.answer("/d412", Script(412, PROBLEM, b'{"title": "Precondition failed"}'))
    rig.answer("/d422", Script(422, PROBLEM, b'{"title": "Unprocessable", "detail": "qty"}'))
    rig.answer("/d400", Script(400, {}, b"bad request"))
    for path in ("/d409", "/d412", "/d422", "/d400"):
        await rig.enqueue(path, "k" + path)
    await wait_until(lambda: rig.outbox.depth() == 0 and not rig.replayer.inflight())
    dead = {e.target: e for e in await rig.outbox.entries(DEAD)}
    assert {t: e.last_status for t, e in dead.items()} == {
        "/d409": 409, "/d412": 412, "/d422": 422, "/d400": 400}
    assert dead["/d409"].last_error == ("conflict: HTTP 409 document-exists (Conflict): "
                                        "document d1 exists with different content")
    assert dead["/d412"].last_error == "conflict: HTTP 412 (Precondition failed)"
    assert dead["/d422"].last_error == "rejected: HTTP 422 (Unprocessable): qty"
    assert dead["/d400"].last_error == "rejected: HTTP 400 bad request"
    assert all(e.attempts == 1 and e.last_body for e in dead.values())


async def test_transport_errors_are_waits_and_the_entry_stays(rig: Rig) -> None:
    seen: list[str] = []

    def drop_first(request: web.Request, body: bytes) -> Script:
        seen.append(request.headers.get("Idempotency-Key", ""))
        if len(seen) == 1 and request.transport is not None:
            request.transport.abort()  # the connection drops before any status line
        return Script(201)

    rig.origin.route("/e", method="POST", handler=drop_first)
    entry_id = await rig.enqueue("/e", "k-e")
    await wait_until(lambda: rig.replayer.counts["transport_error"] == 1)
    ref = rig.outbox.queued_ref(entry_id)
    assert ref is not None and ref.attempts == 0 and ref.waits == 1
    assert rig.outbox.dead_count() == 0
    await wait_until(rig.health.is_online)  # the prober brings it back (hysteresis)
    rig.clock.advance(1)
    rig.replayer._kick.set()
    await wait_until(lambda: rig.outbox.depth() == 0)
    assert rig.outbox.dead_count() == 0 and seen == ["k-e", "k-e"]


async def test_a_cut_answer_is_a_wait_that_backs_off_and_keeps_the_origin_online(
    rig: Rig,
) -> None:
    seen: list[str] = []

    def cut_first(request: web.Request, body: bytes) -> Script:
        seen.append(request.headers.get("Idempotency-Key", ""))
        if len(seen) == 1 and request.transport is not None:
            # a status line, then the connection closes mid-body: the origin is up, the
            # write's fate unknown
            request.transport.write(b"HTTP/1.1 201 Created\r\nContent-Length: 50\r\n\r\n{")
            request.transport.close()
        return Script(201)

    rig.origin.route("/cut", method="POST", handler=cut_first)
    entry_id = await rig.enqueue("/cut", "k-cut")
    await wait_until(lambda: rig.replayer.counts["transport_error"] == 1
                     and not rig.replayer.inflight())
    ref = rig.outbox.queued_ref(entry_id)
    assert ref is not None and ref.attempts == 0 and ref.waits == 1
    assert "broken" in (ref.last_error or "")
    assert rig.health.is_online() and rig.health.transitions == 0  # an answer: not an outage
    ahead = ref.next_attempt_at - rig.clock()
    assert 0.25 <= ahead <= 2.0  # backed off (0.5 s base, 2 s cap), not retried at once
    rig.clock.advance(ahead)
    rig.replayer._kick.set()
    await wait_until(lambda: rig.outbox.depth() == 0)
    assert rig.outbox.dead_count() == 0 and seen == ["k-cut", "k-cut"]  # the same key again


async def test_a_stuck_queue_shows_in_status_and_metrics(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/stuck", method="POST", handler=Answers([in_flight("1")]))
    sidecar = await make_sidecar(health=True, outbox=True, PROBE_INTERVAL="0.2",
                                 PROBE_TIMEOUT="3", REPLAY_MAX_ATTEMPTS="2")
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online())
    reply = await sidecar.request("POST", "/stuck", {"Idempotency-Key": "k-s"}, b"{}")
    assert reply.status == 202
    clock.advance(42)
    await origin.set_mode("ok")
    await wait_until(lambda: (sidecar.edge.outbox.oldest() is not None
                              and sidecar.edge.outbox.oldest().waits >= 3), 60)
    status = json.loads((await sidecar.get("/_edge/status")).body)
    oldest = status["outbox_oldest"]
    assert status["outbox_depth"] == 1 and status["dead_letters"] == 0
    assert status["outbox_oldest_age_s"] == 42.0 and oldest["age_s"] == 42.0
    assert oldest["path"] == "/stuck" and oldest["attempts"] == 0 and oldest["waits"] >= 3
    assert oldest["last_status"] == 409 and "in flight" in oldest["last_error"]
    metrics = (await sidecar.get("/metrics")).body.decode()
    assert "edge_outbox_oldest_age_seconds 42.0" in metrics
    assert "edge_outbox_depth 1.0" in metrics and "edge_deadletters_total 0.0" in metrics
    assert 'edge_replay_total{result="wait"}' in metrics
