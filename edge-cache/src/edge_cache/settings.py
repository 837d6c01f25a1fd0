"""The sidecar's settings, read once from `EDGE_CACHE_*` environment variables.

`ENV_VARS` documents every variable (the CLI prints it in `--help`). `Settings.from_env()` raises
`SettingsError` with a readable message for a missing origin or a bad value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A missing or invalid environment variable."""


# name (without prefix), default (None = required/unset), description
ENV_VARS: list[tuple[str, str | None, str]] = [
    ("ORIGIN", None, "origin base URL, e.g. http://127.0.0.1:8000 (required)"),
    ("DATA_DIR", "./edge-cache-data", "directory for cache.sqlite3 and outbox.sqlite3"),
    ("HOST", "127.0.0.1", "listen address"),
    ("PORT", "8080", "listen port"),
    ("MAX_BYTES", "536870912", "cache size bound in bytes (LRU eviction above it)"),
    ("MAX_ENTRIES", "200000", "cache entry bound (LRU eviction above it)"),
    ("HOT_ENTRIES", "4096", "entries kept pre-serialized in memory in front of SQLite (0 = off)"),
    ("ORIGIN_TIMEOUT", "5", "per-request deadline for origin requests, seconds"),
    ("ORIGIN_CONNECTIONS", "64", "max pooled keep-alive connections to the origin"),
    ("COALESCE_TIMEOUT", "5", "seconds a coalesced waiter waits before an uncached pass-through"),
    ("MAX_HEADER_BYTES", "32768", "request line + headers limit (431 above it)"),
    ("MAX_BODY_BYTES", "10485760", "request body limit (413 above it)"),
    ("MAX_OFFLINE_STALE", "604800", "default max staleness served offline, seconds (per route)"),
    ("HEURISTIC_MAX", "86400", "cap for heuristic freshness (10% of Last-Modified age), seconds"),
    ("PROBE_PATH", "/healthz", "origin path probed by the health checker"),
    ("PROBE_INTERVAL", "1.0", "seconds between probes"),
    ("PROBE_TIMEOUT", "0.5", "probe deadline, seconds"),
    ("PROBE_WINDOW", "3", "probes remembered for the failure threshold"),
    ("PROBE_FAILURES", "2", "failed probes within the window that make the origin OFFLINE"),
    ("PROBE_SUCCESSES", "2", "consecutive good probes that make it ONLINE again"),
    ("POLICY_FILE", "", "YAML per-route policy file (see README)"),
    ("OUTBOX_MAX_ENTRIES", "100000", "queued writes before 507 Insufficient Storage"),
    ("OUTBOX_MAX_BYTES", "268435456", "queued bytes before 507"),
    ("OUTBOX_ACKED_SYNC", "lease",
     "how outbox.acked (which detects a lost -wal at start) reaches the disk: lease (ids"
     " reserved ahead and flushed before any is acknowledged) | background (flushed every"
     " 0.2 s: a power loss with a lost -wal can miss the last writes; the reference for"
     " benchmarks)"),
    ("OUTBOX_ACK_LEASE", "1024", "ids reserved ahead per flush of outbox.acked (lease mode)"),
    ("OUTBOX_SHARE", "0.5",
     "fraction of the outbox bounds one credential may fill (507 above; anonymous: no share)"),
    ("READ_ONLY_ROLES", "viewer",
     "comma-separated digest-list roles whose writes are refused (403) instead of queued"),
    ("REPLAY_CONCURRENCY", "8", "parallel replays (one at a time per resource)"),
    ("REPLAY_MAX_ATTEMPTS", "10", "attempts on transient failures before a dead letter"),
    ("REPLAY_BACKOFF_MAX", "30", "max back-off between replay attempts, seconds"),
    ("DEVICE_TOKEN", "", "device token sent as X-Edge-Device-Authorization on replays"),
    ("ADMIN_TOKEN", "", "bearer token for /_edge/* writes (purge, retry, discard)"),
    ("AUTH_REQUIRED", "auto", "verify credentials locally: auto (when DEVICE_TOKEN set)|on|off"),
    ("TOKEN_DIGESTS_PATH", "/api/auth/token-digests", "origin path of the token digest list"),
    ("TOKEN_SYNC_INTERVAL", "60", "seconds between token digest list syncs"),
    ("AUTH_COOKIE", "inventory_session", "session cookie whose value is checked like a token"),
    ("CREDENTIAL_COOKIES", "",
     "comma-separated cookie names that are credentials (RFC 9111 §3.5), e.g. inventory_session;"
     " other cookies are ordinary fields (Vary: Cookie); AUTH_COOKIE counts when auth is on"),
    ("AUTH_PUBLIC_PATHS", "/login,/static/,/favicon.ico",
     "comma-separated path prefixes that need no credential when auth is on"),
    ("CHANGES_PATH", "", "origin change-feed path, e.g. /api/changes (empty = off)"),
    ("CHANGES_TIMEOUT", "25", "change-feed long-poll timeout, seconds"),
    ("ACCESS_LOG", "on", "one JSON line per request on stderr: on|off"),
    ("LOG_LEVEL", "info", "debug|info|warning|error"),
]


def _truthy(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"EDGE_CACHE_{name}={value!r}: expected on/off")


@dataclass(frozen=True, slots=True)
class Settings:
    origin: str
    data_dir: Path = Path("./edge-cache-data")
    host: str = "127.0.0.1"
    port: int = 8080
    max_bytes: int = 512 * 1024 * 1024
    max_entries: int = 200_000
    hot_entries: int = 4096
    origin_timeout: float = 5.0
    origin_connections: int = 64
    coalesce_timeout: float = 5.0
    max_header_bytes: int = 32768
    max_body_bytes: int = 10 * 1024 * 1024
    max_offline_stale: float = 604800.0
    heuristic_max: float = 86400.0
    probe_path: str = "/healthz"
    probe_interval: float = 1.0
    probe_timeout: float = 0.5
    probe_window: int = 3
    probe_failures: int = 2
    probe_successes: int = 2
    policy_file: Path | None = None
    outbox_max_entries: int = 100_000
    outbox_max_bytes: int = 256 * 1024 * 1024
    outbox_share: float = 0.5
    outbox_acked_sync: str = "lease"
    outbox_ack_lease: int = 1024
    read_only_roles: frozenset[str] = frozenset({"viewer"})
    replay_concurrency: int = 8
    replay_max_attempts: int = 10
    replay_backoff_max: float = 30.0
    device_token: str = ""
    admin_token: str = ""
    auth_required: str = "auto"
    token_digests_path: str = "/api/auth/token-digests"
    token_sync_interval: float = 60.0
    auth_cookie: str = "inventory_session"
    auth_public_paths: tuple[str, ...] = ("/login", "/static/", "/favicon.ico")
    credential_cookies: tuple[str, ...] = ()
    changes_path: str = ""
    changes_timeout: float = 25.0
    access_log: bool = True
    log_level: str = "info"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def origin_host(self) -> str:
        """host[:port] of the origin, as it appears in absolute URIs."""
        return urlsplit(self.origin).netloc

    @property
    def cache_db(self) -> Path:
        return self.data_dir / "cache.sqlite3"

    @property
    def outbox_db(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @property
    def credential_cookie_names(self) -> frozenset[str]:
        """Cookies that make a request credentialed: the listed ones, plus the session cookie
        whose value is verified when credentials are checked."""
        names = set(self.credential_cookies)
        if self.auth_enabled:
            names.add(self.auth_cookie)
        return frozenset(names)

    @property
    def auth_enabled(self) -> bool:
        if self.auth_required == "on":
            return True
        if self.auth_required == "off":
            return False
        return bool(self.device_token)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, **overrides: str | int | None
    ) -> Settings:
        """Read every `EDGE_CACHE_*` variable; `overrides` (e.g. from CLI flags) win."""
        env = os.environ if env is None else env
        raw: dict[str, str] = {}
        for name, default, _ in ENV_VARS:
            value = env.get(f"EDGE_CACHE_{name}")
            if value is None or (value == "" and default not in (None, "")):
                if default is None:
                    continue
                value = default
            raw[name] = value
        for key, override in overrides.items():
            if override is not None:
                raw[key.upper()] = str(override)
        origin = raw.get("ORIGIN", "").strip()
        if not origin:
            raise SettingsError(
                "EDGE_CACHE_ORIGIN is required: the origin base URL, e.g. http://127.0.0.1:8000"
            )
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"EDGE_CACHE_ORIGIN={origin!r}: expected http(s)://host[:port]")

        def integer(name: str, minimum: int = 0) -> int:
            try:
                v = int(raw[name])
            except ValueError:
                raise SettingsError(f"EDGE_CACHE_{name}={raw[name]!r}: not an integer") from None
            if v < minimum:
                raise SettingsError(f"EDGE_CACHE_{name}={v}: must be >= {minimum}")
            return v

        def number(name: str, minimum: float = 0.0) -> float:
            try:
                v = float(raw[name])
            except ValueError:
                raise SettingsError(f"EDGE_CACHE_{name}={raw[name]!r}: not a number") from None
            if not v >= minimum or v != v or v == float("inf"):
                raise SettingsError(f"EDGE_CACHE_{name}={v}: must be a finite number >= {minimum}")
            return v

        def path_value(name: str) -> str:
            v = raw[name].strip()
            if v and not v.startswith("/"):
                raise SettingsError(f"EDGE_CACHE_{name}={v!r}: must start with '/'")
            return v

        port = integer("PORT", 0)
        if port > 65535:
            raise SettingsError(f"EDGE_CACHE_PORT={port}: not a TCP port")
        level = raw["LOG_LEVEL"].strip().lower()
        if level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"EDGE_CACHE_LOG_LEVEL={level!r}: debug|info|warning|error")
        auth = raw["AUTH_REQUIRED"].strip().lower()
        if auth not in ("auto", "on", "off"):
            raise SettingsError(f"EDGE_CACHE_AUTH_REQUIRED={auth!r}: auto|on|off")
        policy = raw["POLICY_FILE"].strip()
        if policy and not Path(policy).is_file():
            raise SettingsError(f"EDGE_CACHE_POLICY_FILE={policy!r}: no such file")
        window = integer("PROBE_WINDOW", 1)
        failures = integer("PROBE_FAILURES", 1)
        if failures > window:
            raise SettingsError("EDGE_CACHE_PROBE_FAILURES must not exceed EDGE_CACHE_PROBE_WINDOW")
        share = number("OUTBOX_SHARE", 0.0)
        if not 0 < share <= 1:
            raise SettingsError(f"EDGE_CACHE_OUTBOX_SHARE={share}: must be in (0, 1]")
        acked_sync = raw["OUTBOX_ACKED_SYNC"].strip().lower()
        if acked_sync not in ("lease", "background"):
            raise SettingsError(f"EDGE_CACHE_OUTBOX_ACKED_SYNC={acked_sync!r}: lease|background")
        known = {n for n, _, _ in ENV_VARS}
        extra = {
            k.removeprefix("EDGE_CACHE_"): v
            for k, v in env.items()
            if k.startswith("EDGE_CACHE_") and k.removeprefix("EDGE_CACHE_") not in known
        }
        return cls(
            origin=origin.rstrip("/"),
            data_dir=Path(raw["DATA_DIR"]),
            host=raw["HOST"],
            port=port,
            max_bytes=integer("MAX_BYTES", 1),
            max_entries=integer("MAX_ENTRIES", 1),
            hot_entries=integer("HOT_ENTRIES", 0),
            origin_timeout=number("ORIGIN_TIMEOUT", 0.001),
            origin_connections=integer("ORIGIN_CONNECTIONS", 1),
            coalesce_timeout=number("COALESCE_TIMEOUT", 0.0),
            max_header_bytes=integer("MAX_HEADER_BYTES", 1024),
            max_body_bytes=integer("MAX_BODY_BYTES", 0),
            max_offline_stale=number("MAX_OFFLINE_STALE", 0.0),
            heuristic_max=number("HEURISTIC_MAX", 0.0),
            probe_path=path_value("PROBE_PATH") or "/healthz",
            probe_interval=number("PROBE_INTERVAL", 0.01),
            probe_timeout=number("PROBE_TIMEOUT", 0.001),
            probe_window=window,
            probe_failures=failures,
            probe_successes=integer("PROBE_SUCCESSES", 1),
            policy_file=Path(policy) if policy else None,
            outbox_max_entries=integer("OUTBOX_MAX_ENTRIES", 1),
            outbox_max_bytes=integer("OUTBOX_MAX_BYTES", 1),
            outbox_share=share,
            outbox_acked_sync=acked_sync,
            outbox_ack_lease=integer("OUTBOX_ACK_LEASE", 1),
            read_only_roles=frozenset(
                r.strip() for r in raw["READ_ONLY_ROLES"].split(",") if r.strip()
            ),
            replay_concurrency=integer("REPLAY_CONCURRENCY", 1),
            replay_max_attempts=integer("REPLAY_MAX_ATTEMPTS", 1),
            replay_backoff_max=number("REPLAY_BACKOFF_MAX", 0.0),
            device_token=raw["DEVICE_TOKEN"],
            admin_token=raw["ADMIN_TOKEN"],
            auth_required=auth,
            token_digests_path=path_value("TOKEN_DIGESTS_PATH"),
            token_sync_interval=number("TOKEN_SYNC_INTERVAL", 0.1),
            auth_cookie=raw["AUTH_COOKIE"].strip() or "inventory_session",
            auth_public_paths=tuple(
                p.strip() for p in raw["AUTH_PUBLIC_PATHS"].split(",") if p.strip()
            ),
            credential_cookies=tuple(
                c.strip() for c in raw["CREDENTIAL_COOKIES"].split(",") if c.strip()
            ),
            changes_path=path_value("CHANGES_PATH"),
            changes_timeout=number("CHANGES_TIMEOUT", 0.0),
            access_log=_truthy(raw["ACCESS_LOG"], "ACCESS_LOG"),
            log_level=level,
            extra=extra,
        )
