"""HTTP request and response values passed between the parts of the sidecar.

Header names are kept as received but compared case-insensitively; `headers` is an ordered
list of (name, value) pairs so repeated fields survive unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[str, str]]


def header_values(headers: Headers, name: str) -> list[str]:
    """All values of header `name` (case-insensitive), in order."""
    lname = name.lower()
    return [v for k, v in headers if k.lower() == lname]


def header_value(headers: Headers, name: str) -> str | None:
    """The values of header `name` joined with ", " (RFC 9110 §5.3), or None when absent."""
    values = header_values(headers, name)
    return ", ".join(values) if values else None


def without_headers(headers: Headers, *names: str) -> Headers:
    """A copy of `headers` without the named fields."""
    drop = {n.lower() for n in names}
    return [(k, v) for k, v in headers if k.lower() not in drop]


@dataclass(slots=True)
class Request:
    method: str
    target: str  # path + optional "?query", as sent by the client
    headers: Headers = field(default_factory=list)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


@dataclass(slots=True)
class Response:
    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)
