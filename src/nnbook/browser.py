"""Headless Chromium for the book: the one place that says which browser and how it starts.

The PDF (``nnbook.pdf``), the browser tests and the page benchmarks in ``bench/`` all launch
Debian's Chromium (``apt-get install chromium``) through Playwright; ``playwright install``,
which downloads a browser of its own, is not needed.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

#: Flags for a headless browser that reaches nothing on its own (no updates, sync or QUIC).
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def chromium_path() -> Path:
    """Chromium on ``PATH``, else Debian's ``/usr/bin/chromium``; FileNotFoundError if neither."""
    found = Path(shutil.which("chromium") or "/usr/bin/chromium")
    if not found.exists():
        raise FileNotFoundError(f"Chromium not found at {found} (apt-get install chromium)")
    return found


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``), closed when the block ends."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@contextlib.asynccontextmanager
async def async_chromium() -> AsyncIterator[Any]:
    """``chromium`` for Playwright's asyncio API (a step that may hang is then awaited with a
    time limit, and the browser closed when the limit cuts it off)."""
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


def _router(prefix: str, blocked: list[str]) -> Callable[[Any], Any]:
    """A route handler that continues the requests for URLs starting with ``prefix`` and aborts
    the others, appending them to ``blocked`` (under the asyncio API it returns what to await)."""

    def route(request_route: Any) -> Any:
        if request_route.request.url.startswith(prefix):
            return request_route.continue_()
        blocked.append(request_route.request.url)
        return request_route.abort()

    return route


def allow_only(target: Any, prefix: str) -> list[str]:
    """Let a Playwright page or context load URLs that start with ``prefix`` alone; returns the
    list that each blocked URL is appended to (a test asserts it stays empty)."""
    blocked: list[str] = []
    target.route("**/*", _router(prefix, blocked))
    return blocked


def allow_files_only(target: Any) -> list[str]:
    """``allow_only`` for a book opened from ``file://``: nothing else is loaded."""
    return allow_only(target, "file:")


async def allow_files_only_async(target: Any) -> list[str]:
    """``allow_files_only`` for a page or context of the asyncio API."""
    blocked: list[str] = []
    await target.route("**/*", _router("file:", blocked))
    return blocked
