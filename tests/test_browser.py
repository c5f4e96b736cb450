"""Every page of the built book in headless Chromium, with the network outside the book blocked.

Checks, in the theme's light and dark mode: no page or console errors, every math element
typeset by MathJax without errors, every image loaded, no raw LaTeX left in the visible text,
the mode really switched, and no WCAG 2 A or AA violation found by axe-core (``npm ci``
installs the version pinned in ``package.json``); at a phone's and a laptop's width, no
page scrolls sideways and no equation is wider than its column. With ``NNBOOK_SCREENSHOTS=1``,
full-page screenshots of every page in each mode and at the phone's width are saved under
``test-artifacts/screenshots/`` for a person to look at (they take a third of these tests' time,
and no assertion reads them, so CI leaves them out).
"""

from __future__ import annotations

import os
import shutil

import pytest
from built_book import HTML, ROOT, chromium, html_pages, only_the_book, serve_book

pytestmark = pytest.mark.book  # reads the built book

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
TAKE_SCREENSHOTS = os.environ.get("NNBOOK_SCREENSHOTS") == "1"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
MODES = ("light", "dark")
FITS = """async () => {
  const maths = Array.from(document.querySelectorAll('.math'));
  if (maths.length && window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  // display equations: the typeset math (not the hidden MathML for screen readers) must fit
  // its column, and its own box must not scroll sideways, not even by a pixel
  const wide = Array.from(document.querySelectorAll('mjx-container[display="true"]'))
    .filter(m => {
      const math = m.querySelector('mjx-math').getBoundingClientRect();
      const column = m.parentElement.getBoundingClientRect();
      return m.scrollWidth > m.clientWidth || math.width > column.width
        || math.right > column.right + 0.5;
    })
    .map(m => `${m.textContent.slice(0, 60)} (${m.scrollWidth} px in ${m.clientWidth})`);
  return {page: document.documentElement.scrollWidth, viewport: window.innerWidth, wide};
}"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
  }));
}"""


@pytest.fixture(scope="module")
def server():
    with serve_book() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if TAKE_SCREENSHOTS:
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # only this run's screenshots
    with chromium() as launched:
        yield launched


def save_screenshot(tab, relative: str, label: str) -> None:
    """The whole page as ``test-artifacts/screenshots/<page>.<label>.png``, if asked for."""
    if TAKE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = relative.replace("/", "__").removesuffix(".html")
        tab.screenshot(path=SCREENSHOTS / f"{name}.{label}.png", full_page=True)


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


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page", html_pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_page_in_a_browser(page, mode, server, browser):
    if not AXE.is_file():
        pytest.fail(f"axe-core not found at {AXE}: run `npm ci`", pytrace=False)
    relative = page.relative_to(HTML).as_posix()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # the theme reads the reader's choice from localStorage before it paints
    context.add_init_script(f"localStorage.setItem('mode', '{mode}');")
    problems: list[str] = []
    only_the_book(context, server)
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
    fits = tab.evaluate(FITS)  # at a laptop's width
    shown_mode = tab.evaluate("document.documentElement.dataset.theme")
    save_screenshot(tab, relative, mode)
    tab.add_script_tag(path=str(AXE))
    violations = tab.evaluate(AXE_RUN)
    context.close()

    assert shown_mode == mode, f"the page shows {shown_mode!r}, not {mode!r}"
    assert not violations, violations
    assert fits["page"] <= fits["viewport"], f"the page scrolls sideways: {fits}"
    assert not fits["wide"], f"equations wider than their column: {fits['wide']}"
    assert not problems, problems
    assert not found["untypeset"], f"math not typeset: {found['untypeset']}"
    assert not found["errors"], f"MathJax errors: {found['errors']}"
    assert not found["broken_images"], f"images that did not load: {found['broken_images']}"
    for raw in ("$$", "\\frac", "\\partial"):
        assert raw not in found["text"], f"raw LaTeX {raw!r} in the visible text"
    if relative.startswith("book/part1/derivatives"):
        assert found["maths"] >= 16 + 2  # the eight derivatives in two forms, and more


PHONE = 390  # px; the laptop's width, 1280 px, is checked in test_page_in_a_browser


@pytest.mark.parametrize("page", html_pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_page_fits_a_phone(page, server, browser):
    relative = page.relative_to(HTML).as_posix()
    context = browser.new_context(viewport={"width": PHONE, "height": 800})
    only_the_book(context, server)
    tab = context.new_page()
    tab.goto(server + relative, wait_until="load")
    if relative == "index.html":  # Jupyter Book's redirect to the landing page
        tab.wait_for_url("**/book/intro.html")
        tab.wait_for_load_state("load")
    fits = tab.evaluate(FITS)
    save_screenshot(tab, relative, f"{PHONE}px")
    context.close()
    assert fits["page"] <= fits["viewport"], f"the page scrolls sideways: {fits}"
    assert not fits["wide"], f"equations wider than their column: {fits['wide']}"
