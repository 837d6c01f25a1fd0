"""The async workload client against a real origin process over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from edgelab.process import ManagedProcess, free_port, python_module
from edgelab.workload import COLUMNS, Operation, WorkloadRunner, generate, run_workload

from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    logs: Path = tmp_path_factory.mktemp("origin")
    proc = ManagedProcess(
        "origin", python_module("edgelab.bench.origin", "--port", str(port)), logs / "origin.log"
    )
    try:
        url = f"http://127.0.0.1:{port}"
        proc.wait_http(f"{url}/healthz")
        yield url
    finally:
        proc.stop()


def get(path: str, edge: str = "e1", kind: str = "product") -> Operation:
    return Operation(kind, "GET", path.split("?")[0], path, edge)


async def test_records_every_outcome(origin: str) -> None:
    write = Operation(
        "sell", "POST", "/items/{k}", "/items/9", "e1", body={"id": "d-1"}, idempotency_key="k-1"
    )
    ops = [
        get("/items/1?x=1"),
        get("/status/202?cache=QUEUED&depth=3"),
        get("/status/200?cache=HIT"),
        get("/status/503"),
        get("/slow?ms=3000"),
        get("/items/2", edge="dead"),
        write,
    ]
    urls = {"e1": origin, "dead": f"http://127.0.0.1:{free_port()}"}
    table = await run_workload(ops, urls, token="secret", concurrency=3, timeout_s=1.0)
    assert list(table.columns) == COLUMNS
    assert len(table) == len(ops)
    by_path = table.set_index("path")
    assert by_path.loc["/items/1?x=1", "outcome"] == "ok"
    assert by_path.loc["/status/202?cache=QUEUED&depth=3", "outcome"] == "queued"
    assert by_path.loc["/status/202?cache=QUEUED&depth=3", "outbox_depth"] == 3
    assert by_path.loc["/status/200?cache=HIT", "cache_status"] == "HIT"
    assert by_path.loc["/status/503", "outcome"] == "error"
    assert by_path.loc["/status/503", "status"] == 503
    assert by_path.loc["/slow?ms=3000", "outcome"] == "timeout"
    assert by_path.loc["/items/2", "outcome"] == "conn_error"
    assert by_path.loc["/items/9", "outcome"] == "ok"
    assert by_path.loc["/items/9", "doc_id"] == "d-1"
    assert (table["latency_ms"] > 0).all()
    assert table["t"].is_monotonic_increasing
    # The write reached the origin under its idempotency key with its body.
    async with httpx.AsyncClient(timeout=5) as client:
        stored = (await client.get(f"{origin}/writes/k-1")).json()
    assert stored == {"id": "d-1"}


async def test_request_bound_and_stocktake_reads_expected_first(origin: str) -> None:
    ops = generate(
        {"stocktake": 1.0}, 5, seed=3, catalogue=[1, 2, 3], warehouses={"e1": [4]}
    )
    table = await run_workload(ops, {"e1": origin}, max_requests=2, concurrency=1)
    # Each stocktake first reads the balance (qty 7), then posts counted = 7 ± 1.
    assert list(table["kind"]) == ["stock", "stocktake", "stock", "stocktake"]
    assert set(table["outcome"]) == {"ok"}
    for op in ops[:2]:
        async with httpx.AsyncClient(timeout=5) as client:
            body = (await client.get(f"{origin}/writes/{op.idempotency_key}")).json()
        line = body["lines"][0]
        assert line["expected_qty"] == 7
        assert line["counted_qty"] == 7 + op.count_delta
        assert body["id"] == op.doc_id


async def test_background_run_can_be_stopped(origin: str) -> None:
    ops = (get(f"/items/{i % 10}") for i in range(10**9))
    runner = WorkloadRunner(ops, {"e1": origin}, concurrency=4, duration_s=60, progress=False)
    runner.start()
    await wait_until(lambda: len(runner.rows) >= 20, 20, "20 rows", interval=0.05)
    runner.stop()
    table = await asyncio.wait_for(runner.wait(), 20)
    assert len(table) >= 20
    assert runner.elapsed() < 60
    assert set(table["outcome"]) == {"ok"}
    json.dumps(table.attrs)


async def test_duration_bound_and_rate(origin: str) -> None:
    ops = (get(f"/items/{i % 5}") for i in range(10**9))
    table = await run_workload(
        ops, {"e1": origin}, duration_s=1.0, rate_per_s=20, concurrency=2, progress=False
    )
    # Paced at 20/s for 1 s: about 20 requests, never hundreds.
    assert 5 <= len(table) <= 25
    assert table["t"].max() < 1.5


async def test_clerks_think_between_requests(origin: str) -> None:
    ops = (get(f"/items/{i % 5}") for i in range(10**9))
    table = await run_workload(
        ops, {"e1": origin}, duration_s=1.0, think_time_s=0.2, concurrency=2, seed=3,
        progress=False,
    )
    # Two clerks thinking 0.2 s on average for 1 s: about ten requests, never a tight loop.
    assert 2 <= len(table) <= 40
    with pytest.raises(ValueError, match="think_time_s"):
        WorkloadRunner([], {"e1": "http://x"}, think_time_s=-1)


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        WorkloadRunner([], {"e1": "http://x"}, concurrency=0)
    with pytest.raises(ValueError, match="duration_s"):
        WorkloadRunner([], {"e1": "http://x"}, duration_s=-1)
