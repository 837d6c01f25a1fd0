"""Session-wide fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.postgres import PostgresServer, throwaway_postgres

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this test session (see tests/support/postgres.py)."""
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (SQLAlchemy URL), dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium via Playwright, one per test module (tests/support/browser.py)."""
    from tests.support.browser import chromium  # Playwright is loaded only where it is used

    with chromium() as launched:
        yield launched


# Whole directories of end-to-end tests (real labs, Ansible runs, image builds, fault injection
# with real processes, browsers): marked slow here, so `make test-fast` leaves them out. Listed
# longest first: that is the order they are handed to the workers.
SLOW_DIRECTORIES = ("playbooks", "notebooks", "faults", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow end-to-end tests first, longest directories first: with xdist's one-file-per-worker
    scheduling the long files start at once and the short ones fill in around them (longest
    job first), instead of one long file starting last and keeping a worker busy alone."""
    tests_dir = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        top = item.path.relative_to(tests_dir).parts[0]
        if top in SLOW_DIRECTORIES:
            return SLOW_DIRECTORIES.index(top)
        return len(SLOW_DIRECTORIES) + (0 if item.get_closest_marker("slow") else 1)

    for item in items:
        if item.path.relative_to(tests_dir).parts[0] in SLOW_DIRECTORIES:
            item.add_marker(pytest.mark.slow)
    # one rank per file, so a file's tests stay together (module fixtures are built once)
    file_rank: dict[Path, int] = {}
    for item in items:
        file_rank[item.path] = min(file_rank.get(item.path, rank(item)), rank(item))
    items.sort(key=lambda item: file_rank[item.path])
