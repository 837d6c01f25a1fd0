"""Per-route policy from the YAML file named by `EDGE_CACHE_POLICY_FILE`.

```yaml
routes:                      # first match wins
  - path: /api/products      # a prefix, or a glob when it has * ? or [ (fnmatch on the path)
    methods: [GET, HEAD]     # optional; default: every method
    ttl: 30                  # optional freshness override in seconds (like nginx proxy_cache_valid,
                             #   but it wins over the origin's max-age/Expires; no-store/private
                             #   responses are still never stored)
    max_offline_stale: 86400 # seconds past freshness an entry may be served while OFFLINE
    bypass: false            # true: never read or write the cache on this route
    queue: true              # unsafe requests may be queued in the outbox (offline / origin failed)
    replay: fifo             # fifo (in order per resource) | parallel
    affects: [/api/stock]    # paths evicted and marked pending by a write on this route
    gateway_errors_mean_offline: false  # true: a 502/503/504 answer on this route is taken as
                             #   a disconnection (an ingress in front of the app answered): stale
                             #   with the offline licence, writes queued, the prober asked to look
warm: [/, /products]         # optional: targets fetched when ONLINE and kept fresh (warming.py)
```
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from edge_cache.warm_policy import WarmPolicy, WarmPolicyError, parse_warm


class PolicyError(ValueError):
    """The policy file cannot be used."""


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    path: str = "/"
    methods: frozenset[str] | None = None
    ttl: float | None = None
    max_offline_stale: float = 604800.0
    bypass: bool = False
    queue: bool = True
    replay: str = "fifo"
    affects: tuple[str, ...] = ()
    gateway_errors_mean_offline: bool = False
    glob: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.glob:
            return fnmatch.fnmatchcase(path, self.path)
        return path.startswith(self.path)


@dataclass(slots=True)
class Policies:
    default: RoutePolicy = field(default_factory=RoutePolicy)
    routes: list[RoutePolicy] = field(default_factory=list)
    warm: WarmPolicy | None = None
    _memo: dict[tuple[str, str], RoutePolicy] = field(default_factory=dict)

    def for_request(self, method: str, path: str) -> RoutePolicy:
        if not self.routes:
            return self.default
        key = (method, path)
        found = self._memo.get(key)
        if found is None:
            found = next((r for r in self.routes if r.matches(method, path)), self.default)
            if len(self._memo) > 10000:
                self._memo.clear()
            self._memo[key] = found
        return found


def _seconds(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PolicyError(f"{where}: expected a number of seconds >= 0, got {value!r}")
    return float(value)


def load_policies(path: Path | None, max_offline_stale: float = 604800.0) -> Policies:
    default = RoutePolicy(max_offline_stale=max_offline_stale)
    if path is None:
        return Policies(default=default)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"policy file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("routes", []), list):
        raise PolicyError(f"policy file {path}: expected a mapping with a 'routes' list")
    if "default" in data:
        if not isinstance(data["default"], dict):
            raise PolicyError(f"policy file {path}: 'default' must be a mapping")
        default = _route(data["default"] | {"path": "/"}, default, f"{path}: default")
    routes = [
        _route(item, default, f"{path}: routes[{i}]")
        for i, item in enumerate(data.get("routes") or [])
    ]
    try:
        warm = parse_warm(data.get("warm"), f"{path}: warm")
    except WarmPolicyError as exc:
        raise PolicyError(str(exc)) from exc
    return Policies(default=default, routes=routes, warm=warm)


def _route(item: object, base: RoutePolicy, where: str) -> RoutePolicy:
    if not isinstance(item, dict):
        raise PolicyError(f"{where}: expected a mapping")
    known = {"path", "methods", "ttl", "max_offline_stale", "bypass", "queue", "replay", "affects",
             "gateway_errors_mean_offline"}
    unknown = set(item) - known
    if unknown:
        raise PolicyError(f"{where}: unknown keys {sorted(unknown)}")
    path = item.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise PolicyError(f"{where}: 'path' must be a string starting with '/'")
    methods = item.get("methods")
    if methods is not None and (
        not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)
    ):
        raise PolicyError(f"{where}: 'methods' must be a list of strings")
    replay = item.get("replay", base.replay)
    if replay not in ("fifo", "parallel"):
        raise PolicyError(f"{where}: 'replay' must be fifo or parallel")
    affects = item.get("affects", list(base.affects))
    if not isinstance(affects, list) or not all(
        isinstance(a, str) and a.startswith("/") for a in affects
    ):
        raise PolicyError(f"{where}: 'affects' must be a list of paths")
    for flag in ("bypass", "queue", "gateway_errors_mean_offline"):
        if flag in item and not isinstance(item[flag], bool):
            raise PolicyError(f"{where}: '{flag}' must be true or false")
    ttl = item.get("ttl")
    return replace(
        base,
        path=path,
        glob=any(c in path for c in "*?["),
        methods=frozenset(m.upper() for m in methods) if methods is not None else None,
        ttl=_seconds(ttl, f"{where}.ttl") if ttl is not None else base.ttl,
        max_offline_stale=_seconds(
            item.get("max_offline_stale", base.max_offline_stale), f"{where}.max_offline_stale"
        ),
        bypass=item.get("bypass", base.bypass),
        queue=item.get("queue", base.queue),
        replay=replay,
        affects=tuple(affects),
        gateway_errors_mean_offline=item.get(
            "gateway_errors_mean_offline", base.gateway_errors_mean_offline),
    )
