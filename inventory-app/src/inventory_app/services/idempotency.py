"""The idempotency store: (principal, Idempotency-Key) → stored response.

Protocol (see `api/idempotency.py`): `begin()` inserts the key row, the request runs, `finish()`
stores the response, and all three commit in one transaction (or roll back together, which
forgets the key so the request can be retried).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from inventory_app.models import IdempotencyRecord, utcnow

_T = cast(Table, IdempotencyRecord.__table__)


@dataclass(frozen=True)
class Decision:
    action: str  # proceed | replay | mismatch | in_flight
    record_id: int | None = None
    status: int | None = None
    headers: dict[str, str] | None = None
    body: bytes | None = None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def begin(
    session: Session,
    principal: str,
    key: str,
    request_hash: str,
    *,
    retention: dt.timedelta,
    inflight_timeout: dt.timedelta,
) -> Decision:
    """Claim a key: INSERT its row, unless a stored response (replay) or a claim exists.

    Run inside the request's write transaction: the row then commits together with the work
    and the response (`finish()`), or not at all. A committed row without a response can only
    come from an older version of the app that committed its claim separately; it counts as in
    flight for `inflight_timeout` and is then taken over.
    """
    now = utcnow()
    conn = session.connection()
    row = conn.execute(
        select(_T.c.id, _T.c.request_hash, _T.c.status_code, _T.c.response_headers,
               _T.c.response_body, _T.c.created_at)
        .where(_T.c.principal == principal, _T.c.key == key)
    ).first()
    if row is not None and _aware(row.created_at) < now - retention:
        conn.execute(delete(_T).where(_T.c.id == row.id))
        row = None
    if row is None:
        record_id = conn.execute(
            insert(_T).values(principal=principal, key=key, request_hash=request_hash,
                              created_at=now).returning(_T.c.id)
        ).scalar_one()
        return Decision("proceed", int(record_id))
    if row.request_hash != request_hash:
        return Decision("mismatch", row.id)
    if row.status_code is None:
        if _aware(row.created_at) < now - inflight_timeout:
            conn.execute(update(_T).where(_T.c.id == row.id).values(created_at=now))
            return Decision("proceed", row.id)  # the first attempt died; take over
        return Decision("in_flight", row.id)
    return Decision(
        "replay",
        row.id,
        row.status_code,
        json.loads(row.response_headers or "{}"),
        bytes(row.response_body or b""),
    )


def finish(
    session: Session, record_id: int, status: int, headers: dict[str, str], body: bytes
) -> None:
    """Store the response of a completed request (in the same transaction as its claim)."""
    session.connection().execute(
        update(_T).where(_T.c.id == record_id).values(
            status_code=status, response_headers=json.dumps(headers), response_body=body,
            completed_at=utcnow())
    )


def abandon(session: Session, record_id: int) -> None:
    """Forget a claimed key (for a claim committed on its own, as older versions did)."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def prune(session: Session, retention: dt.timedelta) -> int:
    """Delete records older than the retention."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - retention)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
