"""The edge's own answers (offline 503, 202 QUEUED, 507, 401/403, 502/504): problem+json for API
clients, a small HTML page in the request's language (English or 简体中文) for browsers.

A request "is a browser" when its Accept names text/html at least as high as JSON (a plain
`*/*` or no Accept gets JSON). The language is the first of English / Chinese in
Accept-Language, English by default. Status codes and headers are the same either way.

`use(fields)` records the request being handled (a context variable, so concurrent requests do
not mix); `problem(...)` and `queued(...)` then answer in the form that request asked for.
"""

from __future__ import annotations

import contextvars
import html
import json
from dataclasses import dataclass

from edge_cache.messages import Response

PROBLEM = "https://edgelab.dev/problems/"
_FIELDS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "edge_answer_fields", default=None
)


@dataclass(frozen=True, slots=True)
class Audience:
    html: bool
    lang: str  # "en" | "zh-CN"


JSON_EN = Audience(False, "en")


def _ranges(value: str) -> list[tuple[str, float]]:
    """Media or language ranges with their q values, in the order given."""
    out: list[tuple[str, float]] = []
    for item in value.split(","):
        name, *params = (p.strip() for p in item.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        out.append((name.lower(), q))
    return out


def wants_html(accept: str | None) -> bool:
    if not accept:
        return False
    ranges = _ranges(accept)
    html_q = max((q for name, q in ranges if name in ("text/html", "application/xhtml+xml")),
                 default=0.0)
    json_q = max((q for name, q in ranges
                  if name in ("application/json", "application/problem+json", "application/*")),
                 default=0.0)
    return html_q > 0 and html_q >= json_q


def language(accept_language: str | None) -> str:
    ranked = sorted(_ranges(accept_language or ""), key=lambda r: -r[1])
    for name, q in ranked:
        if q <= 0:
            continue
        primary = name.split("-", 1)[0]
        if primary == "zh":
            return "zh-CN"
        if primary == "en":
            return "en"
    return "en"


def audience(fields: dict[str, str] | None) -> Audience:
    if fields is None:
        return JSON_EN
    return Audience(wants_html(fields.get("accept")), language(fields.get("accept-language")))


def use(fields: dict[str, str]) -> None:
    """Answer the rest of this request (this task) in the form its fields ask for."""
    _FIELDS.set(fields)


def current() -> Audience:
    return audience(_FIELDS.get())


# slug -> {lang: (title, text)}; English texts for the page, the problem's own detail in JSON
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "origin-offline": {
        "en": ("Offline", "The connection to the cloud is down and this page is not stored at "
                          "this shop's edge. Please try again in a moment."),
        "zh-CN": ("暂时离线", "与云端的连接已中断，本店边缘节点上没有保存此页面。请稍后再试。"),
    },
    "outbox-full": {
        "en": ("Too many changes waiting", "This shop's edge cannot keep more changes until "
                                           "the connection is back. Nothing was saved."),
        "zh-CN": ("待同步的更改过多", "连接恢复前，本店边缘节点无法保存更多更改。本次更改未保存。"),
    },
    "outbox-share-full": {
        "en": ("Your changes are waiting", "You already have as many changes waiting as one "
                                           "user may have. Nothing was saved; try again once "
                                           "they have synced."),
        "zh-CN": ("您的更改正在等待同步", "您等待同步的更改已达到单个用户的上限。本次更改未保存，"
                                          "请在同步完成后再试。"),
    },
    "outbox-storage": {
        "en": ("Change not saved", "This shop's edge could not store the change (its disk is "
                                   "full or failing). Nothing was saved."),
        "zh-CN": ("更改未保存", "本店边缘节点无法保存此更改（磁盘已满或故障）。本次更改未保存。"),
    },
    "unauthorized": {
        "en": ("Sign-in required", "A valid credential is required."),
        "zh-CN": ("需要登录", "需要有效的登录凭据。"),
    },
    "forbidden": {
        "en": ("Not allowed", "Your role may not change data."),
        "zh-CN": ("无权操作", "您的角色不能修改数据。"),
    },
    "origin-timeout": {
        "en": ("The cloud did not answer", "The cloud did not answer in time."),
        "zh-CN": ("云端没有响应", "云端未能及时响应。"),
    },
    "origin-error": {
        "en": ("Bad answer from the cloud", "The cloud sent an answer the edge cannot use."),
        "zh-CN": ("云端响应错误", "云端返回了边缘节点无法使用的响应。"),
    },
    "not-cached": {
        "en": ("Not stored here", "This page is not stored at this shop's edge."),
        "zh-CN": ("此处没有保存", "本店边缘节点上没有保存此页面。"),
    },
}
QUEUED_TEXT = {
    "en": ("Saved here — queued, will sync",
           "Your change is stored safely at this shop's edge and will sync to the cloud when "
           "the connection is back.",
           "Changes waiting to sync: {n}", "Back"),
    "zh-CN": ("已保存在本地 — 已排队，将自动同步",
              "您的更改已安全保存在本店的边缘节点上，连接恢复后将自动同步到云端。",
              "等待同步的更改：{n} 项", "返回"),
}
HTML_HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
                ("Vary", "Accept, Accept-Language")]


def _page(lang: str, title: str, paragraphs: list[str], link: tuple[str, str] | None) -> bytes:
    parts = [
        "<!doctype html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *(f"<p>{html.escape(p)}</p>" for p in paragraphs),
    ]
    if link is not None:
        parts.append(f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts).encode("utf-8")


def back_link(referer: str | None) -> str:
    """Where the page links back to: the Referer when it is a web address, else `/`."""
    ref = (referer or "").strip()
    if ref.startswith(("http://", "https://", "/")) and not ref.startswith("//"):
        return ref
    return "/"


RETRY = {"en": "Try again in {s} s.", "zh-CN": "请在 {s} 秒后重试。"}


def problem(status: int, slug: str, title: str, detail: str, *extra: tuple[str, str]) -> Response:
    """An edge answer: problem+json, or an HTML page for a browser."""
    who = current()
    if not who.html:
        body = json.dumps(
            {"type": PROBLEM + slug, "title": title, "status": status, "detail": detail}
        ).encode()
        return Response(
            status,
            [("Content-Type", "application/problem+json"), ("Cache-Control", "no-store"),
             *extra],
            body,
        )
    page_title, text = TEXTS.get(slug, {}).get(who.lang, (title, detail))
    paragraphs = [text]
    retry = next((v for k, v in extra if k.lower() == "retry-after"), None)
    if retry is not None:
        paragraphs.append(RETRY[who.lang].format(s=retry))
    fields = _FIELDS.get() or {}
    back = QUEUED_TEXT[who.lang][3]
    body = _page(who.lang, page_title, paragraphs, (back_link(fields.get("referer")), back))
    return Response(status, [*HTML_HEADERS, *extra], body)


def queued(resp: Response, waiting: int) -> Response:
    """The 202 for a queued write, as a page for a browser (`resp` is the JSON answer; its
    status and headers are kept). `waiting`: the caller's own changes waiting to sync."""
    who = current()
    if not who.html:
        return resp
    title, text, count, back = QUEUED_TEXT[who.lang]
    fields = _FIELDS.get() or {}
    body = _page(who.lang, title, [text, count.format(n=waiting)],
                 (back_link(fields.get("referer")), back))
    headers = [(k, v) for k, v in resp.headers if k.lower() not in ("content-type", "vary")]
    return Response(resp.status, [*HTML_HEADERS, *headers], body)
