"""Sphinx extension of the book: offline MathJax 4, and the network as JavaScript.

MathJax 4 and its default font come from the npm registry (``mathjax``, pinned in
``package.json``; ``npm ci`` installs them in ``node_modules/``). They are copied to
``_static/mathjax/``, with the font under ``_static/mathjax/fonts/``, so that every equation
renders with the network off; ``_config.yml`` points MathJax's font loader there and turns on
its line breaking of long display equations. The page calculator's module,
``nnbook-network.js``, is printed from the SymPy derivation into ``_static/`` at the end of every
build. A page that checks the reader's derivatives (``nnbook.derivative_check``) loads mathjs
(``mathjs``, pinned in ``package.json`` and copied from ``node_modules`` likewise) and the
questions, printed from SymPy into ``_static/nnbook-check.js``.

The page "Draw a digit" runs the networks the build trained: the chapters that train them write
their weights as scripts into ``_static/`` (``nnbook.mnist.export``; ``$NNBOOK_STATIC`` tells
their kernels where that is), the page's own chapter the starting weights and the digits to
train on (``nnbook.mnist.page_training``), and a page holding ``data-nnbook-digits`` loads those
scripts and ``PAGE_SCRIPTS``. A build that reuses cached chapters without those files fails
with a message rather than publish a page without its networks.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging
from sphinx.util.fileutil import copy_asset

logger = logging.getLogger(__name__)

MATHJAX_ENTRY = "tex-chtml.js"
FONT = "mathjax-newcm-font"
#: What of the font a browser loads for CommonHTML output (its SVG and Node builds are left out).
FONT_PARTS = ("chtml.js", "chtml")


def mathjax_source(root: str | Path) -> tuple[Path, Path]:
    """The installed MathJax 4 and its font, under ``root/node_modules`` (``npm ci``)."""
    modules = Path(root) / "node_modules"
    mathjax, font = modules / "mathjax", modules / "@mathjax" / FONT
    if not (mathjax / MATHJAX_ENTRY).is_file() or not (font / "chtml.js").is_file():
        raise RuntimeError(f"MathJax 4 not found in {modules}; run `npm ci` in the repository")
    return mathjax, font


def _use_local_mathjax(app: Sphinx, config: Config) -> None:
    mathjax_source(app.srcdir)  # fail early, before any page is written
    mathjs_source(app.srcdir)
    config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"  # relative to _static/


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        mathjax, font = mathjax_source(app.srcdir)
        target = Path(app.outdir) / "_static" / "mathjax"
        shutil.rmtree(target, ignore_errors=True)  # no files of another version left behind
        copy_asset(str(mathjax), str(target))
        for part in FONT_PARTS:
            copy_asset(str(font / part), str(target / "fonts" / FONT / part))


def _drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: object
) -> None:
    """Keep each script once: sphinx-thebe registers its inline configuration twice under
    Jupyter Book, and the second ``const THEBE_JS_URL`` is a page error in the browser."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # the same script, whatever its priority and whether its missing file is None or ""
        key = (script.filename or "", tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: other handlers hold the same list


def _write_network_module(app: Sphinx, exception: Exception | None) -> None:
    """``_static/nnbook-network.js``: the network printed as JavaScript from the derivation."""
    if exception is None and app.builder.format == "html":
        from nnbook.calculator import MODULE_NAME, javascript_module

        target = Path(app.outdir) / "_static" / MODULE_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(javascript_module(), encoding="utf-8")


#: What marks the page that runs the trained networks.
DIGITS_MARK = "data-nnbook-digits"
#: The scripts of that page, in ``book/_static/`` (no weights in them), in the order they load:
#: the layers forward and backward, the page "Draw a digit", and "Train it here".
PAGE_SCRIPTS = ("layers.js", "digits.js", "train.js")


#: What marks a page that checks the reader's derivatives, and its scripts: mathjs (copied from
#: ``node_modules``), the questions printed from SymPy, and the page logic in ``book/_static/``.
CHECK_MARK = "data-nnbook-check"
MATHJS_SCRIPT = "mathjs/math.js"
MATHJS_PARTS = ("math.js", "math.js.LICENSE.txt")


def mathjs_source(root: str | Path) -> Path:
    """The installed mathjs's browser build, under ``root/node_modules`` (``npm ci``)."""
    browser = Path(root) / "node_modules" / "mathjs" / "lib" / "browser"
    if not (browser / "math.js").is_file():
        raise RuntimeError(f"mathjs not found in {browser}; run `npm ci` in the repository")
    return browser


def _check_page_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: object
) -> None:
    """On a page with derivative checks: mathjs, the questions, then the page logic."""
    from nnbook.derivative_check import MODULE_NAME

    if CHECK_MARK in context.get("body", ""):
        for name in (MATHJS_SCRIPT, MODULE_NAME, "check.js"):
            app.add_js_file(name, priority=600, defer="defer")


def _write_check_module(app: Sphinx, exception: Exception | None) -> None:
    """``_static/nnbook-check.js`` (the questions, printed from SymPy) and mathjs beside it."""
    if exception is None and app.builder.format == "html":
        from nnbook.derivative_check import MODULE_NAME, javascript_module

        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        (static / MODULE_NAME).write_text(javascript_module(), encoding="utf-8")
        target = static / Path(MATHJS_SCRIPT).parent
        target.mkdir(exist_ok=True)
        for part in MATHJS_PARTS:
            shutil.copyfile(mathjs_source(app.srcdir) / part, target / part)


def _export_to_static(app: Sphinx) -> None:
    """Tell the kernels that execute the chapters where the built book's ``_static/`` is."""
    from nnbook.mnist.export import STATIC_VARIABLE

    if app.builder.format == "html":
        os.environ[STATIC_VARIABLE] = str(Path(app.outdir) / "_static")


def _digit_page_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: object
) -> None:
    """On the page that draws digits: the networks' scripts, then the page logic."""
    if DIGITS_MARK not in context.get("body", ""):
        return
    for name in (*_written_scripts(), *PAGE_SCRIPTS):
        app.add_js_file(name, priority=600, defer="defer")


def _written_scripts() -> tuple[str, ...]:
    """The scripts the chapters write while they execute, which the page loads with it (the
    digits to train on are loaded by the page itself, when the reader asks to train)."""
    from nnbook.mnist.export import DRAWN_MODELS, SAMPLES_SCRIPT, script_name
    from nnbook.mnist.page_training import START_SCRIPT

    return (*map(script_name, DRAWN_MODELS), SAMPLES_SCRIPT, START_SCRIPT)


def _check_digit_scripts(app: Sphinx, exception: Exception | None) -> None:
    from nnbook.mnist.page_training import DIGITS_SCRIPT

    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    missing = [
        name for name in (*_written_scripts(), DIGITS_SCRIPT) if not (static / name).is_file()
    ]
    pages = Path(app.outdir).rglob("*.html")
    if missing and any(DIGITS_MARK in page.read_text(encoding="utf-8") for page in pages):
        logger.warning(
            "the page that draws digits needs %s, which the training chapters write when they "
            "execute; they were taken from the cache: run `jupyter-book build . --all`",
            ", ".join(missing),
        )


def _link_the_book_pdf(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: object
) -> None:
    """The download menu of every page offers the whole book as one PDF (``nnbook pdf``)."""
    from nnbook.pdf import PDF_NAME

    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].insert(
                0,
                {
                    "type": "link",
                    "url": context["pathto"](PDF_NAME, 1),
                    "text": "book .pdf",
                    "tooltip": "The whole book as one PDF",
                    "icon": "fas fa-book",
                    "label": "download-book-pdf-button",
                },
            )


#: Chapters that run a script of the repository (not of the package), and why: opened alone in
#: Colab or Binder they could not run, so their pages offer no launch button.
NEEDS_THE_REPOSITORY = {
    "book/appendix/performance": (
        "runs bench/timing/allocator.py in fresh processes on the reader's CPU"
    ),
}


def _no_launch_where_the_repository_is_needed(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: object
) -> None:
    """Drop the theme's launch buttons from the pages of ``NEEDS_THE_REPOSITORY``."""
    if pagename in NEEDS_THE_REPOSITORY:
        buttons = context.get("header_buttons", [])
        buttons[:] = [group for group in buttons if group.get("label") != "launch-buttons"]


def _fix_citation_roles(app: Sphinx, exception: Exception | None) -> None:
    """Drop the ARIA roles docutils gives a bibliography: ``role="list"`` on a list whose items
    have no ``listitem`` role, and the deprecated ``doc-biblioentry`` (axe-core flags both)."""
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "citation-list" in text:
            fixed = text.replace(
                '<div role="list" class="citation-list">', '<div class="citation-list">'
            )
            fixed = fixed.replace(' role="doc-biblioentry"', "")
            if fixed != text:
                page.write_text(fixed, encoding="utf-8")


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("config-inited", _use_local_mathjax)
    app.connect("builder-inited", _export_to_static)
    app.connect("html-page-context", _digit_page_scripts)
    app.connect("html-page-context", _check_page_scripts)
    app.connect("html-page-context", _link_the_book_pdf, priority=600)  # after the theme's
    app.connect("html-page-context", _no_launch_where_the_repository_is_needed, priority=600)
    app.connect("build-finished", _check_digit_scripts)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)  # after the rest
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _write_network_module)
    app.connect("build-finished", _write_check_module)
    app.connect("build-finished", _fix_citation_roles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
