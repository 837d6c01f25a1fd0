"""The local lab: cloud app, N edge caches and one WAN link emulator per edge, as real processes.

```
client ──► edge-cache shop-n :8080+n-1 ──► link emulator :9000+n-1 ──► inventory-app :8000
```

Everything lives under the lab directory (`EDGELAB_LAB_DIR`, default `./build/lab/local`):
`cloud/` (SQLite), `edges/<name>/`, `logs/<part>.log`, `run/<part>.pid` and `state.json`.
`LocalTarget.attach()` finds a lab started by another process through `state.json`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from edgelab.policies import INVENTORY_POLICY
from edgelab.process import (
    PortInUseError,
    ProcessError,
    ProcessRecord,
    is_running,
    kill_processes,
    listens,
    log_tail,
    pick_port,
    read_pid_files,
    start_process,
    stop_processes,
    wait_until,
)
from edgelab.settings import LabSettings
from edgelab.targets.base import (
    Endpoints,
    LabNotRunningError,
    PartHealth,
    TargetError,
    Tokens,
    UnknownEdgeError,
)
from edgelab.targets.lab_state import (
    LabState,
    PartState,
    load_state,
    remove_state,
    save_state,
)

if TYPE_CHECKING:
    from edgelab.link import Link

Progress = Callable[[str], None]

# Edge-cache defaults that make the local lab react within seconds (each overridable per edge).
# Credentials are verified at the edge against the cloud's digest list (AUTH_REQUIRED=on), the
# change feed keeps cached entries exact, and the prober notices an outage within ~1 s.
LOCAL_EDGE_DEFAULTS: dict[str, str] = {
    "EDGE_CACHE_AUTH_REQUIRED": "on",
    "EDGE_CACHE_CHANGES_PATH": "/api/changes",
    "EDGE_CACHE_PROBE_INTERVAL": "0.5",
    "EDGE_CACHE_TOKEN_SYNC_INTERVAL": "10",
    "EDGE_CACHE_REPLAY_BACKOFF_MAX": "2",
    "EDGE_CACHE_POLICY_FILE": str(INVENTORY_POLICY),
}


MAX_EDGES = 3  # the demo data has warehouses SHOP-1..SHOP-3


def edge_name(index: int) -> str:
    return f"shop-{index}"


def warehouse_code(index: int) -> str:
    return f"SHOP-{index}"


def _script(name: str) -> str:
    """A console script of this environment (next to the interpreter first, then PATH)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise TargetError(
            f"'{name}' is not installed; install the local extras: pip install -e 'edgelab[local]' "
            "(or run `make setup`)"
        )
    return found


def parse_seed_tokens(output: str) -> dict[str, str]:
    """Tokens printed by `inventory-app seed-demo` ("admin API token: …",
    "device token SHOP-1: …") keyed like `tokens.json` ("admin", "device SHOP-1")."""
    tokens: dict[str, str] = {}
    for line in output.splitlines():
        head, sep, value = line.rpartition(":")
        if not sep or not value.strip():
            continue
        head = head.strip()
        if head == "admin API token":
            tokens["admin"] = value.strip()
        elif head.startswith("device token "):
            tokens[f"device {head.removeprefix('device token ').strip()}"] = value.strip()
    return tokens


def parse_token(output: str) -> str:
    """The token printed by `inventory-app create-token` (JSON with "token", or the last word)."""
    text = output.strip()
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("token"), str):
            return str(data["token"])
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line:
            continue
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            if isinstance(data, dict) and isinstance(data.get("token"), str):
                return str(data["token"])
            continue
        return line.split()[-1]
    raise TargetError(f"inventory-app create-token printed no token: {output[-200:]!r}")


class LocalTarget:
    """Start, find, check and stop the local lab. Use as a context manager for up/down."""

    def __init__(
        self,
        settings: LabSettings | None = None,
        *,
        edges: int | None = None,
        lab_dir: Path | str | None = None,
        edge_env: Mapping[str, Mapping[str, str]] | None = None,
        common_edge_env: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> None:
        s = settings or LabSettings.from_env()
        if edges is not None:
            s = s.with_changes(edges=edges)
        if lab_dir is not None:
            s = s.with_changes(lab_dir=Path(lab_dir))
        if not 1 <= s.edges <= MAX_EDGES:
            raise TargetError(
                f"the local lab supports 1 to {MAX_EDGES} edges (the demo data has shops "
                f"SHOP-1..SHOP-{MAX_EDGES}), got {s.edges}"
            )
        self.settings = s
        self.lab_dir = s.lab_dir.expanduser().resolve()
        self.edge_env = {k: dict(v) for k, v in (edge_env or {}).items()}
        self.common_edge_env = dict(common_edge_env or {})
        unknown = set(self.edge_env) - {edge_name(i) for i in range(1, s.edges + 1)}
        if unknown:
            raise UnknownEdgeError(f"edge_env names unknown edges: {', '.join(sorted(unknown))}")
        self._progress = progress or (lambda _msg: None)
        self._state: LabState | None = None
        self._owns = False

    # ------------------------------------------------------------------ construction helpers

    @classmethod
    def attach(
        cls, lab_dir: Path | str | None = None, settings: LabSettings | None = None
    ) -> LocalTarget:
        """The lab already running in `lab_dir` (started by `edgelab up` or another process)."""
        target = cls(settings, lab_dir=lab_dir)
        state = load_state(target.lab_dir)
        if state is None or not state.complete:
            raise LabNotRunningError(
                f"no local lab is running in {target.lab_dir} (start it with `edgelab up`)"
            )
        dead = [p.name for p in state.parts if not is_running(p.process)]
        if dead:
            raise LabNotRunningError(
                f"the lab in {target.lab_dir} is broken: {', '.join(dead)} not running "
                "(run `edgelab down` then `edgelab up`)"
            )
        target._state = state
        return target

    def __enter__(self) -> LocalTarget:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    # ------------------------------------------------------------------ paths

    @property
    def logs_dir(self) -> Path:
        return self.lab_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.lab_dir / "run"

    @property
    def cloud_dir(self) -> Path:
        return self.lab_dir / "cloud"

    def edge_dir(self, name: str) -> Path:
        return self.lab_dir / "edges" / name

    @property
    def state(self) -> LabState:
        if self._state is None:
            state = load_state(self.lab_dir)
            if state is None:
                raise LabNotRunningError(
                    f"no local lab is running in {self.lab_dir} (start it with `edgelab up`)"
                )
            self._state = state
        return self._state

    # ------------------------------------------------------------------ environment

    def _cloud_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["INVENTORY_DATA_DIR"] = str(self.cloud_dir)
        env["INVENTORY_DATABASE_URL"] = f"sqlite:///{self.cloud_dir / 'inventory.db'}"
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _inventory_cli(self, *args: str, timeout_s: float = 120.0) -> str:
        argv = [_script("inventory-app"), *args]
        log = self.logs_dir / "cloud-setup.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                argv, env=self._cloud_env(), capture_output=True, text=True, timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TargetError(f"`inventory-app {' '.join(args)}` took longer than {timeout_s} s")\
                from exc
        with log.open("a") as fh:
            fh.write(json.dumps({"event": "edgelab.setup", "argv": list(args),
                                 "rc": done.returncode}) + "\n")
            fh.write(done.stderr)
        if done.returncode != 0:
            raise TargetError(
                f"`inventory-app {' '.join(args)}` failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )
        return done.stdout

    def migrate(self) -> None:
        """Create or upgrade the cloud's SQLite schema."""
        self.cloud_dir.mkdir(parents=True, exist_ok=True)
        self._inventory_cli("migrate")

    @property
    def tokens_file(self) -> Path:
        return self.cloud_dir / "tokens.json"

    def _load_tokens(self) -> dict[str, str]:
        try:
            data = json.loads(self.tokens_file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _save_tokens(self, tokens: Mapping[str, str]) -> None:
        fd = os.open(self.tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(dict(tokens), fh, indent=2)

    def seed(self) -> bool:
        """Load the demo data into the cloud database (once per lab directory).

        Returns True when data was loaded now. The tokens the demo data prints (admin, one
        device per shop) are kept in `<lab>/cloud/tokens.json` (mode 0600).
        """
        marker = self.cloud_dir / ".demo-seeded"
        if marker.exists():
            return False
        out = self._inventory_cli("seed-demo", "--days", str(self.settings.demo_days),
                                  "--products", str(self.settings.demo_products),
                                  timeout_s=600.0)
        tokens = self._load_tokens()
        tokens.update(parse_seed_tokens(out))
        self._save_tokens(tokens)
        marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        return True

    def _create_tokens(self, tokens: dict[str, str],
                       wanted: list[tuple[str, str, str | None]]) -> None:
        """Create the missing tokens of `wanted` (key, role, warehouse) in parallel."""
        missing = [w for w in wanted if w[0] not in tokens]
        if not missing:
            return

        def create(item: tuple[str, str, str | None]) -> tuple[str, str]:
            key, role, warehouse = item
            args = ["create-token", "--role", role, "--name", f"edgelab {key}"]
            if warehouse:
                args += ["--warehouse", warehouse]
            return key, parse_token(self._inventory_cli(*args))

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for key, value in pool.map(create, missing):
                tokens[key] = value
        self._save_tokens(tokens)

    def _token(self, tokens: dict[str, str], key: str, role: str,
               warehouse: str | None = None) -> str:
        """`tokens[key]`, created with `inventory-app create-token` when missing."""
        if key not in tokens:
            args = ["create-token", "--role", role, "--name", f"edgelab {key}"]
            if warehouse:
                args += ["--warehouse", warehouse]
            tokens[key] = parse_token(self._inventory_cli(*args))
            self._save_tokens(tokens)
        return tokens[key]

    # ------------------------------------------------------------------ up / down

    def up(self) -> None:
        """Start cloud, links and edges (cleaning up a crashed previous run first)."""
        s = self.settings
        self.recover()
        for d in (self.logs_dir, self.run_dir, self.cloud_dir):
            d.mkdir(parents=True, exist_ok=True)
        state = LabState(lab_dir=str(self.lab_dir))
        self._state = state
        self._owns = True
        try:
            self._up(state, s)
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise

    def _up(self, state: LabState, s: LabSettings) -> None:
        host = s.host
        taken: set[int] = set()

        def port(preferred: int, what: str) -> int:
            p = pick_port(host, preferred, taken, strict=s.strict_ports, what=what)
            taken.add(p)
            return p

        def still_free(chosen: int, what: str) -> int:
            """Right before a part starts: another lab may have taken its port meanwhile
            (the demo data load takes seconds); then the next free one (never when strict)."""
            taken.discard(chosen)
            return port(chosen, what)

        app_port = port(s.app_port, "the cloud app")
        names = [edge_name(i) for i in range(1, s.edges + 1)]
        link_ports = {
            n: (port(s.link_port + i if s.link_port else 0, f"link {n}"),
                port(s.link_control_port + i if s.link_control_port else 0, f"link {n} control"))
            for i, n in enumerate(names)
        }
        edge_ports = {n: port(s.edge_port + i if s.edge_port else 0, f"edge {n}")
                      for i, n in enumerate(names)}

        self._progress("cloud: migrate + demo data")
        self.migrate()
        self.seed()
        stored = self._load_tokens()
        self._create_tokens(stored, [("admin", "admin", None)] + [
            (f"{role} {warehouse_code(i)}", role, warehouse_code(i))
            for i in range(1, len(names) + 1) for role in ("clerk", "device")
        ])
        tokens: dict[str, Any] = {
            "admin": self._token(stored, "admin", "admin"),
            "clerks": {},
            "devices": {},
            "edge_admin": stored.setdefault("edge-admin", os.urandom(24).hex()),
        }
        for i, n in enumerate(names, start=1):
            code = warehouse_code(i)
            tokens["clerks"][n] = self._token(stored, f"clerk {code}", "clerk", code)
            tokens["devices"][n] = self._token(stored, f"device {code}", "device", code)
        self._save_tokens(stored)
        state.tokens = tokens
        save_state(self.lab_dir, state)

        app_port = still_free(app_port, "the cloud app")
        self._progress(f"cloud: serve on {host}:{app_port}")
        cloud = self._start_part(
            state,
            PartState(name="cloud", kind="cloud", host=host, port=app_port,
                      process=_placeholder(), data_dir=str(self.cloud_dir)),
            [_script("inventory-app"), "serve", "--host", host, "--port", str(app_port)],
            self._cloud_env(),
        )
        self._wait_http(cloud, "/readyz")

        for n in names:
            lport = still_free(link_ports[n][0], f"link {n}")
            cport = still_free(link_ports[n][1], f"link {n} control")
            link_ports[n] = (lport, cport)
            self._progress(f"link {n}: {host}:{lport} → cloud (control {cport})")
            link = self._start_part(
                state,
                PartState(name=f"link-{n}", kind="link", host=host, port=lport,
                          process=_placeholder(), control_port=cport,
                          upstream=f"{host}:{app_port}", edge=n),
                [sys.executable, "-m", "edgelab.link.emulator", "--listen", f"{host}:{lport}",
                 "--upstream", f"{host}:{app_port}", "--control", f"{host}:{cport}"],
                {**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            self._wait_http(link, "/readyz", base=f"http://{host}:{cport}", port=cport)
            self._wait_tcp(link, lport)

        for i, n in enumerate(names, start=1):
            self._start_edge(state, n, i, still_free(edge_ports[n], f"edge {n}"),
                             link_ports[n][0])
        state.complete = True
        save_state(self.lab_dir, state)

    def _edge_env(
        self, state: LabState, name: str, link_port: int,
        overrides: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        data_dir = self.edge_dir(name)
        data_dir.mkdir(parents=True, exist_ok=True)
        custom = {**LOCAL_EDGE_DEFAULTS, **self.common_edge_env, **self.edge_env.get(name, {}),
                  **(overrides or {})}
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "EDGE_CACHE_ORIGIN": f"http://{self.settings.host}:{link_port}",
            "EDGE_CACHE_DATA_DIR": str(data_dir),
            "EDGE_CACHE_DEVICE_TOKEN": str(state.tokens["devices"][name]),
            "EDGE_CACHE_ADMIN_TOKEN": str(state.tokens["edge_admin"]),
            "EDGE_CACHE_NODE_NAME": name,
            **custom,
        }
        return env, custom

    def _start_edge(self, state: LabState, name: str, index: int, port: int, link_port: int,
                    overrides: Mapping[str, str] | None = None) -> PartState:
        """Start one edge cache; when its port was taken between the choice and the bind (by
        another lab on this machine), start it again on the next free port (not when strict)."""
        for attempt in range(3):
            try:
                return self._start_edge_once(state, name, index, port, link_port, overrides)
            except ProcessError as exc:
                if self.settings.strict_ports or "address already in use" not in str(exc) \
                        or attempt == 2:
                    raise
                taken = {p.port for p in state.parts if p.name != name}
                port = pick_port(self.settings.host, port + 1, taken, strict=False,
                                 what=f"edge {name}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_edge_once(self, state: LabState, name: str, index: int, port: int,
                         link_port: int, overrides: Mapping[str, str] | None) -> PartState:
        host = self.settings.host
        env, custom = self._edge_env(state, name, link_port, overrides)
        self._progress(f"edge {name}: {host}:{port} → link {link_port}")
        part = self._start_part(
            state,
            PartState(name=name, kind="edge", host=host, port=port, process=_placeholder(),
                      data_dir=str(self.edge_dir(name)), warehouse=warehouse_code(index),
                      env=custom),
            [_script("edge-cache"), "--host", host, "--port", str(port)],
            env,
        )
        url = f"{part.url}/readyz"

        def ready() -> bool:
            # ours must answer: another lab's edge that took the port answers /readyz too
            if not is_running(part.process) or not listens(part.process.pid, port):
                return False
            return httpx.get(url, timeout=2.0).status_code == 200

        wait_until(ready, timeout_s=self.settings.ready_timeout_s, what=f"{name} ({url})",
                   record=part.process, interval_s=0.2)
        return part

    def restart_edge(self, name: str, env: Mapping[str, str] | None = None, *,
                     wipe: bool = False, crash: bool = False, lose_outbox: bool = False) -> None:
        """Restart one edge cache, e.g. with other `EDGE_CACHE_*` settings.

        `env` replaces the edge's extra settings (None keeps them); `wipe` starts with an empty
        data directory; `crash` kills it with SIGKILL instead of a graceful stop;
        `lose_outbox` deletes its outbox database before the restart (a node whose queued
        writes were not durable) — used to show that verification catches lost writes.
        """
        state = self.state
        part = state.part(name)
        if part is None or part.kind != "edge":
            raise UnknownEdgeError(self._unknown_edge_message(name))
        link = next(p for p in state.by_kind("link") if p.edge == name)
        if crash:
            kill_processes([part.process], self.settings.stop_timeout_s)
        else:
            stop_processes([part.process], self.settings.stop_timeout_s)
        if wipe:
            shutil.rmtree(self.edge_dir(name), ignore_errors=True)
        elif lose_outbox:
            for f in self.edge_dir(name).glob("outbox*"):
                f.unlink(missing_ok=True)
        index = int(name.rsplit("-", 1)[1])
        if env is not None:
            self.edge_env[name] = dict(env)
        # the old port, unless someone took it meanwhile (another lab on this machine)
        taken = {p.port for p in state.parts if p.name != name} | {
            p.control_port for p in state.parts if p.control_port}
        port = pick_port(self.settings.host, part.port, taken,
                         strict=self.settings.strict_ports, what=f"edge {name}")
        self._start_edge(state, name, index, port, link.port)
        save_state(self.lab_dir, state)

    def _start_part(self, state: LabState, part: PartState, argv: list[str],
                    env: Mapping[str, str]) -> PartState:
        record = start_process(part.name, argv, env=env,
                               log_path=self.logs_dir / f"{part.name}.log",
                               pid_path=self.run_dir / f"{part.name}.pid")
        part.process = record
        state.replace_part(part)
        save_state(self.lab_dir, state)
        return part

    def _wait_http(self, part: PartState, path: str, base: str | None = None,
                   port: int | None = None) -> None:
        url = (base or part.url) + path
        own = port or part.port

        def ready() -> bool:
            # ours must answer: another lab (or test) may take the port after the free-port
            # check, and then its process answers on it while ours fails to bind
            return (listens(part.process.pid, own)
                    and httpx.get(url, timeout=2.0).status_code == 200)

        wait_until(ready, timeout_s=self.settings.ready_timeout_s,
                   what=f"{part.name} ({url})", record=part.process, interval_s=0.2)

    def _wait_tcp(self, part: PartState, port: int) -> None:
        def ready() -> bool:
            if not listens(part.process.pid, port):
                return False
            with socket.create_connection((part.host, port), timeout=1.0):
                return True

        wait_until(ready, timeout_s=self.settings.ready_timeout_s,
                   what=f"{part.name} ({part.host}:{port})", record=part.process)

    def recover(self) -> list[str]:
        """Stop whatever a previous (possibly crashed) run left behind. Returns what was stopped.

        Only processes recorded in `state.json` or `run/*.pid` *with the same start time* are
        signalled; a pid that now belongs to someone else is left alone.
        """
        records: dict[tuple[int, float], ProcessRecord] = {}
        state = load_state(self.lab_dir)
        if state is not None:
            for p in state.parts:
                records[(p.process.pid, p.process.create_time)] = p.process
        for r in read_pid_files(self.run_dir):
            records[(r.pid, r.create_time)] = r
        live = [r for r in records.values() if r.pid > 0 and is_running(r)]
        stop_processes(live, self.settings.stop_timeout_s)
        if self.run_dir.is_dir():
            for pid_file in self.run_dir.glob("*.pid"):
                pid_file.unlink(missing_ok=True)
        remove_state(self.lab_dir)
        self._state = None
        return [r.name for r in live]

    def down(self) -> list[str]:
        """Stop every part of this lab (also after a crash). Data and logs stay. Idempotent."""
        stopped = self.recover()
        self._owns = False
        return stopped

    def is_up(self) -> bool:
        state = load_state(self.lab_dir)
        return bool(state and state.complete and all(is_running(p.process) for p in state.parts))

    # ------------------------------------------------------------------ Target interface

    def edge_names(self) -> list[str]:
        return sorted(p.name for p in self.state.by_kind("edge"))

    def warehouse_of(self, edge: str) -> str:
        part = self.state.part(edge)
        if part is None or part.kind != "edge":
            raise UnknownEdgeError(self._unknown_edge_message(edge))
        return part.warehouse

    def _unknown_edge_message(self, name: str) -> str:
        known = ", ".join(sorted(p.name for p in self.state.by_kind("edge"))) or "none"
        return f"unknown edge {name!r} (this lab has: {known})"

    def endpoints(self) -> Endpoints:
        state = self.state
        cloud = state.part("cloud")
        if cloud is None:
            raise LabNotRunningError(f"the lab in {self.lab_dir} has no cloud part")
        edges = {p.name: p.url for p in state.by_kind("edge")}
        direct = {p.edge: p.url for p in state.by_kind("link")}
        return Endpoints(cloud=cloud.url, edges=edges, direct=direct)

    def links(self) -> dict[str, Link]:
        from edgelab.link.local import LocalLink

        return {p.edge: LocalLink(p.control_url) for p in self.state.by_kind("link")}

    def link(self, edge: str) -> Link:
        links = self.links()
        if edge not in links:
            raise UnknownEdgeError(self._unknown_edge_message(edge))
        return links[edge]

    def tokens(self) -> Tokens:
        t = self.state.tokens
        return Tokens(admin=str(t.get("admin", "")), clerks=dict(t.get("clerks", {})),
                      edge_admin=str(t.get("edge_admin", "")),
                      devices=dict(t.get("devices", {})))

    def health(self) -> list[PartHealth]:
        rows: list[PartHealth] = []
        state = self.state
        order = {"cloud": 0, "link": 1, "edge": 2}
        with httpx.Client(timeout=2.0) as client:
            for p in sorted(state.parts, key=lambda p: (order.get(p.kind, 9), p.name)):
                rows.append(self._part_health(client, p))
        return rows

    def _part_health(self, client: httpx.Client, p: PartState) -> PartHealth:
        alive = is_running(p.process)
        row = PartHealth(name=p.name, kind=p.kind, url=p.url, pid=p.process.pid,
                         node="localhost", healthy=False, state="stopped")
        if not alive:
            row.detail = f"process {p.process.pid} is not running; see {p.process.log}"
            return row
        try:
            if p.kind == "cloud":
                r = client.get(p.url + "/readyz")
                row.healthy = r.status_code == 200
                row.state = "ready" if row.healthy else f"HTTP {r.status_code}"
            elif p.kind == "edge":
                status = client.get(p.url + "/_edge/status").json()
                row.healthy = True
                row.state = str(status.get("state", "unknown"))
                row.outbox_depth = int(status.get("outbox_depth", 0) or 0)
                hits = float(status.get("hits", 0) or 0)
                misses = float(status.get("misses", 0) or 0)
                row.hit_ratio = hits / (hits + misses) if hits + misses else None
            else:
                row.state = _link_state_text(self.link(p.edge).state())
                row.healthy = True
                row.url = f"{p.url} (control {p.control_url})"
        except (httpx.HTTPError, ValueError, OSError) as exc:
            row.state = "unreachable"
            row.detail = str(exc) or type(exc).__name__
        except Exception as exc:  # a link or edge answering something unexpected
            row.state = "error"
            row.detail = f"{type(exc).__name__}: {exc}"
        return row

    def logs(self) -> Iterator[tuple[str, str]]:
        """(part name, last log lines) for every part — for error messages and notebooks."""
        for p in self.state.parts:
            yield p.name, log_tail(p.process.log)


def _link_state_text(state: object) -> str:
    if hasattr(state, "to_dict"):
        state = state.to_dict()
    if isinstance(state, Mapping):
        mode = str(state.get("state", "?"))
        if state.get("mode"):
            mode += f" ({state['mode']})"
        extra = []
        for key in ("latency_ms", "jitter_ms", "loss", "rate_kbit"):
            if state.get(key):
                extra.append(f"{key}={state[key]}")
        return f"{mode}" + (f" ({', '.join(extra)})" if extra else "")
    for attr in ("mode", "state"):
        if hasattr(state, attr):
            return str(getattr(state, attr))
    return str(state)


def _placeholder() -> ProcessRecord:
    return ProcessRecord(name="", pid=0, create_time=0.0, argv=[], log="")


__all__ = ["LocalTarget", "PortInUseError", "ProcessError", "edge_name", "parse_token",
           "warehouse_code"]
