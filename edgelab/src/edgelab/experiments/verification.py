"""Exactly-once verification of the writes an experiment made, against the cloud's own records.

Rules (a write is one document with a client-generated UUID, see docs/contracts.md §1):

- *accepted*: the client got 201 (applied by the cloud) or 202 (queued by an edge).
- every accepted write must exist in the cloud (`GET /api/documents/{id}` → 200), else *lost* —
  unless the edges still hold queued writes (the drain did not finish): up to that many
  queued (202) writes missing in the cloud are *still queued*, reported apart, not lost;
- every existing write must have exactly one posting movement per line in the ledger, else
  *duplicated* (more) or *unposted* (none);
- writes the client did not see accepted (timeouts, connection errors) may or may not have been
  applied; whatever the cloud says counts towards the expected balances;
- a write rejected with 4xx that the cloud nevertheless applied is an error;
- for every product × warehouse touched: final balance == initial + Σ deltas of the applied writes
  (``check_balances=False``, class mode: skipped, since other students' sales in the same
  warehouse move the balances too; every rule above is per document and still holds).
"""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from edgelab.experiments.cloud import CloudClient

ACCEPTED = (200, 201, 202)
WRITE_COLUMNS = ["doc_id", "edge", "kind", "doc_type", "warehouse_id", "product_id", "delta",
                 "status", "outcome", "accepted", "applied", "ledger_posts"]


def document_delta(body: Mapping[str, Any]) -> int | None:
    """The stock delta a single-line document makes in its warehouse (None when unknown)."""
    lines = body.get("lines") or []
    if len(lines) != 1:
        return None
    line = lines[0]
    kind = body.get("type")
    qty = int(line.get("qty") or 0)
    if kind in ("sales_issue", "purchase_return", "other_out"):
        return -qty
    if kind in ("purchase_receipt", "sales_return", "other_in"):
        return qty
    if kind == "stocktake" and line.get("counted_qty") is not None:
        return int(line["counted_qty"]) - int(line.get("expected_qty") or 0)
    return None


@dataclass(slots=True)
class Verification:
    passed: bool
    reasons: list[str]
    accepted: int = 0
    queued: int = 0
    applied: int = 0
    lost: int = 0
    still_queued: int = 0
    duplicated: int = 0
    unacknowledged_applied: int = 0
    balances_checked: int = 0
    balance_mismatches: int = 0
    writes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WRITE_COLUMNS))

    def summary(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "writes_accepted": self.accepted,
            "writes_queued": self.queued,
            "writes_applied": self.applied,
            "writes_lost": self.lost,
            "writes_still_queued": self.still_queued,
            "writes_duplicated": self.duplicated,
            "writes_applied_unacknowledged": self.unacknowledged_applied,
            "balances_checked": self.balances_checked,
            "balance_mismatches": self.balance_mismatches,
        }


def writes_table(
    requests: pd.DataFrame, documents: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """One row per write request of `requests` (workload table) joined with what was sent."""
    rows: list[dict[str, Any]] = []
    if len(requests):
        writes = requests[requests["doc_id"].notna()]
        for rec in writes.to_dict(orient="records"):
            doc_id = str(rec["doc_id"])
            body = documents.get(doc_id, {})
            lines = body.get("lines") or [{}]
            status = rec.get("status")
            status_i = None if status is None or pd.isna(status) else int(status)
            rows.append({
                "doc_id": doc_id,
                "edge": rec.get("edge"),
                "kind": rec.get("kind"),
                "doc_type": body.get("type"),
                "warehouse_id": body.get("warehouse_id"),
                "product_id": lines[0].get("product_id"),
                "delta": document_delta(body) if body else None,
                "status": status_i,
                "outcome": rec.get("outcome"),
                "accepted": status_i in ACCEPTED,
                "applied": False,
                "ledger_posts": 0,
            })
    return pd.DataFrame(rows, columns=WRITE_COLUMNS)


def verify_writes(
    cloud: CloudClient,
    writes: pd.DataFrame,
    initial: Mapping[int, Mapping[int, int]],
    *,
    extra_reasons: list[str] | None = None,
    still_queued: int = 0,
    check_balances: bool = True,
) -> Verification:
    """Check `writes` (see `writes_table`) against the cloud; `initial` = warehouse → balances.

    `still_queued`: how many writes the edges' outboxes still hold (0 once drained)."""
    reasons = list(extra_reasons or [])
    writes = writes.copy()
    if writes.empty:
        return Verification(passed=not reasons, reasons=reasons, writes=writes)
    dup_ids = writes["doc_id"][writes["doc_id"].duplicated()].unique().tolist()
    if dup_ids:
        reasons.append(f"{len(dup_ids)} document ids were sent twice by the workload")
    ids = [str(d) for d in writes["doc_id"].unique()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = dict(zip(ids, pool.map(cloud.document_status, ids), strict=True))
    bad = {d: s for d, s in statuses.items() if s not in (200, 404)}
    if bad:
        reasons.append(f"cloud answered unexpected statuses for {len(bad)} documents: "
                       f"{sorted(set(bad.values()))}")
    writes["applied"] = writes["doc_id"].map(lambda d: statuses.get(d) == 200)

    warehouses = sorted({int(w) for w in writes["warehouse_id"].dropna().unique()})
    posts: Counter[str] = Counter()
    for wid in warehouses:
        posts.update(cloud.ledger_posts_per_document(wid))
    writes["ledger_posts"] = writes["doc_id"].map(lambda d: int(posts.get(d, 0)))

    accepted = writes[writes["accepted"]]
    missing = accepted[~accepted["applied"]]
    waiting = missing[missing["status"] == 202].head(max(0, int(still_queued)))
    lost = missing.drop(index=waiting.index)
    if len(waiting):
        reasons.append(f"{len(waiting)} accepted writes are still queued at the edges (not yet "
                       "replayed, not lost): wait for the drain, then verify again")
    if len(lost):
        reasons.append(f"{len(lost)} accepted writes are missing in the cloud (lost), e.g. "
                       f"{', '.join(lost['doc_id'].head(3))}")
    applied = writes[writes["applied"]]
    duplicated = applied[applied["ledger_posts"] > 1]
    if len(duplicated):
        reasons.append(f"{len(duplicated)} writes were posted more than once, e.g. "
                       f"{', '.join(duplicated['doc_id'].head(3))}")
    unposted = applied[(applied["ledger_posts"] == 0) & (applied["delta"].fillna(0) != 0)]
    if len(unposted):
        reasons.append(f"{len(unposted)} applied writes have no ledger movement")
    rejected_applied = writes[
        writes["applied"] & writes["status"].notna()
        & writes["status"].map(lambda s: s is not None and not pd.isna(s) and 400 <= int(s) < 500)
    ]
    if len(rejected_applied):
        reasons.append(f"{len(rejected_applied)} writes answered 4xx were applied anyway")
    unknown_delta = applied[applied["delta"].isna()]
    if len(unknown_delta):
        reasons.append(f"{len(unknown_delta)} applied writes have an unknown delta; "
                       "balances cannot be checked for them")

    expected: dict[tuple[int, int], int] = {}
    for rec in applied.dropna(subset=["delta", "warehouse_id", "product_id"]).to_dict("records"):
        key = (int(rec["warehouse_id"]), int(rec["product_id"]))
        expected[key] = expected.get(key, 0) + int(rec["delta"])
    mismatches: list[str] = []
    if not check_balances:
        expected = {}
    finals = {wid: cloud.balances(wid) for wid in warehouses} if expected else {}
    for (wid, pid), delta in sorted(expected.items()):
        before = int(initial.get(wid, {}).get(pid, 0))
        after = int(finals.get(wid, {}).get(pid, 0))
        if after != before + delta:
            mismatches.append(f"warehouse {wid} product {pid}: {before} + {delta} != {after}")
    if mismatches:
        reasons.append(f"{len(mismatches)} balances differ from initial + accepted deltas: "
                       + "; ".join(mismatches[:3]))
    queued = int((accepted["status"] == 202).sum())
    return Verification(
        passed=not reasons,
        reasons=reasons,
        accepted=len(accepted),
        queued=queued,
        applied=int(writes["applied"].sum()),
        lost=len(lost),
        still_queued=len(waiting),
        duplicated=len(duplicated),
        unacknowledged_applied=int((writes["applied"] & ~writes["accepted"]).sum()),
        balances_checked=len(expected),
        balance_mismatches=len(mismatches),
        writes=writes,
    )
