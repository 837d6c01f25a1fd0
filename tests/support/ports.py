"""Free TCP ports on loopback for real servers started by tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import psutil


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port that is in use for the block: a socket of this process listens on it
    (as a foreign server would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` itself listens on `port`. A port picked by `free_port` can be
    taken by another test's server before ours binds it (pytest-xdist runs two at once); then
    a readiness probe on that port reaches the other server, so readiness checks ask this too."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
               for c in conns)
