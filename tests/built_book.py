"""Where the built HTML book is, and its pages; shared by the browser and hygiene tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SKIPPED_FOLDERS = {"_static", "_sources", "_downloads", "_images"}


def html_pages() -> list[Path]:
    """Every HTML page of the built book (not the assets)."""
    if not (HTML / "index.html").is_file():
        pytest.fail(
            f"no built book at {HTML}: run `jupyter-book build . -n -W --keep-going` first",
            pytrace=False,
        )
    return sorted(
        page
        for page in HTML.rglob("*.html")
        if not SKIPPED_FOLDERS & set(page.relative_to(HTML).parts)
    )
