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

from sqlalchemy import (
    BigInteger,
    Executable,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


def _claim_insert(dialect: str) -> Executable:
    """INSERT the key row unless it exists (on PostgreSQL also unless the advisory lock
    `p_lock` is held by another transaction); RETURNING the new row's id. Built once per
    dialect, executed with bind parameters."""
    params = {name: bindparam(f"p_{name}", type_=_T.c[name].type)
              for name in ("principal", "key", "request_hash", "created_at")}
    if dialect == "postgresql":
        row = (select(*(param.label(name) for name, param in params.items()))
               .where(func.pg_try_advisory_xact_lock(bindparam("p_lock", type_=BigInteger))))
        return (pg_insert(_T).from_select(list(params), row)
                .on_conflict_do_nothing(index_elements=[_T.c.principal, _T.c.key])
                .returning(_T.c.id))
    if dialect == "sqlite":
        return (sqlite_insert(_T).values(params)
                .on_conflict_do_nothing(index_elements=[_T.c.principal, _T.c.key])
                .returning(_T.c.id))
    return insert(_T).values(params).returning(_T.c.id)  # a conflict raises IntegrityError


# Built once: SQLAlchemy then only looks its compiled form up (no per-request construction).
_CLAIM = {dialect: _claim_insert(dialect) for dialect in ("postgresql", "sqlite", "default")}
_TRY_LOCK = select(func.pg_try_advisory_xact_lock(bindparam("p_lock", type_=BigInteger)))
_EXISTING = (select(_T.c.id, _T.c.request_hash, _T.c.status_code, _T.c.response_headers,
                    _T.c.response_body, _T.c.created_at)
             .where(_T.c.principal == bindparam("p_principal"), _T.c.key == bindparam("p_key")))
_DELETE = delete(_T).where(_T.c.id == bindparam("p_id"))
_INSERT = insert(_T).returning(_T.c.id)
_TAKE_OVER = update(_T).where(_T.c.id == bindparam("p_id")).values(
    created_at=bindparam("p_created_at"))
_FINISH = update(_T).where(_T.c.id == bindparam("p_id")).values(
    status_code=bindparam("p_status"), response_headers=bindparam("p_headers"),
    response_body=bindparam("p_body"), completed_at=bindparam("p_completed_at"))


def begin(
    session: Session,
    principal: str,
    key: str,
    request_hash: str,
    *,
    retention: dt.timedelta,
    inflight_timeout: dt.timedelta,
    advisory_lock: int | None = None,
) -> Decision:
    """Claim a key: INSERT its row, unless a stored response (replay) or a claim exists.

    Run inside the request's write transaction: the row then commits together with the work
    and the response (`finish()`), or not at all. A committed row without a response can only
    come from an older version of the app that committed its claim separately; it counts as in
    flight for `inflight_timeout` and is then taken over.

    The usual case (a new key) costs one statement: `INSERT … ON CONFLICT DO NOTHING RETURNING`
    (on PostgreSQL guarded by `pg_try_advisory_xact_lock(advisory_lock)` in the same
    statement, so a key held by another transaction is never waited for). Only when nothing
    was inserted is the existing row read.
    """
    now = utcnow()
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "postgresql" and advisory_lock is None:
        dialect = "default"  # without a lock id a conflict raises IntegrityError
    params: dict[str, object] = {"p_principal": principal, "p_key": key,
                                 "p_request_hash": request_hash, "p_created_at": now}
    if dialect == "postgresql":
        params["p_lock"] = advisory_lock
    claim = _CLAIM.get(dialect, _CLAIM["default"])
    inserted = conn.execute(claim, params).scalar()
    if inserted is not None:
        return Decision("proceed", int(inserted))
    if advisory_lock is not None and not conn.execute(
            _TRY_LOCK, {"p_lock": advisory_lock}).scalar_one():
        return Decision("in_flight")
    row = conn.execute(_EXISTING, {"p_principal": principal, "p_key": key}).first()
    if row is not None and _aware(row.created_at) < now - retention:
        conn.execute(_DELETE, {"p_id": row.id})
        row = None
    if row is None:
        record_id = conn.execute(_INSERT, {"principal": principal, "key": key,
                                           "request_hash": request_hash,
                                           "created_at": now}).scalar_one()
        return Decision("proceed", int(record_id))
    if row.request_hash != request_hash:
        return Decision("mismatch", row.id)
    if row.status_code is None:
        if _aware(row.created_at) < now - inflight_timeout:
            conn.execute(_TAKE_OVER, {"p_id": row.id, "p_created_at": now})
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
    session.connection().execute(_FINISH, {
        "p_id": record_id, "p_status": status, "p_headers": json.dumps(headers),
        "p_body": body, "p_completed_at": utcnow()})


def abandon(session: Session, record_id: int) -> None:
    """Forget a claimed key (for a claim committed on its own, as older versions did)."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def prune(session: Session, retention: dt.timedelta) -> int:
    """Delete records older than the retention."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - retention)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
