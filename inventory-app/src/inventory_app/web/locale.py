"""Which language a web request is answered in.

A page a cache may share is answered in the language named by its URL (``?lang=``), so that
one URL is one representation, whoever asks: the page varies on nothing but its URL. Every link
of a page keeps its ``lang``. A page URL without ``lang`` is redirected to one with it, chosen by
the remembered choice (cookie) and then the browser's ``Accept-Language``.
Private answers (sign-in, errors, redirects) use the same order: switch, cookie, then browser.
"""

from __future__ import annotations

from starlette.requests import Request

from inventory_app.i18n import LANG_COOKIE, Translator, choose_locale, normalise_locale


def request_locale(request: Request) -> str:
    return choose_locale(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def url_locale(request: Request) -> str | None:
    """The supported locale named by the URL's ``lang`` parameter, if any."""
    return normalise_locale(request.query_params.get("lang"))


def switched_locale(request: Request) -> str | None:
    """The locale chosen with ``?lang=`` on this request (to be remembered in a cookie)."""
    return url_locale(request)


def translator(request: Request) -> Translator:
    return Translator(request_locale(request))
