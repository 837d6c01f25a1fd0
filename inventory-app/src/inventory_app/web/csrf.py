"""Cross-site request forgery protection for the cookie-authenticated web UI.

Pages hold no per-user secret (so an edge cache may keep one copy for everyone), so the CSRF
token is not in the HTML. The layers, none of which depends on the Host/Origin seen by the app
(an edge cache or another reverse proxy in front of it may rewrite those):

* the session cookie is ``SameSite=Strict`` and ``HttpOnly``;
* the session's CSRF token, ``HMAC-SHA256(key=session token, "inventory-csrf")``, is handed to
  the page's script in the ``inventory_csrf`` cookie (readable by scripts of this origin only,
  ``SameSite=Strict``); ``static/app.js`` sends it as ``X-CSRF-Token`` or copies it into the
  form's ``csrf_token`` field. A presented token must be the session's: an attacker who cannot
  read the HttpOnly session cookie cannot compute it (so planting a cookie does not help, unlike
  a plain double-submit cookie), and it needs no server-side state, so a post replayed later by
  an edge cache still verifies. It is never the plain ``sha256(token)`` the edge caches learn;
* requests the browser labels ``Sec-Fetch-Site: cross-site`` / ``same-site`` are refused, and a
  post that presents no token (a browser without JavaScript) is accepted only when the browser
  says ``Sec-Fetch-Site: same-origin`` (Fetch Metadata, a header no page can forge).

Before sign-in there is no session, so the login form uses a double-submit cookie instead (the
login page is never shared: ``private, no-store``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from starlette.requests import Request

CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_COOKIE: Final = "inventory_csrf"
LOGIN_CSRF_COOKIE: Final = "inventory_login_csrf"
_CONTEXT: Final = b"inventory-csrf"


def csrf_token_for(session_token: str) -> str:
    """The CSRF token that belongs to one session token (stable for the session's lifetime)."""
    return hmac.new(session_token.encode("utf-8"), _CONTEXT, hashlib.sha256).hexdigest()


def csrf_token_valid(session_token: str, presented: str | None) -> bool:
    """Whether ``presented`` is the CSRF token of ``session_token`` (constant-time)."""
    if not presented:
        return False
    return hmac.compare_digest(csrf_token_for(session_token), presented.strip())


def new_login_csrf() -> str:
    """A random value for the login form's double-submit cookie."""
    return secrets.token_urlsafe(24)


def login_csrf_valid(cookie_value: str | None, presented: str | None) -> bool:
    if not cookie_value or not presented:
        return False
    return hmac.compare_digest(cookie_value, presented)


def cross_site(request: Request) -> bool:
    """True when the browser says the request was started by another site."""
    site = request.headers.get("sec-fetch-site", "").lower()
    return site in {"cross-site", "same-site"}


def same_origin(request: Request) -> bool:
    """True when the browser says the request was started by a page of this origin."""
    return request.headers.get("sec-fetch-site", "").lower() == "same-origin"


def post_allowed(request: Request, session_token: str, presented: str | None) -> bool:
    """The CSRF verdict on a cookie-authenticated form post.

    A presented token must be the session's; without one, only a browser's own
    ``Sec-Fetch-Site: same-origin`` is enough. Cross-site and same-site posts are always refused.
    """
    if cross_site(request):
        return False
    if presented and presented.strip():
        return csrf_token_valid(session_token, presented)
    return same_origin(request)
