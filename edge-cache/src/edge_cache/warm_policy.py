"""The `warm:` section of a route-policy file: which URLs an edge fetches when it comes online
(see `warming.py`, which does the fetching). Pure data and its parser, so `policy.py` can read
it without importing the warmer."""

from __future__ import annotations

from dataclasses import dataclass


class WarmPolicyError(ValueError):
    """The `warm:` section cannot be used."""


@dataclass(frozen=True, slots=True)
class WarmPolicy:
    urls: tuple[str, ...] = ()
    follow: tuple[str, ...] = ()
    max_urls: int = 500
    interval: float = 60.0
    concurrency: int = 2


def parse_warm(item: object, where: str) -> WarmPolicy | None:
    """The `warm:` section of a policy file (None when absent or empty)."""
    if item is None:
        return None
    if isinstance(item, list):
        item = {"urls": item}
    if not isinstance(item, dict):
        raise WarmPolicyError(f"{where}: 'warm' must be a list of URLs or a mapping")
    unknown = set(item) - {"urls", "follow", "max_urls", "interval", "concurrency"}
    if unknown:
        raise WarmPolicyError(f"{where}: unknown keys {sorted(unknown)}")
    urls = _targets(item.get("urls", []), f"{where}.urls")
    follow = _targets(item.get("follow", []), f"{where}.follow")
    max_urls = item.get("max_urls", 500)
    concurrency = item.get("concurrency", 2)
    interval = item.get("interval", 60)
    for name, value, low in (("max_urls", max_urls, 1), ("concurrency", concurrency, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise WarmPolicyError(f"{where}.{name}: expected a whole number >= {low}")
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        raise WarmPolicyError(f"{where}.interval: expected a number of seconds > 0")
    if not urls:
        return None
    return WarmPolicy(urls=urls[:max_urls], follow=follow, max_urls=max_urls,
                      interval=float(interval), concurrency=concurrency)


def _targets(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.startswith("/") and not v.startswith("//") for v in value
    ):
        raise WarmPolicyError(f"{where}: expected a list of targets starting with '/'")
    return tuple(dict.fromkeys(value))
