"""Targets: where the lab's endpoints are (`LocalTarget` processes, `ClusterTarget` a cluster)."""

from edgelab.targets.base import (
    Endpoints,
    LabNotRunningError,
    PartHealth,
    Target,
    TargetError,
    Tokens,
    UnknownEdgeError,
    health_frame,
)

__all__ = [
    "Endpoints",
    "LabNotRunningError",
    "PartHealth",
    "Target",
    "TargetError",
    "Tokens",
    "UnknownEdgeError",
    "health_frame",
]
