"""Reading the system of record (the cloud app) directly: catalogue, warehouses, balances, ledger.

Experiments use it before a run (what exists, initial balances) and after (what was applied).
Always talks to the cloud URL with the admin token, never through an edge or a link.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx

from edgelab.targets.base import TargetError

_LIST_KEYS = ("items", "results", "data", "rows")


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        for key in _LIST_KEYS:
            value = body.get(key)
            if isinstance(value, list):
                return [x for x in value if isinstance(x, dict)]
    return []


def _next(response: httpx.Response) -> str | None:
    link = response.links.get("next")
    if link and link.get("url"):
        return str(link["url"])
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        nxt = body.get("next")
        if isinstance(nxt, str) and nxt:
            return nxt
        cursor = body.get("next_cursor")
        if isinstance(cursor, str) and cursor:
            return f"?cursor={cursor}"
    return None


class CloudClient:
    """Synchronous admin client for the cloud app (`with CloudClient(url, token) as cloud:`)."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout_s,
        )

    def __enter__(self) -> CloudClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, **params: Any) -> Any:
        try:
            r = self.client.get(path, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as exc:
            raise TargetError(f"cloud app at {self.base_url} unreachable: {exc}") from exc
        if r.status_code != 200:
            raise TargetError(f"cloud GET {path} answered {r.status_code}: {r.text[:200]}")
        return r.json()

    def paged(self, path: str, limit: int = 200, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paginated list (follows `Link: rel=next` or `"next"`)."""
        url: str | None = path
        query: dict[str, Any] | None = {"limit": limit, **params}
        pages = 0
        while url is not None:
            try:
                r = self.client.get(url, params={k: v for k, v in (query or {}).items()
                                                 if v is not None} if query else None)
            except httpx.HTTPError as exc:
                raise TargetError(f"cloud app at {self.base_url} unreachable: {exc}") from exc
            if r.status_code != 200:
                raise TargetError(f"cloud GET {url} answered {r.status_code}: {r.text[:200]}")
            yield from _items(r.json())
            nxt = _next(r)
            pages += 1
            if nxt is None or pages > 10_000:
                return
            if nxt.startswith("?"):
                url, query = path, {**(query or {}), **dict(httpx.QueryParams(nxt[1:]))}
            else:
                url, query = nxt, None

    # ------------------------------------------------------------------ what exists

    def warehouse_ids(self) -> dict[str, int]:
        """Warehouse code → id."""
        return {str(w["code"]): int(w["id"]) for w in self.paged("/api/warehouses")}

    def product_ids(self) -> list[int]:
        return sorted(int(p["id"]) for p in self.paged("/api/products")
                      if p.get("active", True) and not p.get("deleted_at"))

    def supplier_id(self) -> int | None:
        for p in self.paged("/api/partners"):
            if p.get("type") in ("supplier", "both"):
                return int(p["id"])
        return None

    def balances(self, warehouse_id: int) -> dict[int, int]:
        """product id → quantity in one warehouse."""
        return {int(b["product_id"]): int(b["qty"])
                for b in self.paged("/api/stock", warehouse_id=warehouse_id)}

    def document_status(self, doc_id: str) -> int:
        """HTTP status of `GET /api/documents/{id}` (200 exists, 404 not applied)."""
        try:
            return self.client.get(f"/api/documents/{doc_id}").status_code
        except httpx.HTTPError as exc:
            raise TargetError(f"cloud app at {self.base_url} unreachable: {exc}") from exc

    def ledger_posts_per_document(self, warehouse_id: int) -> Counter[str]:
        """document id → number of posting movements in one warehouse's ledger."""
        counts: Counter[str] = Counter()
        for m in self.paged("/api/ledger", warehouse_id=warehouse_id):
            if m.get("kind", "post") == "post" and m.get("document_id"):
                counts[str(m["document_id"])] += 1
        return counts
