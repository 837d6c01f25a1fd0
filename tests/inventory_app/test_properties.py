"""Property-based tests (hypothesis) of the ledger invariants, through the services.

For any sequence of posted documents (online or edge-replayed, some rejected):
* every balance equals the sum of its ledger deltas, and `balance_after` is the running sum;
* a balance goes negative only through a flagged edge replay (`negative_after`, review item).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inventory_app.models import ReviewItem, StockBalance, StockMovement
from inventory_app.problems import ProblemError
from inventory_app.schemas import DocumentIn, DocumentLineIn
from inventory_app.services import masters
from inventory_app.services.auth import EdgeReplay
from inventory_app.services.documents import create_document, void_document
from sqlalchemy import func, select

from tests.inventory_app.api_support import World


@dataclass(frozen=True)
class Op:
    type: str
    wh: int  # index 0..2
    to: int
    qty: int
    expected_offset: int
    edge: bool
    void_previous: bool


ops = st.builds(
    Op,
    type=st.sampled_from(
        [
            "purchase_receipt",
            "purchase_return",
            "sales_issue",
            "sales_return",
            "transfer",
            "stocktake",
            "other_in",
            "other_out",
        ]
    ),
    wh=st.integers(0, 2),
    to=st.integers(0, 2),
    qty=st.integers(1, 12),
    expected_offset=st.integers(-3, 3),
    edge=st.booleans(),
    void_previous=st.booleans(),
)


def test_ledger_invariants_hold_for_any_sequence(sqlite_world: World) -> None:
    w = sqlite_world
    warehouses = [w.central, w.shop, w.shop2]

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(ops, min_size=1, max_size=14))
    def run(sequence: list[Op]) -> None:
        with w.db.write() as s:
            product = masters.create_product(s, sku=f"H-{uuid.uuid4().hex[:10]}", name="h").id
        posted: list[str] = []
        for op in sequence:
            wh = warehouses[op.wh]
            to = warehouses[op.to] if op.to != op.wh else warehouses[(op.wh + 1) % 3]
            with w.db.read() as s:
                bal = s.get(StockBalance, (wh, product))
                current = bal.qty if bal else 0
            if op.type == "stocktake":
                expected = max(current + op.expected_offset, 0)
                line = DocumentLineIn(
                    product_id=product,
                    counted_qty=max(expected - op.qty, 0) if op.qty % 2 else expected + op.qty,
                    expected_qty=expected,
                )
            else:
                line = DocumentLineIn(product_id=product, qty=op.qty)
            body = DocumentIn(
                id=uuid.uuid4(),
                type=op.type,  # type: ignore[arg-type]
                warehouse_id=wh,
                to_warehouse_id=to if op.type == "transfer" else None,
                reason="test" if op.type.startswith("other") else None,
                lines=[line],
            )
            edge = EdgeReplay("edge-test", wh) if op.edge else None
            try:
                with w.db.write() as s:
                    doc, _ = create_document(s, body, None, edge)
                    posted.append(doc.id)
            except ProblemError as exc:
                assert exc.status == 409 and exc.slug == "insufficient-stock"
            if op.void_previous and posted and op.qty % 3 == 0:
                try:
                    with w.db.write() as s:
                        void_document(s, posted.pop(0))
                except ProblemError as exc:
                    assert exc.status == 409
        with w.db.read() as s:
            moves = s.scalars(
                select(StockMovement)
                .where(StockMovement.product_id == product)
                .order_by(StockMovement.seq)
            ).all()
            running: dict[int, int] = {}
            for m in moves:
                running[m.warehouse_id] = running.get(m.warehouse_id, 0) + m.delta
                assert m.balance_after == running[m.warehouse_id]
                if m.delta < 0 and m.balance_after < 0:
                    # only a flagged edge replay may drive a balance (further) negative
                    assert m.negative_after and m.edge_replay, m.seq
                    assert (
                        s.scalar(
                            select(func.count())
                            .select_from(ReviewItem)
                            .where(
                                ReviewItem.movement_seq == m.seq, ReviewItem.reason == "oversell"
                            )
                        )
                        == 1
                    )
            for wh in warehouses:
                bal = s.get(StockBalance, (wh, product))
                assert (bal.qty if bal else 0) == running.get(wh, 0)
                if running.get(wh, 0) < 0:
                    assert any(m.negative_after and m.warehouse_id == wh for m in moves)

    run()
