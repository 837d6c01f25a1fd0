"""The idempotency store: (principal, Idempotency-Key) → stored response.

Protocol (see `api/idempotency.py`): `begin()` in its own write transaction, then the request
runs, then `finish()` stores the response (or `abandon()` forgets the key so it can be retried).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from inventory_app.models import IdempotencyRecord, utcnow


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
    """Claim a key (run inside `Database.write()`, which serializes concurrent claims)."""
    now = utcnow()
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
        )
    )
    if record is not None and _aware(record.created_at) < now - retention:
        session.delete(record)
        session.flush()
        record = None
    if record is None:
        record = IdempotencyRecord(principal=principal, key=key, request_hash=request_hash,
                                   created_at=now)
        session.add(record)
        session.flush()
        return Decision("proceed", record.id)
    if record.request_hash != request_hash:
        return Decision("mismatch", record.id)
    if record.status_code is None:
        if _aware(record.created_at) < now - inflight_timeout:
            record.created_at = now  # the first attempt died; take over
            return Decision("proceed", record.id)
        return Decision("in_flight", record.id)
    return Decision(
        "replay",
        record.id,
        record.status_code,
        json.loads(record.response_headers or "{}"),
        record.response_body or b"",
    )


def finish(
    session: Session, record_id: int, status: int, headers: dict[str, str], body: bytes
) -> None:
    """Store the response of a completed request."""
    record = session.get(IdempotencyRecord, record_id)
    if record is None:
        return
    record.status_code = status
    record.response_headers = json.dumps(headers)
    record.response_body = body
    record.completed_at = utcnow()


def abandon(session: Session, record_id: int) -> None:
    """Forget a claimed key (the request failed in a way worth retrying)."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def prune(session: Session, retention: dt.timedelta) -> int:
    """Delete records older than the retention."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - retention)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
