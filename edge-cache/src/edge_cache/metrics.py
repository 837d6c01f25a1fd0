"""The one Prometheus registry of the sidecar (core and offline half).

Names (all prefixed `edge_`): requests_total{cache_status}, origin_request_seconds,
origin_errors_total{kind}, coalesced_total, cache_bytes, cache_entries, evictions_total,
origin_up, origin_transitions_total{to}, outbox_depth, outbox_oldest_age_seconds,
outbox_waiting, replay_total{result} (ok, already_applied, wait, retry, conflict, rejected,
exhausted, transport_error), deadletters_total, outbox_dead_letters, outbox_enqueue_seconds,
changefeed_evictions_total.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CACHE_STATUSES = (
    "HIT",
    "MISS",
    "STALE",
    "UPDATING",
    "REVALIDATED",
    "EXPIRED",
    "OFFLINE-HIT",
    "BYPASS",
    "QUEUED",
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests_total = Counter(
            "edge_requests_total", "Client requests by cache status", ["cache_status"], registry=r
        )
        # Pre-resolved children: the hit path increments without a label lookup.
        self.by_status = {
            s: self.requests_total.labels(s.replace("-", "_")) for s in CACHE_STATUSES
        }
        self.by_status["NONE"] = self.requests_total.labels("NONE")
        # Hits answered by the fast path: a plain count (no lock on the hot path), added to
        # requests_total{cache_status="HIT"} whenever the registry is read (`render`).
        self.fast_hits = 0
        self.origin_request_seconds = Histogram(
            "edge_origin_request_seconds",
            "Latency of requests to the origin",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.origin_errors_total = Counter(
            "edge_origin_errors_total",
            "Origin failures seen on the request path",
            ["kind"],
            registry=r,
        )
        self.coalesced_total = Counter(
            "edge_coalesced_total", "Requests that waited for another request's fetch", registry=r
        )
        self.cache_bytes = Gauge("edge_cache_bytes", "Bytes in the cache store", registry=r)
        self.cache_entries = Gauge("edge_cache_entries", "Entries in the cache store", registry=r)
        self.evictions_total = Counter(
            "edge_evictions_total", "Entries evicted by the LRU size bound", registry=r
        )
        self.invalidations_total = Counter(
            "edge_invalidations_total",
            "Entries removed by invalidation (unsafe methods, purge, change feed)",
            registry=r,
        )
        # The offline half's metrics (health, outbox, replay, change feed).
        self.origin_up = Gauge("edge_origin_up", "1 when the origin is ONLINE", registry=r)
        self.origin_up.set(0)  # the prober starts UNKNOWN (answered as offline)
        self.origin_transitions_total = Counter(
            "edge_origin_transitions_total",
            "ONLINE/OFFLINE transitions",
            ["to"],
            registry=r,
        )
        self.outbox_depth = Gauge("edge_outbox_depth", "Writes queued in the outbox", registry=r)
        self.outbox_oldest_age_seconds = Gauge(
            "edge_outbox_oldest_age_seconds", "Age of the oldest queued write", registry=r
        )
        self.outbox_waiting = Gauge(
            "edge_outbox_waiting",
            "Queued writes backing off after a transient answer (409 in flight, 429, 503) or "
            "a failed attempt",
            registry=r,
        )
        self.replay_total = Counter(
            "edge_replay_total", "Outbox replay attempts by result", ["result"], registry=r
        )
        self.deadletters_total = Counter(
            "edge_deadletters_total", "Writes moved to the dead-letter list", registry=r
        )
        self.outbox_dead_letters = Gauge(
            "edge_outbox_dead_letters", "Writes in the dead-letter list now", registry=r
        )
        self.outbox_enqueue_seconds = Histogram(
            "edge_outbox_enqueue_seconds",
            "Time to queue a write durably (commit and fsync included)",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
            registry=r,
        )
        self.changefeed_evictions_total = Counter(
            "edge_changefeed_evictions_total",
            "Entries evicted because the change feed said so",
            registry=r,
        )

    def fold_fast_hits(self) -> None:
        """Add the fast path's hits counted since the last call to requests_total."""
        hits, self.fast_hits = self.fast_hits, 0
        if hits:
            self.by_status["HIT"].inc(hits)

    def render(self) -> bytes:
        self.fold_fast_hits()
        return generate_latest(self.registry)
