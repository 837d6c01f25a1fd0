"""Argument types for the CLI: each rejects impossible values with a message argparse prints."""

from __future__ import annotations

import argparse
import math


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def fraction(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be a fraction between 0 and 1")
    return value


def loss(text: str) -> float:
    """A packet-loss fraction: 0 <= loss < 1 (1 would be a cut link: `link down`)."""
    value = _number(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be a loss fraction in [0, 1)")
    return value


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer seed") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text} must be a seed between 0 and 2**32 - 1")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be >= 1")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (0-65535; 0 = any free)")
    return value


def float_list(text: str) -> list[float]:
    """Comma-separated non-negative numbers: `0,20,80`."""
    items = [t for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of numbers")
    return [non_negative(t.strip()) for t in items]


def positive_float_list(text: str) -> list[float]:
    items = [t for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of numbers")
    return [positive(t.strip()) for t in items]


def int_list(text: str) -> list[int]:
    items = [t for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of integers")
    return [positive_int(t.strip()) for t in items]


def edge_env(text: str) -> tuple[str, str, str]:
    """`EDGE:NAME=VALUE` (or `NAME=VALUE` for every edge); NAME gets `EDGE_CACHE_` if missing."""
    edge = "*"
    rest = text
    if ":" in text.split("=", 1)[0]:
        edge, rest = text.split(":", 1)
    if "=" not in rest:
        raise argparse.ArgumentTypeError(f"{text!r}: expected [EDGE:]NAME=VALUE")
    name, value = rest.split("=", 1)
    name = name.strip().upper()
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r}: empty variable name")
    if not name.startswith("EDGE_CACHE_"):
        name = "EDGE_CACHE_" + name
    return edge.strip(), name, value
