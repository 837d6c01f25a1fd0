"""Seeded read/write mixes over the inventory API: YCSB A–F and a "shop" mix.

A mix is a set of operation kinds with weights. `generate()` turns (seed, product catalogue,
warehouses per edge) into a deterministic sequence of `Operation` values: same seed, same
sequence, bodies and client UUIDs included.

Kinds and the requests they make (routes as in docs/contracts.md):

========== ====== ============================================ ==============================
kind       method route                                        body
========== ====== ============================================ ==============================
browse     GET    /api/products (``?limit=50``)
product    GET    /api/products/{id}
stock      GET    /api/warehouses/{warehouse_id}/stock/{id}
scan       GET    /api/products (``?limit=1..50``)
sell       POST   /api/documents                               sales_issue, qty 1-3
receive    POST   /api/documents                               purchase_receipt, qty 5-20
stocktake  POST   /api/documents                               stocktake, counted = expected ± 1
========== ====== ============================================ ==============================

YCSB's ``read`` is ``product``, ``update`` is ``receive`` (a write on the key that always
succeeds), ``insert`` is a receipt of a product picked uniformly, ``scan`` is above and
``rmw`` (read-modify-write) is a ``stock`` read immediately followed by a ``sell``.
Product ids are chosen by bounded Zipf over the catalogue (popularity order is a seeded
shuffle of the catalogue, so popularity does not follow ids); ``insert`` picks uniformly.

A stocktake needs the expected quantity: its `Operation` names the stock path in
`expected_from`, and the client reads it just before sending (``expected_qty`` is then the
balance read and ``counted_qty`` is that plus the seeded ``count_delta``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt

from edgelab.workload.zipf import BoundedZipf

MIXES: dict[str, dict[str, float]] = {
    "ycsb-a": {"product": 0.50, "update": 0.50},
    "ycsb-b": {"product": 0.95, "update": 0.05},
    "ycsb-c": {"product": 1.00},
    "ycsb-d": {"product": 0.95, "insert": 0.05},
    "ycsb-e": {"scan": 0.95, "insert": 0.05},
    "ycsb-f": {"product": 0.50, "rmw": 0.50},
    "shop": {
        "browse": 0.15,
        "product": 0.30,
        "stock": 0.25,
        "sell": 0.20,
        "receive": 0.05,
        "stocktake": 0.05,
    },
    "read-only": {"product": 0.70, "stock": 0.30},
}

WRITE_KINDS = frozenset({"sell", "receive", "update", "insert", "stocktake"})


@dataclass(frozen=True)
class Operation:
    """One HTTP request to make. `route` is the template, `path` the concrete path+query."""

    kind: str
    method: str
    route: str
    path: str
    edge: str
    body: dict[str, Any] | None = None
    idempotency_key: str | None = None
    expected_from: str | None = None
    count_delta: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.method not in ("GET", "HEAD")

    @property
    def doc_id(self) -> str | None:
        """The client-generated document UUID of a write."""
        if self.body is None:
            return None
        value = self.body.get("id")
        return None if value is None else str(value)


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


class OperationFactory:
    """Builds operations of each kind from a seeded RNG (see the module docstring)."""

    def __init__(
        self,
        seed: int,
        catalogue: Sequence[int],
        warehouses: Mapping[str, Sequence[int]],
        s: float = 0.99,
        partner_id: int | None = None,
    ) -> None:
        if not catalogue:
            raise ValueError("the product catalogue is empty")
        if not warehouses or any(not ids for ids in warehouses.values()):
            raise ValueError("every edge needs at least one warehouse id")
        self.rng = np.random.default_rng(seed)
        order = self.rng.permutation(len(catalogue))
        self.by_popularity = [int(catalogue[i]) for i in order]
        self.zipf = BoundedZipf(len(catalogue), s, self.rng)
        self.edges = sorted(warehouses)
        self.warehouses = {edge: [int(w) for w in warehouses[edge]] for edge in self.edges}
        self.partner_id = partner_id

    def hot_product(self) -> int:
        return self.by_popularity[self.zipf.one()]

    def any_product(self) -> int:
        return self.by_popularity[int(self.rng.integers(len(self.by_popularity)))]

    def edge_and_warehouse(self) -> tuple[str, int]:
        edge = self.edges[int(self.rng.integers(len(self.edges)))]
        ids = self.warehouses[edge]
        return edge, ids[int(self.rng.integers(len(ids)))]

    def _document(
        self, kind: str, edge: str, warehouse: int, doc_type: str, line: dict[str, Any]
    ) -> Operation:
        body: dict[str, Any] = {
            "id": _uuid(self.rng),
            "type": doc_type,
            "warehouse_id": warehouse,
            "lines": [line],
            "post": True,
        }
        if doc_type == "purchase_receipt" and self.partner_id is not None:
            body["partner_id"] = self.partner_id
        return Operation(
            kind=kind,
            method="POST",
            route="/api/documents",
            path="/api/documents",
            edge=edge,
            body=body,
            idempotency_key=_uuid(self.rng),
        )

    def make(self, kind: str) -> list[Operation]:
        """The operation(s) for one draw of `kind` (``rmw`` gives two)."""
        edge, warehouse = self.edge_and_warehouse()
        if kind in ("product", "read"):
            pid = self.hot_product()
            return [Operation(kind, "GET", "/api/products/{id}", f"/api/products/{pid}", edge)]
        if kind == "browse":
            return [Operation(kind, "GET", "/api/products", "/api/products?limit=50", edge)]
        if kind == "scan":
            limit = int(self.rng.integers(1, 51))
            return [Operation(kind, "GET", "/api/products", f"/api/products?limit={limit}", edge)]
        if kind == "stock":
            return [self._stock(edge, warehouse, self.hot_product())]
        if kind == "sell":
            qty = int(self.rng.integers(1, 4))
            line = {"product_id": self.hot_product(), "qty": qty}
            return [self._document(kind, edge, warehouse, "sales_issue", line)]
        if kind in ("receive", "update"):
            line = {"product_id": self.hot_product(), "qty": int(self.rng.integers(5, 21))}
            return [self._document(kind, edge, warehouse, "purchase_receipt", line)]
        if kind == "insert":
            line = {"product_id": self.any_product(), "qty": int(self.rng.integers(5, 21))}
            return [self._document(kind, edge, warehouse, "purchase_receipt", line)]
        if kind == "stocktake":
            pid = self.hot_product()
            delta = int(self.rng.integers(-1, 2))
            line = {"product_id": pid, "counted_qty": 0, "expected_qty": 0}
            op = self._document(kind, edge, warehouse, "stocktake", line)
            stock_path = f"/api/warehouses/{warehouse}/stock/{pid}"
            return [
                Operation(
                    kind=op.kind,
                    method=op.method,
                    route=op.route,
                    path=op.path,
                    edge=op.edge,
                    body=op.body,
                    idempotency_key=op.idempotency_key,
                    expected_from=stock_path,
                    count_delta=delta,
                )
            ]
        if kind == "rmw":
            pid = self.hot_product()
            line = {"product_id": pid, "qty": 1}
            return [
                self._stock(edge, warehouse, pid),
                self._document("sell", edge, warehouse, "sales_issue", line),
            ]
        raise ValueError(f"unknown operation kind {kind!r}")

    @staticmethod
    def _stock(edge: str, warehouse: int, pid: int) -> Operation:
        return Operation(
            "stock",
            "GET",
            "/api/warehouses/{warehouse_id}/stock/{id}",
            f"/api/warehouses/{warehouse}/stock/{pid}",
            edge,
        )


def _kind_picker(weights: Mapping[str, float]) -> tuple[list[str], npt.NDArray[np.float64]]:
    kinds = list(weights)
    p = np.array([weights[k] for k in kinds], dtype=np.float64)
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return kinds, cdf


def iter_operations(
    mix: str | Mapping[str, float],
    seed: int,
    catalogue: Sequence[int],
    warehouses: Mapping[str, Sequence[int]],
    s: float = 0.99,
    partner_id: int | None = None,
    spread_writes: bool = False,
) -> Iterator[Operation]:
    """An endless, deterministic stream of operations for `mix` (a name in `MIXES` or weights).

    Kinds are drawn independently by their weights. With ``spread_writes`` the share of writes
    is kept exactly instead (a clerk sells at a steady pace): operation *i* is a write when
    ``floor((i + u) × share)`` steps up (``u`` a seeded offset), so any ``ceil(1 / share)``
    consecutive operations hold at least one write; which write and which read is still drawn
    by the weights.
    """
    weights = _weights(mix)
    factory = OperationFactory(seed, catalogue, warehouses, s=s, partner_id=partner_id)
    if not spread_writes:
        kinds, cdf = _kind_picker(weights)
        while True:
            kind = kinds[int(np.searchsorted(cdf, factory.rng.random(), side="right"))]
            yield from factory.make(kind)
    total = sum(weights.values())
    writes = {k: v for k, v in weights.items() if k in WRITE_KINDS and v > 0}
    reads = {k: v for k, v in weights.items() if k not in WRITE_KINDS and v > 0}
    share = sum(writes.values()) / total
    w_kinds, w_cdf = _kind_picker(writes) if writes else ([], np.ones(0))
    r_kinds, r_cdf = _kind_picker(reads) if reads else ([], np.ones(0))
    offset = float(factory.rng.random())
    i = 0
    while True:
        is_write = bool(writes) and (
            not reads or np.floor((i + 1 + offset) * share) > np.floor((i + offset) * share)
        )
        kinds, cdf = (w_kinds, w_cdf) if is_write else (r_kinds, r_cdf)
        yield from factory.make(kinds[int(np.searchsorted(cdf, factory.rng.random(),
                                                          side="right"))])
        i += 1


def generate(
    mix: str | Mapping[str, float],
    n: int,
    seed: int,
    catalogue: Sequence[int],
    warehouses: Mapping[str, Sequence[int]],
    s: float = 0.99,
    partner_id: int | None = None,
) -> list[Operation]:
    """The first `n` operations of `iter_operations(...)`."""
    stream = iter_operations(mix, seed, catalogue, warehouses, s=s, partner_id=partner_id)
    return list(islice(stream, n))


def _weights(mix: str | Mapping[str, float]) -> dict[str, float]:
    if isinstance(mix, str):
        if mix not in MIXES:
            raise ValueError(f"unknown mix {mix!r}; expected one of {sorted(MIXES)}")
        return dict(MIXES[mix])
    weights = {str(k): float(v) for k, v in mix.items()}
    if not weights or any(v < 0 for v in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"mix weights must be >= 0 and not all zero, got {dict(mix)}")
    return weights
