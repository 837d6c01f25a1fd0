"""Server-rendered web UI (Jinja2 templates, minimal JavaScript, English and 简体中文).

``router`` holds every UI route; ``create_app`` includes it next to the JSON API.
"""

from __future__ import annotations

from fastapi import APIRouter

from inventory_app.web import auth_pages, document_forms, pages, static_assets
from inventory_app.web.csrf import CSRF_HEADER, csrf_token_for, csrf_token_valid

router = APIRouter(include_in_schema=False)
router.include_router(static_assets.router)
router.include_router(auth_pages.router)
router.include_router(pages.router)
router.include_router(document_forms.router)

__all__ = ["CSRF_HEADER", "csrf_token_for", "csrf_token_valid", "router"]
