"""A sale POST (create + post, one line) stays one write transaction with a bounded number of
SQL statements (issue 14): counted with SQLAlchemy's cursor events on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from tests.inventory_app.api_support import World

# BEGIN IMMEDIATE (SQLite) or the writer lock (PostgreSQL), key claim, token, what the sale
# reads (document exists?, warehouse, products, balances: one statement), seq allocation,
# document, lines, balance update, movements, changes, stored response
STATEMENT_BUDGET = 11


def test_a_sale_is_one_transaction_within_the_statement_budget(world: World) -> None:
    product = world.products[0]
    assert world.doc("purchase_receipt", world.shop, [{"product_id": product, "qty": 5}]
                     ).status_code == 201
    statements: list[str] = []
    commits: list[int] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()[:3]))  # e.g. "UPDATE documents SET"

    def on_commit(_conn: Any) -> None:
        commits.append(1)

    event.listen(world.db.engine, "before_cursor_execute", on_execute)
    event.listen(world.db.engine, "commit", on_commit)
    try:
        r = world.doc("sales_issue", world.shop, [{"product_id": product, "qty": 2}])
    finally:
        event.remove(world.db.engine, "before_cursor_execute", on_execute)
        event.remove(world.db.engine, "commit", on_commit)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "posted" and r.json()["lines"][0]["qty"] == 2
    assert len(commits) == 1, statements  # claim, work and stored response commit together
    assert len(statements) <= STATEMENT_BUDGET, statements
    assert not [s for s in statements if s.startswith("UPDATE documents")], statements
    assert world.balance(world.shop, product) == 3
