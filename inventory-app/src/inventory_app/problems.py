"""Problem errors (RFC 9457) raised by services and turned into problem+json by the API.

Services raise these; the web UI can catch :class:`ProblemError` and show `detail`/`errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM_BASE = "https://edgelab.dev/problems/"


@dataclass
class FieldError:
    field: str
    message: str


@dataclass
class ProblemError(Exception):
    """An error with an HTTP status, a stable type slug and field-level messages."""

    status: int
    slug: str
    title: str
    detail: str = ""
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "errors": [{"field": e.field, "message": e.message} for e in self.errors],
        }
        body.update(self.extra)
        return body


def not_found(entity: str, ident: object, field_name: str = "id") -> ProblemError:
    return ProblemError(
        404,
        "not-found",
        "Not found",
        f"{entity} {ident} does not exist",
        [FieldError(field_name, f"unknown {entity} {ident}")],
    )


def invalid(errors: list[FieldError], detail: str = "The request is invalid") -> ProblemError:
    return ProblemError(422, "validation-error", "Validation error", detail, errors)


def invalid_field(field_name: str, message: str) -> ProblemError:
    return invalid([FieldError(field_name, message)], message)
