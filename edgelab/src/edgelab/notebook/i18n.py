"""Translated strings in notebook sources.

``_("English", zh="中文")`` marks a string of a notebook's code cell for translation: the
builder (:mod:`edgelab.labcheck.sources`) writes the literal of the notebook's language in
its place, so the built notebooks hold plain strings. Run from the source itself (e.g. in an
editor), ``_`` returns the English text.
"""

from __future__ import annotations


def _(en: str, zh: str | None = None) -> str:
    return en
