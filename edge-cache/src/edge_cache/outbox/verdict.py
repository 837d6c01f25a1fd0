"""What one origin answer to a replayed write means for its outbox entry (pure, no I/O).

* `complete`: any 2xx/3xx — including a stored response the origin's idempotency layer replays
  (`Idempotent-Replayed: true`): the effect is applied, the entry is done. Never a dead letter.
* `wait`: the origin is up but cannot take the write now — `409` with `Retry-After` (the same
  key is still in flight), `429`, `502`, `503`, `504`. A wait is not an attempt: the entry keeps
  its place and is retried after `Retry-After` (capped) or a back-off, for as long as it takes.
  (Transport errors are waits too; the replayer handles them before there is a status.)
* `retry`: an error that may or may not repeat (`408`, `500`, other 5xx): it spends an attempt;
  after `max_attempts` (0 = never) the entry becomes an `exhausted` dead letter.
* `dead`: a terminal answer — `409` without `Retry-After` or `412` (`conflict`), `422` and any
  other 4xx (`rejected`). The entry moves to the dead-letter list with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

WAIT_STATUSES = frozenset({429, 502, 503, 504})
CONFLICT_STATUSES = frozenset({409, 412})

COMPLETE = "complete"
WAIT = "wait"
RETRY = "retry"
DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str  # complete | wait | retry | dead
    result: str  # metrics label: ok, already_applied, wait, retry, conflict, rejected, exhausted
    reason: str  # for logs, `last_error` and the dead-letter list


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Parse `Retry-After` (delta-seconds or HTTP-date) into seconds from now (≥ 0)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def problem_summary(body: bytes | None, limit: int = 300) -> str:
    """`type-slug (title): detail` from a problem+json body, else the start of the body."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        slug = str(data.get("type") or "").rstrip("/").rsplit("/", 1)[-1]
        title = str(data.get("title") or "")
        detail = str(data.get("detail") or "")
        text = " ".join(p for p in (slug, f"({title})" if title else "") if p)
        if detail:
            text = f"{text}: {detail}" if text else detail
    else:
        text = body[:limit].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:limit]


def judge(
    status: int,
    *,
    retry_after: str | None,
    replayed: bool,
    body: bytes | None,
    attempts: int,
    max_attempts: int,
) -> Verdict:
    """The verdict for an answer with `status`; `attempts` counts this one (waits excluded)."""
    summary = problem_summary(body)
    what = f"HTTP {status}" + (f" {summary}" if summary else "")
    if status < 400:
        if replayed:
            return Verdict(COMPLETE, "already_applied", f"{what} (stored response replayed)")
        return Verdict(COMPLETE, "ok", what)
    if status == 409 and retry_after is not None:
        return Verdict(WAIT, "wait", f"in flight at the origin: {what}")
    if status in WAIT_STATUSES:
        return Verdict(WAIT, "wait", f"origin busy: {what}")
    if status >= 500 or status == 408:
        if max_attempts > 0 and attempts >= max_attempts:
            return Verdict(DEAD, "exhausted", f"{what} after {attempts} attempts")
        return Verdict(RETRY, "retry", what)
    if status in CONFLICT_STATUSES:
        return Verdict(DEAD, "conflict", f"conflict: {what}")
    return Verdict(DEAD, "rejected", f"rejected: {what}")


def wait_delay(
    waits: int,
    retry_after: float | None,
    *,
    base: float,
    cap: float,
    retry_after_cap: float,
    jitter: float,
) -> float:
    """Seconds until the next try after the `waits`-th wait in a row (`jitter` in [0, 1]).

    With `Retry-After` the origin's figure is honoured (capped at `retry_after_cap`, never below
    `base`, up to 25 % later so that many edges do not return at the same instant); without it,
    exponential back-off with jitter from `base` up to `cap`.
    """
    if retry_after is not None:
        return max(base, min(retry_after, retry_after_cap)) * (1.0 + 0.25 * jitter)
    return backoff(waits, base=base, cap=cap, jitter=jitter)


def backoff(n: int, *, base: float, cap: float, jitter: float) -> float:
    """Exponential back-off for the n-th failure in a row: uniform in [ceiling/2, ceiling]."""
    ceiling = min(cap, base * (2 ** max(0, min(n, 60) - 1)))
    return ceiling / 2 + (ceiling / 2) * jitter
