"""RFC 9111 §4.1: secondary keys from Vary, `Vary: *`, normalisation of request fields."""

from __future__ import annotations

from aiohttp import web

from tests.support.origins import Script, ScriptedOrigin
from tests.support.sidecar_in_process import Sidecar


def by_language(request: web.Request, body: bytes) -> Script:
    lang = request.headers.get("Accept-Language", "none")
    return Script(
        200,
        {"Cache-Control": "max-age=600", "Vary": "Accept-Language"},
        f"lang={lang}".encode(),
    )


async def test_variants_are_kept_apart(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/v", handler=by_language)
    en = await sidecar.get("/v", {"Accept-Language": "en"})
    fr = await sidecar.get("/v", {"Accept-Language": "fr"})
    assert (en.body, fr.body) == (b"lang=en", b"lang=fr")
    assert (en.cache, fr.cache) == ("MISS", "MISS")
    en2 = await sidecar.get("/v", {"Accept-Language": "en"})
    fr2 = await sidecar.get("/v", {"Accept-Language": "fr"})
    assert (en2.cache, en2.body) == ("HIT", b"lang=en")
    assert (fr2.cache, fr2.body) == ("HIT", b"lang=fr")
    assert origin.count("/v") == 2


async def test_absent_field_is_its_own_variant(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/v", handler=by_language)
    await sidecar.get("/v", {"Accept-Language": "en"})
    none = await sidecar.get("/v")
    assert (none.cache, none.body) == ("MISS", b"lang=none")
    empty = await sidecar.get("/v", {"Accept-Language": ""})
    assert empty.cache == "MISS"
    assert (await sidecar.get("/v")).cache == "HIT"


async def test_whitespace_and_list_normalisation(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/v", handler=by_language)
    await sidecar.get("/v", {"Accept-Language": "en, fr"})
    same = await sidecar.get("/v", {"Accept-Language": "en,fr"})
    assert same.cache == "HIT"
    spaced = await sidecar.get("/v", {"Accept-Language": "  en ,   fr  "})
    assert spaced.cache == "HIT"
    other_order = await sidecar.get("/v", {"Accept-Language": "fr, en"})
    assert other_order.cache == "MISS"  # order may matter to the origin


async def test_vary_field_names_are_case_insensitive_and_combined(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route(
        "/m",
        headers=[
            ("Cache-Control", "max-age=600"),
            ("Vary", "accept-encoding"),
            ("vary", "X-Tenant"),
        ],
    )
    await sidecar.get("/m", {"Accept-Encoding": "gzip", "X-Tenant": "a"})
    assert (await sidecar.get("/m", {"Accept-Encoding": "gzip", "X-Tenant": "a"})).cache == "HIT"
    assert (await sidecar.get("/m", {"Accept-Encoding": "gzip", "X-Tenant": "b"})).cache == "MISS"
    assert (await sidecar.get("/m", {"Accept-Encoding": "br", "X-Tenant": "a"})).cache == "MISS"


async def test_vary_star_is_never_reused(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/star", headers={"Cache-Control": "max-age=600", "Vary": "*"})
    await sidecar.get("/star")
    again = await sidecar.get("/star")
    assert again.cache == "MISS"
    assert origin.count("/star") == 2
    star_in_list = "/star2"
    origin.route(star_in_list, headers={"Cache-Control": "max-age=600", "Vary": "Accept, *"})
    await sidecar.get(star_in_list)
    assert (await sidecar.get(star_in_list)).cache == "MISS"


async def test_vary_on_credentials_keeps_users_apart(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    def per_user(request: web.Request, body: bytes) -> Script:
        who = request.headers.get("Authorization", "anon")
        return Script(
            200,
            {"Cache-Control": "public, max-age=600", "Vary": "Authorization"},
            who.encode(),
        )

    origin.route("/me", handler=per_user)
    a = await sidecar.get("/me", {"Authorization": "Bearer A"})
    b = await sidecar.get("/me", {"Authorization": "Bearer B"})
    a2 = await sidecar.get("/me", {"Authorization": "Bearer A"})
    lower = await sidecar.get("/me", {"Authorization": "bearer a"})
    assert (a.body, b.body, a2.body) == (b"Bearer A", b"Bearer B", b"Bearer A")
    assert a2.cache == "HIT"
    assert lower.body == b"bearer a"  # values keep their case: no cross-credential match


async def test_new_variant_does_not_evict_others(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/v", handler=by_language)
    for lang in ("en", "fr", "de"):
        await sidecar.get("/v", {"Accept-Language": lang})
    for lang in ("en", "fr", "de"):
        reply = await sidecar.get("/v", {"Accept-Language": lang})
        assert (reply.cache, reply.body) == ("HIT", f"lang={lang}".encode())
    assert sidecar.edge.store.stats()["entries"] == 3
