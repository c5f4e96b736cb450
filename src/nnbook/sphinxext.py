"""Sphinx extension of the book: offline MathJax 3, and the network as JavaScript.

MathJax comes from the PyPI package ``django-static-mathjax`` (pinned in requirements.txt),
which ships MathJax's ``es5`` build; it is copied to ``_static/mathjax/`` so that every equation
renders with the network off. The page calculator's module, ``nnbook-network.js``, is printed
from the SymPy derivation into ``_static/`` at the end of every build.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util.fileutil import copy_asset

MATHJAX_ENTRY = "tex-chtml.js"


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax 3 distribution."""
    import mathjax  # provided by django-static-mathjax

    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (folder / MATHJAX_ENTRY).is_file():
        raise RuntimeError(f"MathJax 3 not found at {folder}; pip install -r requirements.txt")
    return folder


def _use_local_mathjax(app: Sphinx, config: Config) -> None:
    mathjax_source()  # fail early, before any page is written
    config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"  # relative to _static/


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        copy_asset(str(mathjax_source()), str(Path(app.outdir) / "_static" / "mathjax"))


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


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("config-inited", _use_local_mathjax)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)  # after the rest
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _write_network_module)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
