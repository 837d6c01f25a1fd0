"""Replaying a recorded request sequence through exact cache models (no sampling, no seeds).

* `lru_hits` / `fifo_hits`: one client, requests in the order they were sent, an exact LRU
  (or FIFO) cache of C entries — the Independent Reference Model cache that Che's
  approximation describes, fed with the very keys the run sent.
* `edge_replay`: the same LRU, but with the timing of a concurrent run, as an edge cache sees
  it. A request looks its key up when it arrives; a miss fetches from the origin and its
  answer enters the cache (as most recently used, evicting the least recently used) only when
  the fetch is back; a request for a key whose fetch is still in flight waits for that fetch
  (coalescing: one origin request, the waiter is answered ``MISS`` too). With c clients in
  flight, a one-client LRU would count the waiter as a hit and would insert the missed key at
  once; this replay counts what the edge reports.
* `edge_band`: where the edge's HIT count of a correct run can lie. The client knows only the
  interval ``[start, end]`` of each request; the edge decides inside it. The band is the range
  of `edge_replay` over seeded perturbations of those decision times (lookups up to ``jitter_s``
  after the start, answers entering the cache up to ``jitter_s`` before the end), widened (see
  :func:`edge_band`). It is a pure function of the recorded table, so a rerun of the check on
  the same data gives the same verdict.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def lru_hits(keys: Sequence[Hashable], cache_size: int, warmup: int = 0) -> int:
    """Hits of an exact LRU cache of `cache_size` entries among requests ``warmup:``."""
    cache: OrderedDict[Hashable, None] = OrderedDict()
    hits = 0
    for index, key in enumerate(keys):
        if key in cache:
            cache.move_to_end(key)
            hits += index >= warmup
        else:
            cache[key] = None
            if len(cache) > cache_size:
                cache.popitem(last=False)
    return hits


def fifo_hits(keys: Sequence[Hashable], cache_size: int, warmup: int = 0) -> int:
    """Hits of a FIFO cache (eviction by insertion order, hits do not refresh)."""
    cache: OrderedDict[Hashable, None] = OrderedDict()
    hits = 0
    for index, key in enumerate(keys):
        if key in cache:
            hits += index >= warmup
        else:
            cache[key] = None
            if len(cache) > cache_size:
                cache.popitem(last=False)
    return hits


@dataclass(frozen=True)
class ReplayCounts:
    """What `edge_replay` predicts for the measured requests."""

    hits: int
    coalesced: int  # waited for another request's fetch (the edge answers MISS)
    misses: int  # fetched from the origin themselves


def edge_replay(
    keys: Sequence[Hashable],
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    cache_size: int,
    measured: npt.ArrayLike,
    ok: npt.ArrayLike | None = None,
    lookup_at: npt.ArrayLike | None = None,
    insert_at: npt.ArrayLike | None = None,
    ttl_s: float | None = None,
) -> ReplayCounts:
    """An exact LRU with the timing of a concurrent run (module docstring).

    `starts`/`ends` are the client-side times of each request; `lookup_at` / `insert_at`
    (default: the start and the end) are when the edge looked the key up and when a fetched
    answer entered the cache. Requests that failed (`ok` False) insert nothing. With `ttl_s`,
    an entry older than that is not a hit: it is fetched again (stale entries keep their place
    until the fresh answer is in).
    """
    n = len(keys)
    look = np.asarray(starts if lookup_at is None else lookup_at, dtype=float)
    ins = np.asarray(ends if insert_at is None else insert_at, dtype=float)
    good = np.ones(n, bool) if ok is None else np.asarray(ok, bool)
    # events: (time, kind, index); at the same time an answer enters before a lookup
    events = sorted([(float(look[i]), 1, i) for i in range(n)]
                    + [(float(max(ins[i], look[i])), 0, i) for i in range(n)])
    cache: OrderedDict[Hashable, float] = OrderedDict()  # key -> when its answer came in
    leader: dict[Hashable, int] = {}
    role: list[str] = [""] * n
    for t, kind, i in events:
        key = keys[i]
        if kind == 1:
            fresh = key in cache and (ttl_s is None or t - cache[key] < ttl_s)
            if fresh:
                cache.move_to_end(key)
                role[i] = "hit"
            elif key in leader:
                role[i] = "coalesced"
            else:
                leader[key] = i
                role[i] = "miss"
        elif role[i] == "miss" and leader.get(key) == i:
            del leader[key]
            if good[i]:
                cache[key] = t
                cache.move_to_end(key)
                while len(cache) > cache_size:
                    cache.popitem(last=False)
    chosen = [r for r, m in zip(role, np.asarray(measured, bool).tolist(), strict=True) if m]
    return ReplayCounts(hits=chosen.count("hit"), coalesced=chosen.count("coalesced"),
                        misses=chosen.count("miss"))


@dataclass(frozen=True)
class Band:
    """The edge's expected HIT count of a correct run and the band it must fall in."""

    expected: int  # edge_replay at the client-side times
    low: int
    high: int
    coalesced: int
    runs_min: int
    runs_max: int
    runs_sd: float
    jitter_s: float


def edge_band(
    keys: Sequence[Hashable],
    starts: npt.ArrayLike,
    ends: npt.ArrayLike,
    cache_size: int,
    measured: npt.ArrayLike,
    ok: npt.ArrayLike | None = None,
    jitter_s: float = 0.0,
    runs: int = 60,
    seed: int = 0,
    ttl_s: float | None = None,
) -> Band:
    """`edge_replay` at the recorded times, and the band a correct edge falls in.

    Derivation: the edge looks a key up somewhere after the client sent the request and puts
    a fetched answer into the cache somewhere before the client got it; `jitter_s` bounds how
    far (the sweep passes the 95th percentile of its fresh hits' latency: a hit is nothing but
    a lookup, so its round trip is how long a request takes between the client and the
    edge's decision, measured on this very machine under its current load). `runs` seeded
    replays draw each lookup uniformly in ``[start, start + jitter_s]`` (not past the end) and
    each insertion in ``[end - jitter_s, end]`` (not before the lookup). A real run is one more
    draw of that kind, so the band is the range of the replays widened on each side by two
    standard deviations of their HIT counts plus one request, and by every failed request
    (it could have been a hit). Failures only widen the band; timing noise on a loaded
    machine grows `jitter_s` and with it the band; nothing in it depends on chance alone.
    """
    n = len(keys)
    s = np.asarray(starts, dtype=float)
    e = np.maximum(np.asarray(ends, dtype=float), s)
    base = edge_replay(keys, s, e, cache_size, measured, ok, ttl_s=ttl_s)
    rng = np.random.default_rng(seed)
    counts = [base.hits]
    width = max(float(jitter_s), 0.0)
    if width > 0 and n:
        for _ in range(runs):
            look = np.minimum(s + rng.uniform(0.0, width, n), e)
            ins = np.maximum(e - rng.uniform(0.0, width, n), look)
            counts.append(edge_replay(keys, s, e, cache_size, measured, ok,
                                      lookup_at=look, insert_at=ins, ttl_s=ttl_s).hits)
    chosen = np.asarray(measured, bool)
    failed = 0 if ok is None else int((chosen & ~np.asarray(ok, bool)).sum())
    sd = float(np.std(counts))
    margin = int(np.ceil(2.0 * sd)) + 1
    return Band(
        expected=base.hits,
        low=max(0, min(counts) - margin - failed),
        high=max(counts) + margin + failed,
        coalesced=base.coalesced,
        runs_min=min(counts),
        runs_max=max(counts),
        runs_sd=sd,
        jitter_s=width,
    )
