"""Every page of the built book in headless Chromium, with the network outside the book blocked.

Checks: no page or console errors, every math element typeset by MathJax without errors, every
image loaded, no raw LaTeX left in the visible text. A screenshot of each page is saved under
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import shutil

import pytest
from built_book import HTML, ROOT, chromium, html_pages, serve_book

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def server():
    with serve_book() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # only this run's screenshots
    with chromium() as launched:
        yield launched


TYPESET = """async () => {
  const maths = Array.from(document.querySelectorAll('.math'));
  if (maths.length && window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  return {
    maths: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container'))
      .map(m => m.textContent.slice(0, 80)),
    errors: Array.from(document.querySelectorAll('mjx-merror'))
      .map(e => e.textContent.slice(0, 80)),
    broken_images: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
      .map(i => i.getAttribute('src')),
    text: document.body.innerText,
  };
}"""


@pytest.mark.parametrize("page", html_pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_page_in_a_browser(page, server, browser):
    relative = page.relative_to(HTML).as_posix()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked, problems = [], []

    def route(request_route):
        if request_route.request.url.startswith(server):
            request_route.continue_()
        else:
            blocked.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    tab.goto(server + relative, wait_until="load")
    if relative == "index.html":  # Jupyter Book's redirect to the landing page
        tab.wait_for_url("**/book/intro.html")
        tab.wait_for_load_state("load")
    found = tab.evaluate(TYPESET)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=SCREENSHOTS / (relative.replace("/", "__") + ".png"), full_page=True)
    context.close()

    assert not problems, problems
    assert not found["untypeset"], f"math not typeset: {found['untypeset']}"
    assert not found["errors"], f"MathJax errors: {found['errors']}"
    assert not found["broken_images"], f"images that did not load: {found['broken_images']}"
    for raw in ("$$", "\\frac", "\\partial"):
        assert raw not in found["text"], f"raw LaTeX {raw!r} in the visible text"
    if relative.startswith("book/part1/derivatives"):
        assert found["maths"] >= 16 + 2  # the eight derivatives in two forms, and more
