"""RFC 9111 §3.5: responses to authenticated requests, and no cross-credential leaks."""

from __future__ import annotations

import random

from aiohttp import web

from tests.support.origins import Script, ScriptedOrigin, token_digests
from tests.support.sidecar_in_process import Sidecar, SidecarFactory


def owner(cache_control: str, vary: str | None = None):  # type: ignore[no-untyped-def]
    def handler(request: web.Request, body: bytes) -> Script:
        who = request.headers.get("Authorization") or request.headers.get("Cookie") or "anon"
        headers = {"Cache-Control": cache_control}
        if vary:
            headers["Vary"] = vary
        return Script(200, headers, who.encode())

    return handler


async def test_authenticated_response_not_stored_without_permission(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/secret", handler=owner("max-age=600"))
    a = await sidecar.get("/secret", {"Authorization": "Bearer A"})
    b = await sidecar.get("/secret", {"Authorization": "Bearer B"})
    a2 = await sidecar.get("/secret", {"Authorization": "Bearer A"})
    assert (a.body, b.body, a2.body) == (b"Bearer A", b"Bearer B", b"Bearer A")
    assert a2.cache == "MISS"
    assert origin.count("/secret") == 3
    assert sidecar.edge.store.stats()["entries"] == 0


SHAREABLE = (
    ("/pub", "public, max-age=600"),
    ("/smax", "s-maxage=600"),
    ("/mr", "max-age=600, must-revalidate"),
)


async def test_public_s_maxage_must_revalidate_allow_sharing_between_verified_credentials(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    origin.route("/api/auth/token-digests", handler=token_digests({"A": "clerk", "B": "clerk"}))
    sidecar = await make_sidecar(AUTH_REQUIRED="on", DEVICE_TOKEN="dev")
    for path, cc in SHAREABLE:
        origin.route(path, handler=owner(cc))
        await sidecar.get(path, {"Authorization": "Bearer A"})
        shared = await sidecar.get(path, {"Authorization": "Bearer B"})
        assert (shared.cache, shared.body) == ("HIT", b"Bearer A"), path
        assert origin.count(path) == 1


async def test_without_verification_only_the_same_credential_reuses_them(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    # Plain mode: nothing proves who "Bearer B" is, so A's copy is A's alone.
    for path, cc in SHAREABLE:
        origin.route(path, handler=owner(cc))
        await sidecar.get(path, {"Authorization": "Bearer A"})
        again = await sidecar.get(path, {"Authorization": "Bearer A"})
        assert (again.cache, again.body) == ("HIT", b"Bearer A"), path
        other = await sidecar.get(path, {"Authorization": "Bearer B"})
        assert (other.cache, other.body) == ("MISS", b"Bearer B"), path
        anonymous = await sidecar.get(path)
        assert anonymous.body == b"anon", path


async def test_anonymous_entry_not_served_to_credentialed_request(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(CREDENTIAL_COOKIES="inventory_session")
    origin.route("/page", handler=owner("max-age=600"))
    await sidecar.get("/page")
    assert (await sidecar.get("/page")).cache == "HIT"
    authed = await sidecar.get("/page", {"Authorization": "Bearer A"})
    assert (authed.cache, authed.body) == ("MISS", b"Bearer A")
    cookie = await sidecar.get("/page", {"Cookie": "inventory_session=zzz"})
    assert cookie.body == b"inventory_session=zzz"


async def test_a_credential_cookie_is_a_credential(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(CREDENTIAL_COOKIES="s")
    origin.route("/c", handler=owner("max-age=600"))
    await sidecar.get("/c", {"Cookie": "s=1"})
    other = await sidecar.get("/c", {"Cookie": "s=2"})
    assert other.body == b"s=2"
    assert sidecar.edge.store.stats()["entries"] == 0


async def test_private_never_stored_even_if_public_too(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/p", handler=owner("private, public, max-age=600"))
    await sidecar.get("/p", {"Authorization": "Bearer A"})
    b = await sidecar.get("/p", {"Authorization": "Bearer B"})
    assert b.body == b"Bearer B"


async def test_no_cross_credential_leaks_randomised(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    routes = {
        "/private": owner("private, max-age=600"),
        "/varied": owner("public, max-age=600", vary="Authorization"),
        "/plain": owner("max-age=600"),
        "/nostore": owner("no-store"),
        "/cookie-varied": owner("max-age=600, s-maxage=600", vary="Cookie, Authorization"),
    }
    for path, handler in routes.items():
        origin.route(path, handler=handler)
    rng = random.Random(7)
    tokens = ["Bearer alice", "Bearer bob", "Bearer carol"]
    leaks = 0
    for _ in range(300):
        path = rng.choice(list(routes))
        token = rng.choice(tokens)
        reply = await sidecar.get(path, {"Authorization": token})
        assert reply.status == 200
        if reply.body != token.encode():
            leaks += 1
    assert leaks == 0
