"""A kubeconfig for a test's Kubernetes API stand-in: one cluster, one user with a bearer token,
one context (current)."""

from __future__ import annotations

import json
from pathlib import Path


def write_kubeconfig(path: Path, server: str, context: str = "lab") -> Path:
    """Write it to `path` (JSON, which is YAML too) and return `path`. TLS verification is off:
    the stand-ins have no certificate."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab",
                      "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "student", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": context, "context": {"cluster": "lab", "user": "student"}}],
        "current-context": context,
    }
    path.write_text(json.dumps(config, indent=2))
    return path
