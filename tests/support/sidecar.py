"""Run the real `edge-cache` console script as a subprocess for end-to-end offline tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.ports import free_port, listens
from tests.support.waiting import wait_until

EDGE_CACHE = str(Path(sys.executable).with_name("edge-cache"))

# Fast probing so tests do not wait on the production defaults; a generous probe deadline so a
# loaded machine does not make a healthy origin look dead (refused connections are immediate).
FAST_PROBES = {
    "EDGE_CACHE_PROBE_INTERVAL": "0.2",
    "EDGE_CACHE_PROBE_TIMEOUT": "2.0",
    "EDGE_CACHE_REPLAY_BACKOFF_MAX": "0.5",
}


class Sidecar:
    def __init__(self, origin: str, data_dir: Path, **env: str) -> None:
        self.origin = origin
        self.data_dir = data_dir
        self.env = dict(FAST_PROBES)
        self.env.update(env)
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-edge.log"
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CACHE_")}
        env.update({
            "EDGE_CACHE_ORIGIN": self.origin,
            "EDGE_CACHE_DATA_DIR": str(self.data_dir),
            "EDGE_CACHE_HOST": "127.0.0.1",
            "EDGE_CACHE_PORT": str(self.port),
            "EDGE_CACHE_ACCESS_LOG": "off",
        })
        env.update(self.env)
        return env

    async def launch(self) -> asyncio.subprocess.Process:
        """Start the process without waiting for it to be ready."""
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: ASYNC230, SIM115
        try:
            self.proc = await asyncio.create_subprocess_exec(
                EDGE_CACHE, env=self._environ(), stdout=log, stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            log.close()
        return self.proc

    async def start(self, deadline: float = 30.0) -> None:
        await self.launch()
        await self.wait_ready(deadline)

    async def wait_ready(self, deadline: float = 30.0) -> None:
        """/readyz answers 200 from this process on its own port; fails early if it exits."""
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                proc = self.proc
                if proc is not None and proc.returncode is not None:
                    raise AssertionError(
                        f"edge-cache exited with {proc.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(self.url + "/readyz",
                                           timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        return (resp.status == 200 and proc is not None
                                and listens(proc.pid, self.port))
                return False

            try:
                await wait_until(ready, deadline, "edge-cache ready", interval=0.05)
            except AssertionError as exc:
                if "exited" in str(exc):
                    raise
                raise AssertionError(f"{exc}:\n{self.log_tail()}") from exc

    async def wait_digests(self, deadline: float = 60.0) -> None:
        """The synced token-digest list is on disk: credentials are verified locally now,
        also offline."""
        digests = self.data_dir / "token-digests.json"
        await wait_until(digests.exists, deadline, "the synced token-digest list")

    async def kill9(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self, deadline: float = 20.0) -> int | None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return proc.returncode if proc else None
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), deadline)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        return proc.returncode

    async def exit_code(self, deadline: float = 30.0) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), deadline)

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    async def status(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(self.url + "/_edge/status") as resp:
            assert resp.status == 200
            data: dict[str, Any] = json.loads(await resp.read())
            return data

    async def wait_state(self, session: aiohttp.ClientSession, state: str,
                         deadline: float = 30.0) -> float:
        """Wait until /_edge/status says `state`; returns the seconds it took."""

        async def reached() -> bool:
            return bool((await self.status(session))["state"] == state)

        return await wait_until(reached, deadline, f"sidecar {state}", interval=0.02)

    async def wait_drained(self, session: aiohttp.ClientSession,
                           deadline: float = 60.0) -> dict[str, Any]:
        """Wait until online with an empty outbox and no replay in flight; returns the status."""
        last: dict[str, Any] = {}

        async def drained() -> bool:
            last.update(await self.status(session))
            return bool(last["state"] == "online" and last["outbox_depth"] == 0
                        and not last.get("replay", {}).get("inflight"))

        try:
            await wait_until(drained, deadline, "outbox drained", interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {last}") from exc
        return last
