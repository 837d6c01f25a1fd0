"""An asyncio TCP link emulator: the WAN between an edge cache and the cloud, on one machine.

    python -m edgelab.link.emulator --listen 127.0.0.1:9000 --upstream 127.0.0.1:8000 \
        --control 127.0.0.1:9100

Every byte from a client (the edge cache) to the upstream (the cloud app) and back goes
through here. While the link is up bytes pass untouched; when degraded each chunk read from a
socket is delayed by ``latency_ms ± jitter_ms`` (order preserved), a lost chunk costs an extra
retransmission timeout (a TCP stream cannot drop bytes, so loss shows up as delay), and a
token bucket per direction, shared by all connections, caps the rate. Down ``refuse`` resets
new connections (SO_LINGER 0) and cuts existing ones; down ``blackhole`` accepts new
connections and never answers (they are reset when the link comes back, like a SYN that never
arrived) and stalls existing ones (they resume when the link comes back, like TCP after
retransmissions).

The control API (aiohttp) on ``--control``: ``GET /link``, ``POST /link/up``,
``POST /link/down {"mode": "refuse"|"blackhole"}``, ``POST /link/degrade {"latency_ms",
"jitter_ms", "loss", "rate_kbit"}``, ``GET /healthz``, ``/readyz``, ``/metrics``.
One JSON log line per event on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from edgelab.link.base import LinkState, validate_degrade, validate_mode

CHUNK = 65536
MIN_RTO_S = 0.2
MAX_RETRANSMISSIONS = 6


def log_event(event: str, level: str = "info", **fields: Any) -> None:
    """Write one JSON log line to stderr."""
    record = {"ts": time.time(), "level": level, "logger": "edgelab.link.emulator", "event": event}
    record.update(fields)
    print(json.dumps(record, default=str), file=sys.stderr, flush=True)


def parse_hostport(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Parse ``HOST:PORT`` or ``PORT``."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = default_host, value
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"expected HOST:PORT or PORT, got {value!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    return (host or default_host).strip("[]"), number


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a TCP RST (SO_LINGER on, timeout 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TokenBucket:
    """A byte token bucket; `rate_bytes_s` None means unlimited. Shared by all connections."""

    def __init__(self) -> None:
        self.rate_bytes_s: float | None = None
        self.capacity = 0.0
        self.tokens = 0.0
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    def configure(self, rate_kbit: float | None) -> None:
        if rate_kbit is None:
            self.rate_bytes_s = None
            return
        self.rate_bytes_s = rate_kbit * 1000.0 / 8.0
        # Burst of 20 ms of traffic, at least a few full-size packets.
        self.capacity = max(self.rate_bytes_s * 0.02, 4500.0)
        self.tokens = min(self.tokens, self.capacity)
        self.updated = time.monotonic()

    async def take(self, nbytes: int) -> None:
        async with self.lock:
            remaining = float(nbytes)
            while remaining > 0:
                rate = self.rate_bytes_s
                if rate is None:
                    return
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * rate)
                self.updated = now
                piece = min(remaining, self.capacity)
                if self.tokens >= piece:
                    self.tokens -= piece
                    remaining -= piece
                    continue
                await asyncio.sleep((piece - self.tokens) / rate)


@dataclass
class Counters:
    accepted: int = 0
    refused: int = 0
    cut: int = 0
    blackholed: int = 0
    upstream_errors: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)
        for task in self.tasks:
            task.cancel()


class LinkEmulator:
    """The emulator, usable in-process (tests, notebooks) or via `main()` as a process."""

    def __init__(
        self,
        listen: tuple[str, int],
        upstream: tuple[str, int],
        *,
        seed: int | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.listen = listen
        self.upstream = upstream
        self.connect_timeout_s = connect_timeout_s
        self._rng = random.Random(seed)
        self._state = LinkState()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._changed = asyncio.Condition()
        self._buckets = {"up": TokenBucket(), "down": TokenBucket()}
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self.counters = Counters()

    # -- state ---------------------------------------------------------------------------
    def state(self) -> LinkState:
        return self._state

    def _set(self, new: LinkState) -> LinkState:
        self._state = new
        if new.state == "down":
            self._flowing.clear()
        else:
            self._flowing.set()
        for bucket in self._buckets.values():
            bucket.configure(new.rate_kbit if new.state == "degraded" else None)
        asyncio.get_running_loop().create_task(self._notify())
        log_event(f"link.{new.state}", **{k: v for k, v in new.to_dict().items() if k != "state"})
        return new

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def up(self) -> LinkState:
        return self._set(LinkState(state="up"))

    def down(self, mode: str = "refuse") -> LinkState:
        checked = validate_mode(mode)
        new = self._set(LinkState(state="down", mode=checked))
        if checked == "refuse":
            live = list(self._connections)
            for conn in live:
                conn.reset()
            self._connections.clear()
            self.counters.cut += len(live)
            if live:
                log_event("link.connections_cut", count=len(live))
        return new

    def degrade(
        self,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        loss: float = 0.0,
        rate_kbit: float | None = None,
    ) -> LinkState:
        latency, jitter, loss_f, rate = validate_degrade(latency_ms, jitter_ms, loss, rate_kbit)
        if latency == 0 and jitter == 0 and loss_f == 0 and rate is None:
            return self.up()
        return self._set(
            LinkState(
                state="degraded",
                latency_ms=latency,
                jitter_ms=jitter,
                loss=loss_f,
                rate_kbit=rate,
            )
        )

    # -- data path -----------------------------------------------------------------------
    def _delay_s(self) -> float:
        st = self._state
        if st.state != "degraded":
            return 0.0
        delay = st.latency_ms / 1000.0
        if st.jitter_ms:
            delay += self._rng.uniform(-st.jitter_ms, st.jitter_ms) / 1000.0
        delay = max(delay, 0.0)
        if st.loss:
            rto = max(MIN_RTO_S, 2 * st.latency_ms / 1000.0 + 0.05)
            attempts = 0
            while attempts < MAX_RETRANSMISSIONS and self._rng.random() < st.loss:
                delay += rto * (2**attempts)
                attempts += 1
        return delay

    async def start(self) -> None:
        host, port = self.listen
        self._server = await asyncio.start_server(self._handle, host, port, limit=CHUNK)
        sockname = self._server.sockets[0].getsockname()
        self.listen = (host, int(sockname[1]))
        log_event(
            "emulator.started",
            listen=f"{host}:{self.listen[1]}",
            upstream=f"{self.upstream[0]}:{self.upstream[1]}",
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.reset()
        self._connections.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        log_event("emulator.stopped")

    async def _wait_not_blackholed(self) -> None:
        async with self._changed:
            await self._changed.wait_for(
                lambda: not (self._state.state == "down" and self._state.mode == "blackhole")
            )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        st = self._state
        if st.state == "down" and st.mode == "refuse":
            self.counters.refused += 1
            _reset(writer)
            return
        conn = _Connection(client=writer)
        if st.state == "down" and st.mode == "blackhole":
            self.counters.blackholed += 1
            self._connections.add(conn)
            try:
                await self._wait_not_blackholed()
            except asyncio.CancelledError:
                return
            # Accepted while the link was a black hole: this connection never reached the cloud.
            self._connections.discard(conn)
            _reset(writer)
            return
        self.counters.accepted += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream, limit=CHUNK), self.connect_timeout_s
            )
        except (OSError, TimeoutError) as exc:
            self.counters.upstream_errors += 1
            log_event("upstream.connect_failed", level="warning", error=repr(exc))
            _reset(writer)
            return
        if self._state.state == "down":  # went down while connecting
            _reset(up_writer)
            _reset(writer)
            return
        conn.upstream = up_writer
        self._connections.add(conn)
        up_task = asyncio.ensure_future(self._pipe(reader, up_writer, "up", conn))
        down_task = asyncio.ensure_future(self._pipe(up_reader, writer, "down", conn))
        conn.tasks = [up_task, down_task]
        try:
            await asyncio.gather(up_task, down_task)
        except (asyncio.CancelledError, ConnectionError, OSError):
            conn.reset()
        finally:
            self._connections.discard(conn)
            for w in (writer, up_writer):
                if not w.transport.is_closing():
                    w.close()

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        direction: str,
        conn: _Connection,
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=256)
        sender = asyncio.ensure_future(self._send(queue, dst, direction))
        last_due = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._flowing.wait()
                data = await src.read(CHUNK)
                due = max(loop.time() + self._delay_s(), last_due)
                last_due = due
                await queue.put((due, data))
                if not data:
                    break
            await sender
        except (ConnectionError, OSError):
            sender.cancel()
            conn.reset()
        except asyncio.CancelledError:
            sender.cancel()
            raise

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], dst: asyncio.StreamWriter, direction: str
    ) -> None:
        loop = asyncio.get_running_loop()
        bucket = self._buckets[direction]
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._flowing.wait()
            if not data:
                if dst.can_write_eof() and not dst.transport.is_closing():
                    dst.write_eof()
                return
            await bucket.take(len(data))
            dst.write(data)
            if direction == "up":
                self.counters.bytes_up += len(data)
            else:
                self.counters.bytes_down += len(data)
            await dst.drain()

    def snapshot(self) -> dict[str, Any]:
        data = self._state.to_dict()
        data["connections"] = len(self._connections)
        data["counters"] = vars(self.counters).copy()
        return data


# -- control API -------------------------------------------------------------------------


def _problem(status: int, title: str, detail: str) -> web.Response:
    body = {
        "type": "https://edgelab.dev/problems/bad-link-request",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return web.json_response(body, status=status, content_type="application/problem+json")


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    text = await request.text()
    if not text.strip():
        return {}
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("request body must be a JSON object")
    return data


def make_control_app(emulator: LinkEmulator) -> web.Application:
    """The HTTP control API for one emulator."""
    routes = web.RouteTableDef()

    def guarded(
        action: Callable[[dict[str, Any]], LinkState],
    ) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            try:
                body = await _json_body(request)
                action(body)
            except json.JSONDecodeError as exc:
                return _problem(400, "Malformed JSON", str(exc))
            except (ValueError, TypeError) as exc:
                return _problem(400, "Invalid link parameters", str(exc))
            return web.json_response(emulator.snapshot())

        return handler

    def do_down(body: dict[str, Any]) -> LinkState:
        unknown = set(body) - {"mode"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; expected 'mode'")
        return emulator.down(str(body.get("mode", "refuse")))

    degrade_fields = {"latency_ms", "jitter_ms", "loss", "rate_kbit"}

    def do_degrade(body: dict[str, Any]) -> LinkState:
        unknown = set(body) - degrade_fields
        if unknown:
            expected = sorted(degrade_fields)
            raise ValueError(f"unknown field(s) {sorted(unknown)}; expected {expected}")
        return emulator.degrade(
            latency_ms=body.get("latency_ms", 0),
            jitter_ms=body.get("jitter_ms", 0),
            loss=body.get("loss", 0.0),
            rate_kbit=body.get("rate_kbit"),
        )

    @routes.get("/link")
    async def get_link(request: web.Request) -> web.Response:
        return web.json_response(emulator.snapshot())

    routes.post("/link/up")(guarded(lambda body: emulator.up()))
    routes.post("/link/down")(guarded(do_down))
    routes.post("/link/degrade")(guarded(do_degrade))

    @routes.get("/healthz")
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @routes.get("/readyz")
    async def readyz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "listen": emulator.listen[1]})

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        st = emulator.state()
        lines = [
            f"edgelab_link_up {0 if st.state == 'down' else 1}",
            f"edgelab_link_latency_ms {st.latency_ms}",
            f"edgelab_link_connections {len(emulator._connections)}",
        ]
        for name, value in vars(emulator.counters).items():
            lines.append(f"edgelab_link_{name}_total {value}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application()
    app.add_routes(routes)
    return app


async def serve(
    listen: tuple[str, int],
    upstream: tuple[str, int],
    control: tuple[str, int],
    stop: asyncio.Event | None = None,
) -> None:
    """Run an emulator and its control API until `stop` is set (or SIGTERM/SIGINT)."""
    emulator = LinkEmulator(listen, upstream)
    await emulator.start()
    runner = web.AppRunner(make_control_app(emulator), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, control[0], control[1])
    await site.start()
    log_event("control.started", control=f"{control[0]}:{control[1]}")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgelab.link.emulator",
        description="TCP WAN link emulator between an edge cache and the cloud, with an HTTP "
        "control API (GET /link, POST /link/up|down|degrade).",
    )
    parser.add_argument("--listen", required=True, help="HOST:PORT (or PORT) the edge connects to")
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the cloud app")
    parser.add_argument("--control", required=True, help="HOST:PORT (or PORT) of the control API")
    args = parser.parse_args(argv)
    try:
        listen = parse_hostport(args.listen)
        upstream = parse_hostport(args.upstream)
        control = parse_hostport(args.control)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(serve(listen, upstream, control))
    except OSError as exc:
        log_event("emulator.failed", level="error", error=str(exc))
        print(f"edgelab link emulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["LinkEmulator", "main", "make_control_app", "parse_hostport", "serve"]
