"""The disconnection experiment: shops keep selling while their WAN link is down.

Timeline (seconds since the workload started, column `t` of `requests`):

    0 ── warm-up ── t_cut ── outage ── t_restore ── after ── end ── drain ── verify

1. Warm the caches through every edge (catalogue list, every product, every stock balance of the
   edge's warehouse), so the reads of the outage can be served from the store.
2. Run a seeded shop workload (browse, look up products and stock, sell, receive) through every
   edge: `concurrency` clerks per shop, each pausing a seeded think time between requests
   (about `clerk_rate_per_s` requests per second each, writes spread evenly at the mix's
   share), so an outage of any length queues what a shop sells in that time; cut every
   selected link (`Link.down(mode)`) for `outage_s`; restore it; keep going for `after_s`.
3. Wait until every edge's outbox is empty (polling `/_edge/status`). Unless
   `drain_timeout_s` is given, the deadline is derived (`drain_allowance`): the replay rate
   is measured over the first seconds of the drain and the edges get three times what the
   queued writes need at that rate, plus 30 s. Missing the deadline FAILS the verification;
   writes still in an outbox are reported as still queued, never as lost.
4. Verify against the cloud that every accepted write (201 or 202) was applied exactly once and
   that balances equal initial + Σ accepted deltas (`experiments.verification`).
5. Baseline: the same workload with no cache, clients talking to the cloud *through the same
   links* (requests fail while the link is down). It starts only once the outboxes are empty
   (cutting the links again while the edges replay would mix the two runs); if they do not
   drain, the baseline is skipped and says why.

6. On a cluster, a `ControlPlaneSampler` (``control_plane=``) records node Ready, taints and
   pod phases every few seconds (``control_plane.csv``, a strip under the request timeline,
   facts in the summary: when the node went NotReady, when its canary was evicted, whether the
   edge-cache pod kept its uid).

Class mode (a class sharing a cluster's edges): ``verify="document"`` checks every accepted
write per document (exists once, one ledger post per line) and leaves out the per-warehouse
balance check, which other students selling in the same warehouse at the same time would break.

Stocktakes are left out of the mix: their delta depends on the balance read at run time, which
the workload table does not record, so their effect on balances could not be checked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from edgelab.experiments.cloud import CloudClient
from edgelab.experiments.control_plane import (
    ControlPlaneSampler,
    control_plane_facts,
    samples_frame,
    strip_states,
)
from edgelab.experiments.runtime import StatusSampler, edge_status, run_async
from edgelab.experiments.verification import Verification, verify_writes, writes_table
from edgelab.jsonio import write_json
from edgelab.plots.runs import disconnection_plots
from edgelab.results import write_csv
from edgelab.targets.base import Target, TargetError, UnknownEdgeError
from edgelab.workload import (
    Operation,
    OperationFactory,
    WorkloadRunner,
    iter_operations,
    run_workload,
)

DISCONNECTION_MIX: dict[str, float] = {
    "browse": 0.15,
    "product": 0.30,
    "stock": 0.25,
    "sell": 0.20,
    "receive": 0.10,
}
READ_OK = (200, 304)
DRAIN_FLOOR_S = 30.0  # waiting for the first replayed write, and slack on top of the estimate
DRAIN_FACTOR = 3.0  # the deadline is this many times the time the queue needs at the rate
DRAIN_MEASURE_S = 3.0  # the replay rate is measured over at least this long
NO_BASELINE_REASON = (
    "no client here reaches the cloud through an edge's cut link: on a cluster the clients run "
    "on your machine, whose own path to the cloud is never cut, so a no-cache run from here "
    "would not see the outage at all (it would have to run on the edge node)"
)


@dataclass
class DrainAllowance:
    """The derived drain deadline (pure: feed it the outbox depth as the wait goes on).

    Until a replay rate is measured (at least `measure_s` waited and at least one write
    replayed) the allowance is `floor_s + measure_s` — the edges must start replaying within
    that. Then it is fixed once: ``waited + floor_s + factor × depth / rate``.
    """

    queued: int
    floor_s: float = DRAIN_FLOOR_S
    factor: float = DRAIN_FACTOR
    measure_s: float = DRAIN_MEASURE_S
    rate_per_s: float | None = None
    allowance_s: float | None = None

    def update(self, depth: int, waited_s: float) -> float:
        """The seconds the drain may take in all, given the depth now after `waited_s`."""
        if self.allowance_s is not None:
            return self.allowance_s
        replayed = self.queued - depth
        if replayed > 0 and (waited_s >= self.measure_s or depth == 0):
            self.rate_per_s = replayed / max(waited_s, 1e-3)
            self.allowance_s = waited_s + self.floor_s + self.factor * depth / self.rate_per_s
            return self.allowance_s
        return self.floor_s + self.measure_s


def _depth(last: Mapping[str, Any]) -> int:
    return sum(int(s.get("outbox_depth") or 0) for s in last.values() if "error" not in s)


def wait_drained(urls: Mapping[str, str], timeout_s: float | None
                 ) -> tuple[bool, float, dict[str, Any], dict[str, Any]]:
    """Wait until every edge is online with an empty outbox, for `timeout_s` or, when None,
    the derived `DrainAllowance`. Returns (drained, waited, last status, drain facts)."""
    start = time.monotonic()
    last: dict[str, Any] = {}
    clock: DrainAllowance | None = None
    allowed = timeout_s if timeout_s is not None else DRAIN_FLOOR_S + DRAIN_MEASURE_S
    with httpx.Client(timeout=2.0) as client:
        while True:
            done = True
            for edge, url in urls.items():
                try:
                    st = edge_status(client, url)
                except (httpx.HTTPError, ValueError) as exc:
                    last[edge] = {"error": str(exc)}
                    done = False
                    continue
                last[edge] = st
                if st.get("state") != "online" or int(st.get("outbox_depth") or 0) != 0:
                    done = False
            waited = time.monotonic() - start
            depth = _depth(last)
            if clock is None:
                clock = DrainAllowance(queued=depth)
            if timeout_s is None:
                allowed = clock.update(depth, waited)
            if done or waited >= allowed:
                facts = {"queued_when_drain_began": clock.queued,
                         "replay_rate_per_s": clock.rate_per_s,
                         "drain_timeout_s": allowed,
                         "drain_timeout_derived": timeout_s is None}
                return done, waited, last, facts
            time.sleep(0.25)


@dataclass
class DisconnectionResult:
    """Tables and summary of one disconnection run (see the module docstring)."""

    requests: pd.DataFrame
    outbox: pd.DataFrame
    writes: pd.DataFrame
    summary: dict[str, Any]
    plots: list[Path] = field(default_factory=list)
    control_plane: pd.DataFrame = field(default_factory=lambda: samples_frame([]))

    def save(self, results_dir: Path | str) -> Path:
        """Write requests.csv, outbox.csv, writes.csv, control_plane.csv (cluster),
        summary.json and PNG plots."""
        out = Path(results_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(out / "requests.csv", self.requests)
        write_csv(out / "outbox.csv", self.outbox)
        write_csv(out / "writes.csv", self.writes)
        states = self.outbox
        if len(self.control_plane):
            write_csv(out / "control_plane.csv", self.control_plane)
            # the timeline's strip draws every (t, edge, state) row: the edges' own state and,
            # under it, each node's Ready and its canary pod (rows without an outbox depth,
            # which the outbox plot leaves out)
            nodes = list(self.summary.get("control_plane", {}).get("nodes", {}))
            states = pd.concat([self.outbox, strip_states(self.control_plane, nodes)],
                               ignore_index=True)
        self.plots = disconnection_plots(out, self.requests, states, self.summary)
        write_json(out / "summary.json", {**self.summary, "plots": [p.name for p in self.plots]})
        return out


class _Recorder:
    """Wraps an operation stream and remembers every write's body by document id.

    The seeded stream gives the same document UUIDs and idempotency keys on every run; they
    are re-derived from a per-run nonce (uuid5), so re-running with the same seed on the same
    cloud makes new documents while the sequence of operations stays the same.
    """

    def __init__(self, ops: Iterable[Operation]) -> None:
        self._ops = iter(ops)
        self.run_id = uuid.uuid4()
        self.documents: dict[str, dict[str, Any]] = {}

    def __iter__(self) -> Iterator[Operation]:
        for op in self._ops:
            if op.doc_id and op.body is not None:
                body = {**op.body, "id": str(uuid.uuid5(self.run_id, op.doc_id))}
                key = str(uuid.uuid5(self.run_id, f"key:{op.idempotency_key}"))
                op = dataclasses.replace(op, body=body, idempotency_key=key)
                self.documents[str(body["id"])] = body
            yield op


def _select_edges(target: Target, edges: Sequence[str] | None) -> list[str]:
    known = target.edge_names()
    if not edges:
        return list(known)
    unknown = [e for e in edges if e not in known]
    if unknown:
        raise UnknownEdgeError(
            f"unknown edge(s) {', '.join(unknown)} (this lab has: {', '.join(known)})"
        )
    return list(edges)


def _warm_ops(edge: str, warehouse_id: int, products: Sequence[int]) -> list[Operation]:
    ops = [Operation("browse", "GET", "/api/products", "/api/products?limit=50", edge)]
    for pid in products:
        ops.append(Operation("product", "GET", "/api/products/{id}", f"/api/products/{pid}", edge))
        ops.append(Operation("stock", "GET", "/api/warehouses/{warehouse_id}/stock/{id}",
                             f"/api/warehouses/{warehouse_id}/stock/{pid}", edge))
    return ops


def wait_edges(urls: Mapping[str, str], *, timeout_s: float, drained: bool,
               online: bool = True) -> tuple[bool, float, dict[str, Any]]:
    """Poll `/_edge/status` until every edge is online (and, if `drained`, has an empty outbox).

    Returns (reached, seconds waited, last status per edge).
    """
    start = time.monotonic()
    last: dict[str, Any] = {}
    with httpx.Client(timeout=2.0) as client:
        while True:
            done = True
            for edge, url in urls.items():
                try:
                    s = edge_status(client, url)
                except (httpx.HTTPError, ValueError) as exc:
                    last[edge] = {"error": str(exc)}
                    done = False
                    continue
                last[edge] = s
                if online and s.get("state") != "online":
                    done = False
                if drained and int(s.get("outbox_depth") or 0) != 0:
                    done = False
            waited = time.monotonic() - start
            if done:
                return True, waited, last
            if waited >= timeout_s:
                return False, waited, last
            time.sleep(0.25)


async def _timeline(
    runner: WorkloadRunner, links: Mapping[str, Any], mode: str, warmup_s: float,
    outage_s: float, disruption: Callable[[], object] | None = None,
) -> tuple[pd.DataFrame, float, float]:
    task = runner.start()
    await asyncio.sleep(warmup_s)
    await asyncio.gather(*(asyncio.to_thread(link.down, mode) for link in links.values()))
    t_cut = runner.elapsed()
    try:
        if disruption is None:
            await asyncio.sleep(outage_s)
        else:
            await asyncio.sleep(outage_s / 2)
            await asyncio.to_thread(disruption)
            await asyncio.sleep(max(0.0, t_cut + outage_s - runner.elapsed()))
    finally:
        await asyncio.gather(*(asyncio.to_thread(link.up) for link in links.values()))
    t_restore = runner.elapsed()
    table = await task
    return table, t_cut, t_restore


def _phase(t: pd.Series, t_cut: float, t_restore: float) -> pd.Series:
    return pd.Series(
        ["before" if x < t_cut else ("outage" if x < t_restore else "after") for x in t],
        index=t.index, dtype="object",
    )


def _read_stats(requests: pd.DataFrame) -> dict[str, Any]:
    outage = requests[(requests["phase"] == "outage") & (requests["method"] == "GET")]
    ok = outage["status"].isin(READ_OK).sum() if len(outage) else 0
    counts = outage["cache_status"].fillna("none").value_counts().to_dict() if len(outage) else {}
    return {
        "reads_during_outage": len(outage),
        "reads_ok_during_outage": int(ok),
        "read_success_rate_during_outage": float(ok / len(outage)) if len(outage) else None,
        "offline_hits_during_outage": int(counts.get("OFFLINE-HIT", 0)),
        "cache_status_during_outage": {str(k): int(v) for k, v in counts.items()},
        "read_latency_p50_ms_during_outage": (
            float(outage["latency_ms"].median()) if len(outage) else None
        ),
    }


def _write_stats(requests: pd.DataFrame) -> dict[str, Any]:
    writes = requests[requests["method"] != "GET"]
    outage = writes[writes["phase"] == "outage"]
    return {
        "writes_during_outage": len(outage),
        "writes_accepted_during_outage": int(outage["status"].isin((200, 201, 202)).sum()),
        "writes_failed_during_outage": int((~outage["status"].isin((200, 201, 202))).sum()),
    }


def disconnection(
    target: Target,
    *,
    outage_s: float = 20.0,
    warmup_s: float = 5.0,
    after_s: float = 5.0,
    mode: str = "refuse",
    edges: Sequence[str] | None = None,
    concurrency: int = 4,
    rate_per_s: float | None = None,
    clerk_rate_per_s: float | None = 2.0,
    drain_timeout_s: float | None = None,
    baseline: bool = True,
    seed: int = 42,
    zipf_s: float = 0.99,
    mix: Mapping[str, float] | None = None,
    request_timeout_s: float = 5.0,
    sample_interval_s: float = 0.5,
    ready_timeout_s: float = 30.0,
    warm_products: int | None = None,
    disruption: Callable[[], object] | None = None,
    control_plane: ControlPlaneSampler | None = None,
    verify: str = "warehouse",
    progress: bool = True,
) -> DisconnectionResult:
    """Run the experiment (module docstring) and return its tables and summary.

    `clerk_rate_per_s`: requests per second of one clerk (think time 1 / rate after each
    answer; None: back to back). `rate_per_s`: in addition, a cap on the requests per second
    per edge (open-loop pacing). `drain_timeout_s`: None derives it (module docstring).
    `warm_products`: how many of the most popular products the warm-up loads (None: all).
    `disruption`: called once in the middle of the outage (e.g. crash an edge and lose its
    outbox, to see the verification fail; on a cluster, restart the edge node).
    `control_plane`: a sampler run from the warm-up to the end of the drain (cluster).
    `verify`: "warehouse" (per document and the warehouses' balances) or "document" (class
    mode: per document only; module docstring).
    """
    if outage_s <= 0 or warmup_s < 0 or after_s < 0 or (
        drain_timeout_s is not None and drain_timeout_s <= 0
    ):
        raise ValueError("outage_s and drain_timeout_s must be > 0; warmup_s, after_s >= 0")
    if clerk_rate_per_s is not None and clerk_rate_per_s <= 0:
        raise ValueError(f"clerk_rate_per_s must be > 0, got {clerk_rate_per_s}")
    think = 1.0 / clerk_rate_per_s if clerk_rate_per_s else None
    if mode not in ("refuse", "blackhole"):
        raise ValueError(f"mode must be 'refuse' or 'blackhole', got {mode!r}")
    if verify not in ("warehouse", "document"):
        raise ValueError(f"verify must be 'warehouse' or 'document', got {verify!r}")
    names = _select_edges(target, edges)
    endpoints = target.endpoints()
    tokens = target.tokens()
    all_links = target.links()
    links = {e: all_links[e] for e in names}
    edge_urls = {e: endpoints.edges[e] for e in names}
    clerks = {e: tokens.clerks[e] for e in names}
    for link in links.values():
        link.up()
    ok, _, last = wait_edges(edge_urls, timeout_s=ready_timeout_s, drained=False)
    if not ok:
        raise TargetError(f"edges not online before the experiment: {last}")

    with CloudClient(endpoints.cloud, tokens.admin) as cloud:
        codes = cloud.warehouse_ids()
        warehouses: dict[str, int] = {}
        for e in names:
            code = target.warehouse_of(e)
            if code not in codes:
                raise TargetError(f"warehouse {code} of edge {e} does not exist in the cloud")
            warehouses[e] = codes[code]
        products = cloud.product_ids()
        if not products:
            raise TargetError("the cloud has no products; seed the demo data (`edgelab seed`)")
        supplier = cloud.supplier_id()

        # 1. warm-up
        hot = OperationFactory(seed, products, {e: [warehouses[e]] for e in names},
                               s=zipf_s).by_popularity
        hot = hot if warm_products is None else hot[:warm_products]
        warm = [op for e in names for op in _warm_ops(e, warehouses[e], hot)]
        t_warm = time.monotonic()
        run_async(run_workload(warm, edge_urls, token=clerks, concurrency=16,
                               timeout_s=request_timeout_s, progress=progress,
                               description="warm-up"))

        timings = {"warmup_requests_s": time.monotonic() - t_warm}
        # 2. workload with the edge caches, outage in the middle
        initial = {w: cloud.balances(w) for w in warehouses.values()}
        recorder = _Recorder(iter_operations(mix or DISCONNECTION_MIX, seed, products,
                                             {e: [warehouses[e]] for e in names}, s=zipf_s,
                                             partner_id=supplier, spread_writes=True))
        total = warmup_s + outage_s + after_s
        runner = WorkloadRunner(recorder, edge_urls, token=clerks,
                                concurrency=concurrency * len(names), duration_s=total,
                                rate_per_s=rate_per_s * len(names) if rate_per_s else None,
                                think_time_s=think, seed=seed,
                                timeout_s=request_timeout_s, progress=progress,
                                description=f"with edge cache (outage {outage_s:g} s)")
        if control_plane is not None:
            control_plane.__enter__()
        try:
            with StatusSampler(edge_urls, interval_s=sample_interval_s) as sampler:
                table, t_cut, t_restore = run_async(
                    _timeline(runner, links, mode, warmup_s, outage_s, disruption)
                )
                t_drain = time.monotonic() - runner.t0
                drained, _, last, drain = wait_drained(edge_urls, drain_timeout_s)
                drain_time_s = (time.monotonic() - (runner.t0 + t_restore)) if drained else None
                drain["drain_deadline_t"] = t_drain + float(drain["drain_timeout_s"])
                time.sleep(sample_interval_s)
        finally:
            if control_plane is not None:
                control_plane.stop()
        outbox = sampler.frame(runner.t0)
        plane = control_plane.frame(runner.t0) if control_plane is not None else samples_frame([])
        table["variant"] = "edge"
        table["phase"] = _phase(table["t"], t_cut, t_restore)

        reasons: list[str] = []
        still_queued = 0 if drained else _depth(last)
        if not drained:
            depths = {e: s.get("outbox_depth", s.get("error")) for e, s in last.items()}
            how = (f"the derived deadline ({drain['queued_when_drain_began']} queued at "
                   f"{drain['replay_rate_per_s'] or 0:.1f} writes/s measured)"
                   if drain["drain_timeout_derived"] else "drain_timeout_s")
            reasons.append(f"outboxes did not drain within {float(drain['drain_timeout_s']):g} s "
                           f"({how}); depth now: {depths} — those writes are still queued, "
                           "not lost")
        dead = {e: s.get("dead_letters") for e, s in last.items() if s.get("dead_letters")}
        if dead:
            reasons.append(f"dead letters on the edges: {dead}")
        t_verify = time.monotonic()
        verification = verify_writes(cloud, writes_table(table, recorder.documents), initial,
                                     extra_reasons=reasons, still_queued=still_queued,
                                     check_balances=verify == "warehouse")
        timings["verification_s"] = time.monotonic() - t_verify

        # 3. baseline: no cache, through the same links
        base_summary: dict[str, Any] | None = None
        base_table: pd.DataFrame | None = None
        if baseline and not drained:
            # never cut the links again while the edges still replay: wait once more
            drained_late, _, last_late, _ = wait_drained(
                edge_urls, float(drain["drain_timeout_s"]))
            if not drained_late:
                base_summary = {"skipped": "the outboxes were still draining "
                                f"(depth {_depth(last_late)}); the baseline would have cut "
                                "the links during their replay"}
        if baseline and base_summary is None and all(e in endpoints.direct for e in names):
            base_table, base_summary = _baseline(
                cloud, links, {e: endpoints.direct[e] for e in names}, clerks, warehouses,
                products, supplier, mix or DISCONNECTION_MIX, seed + 1_000_003, zipf_s,
                concurrency, rate_per_s, think, mode, warmup_s, outage_s, after_s,
                request_timeout_s, progress,
            )
        elif baseline and base_summary is None:
            base_summary = {"skipped": NO_BASELINE_REASON}

    requests = table if base_table is None else pd.concat([table, base_table], ignore_index=True)
    summary: dict[str, Any] = {
        "experiment": "disconnection",
        "edges": names,
        "mode": mode,
        "seed": seed,
        "warmup_s": warmup_s,
        "outage_s": outage_s,
        "after_s": after_s,
        "t_cut": t_cut,
        "t_restore": t_restore,
        "requests": len(table),
        **_read_stats(table),
        **_write_stats(table),
        **{k: v for k, v in verification.summary().items() if k not in ("passed", "reasons")},
        "clerks_per_edge": concurrency,
        "clerk_rate_per_s": clerk_rate_per_s,
        "drained": drained,
        "drain_time_s": drain_time_s,
        **drain,
        "verification_passed": verification.passed,
        "verification_reasons": verification.reasons,
        "baseline": base_summary,
        "verification_scope": verify,
        "timings": timings,
    }
    if control_plane is not None:
        summary["control_plane"] = {
            **control_plane_facts(plane, t_cut, t_restore, names),
            "errors": [msg for _, msg in control_plane.errors][:5],
        }
    return DisconnectionResult(requests=requests, outbox=outbox,
                               writes=verification.writes, summary=summary,
                               control_plane=plane)


def _baseline(
    cloud: CloudClient, links: Mapping[str, Any], direct: Mapping[str, str],
    clerks: Mapping[str, str], warehouses: Mapping[str, int], products: Sequence[int],
    supplier: int | None, mix: Mapping[str, float], seed: int, zipf_s: float,
    concurrency: int, rate_per_s: float | None, think: float | None, mode: str,
    warmup_s: float, outage_s: float, after_s: float, request_timeout_s: float, progress: bool,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    initial = {w: cloud.balances(w) for w in warehouses.values()}
    recorder = _Recorder(iter_operations(mix, seed, products,
                                         {e: [warehouses[e]] for e in direct}, s=zipf_s,
                                         partner_id=supplier, spread_writes=True))
    runner = WorkloadRunner(recorder, direct, token=dict(clerks),
                            concurrency=concurrency * len(direct),
                            duration_s=warmup_s + outage_s + after_s,
                            rate_per_s=rate_per_s * len(direct) if rate_per_s else None,
                            think_time_s=think, seed=seed,
                            timeout_s=request_timeout_s, progress=progress,
                            description="no cache (baseline)")
    table, t_cut, t_restore = run_async(_timeline(runner, links, mode, warmup_s, outage_s))
    table["variant"] = "no-cache"
    table["phase"] = _phase(table["t"], t_cut, t_restore)
    verification: Verification = verify_writes(cloud, writes_table(table, recorder.documents),
                                               initial)
    summary = {
        "requests": len(table),
        "t_cut": t_cut,
        "t_restore": t_restore,
        **_read_stats(table),
        **_write_stats(table),
        "writes_accepted": verification.accepted,
        "writes_lost": verification.lost,
        "verification_passed": verification.passed,
        "verification_reasons": verification.reasons,
    }
    return table, summary
