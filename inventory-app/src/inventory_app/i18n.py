"""User-interface languages: message catalogues and locale negotiation.

The web UI speaks English (``en``) and Simplified Chinese (``zh-CN``). Messages live in JSON
catalogues under ``inventory_app/locales/`` keyed by a stable message id (``nav.dashboard``);
both catalogues must hold exactly the same keys (a test checks it). The locale of a request is
chosen, in this order, by ``?lang=``, the ``inventory_lang`` cookie, and ``Accept-Language``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

DEFAULT_LOCALE: Final = "en"
SUPPORTED_LOCALES: Final = ("en", "zh-CN")
LANG_COOKIE: Final = "inventory_lang"
LOCALE_NAMES: Final = {"en": "English", "zh-CN": "简体中文"}

_CATALOGUE_FILES: Final = {"en": "en.json", "zh-CN": "zh_CN.json"}


@cache
def catalogue(locale: str) -> dict[str, str]:
    """The message catalogue of one supported locale (message id → text)."""
    name = _CATALOGUE_FILES[normalise_locale(locale) or DEFAULT_LOCALE]
    text = resources.files("inventory_app").joinpath("locales", name).read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"catalogue {name} must be a flat JSON object of strings")
    return {str(k): str(v) for k, v in data.items()}


def normalise_locale(tag: str | None) -> str | None:
    """Map a language tag (``zh``, ``zh_CN``, ``zh-Hans-CN``, ``en-GB``) to a supported locale."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    primary = parts[0]
    if primary == "en":
        return "en"
    if primary == "zh":
        # Traditional-script tags (zh-TW, zh-HK, zh-Hant) are not served as Simplified.
        rest = set(parts[1:])
        if rest & {"hant", "tw", "hk", "mo"} and "hans" not in rest:
            return None
        return "zh-CN"
    return None


def parse_accept_language(header: str | None) -> list[tuple[str, float]]:
    """Language ranges of an ``Accept-Language`` header with their q-values, best first."""
    ranges: list[tuple[str, float, int]] = []
    for position, item in enumerate((header or "").split(",")):
        fields = [f.strip() for f in item.split(";")]
        tag = fields[0]
        if not tag:
            continue
        quality = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((tag, quality, position))
    ranges.sort(key=lambda r: (-r[1], r[2]))
    return [(tag, quality) for tag, quality, _ in ranges]


def negotiate(accept_language: str | None) -> str:
    """The best supported locale for an ``Accept-Language`` header (``en`` when none fits)."""
    for tag, _quality in parse_accept_language(accept_language):
        if tag == "*":
            return DEFAULT_LOCALE
        locale = normalise_locale(tag)
        if locale:
            return locale
    return DEFAULT_LOCALE


def choose_locale(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The locale of a request: explicit switch, then remembered choice, then the browser's."""
    return normalise_locale(query) or normalise_locale(cookie) or negotiate(accept_language)


@dataclass(frozen=True)
class Translator:
    """Looks up messages of one locale; ``t("key", n=3)`` formats ``{n}`` placeholders."""

    locale: str

    @property
    def html_lang(self) -> str:
        return "zh-Hans-CN" if self.locale == "zh-CN" else "en"

    def __call__(self, key: str, **params: object) -> str:
        text = catalogue(self.locale).get(key)
        if text is None:
            text = catalogue(DEFAULT_LOCALE).get(key, key)
        if params:
            try:
                return text.format(**params)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def has(self, key: str) -> bool:
        return key in catalogue(self.locale)

    def subset(self, prefix: str) -> dict[str, str]:
        """Every message whose id starts with ``prefix`` (for the browser script)."""
        return {k: v for k, v in catalogue(self.locale).items() if k.startswith(prefix)}
