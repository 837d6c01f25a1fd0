"""Prometheus metrics of the inventory app (one registry per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "inventory_http_requests_total",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "inventory_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
DOCUMENTS_POSTED = Counter(
    "inventory_documents_posted_total",
    "Documents posted, by type",
    ["type"],
    registry=REGISTRY,
)
IDEMPOTENT_REPLAYS = Counter(
    "inventory_idempotent_replays_total",
    "Responses replayed from the idempotency store",
    registry=REGISTRY,
)
