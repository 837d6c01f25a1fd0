"""A real browser for the tests: Debian's Chromium (/usr/bin/chromium), headless, driven by
Playwright's synchronous API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Generous waits: the CI machine has 2 cores shared with other test processes.
EXPECT_TIMEOUT_MS = 30_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """Launch Chromium for the block; `expect` waits up to EXPECT_TIMEOUT_MS."""
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
