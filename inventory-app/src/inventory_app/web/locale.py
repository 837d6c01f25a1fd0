"""Which language a web request is answered in (switch, cookie, then Accept-Language)."""

from __future__ import annotations

from starlette.requests import Request

from inventory_app.i18n import LANG_COOKIE, Translator, choose_locale, normalise_locale


def request_locale(request: Request) -> str:
    return choose_locale(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def switched_locale(request: Request) -> str | None:
    """The locale chosen with ``?lang=`` on this request (to be remembered in a cookie)."""
    return normalise_locale(request.query_params.get("lang"))


def translator(request: Request) -> Translator:
    return Translator(request_locale(request))
