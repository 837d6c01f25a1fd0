"""Reading HTML form posts (urlencoded or multipart) into plain strings."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

MAX_FIELD_LENGTH = 1000


@dataclass(frozen=True)
class FormData:
    """Every field of a form post as a list of strings (repeated names keep their order)."""

    fields: dict[str, list[str]]

    def get(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0].strip()

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, [])]


async def read_form(request: Request) -> FormData:
    """The posted form; uploaded files are ignored and values are length-capped."""
    form = await request.form()
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value[:MAX_FIELD_LENGTH])
    return FormData(fields)
