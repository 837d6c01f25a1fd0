"""Seeded workloads: bounded Zipf popularity, YCSB-like and shop mixes, an async HTTP client."""

from edgelab.workload.client import COLUMNS, OUTCOMES, WorkloadRunner, run_workload, to_frame
from edgelab.workload.mixes import MIXES, Operation, OperationFactory, generate, iter_operations
from edgelab.workload.zipf import BoundedZipf, zipf_probabilities

__all__ = [
    "COLUMNS",
    "MIXES",
    "OUTCOMES",
    "BoundedZipf",
    "Operation",
    "OperationFactory",
    "WorkloadRunner",
    "generate",
    "iter_operations",
    "run_workload",
    "to_frame",
    "zipf_probabilities",
]
