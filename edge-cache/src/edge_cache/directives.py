"""Cache-Control parsing (RFC 9111 §5.2, RFC 5861) with safe readings of invalid values.

Invalid or conflicting values never widen what the cache may do: an unparsable or repeated
`max-age`/`s-maxage` reads as 0 (stale), an unparsable `max-stale`, `stale-if-error` or
`stale-while-revalidate` is ignored, and `private`/`no-cache` with a malformed field list read as
the unqualified (stricter) directive.
"""

from __future__ import annotations

from dataclasses import dataclass

DELTA_MAX = 2147483648.0  # RFC 9111 §1.2.2


@dataclass(slots=True)
class CacheControl:
    no_store: bool = False
    no_cache: bool = False
    no_cache_fields: tuple[str, ...] = ()
    private: bool = False
    private_fields: tuple[str, ...] = ()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    immutable: bool = False
    max_age: float | None = None
    s_maxage: float | None = None
    max_stale: float | None = None  # request: inf when given without a value
    min_fresh: float | None = None
    only_if_cached: bool = False
    stale_while_revalidate: float | None = None
    stale_if_error: float | None = None

    @property
    def revalidate_when_stale(self) -> bool:
        """must-revalidate, proxy-revalidate or s-maxage (which implies proxy-revalidate)."""
        return self.must_revalidate or self.proxy_revalidate or self.s_maxage is not None


EMPTY = CacheControl()


def split_list(value: str) -> list[str]:
    """Split a comma-separated field value, keeping commas inside quoted strings."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            buf.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == "," and not quoted:
            parts.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf).strip())
    return [p for p in parts if p]


def _delta(value: str | None) -> float | None:
    if value is None:
        return None
    v = value.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1]
    if not v.isdigit() or not v.isascii():
        return None
    return min(float(int(v)), DELTA_MAX)


def _fields(value: str | None) -> tuple[str, ...] | None:
    """Field names in a (quoted) list; None when malformed."""
    if value is None:
        return None
    v = value.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1]
    names = [n.strip().lower() for n in v.split(",")]
    if not names or any(not n or not all(c.isalnum() or c in "-_." for c in n) for n in names):
        return None
    return tuple(names)


_cache: dict[str, CacheControl] = {}


def parse_cache_control(value: str | None) -> CacheControl:
    """Parse a (combined) Cache-Control value. Results are memoised: treat them as read-only."""
    if not value:
        return EMPTY
    found = _cache.get(value)
    if found is not None:
        return found
    cc = CacheControl()
    seen: dict[str, str | None] = {}
    for item in split_list(value):
        name, sep, arg = item.partition("=")
        name = name.strip().lower()
        argument = arg.strip() if sep else None
        if name in ("max-age", "s-maxage") and name in seen and seen[name] != argument:
            argument = "0"  # conflicting duplicates: treat as stale
        seen[name] = argument
    for name, argument in seen.items():
        if name == "no-store":
            cc.no_store = True
        elif name == "no-cache":
            fields = _fields(argument)
            if argument is not None and fields:
                cc.no_cache_fields = fields
            else:
                cc.no_cache = True
        elif name == "private":
            fields = _fields(argument)
            if argument is not None and fields:
                cc.private_fields = fields
            else:
                cc.private = True
        elif name == "public":
            cc.public = True
        elif name == "must-revalidate":
            cc.must_revalidate = True
        elif name == "proxy-revalidate":
            cc.proxy_revalidate = True
        elif name == "must-understand":
            cc.must_understand = True
        elif name == "immutable":
            cc.immutable = True
        elif name == "max-age":
            cc.max_age = _delta(argument)
            if cc.max_age is None:
                cc.max_age = 0.0
        elif name == "s-maxage":
            cc.s_maxage = _delta(argument)
            if cc.s_maxage is None:
                cc.s_maxage = 0.0
        elif name == "max-stale":
            cc.max_stale = DELTA_MAX if argument is None else _delta(argument)
        elif name == "min-fresh":
            cc.min_fresh = _delta(argument)
        elif name == "only-if-cached":
            cc.only_if_cached = True
        elif name == "stale-while-revalidate":
            cc.stale_while_revalidate = _delta(argument)
        elif name == "stale-if-error":
            cc.stale_if_error = _delta(argument)
    if len(_cache) > 4096:
        _cache.clear()
    _cache[value] = cc
    return cc
