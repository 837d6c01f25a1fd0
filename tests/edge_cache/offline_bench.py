"""Offline write-path benchmark through the real `edge-cache` process (prints numbers only).

    .venv/bin/python -m tests.edge_cache.offline_bench [--writes 10000] [--enqueues 1000]

1. enqueue latency: sequential POSTs while the origin is down (commit + fsync included), as the
   client sees it, and the server-side `edge_outbox_enqueue_seconds` histogram;
2. drain: `--writes` queued writes replayed to an origin that takes 5 ms per write (issue 3
   target: 10,000 in <= 60 s), parallel sales plus per-resource FIFO adjustments.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from tqdm import tqdm

from tests.edge_cache.offline_origin import LedgerOrigin
from tests.edge_cache.offline_sidecar import Sidecar

DEVICE = "device-secret"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(writes: int, enqueues: int, concurrency: int) -> None:
    origin = LedgerOrigin(DEVICE)
    await origin.start()
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text("routes:\n  - path: /sales\n    methods: [POST]\n    replay: parallel\n")
        edge = Sidecar(origin.url, Path(tmp) / "edge", EDGE_CACHE_DEVICE_TOKEN=DEVICE,
                       EDGE_CACHE_AUTH_REQUIRED="off", EDGE_CACHE_POLICY_FILE=str(policy),
                       EDGE_CACHE_OUTBOX_MAX_ENTRIES=str(max(writes, enqueues) * 2))
        await edge.start()
        try:
            async with aiohttp.ClientSession() as s:
                await origin.set_mode("refuse")
                await edge.wait_state(s, "offline")
                lat: list[float] = []
                for i in tqdm(range(enqueues), desc="enqueue (sequential)"):
                    t = time.perf_counter()
                    async with s.post(edge.url + "/sales",
                                      json={"sku": "a", "qty": 1, "op": f"e{i}"}) as resp:
                        await resp.read()
                        assert resp.status == 202
                    lat.append(time.perf_counter() - t)
                print(f"enqueue over HTTP, {enqueues} sequential: p50 {pct(lat, .5) * 1e3:.2f} ms"
                      f"  p99 {pct(lat, .99) * 1e3:.2f} ms  max {max(lat) * 1e3:.2f} ms"
                      f"  mean {statistics.mean(lat) * 1e3:.2f} ms")
                await origin.set_mode("ok")
                await edge.wait_drained(s, 600)

                await origin.set_mode("refuse")
                await edge.wait_state(s, "offline")
                todo = list(range(writes))
                progress = tqdm(total=writes, desc=f"enqueue {writes} ({concurrency} clients)")

                async def client() -> None:
                    while todo:
                        i = todo.pop()
                        if i % 4 == 0:  # per-resource FIFO traffic
                            path, body = f"/stock/s{i % 50}", {"delta": 1, "op": f"w{i}"}
                        else:  # parallel sales
                            path, body = "/sales", {"sku": f"p{i % 20}", "qty": 1, "op": f"w{i}"}
                        async with s.post(edge.url + path, json=body,
                                          headers={"Idempotency-Key": str(uuid.uuid4())}) as r:
                            await r.read()
                            assert r.status == 202, r.status
                        progress.update(1)

                t = time.perf_counter()
                await asyncio.gather(*(client() for _ in range(concurrency)))
                progress.close()
                print(f"enqueued {writes} with {concurrency} clients in "
                      f"{time.perf_counter() - t:.1f} s")
                origin.write_delay = 0.005
                before = len(origin.applied)
                await origin.set_mode("ok")
                t = time.perf_counter()
                with tqdm(total=writes, desc="drain (origin 5 ms/write)") as bar:
                    while True:
                        st = await edge.status(s)
                        bar.n = len(origin.applied) - before
                        bar.refresh()
                        if st["state"] == "online" and st["outbox_depth"] == 0:
                            break
                        await asyncio.sleep(0.2)
                took = time.perf_counter() - t
                print(f"drained {writes} writes in {took:.1f} s ({writes / took:.0f}/s);"
                      f" dead letters {st['dead_letters']}; duplicates "
                      f"{len(origin.duplicates())}")
        finally:
            await edge.stop()
            await origin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--enqueues", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(bench(args.writes, args.enqueues, args.clients))


if __name__ == "__main__":
    main()
