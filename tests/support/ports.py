"""Ports on loopback for the real servers tests start. `free_port` and `listens` are
edgelab.process's (one implementation in the repository); `busy_port` holds a port in use.

A port picked by `free_port` can be taken by another test's server before ours binds it
(pytest-xdist runs two at once); then a readiness probe on that port reaches the other server,
so readiness checks also ask `listens(pid, port)`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from edgelab.process import free_port, listens

__all__ = ["busy_port", "free_port", "listens"]


@contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port that is in use for the block: a socket of this process listens on it
    (as a foreign server would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])
