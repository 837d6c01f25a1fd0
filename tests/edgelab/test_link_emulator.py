"""The link emulator as a real process between a client and a real origin process."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from edgelab.link import Link, LinkError, LinkState
from edgelab.link.local import LocalLink
from edgelab.process import ManagedProcess, free_port, python_module


class Lab:
    def __init__(self, origin_port: int, listen_port: int, control_port: int) -> None:
        self.origin_port = origin_port
        self.listen_port = listen_port
        self.link = LocalLink(f"http://127.0.0.1:{control_port}")
        self.url = f"http://127.0.0.1:{listen_port}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    logs: Path = tmp_path_factory.mktemp("link")
    origin_port, listen_port, control_port = free_port(), free_port(), free_port()
    origin = ManagedProcess(
        "origin",
        python_module("edgelab.bench.origin", "--port", str(origin_port)),
        logs / "origin.log",
    )
    emulator = ManagedProcess(
        "emulator",
        python_module(
            "edgelab.link.emulator",
            "--listen",
            f"127.0.0.1:{listen_port}",
            "--upstream",
            f"127.0.0.1:{origin_port}",
            "--control",
            str(control_port),
        ),
        logs / "emulator.log",
    )
    try:
        origin.wait_http(f"http://127.0.0.1:{origin_port}/healthz")
        emulator.wait_http(f"http://127.0.0.1:{control_port}/healthz")
        yield Lab(origin_port, listen_port, control_port)
    finally:
        emulator.stop()
        origin.stop()
    # One JSON log line per event.
    lines = (logs / "emulator.log").read_text().splitlines()
    assert any('"event": "link.down"' in line for line in lines)


@pytest.fixture(autouse=True)
def link_up(lab: Lab) -> Iterator[None]:
    lab.link.up()
    yield
    lab.link.up()


def _raw_get(sock: socket.socket, path: str = "/items/1") -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_passes_traffic_when_up(lab: Lab) -> None:
    assert isinstance(lab.link, Link)
    state = lab.link.state()
    assert isinstance(state, LinkState)
    assert state.state == "up" and state.mode is None
    response = httpx.get(f"{lab.url}/items/7", timeout=10)
    assert response.status_code == 200
    assert response.json()["id"] == "7"


def test_added_latency_is_never_less_than_asked(lab: Lab) -> None:
    """50 ms one way in each direction: every request/response round trip through a degraded
    link takes at least ~100 ms, however idle or busy the machine (a delay can only be longer
    than asked, never shorter). How much longer is a timing, measured in `make bench`, not here."""

    def rtts(client: httpx.Client) -> list[float]:
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            assert client.get(f"{lab.url}/items/1").status_code == 200
            samples.append((time.perf_counter() - start) * 1000)
        return samples

    with httpx.Client(timeout=10) as client:
        rtts(client)  # the connection is open before the link is degraded
        state = lab.link.degrade(latency_ms=50)
        assert state.state == "degraded" and state.latency_ms == 50
        slowed = rtts(client)
    # 95, not 100: the event loop may wake a timer up to its clock resolution early.
    assert min(slowed) >= 95, slowed


def test_refuse_resets_new_and_cuts_existing(lab: Lab) -> None:
    existing = socket.create_connection(("127.0.0.1", lab.listen_port), timeout=10)
    try:
        _raw_get(existing)
        assert b" 200 " in _read_response(existing)
        state = lab.link.down("refuse")
        assert state.state == "down" and state.mode == "refuse"
        # The existing connection is cut: reset or closed, not left hanging.
        existing.settimeout(10)
        try:
            _raw_get(existing)
            cut = existing.recv(65536) == b""
        except (ConnectionResetError, BrokenPipeError):
            cut = True
        assert cut
    finally:
        existing.close()
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(f"{lab.url}/items/1", timeout=10)
    lab.link.up()
    assert httpx.get(f"{lab.url}/items/1", timeout=10).status_code == 200


def test_blackhole_accepts_and_never_answers_then_up_restores(lab: Lab) -> None:
    existing = socket.create_connection(("127.0.0.1", lab.listen_port), timeout=10)
    try:
        _raw_get(existing)
        assert b" 200 " in _read_response(existing)
        assert lab.link.down("blackhole").mode == "blackhole"
        # New connections are accepted but never answered.
        fresh = socket.create_connection(("127.0.0.1", lab.listen_port), timeout=10)
        fresh.settimeout(1.0)
        _raw_get(fresh)
        with pytest.raises(TimeoutError):
            fresh.recv(65536)
        fresh.close()
        # Existing connections stall ...
        existing.settimeout(1.0)
        _raw_get(existing, "/items/2")
        with pytest.raises(TimeoutError):
            existing.recv(65536)
        # ... and resume when the link comes back.
        lab.link.up()
        existing.settimeout(10)
        assert b" 200 " in _read_response(existing)
    finally:
        existing.close()
    assert httpx.get(f"{lab.url}/items/3", timeout=10).status_code == 200


def test_bad_parameters_are_rejected_with_clear_messages(lab: Lab) -> None:
    with pytest.raises(ValueError, match="latency_ms must be >= 0"):
        lab.link.degrade(latency_ms=-5)
    with pytest.raises(ValueError, match="loss"):
        lab.link.degrade(loss=1.5)
    with pytest.raises(ValueError, match="unknown link mode"):
        lab.link.down("sideways")
    control = lab.link.control_url
    response = httpx.post(f"{control}/link/degrade", json={"loss": 2}, timeout=10)
    assert response.status_code == 400
    assert "loss" in response.json()["detail"]
    response = httpx.post(f"{control}/link/down", json={"mode": "bogus"}, timeout=10)
    assert response.status_code == 400
    assert "bogus" in response.json()["detail"]
    response = httpx.post(f"{control}/link/degrade", json={"latency": 5}, timeout=10)
    assert response.status_code == 400
    assert "unknown field" in response.json()["detail"]
    assert lab.link.state().state == "up"


def test_degrade_with_zero_parameters_is_up_and_state_round_trips(lab: Lab) -> None:
    state = lab.link.degrade(latency_ms=10, jitter_ms=2, loss=0.0, rate_kbit=10_000)
    assert (state.state, state.latency_ms, state.jitter_ms, state.rate_kbit) == (
        "degraded",
        10,
        2,
        10_000,
    )
    assert lab.link.state() == state
    assert httpx.get(f"{lab.url}/items/9", timeout=10).status_code == 200
    assert lab.link.degrade().state == "up"


def test_unreachable_control_api_is_a_link_error() -> None:
    link = LocalLink(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(LinkError, match="unreachable"):
        link.state()
    assert not link.healthy()


def test_rate_limit_paces_a_large_upload(lab: Lab) -> None:
    body = b'{"blob": "' + b"x" * 100_000 + b'"}'
    state = lab.link.degrade(rate_kbit=400)  # 50 kB/s
    assert state.rate_kbit == 400
    start = time.perf_counter()
    response = httpx.post(
        f"{lab.url}/items/big",
        content=body,
        headers={"Idempotency-Key": "rate-1", "Content-Type": "application/json"},
        timeout=60,
    )
    elapsed = time.perf_counter() - start
    assert response.status_code == 201
    # 100 kB at 50 kB/s cannot take less than ~1.9 s (burst 4.5 kB); generous band.
    assert 1.0 <= elapsed <= 45, elapsed
