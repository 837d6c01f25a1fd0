"""`edgelab bench`: edge-cache vs nginx proxy_cache, and the inventory app's API latency.

The CLI wires `add_arguments(parser)` and `run_all(args) -> exit code`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `edgelab bench` (see `edgelab.bench.runner`)."""
    from edgelab.bench.runner import add_arguments as add

    add(parser)


def run_all(args: argparse.Namespace) -> int:
    """Run the benchmarks selected by `args`; returns the exit code."""
    from edgelab.bench.runner import run_all as run

    return run(args)


__all__ = ["add_arguments", "run_all"]
