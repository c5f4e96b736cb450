"""Where the built HTML book is, its pages, a local server and Chromium for the browser tests."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnbook import browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SKIPPED_FOLDERS = {"_static", "_sources", "_downloads", "_images"}


#: What a test of the built book says when there is none (conftest fails those tests with it).
NO_BUILD = f"no built book at {HTML}: run `jupyter-book build . -n -W --keep-going` first"


def book_is_built() -> bool:
    return (HTML / "index.html").is_file()


def html_pages() -> list[Path]:
    """Every HTML page of the built book (not the assets). Without a build, the front page
    alone, so that collection never fails: the tests marked ``book`` then fail with
    ``NO_BUILD`` (conftest), and ``-m "not book"`` leaves them out."""
    if not book_is_built():
        return [HTML / "index.html"]
    return sorted(
        page
        for page in HTML.rglob("*.html")
        if not SKIPPED_FOLDERS & set(page.relative_to(HTML).parts)
    )


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_book() -> Iterator[str]:
    """The built book on a local port (loopback only); yields its base URL."""
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """The package's headless Chromium (``nnbook.browser``); a test fails plainly without it."""
    try:
        browser.chromium_path()
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)
    with browser.chromium() as launched:
        yield launched


def only_the_book(context: object, server: str) -> list[str]:
    """Let a browser context reach ``server`` alone; returns the list of URLs it blocked."""
    return browser.allow_only(context, server)


@contextlib.contextmanager
def page_from_file(path: Path, wait_for: str) -> Iterator[object]:
    """``path`` opened from ``file://`` in headless Chromium with every other request blocked,
    once ``wait_for`` (a JavaScript expression) holds; at the end, no page error and nothing
    asked for outside the book."""
    if not path.is_file():
        pytest.fail(f"no {path}: build the book first", pytrace=False)
    with chromium() as launched:
        context = launched.new_context(viewport={"width": 1280, "height": 900})
        blocked = browser.allow_files_only(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function(f"() => {wait_for}")
        yield page
        assert not errors, errors
        assert not blocked, blocked  # the page asked for nothing outside the book
        context.close()
