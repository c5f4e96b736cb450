"""Sphinx extension of the book: offline MathJax 4, and the network as JavaScript.

MathJax 4 and its default font come from the npm registry (``mathjax``, pinned in
``package.json``; ``npm ci`` installs them in ``node_modules/``). They are copied to
``_static/mathjax/``, with the font under ``_static/mathjax/fonts/``, so that every equation
renders with the network off; ``_config.yml`` points MathJax's font loader there and turns on
its line breaking of long display equations. The page calculator's module,
``nnbook-network.js``, is printed from the SymPy derivation into ``_static/`` at the end of every
build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util.fileutil import copy_asset

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
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)  # after the rest
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _write_network_module)
    app.connect("build-finished", _fix_citation_roles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
