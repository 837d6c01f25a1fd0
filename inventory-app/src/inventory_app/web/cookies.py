"""The cookies of a signed-in browser: the session, its CSRF token and a display cookie.

* ``inventory_session``: the session token (``HttpOnly``, ``SameSite=Strict``): the credential.
* ``inventory_csrf``: the session's CSRF token for the page's script (see ``csrf.py``).
* ``inventory_user``: name and role for the page header, base64url JSON. Display only: nothing on
  the server trusts it (roles are checked against the session), so it may be readable by scripts.

Pages are the same HTML for every user (an edge cache keeps one copy); ``static/app.js`` reads
the last two cookies to show who is signed in and to send the CSRF token, also while offline.
"""

from __future__ import annotations

import base64
import json
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from inventory_app.web.csrf import CSRF_COOKIE, csrf_token_for

SESSION_COOKIE: Final = "inventory_session"
USER_COOKIE: Final = "inventory_user"


def display_value(name: str, role: str) -> str:
    raw = json.dumps({"n": name, "r": role}, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def set_session_cookies(
    request: Request, response: Response, token: str, name: str, role: str, max_age: int
) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        CSRF_COOKIE, csrf_token_for(token), max_age=max_age, path="/", httponly=False,
        samesite="strict", secure=secure,
    )
    response.set_cookie(
        USER_COOKIE, display_value(name, role), max_age=max_age, path="/", httponly=False,
        samesite="strict", secure=secure,
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
    response.delete_cookie(USER_COOKIE, path="/", samesite="strict")
