"""Plain view models for templates (so templates never touch ORM rows directly)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from inventory_app.models import Partner, Product, Warehouse


def money(value: Decimal | float | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(str(value)):.2f}"


def timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M")


def product_view(p: Product) -> dict[str, Any]:
    return {
        "id": p.id,
        "sku": p.sku,
        "name": p.name,
        "spec": p.spec,
        "unit": p.unit,
        "barcode": p.barcode or "",
        "sale_price": money(p.sale_price),
        "purchase_price": money(p.purchase_price),
    }


def warehouse_view(w: Warehouse) -> dict[str, Any]:
    return {"id": w.id, "code": w.code, "name": w.name, "kind": w.kind}


def partner_view(p: Partner) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "type": p.type}
