"""Sphinx extension of the book: MathJax 3 served from the book's own static files.

MathJax comes from the PyPI package ``django-static-mathjax`` (pinned in requirements.txt),
which ships MathJax's ``es5`` build; it is copied to ``_static/mathjax/`` so that every equation
renders with the network off.
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


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("config-inited", _use_local_mathjax)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)  # after the rest
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
