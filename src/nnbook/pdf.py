"""The whole book as one PDF, printed by Chromium from the built HTML.

``python -m nnbook pdf`` runs after ``jupyter-book build``: it takes the article of every page of
``_toc.yml`` from ``_build/html`` (the executed chapters, nothing runs again), joins them into
one document — a title page, a table of contents, the parts and chapters in order, ids and
links rewritten so that every cross-reference and equation reference points inside it — and
has Chromium typeset it with the book's own MathJax, as on the page, and print it to A4
(``print.css`` beside the pages: what paper needs). The headings become the PDF's bookmarks.
Figures are the same PNG files as in the HTML; the interactive pages show their print notes.
"""

from __future__ import annotations

import asyncio
import datetime
import html
import posixpath
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urldefrag

import yaml
from bs4 import BeautifulSoup, Tag

from nnbook.browser import allow_files_only_async, async_chromium
from nnbook.files import atomic_write

ROOT = Path(__file__).resolve().parents[2]
#: Where the printed book goes, inside the built HTML so that its pages can link to it.
PDF_NAME = "nnbook.pdf"
#: The joined document, beside the HTML (not in it: it is not a page of the site).
PRINT_FOLDER = "pdf"
PRINT_CSS = "print.css"
#: The longest Chromium may take to load, typeset and print the joined book, in seconds.
PRINT_TIMEOUT_S = 300
#: A4 less the side margins, in CSS pixels (96 per inch): the window MathJax typesets in, so
#: that it breaks long equations for the printed column, not for a laptop's screen.
MARGIN_MM = 15
COLUMN_PX = round((210 - 2 * MARGIN_MM) / 25.4 * 96)


@dataclass(frozen=True)
class Chapter:
    """One page of the book: its file under the HTML root (``book/part1/forward.html``), the
    part it belongs to (None for the landing page)."""

    page: str
    part: str | None


def chapters(toc: Path) -> tuple[str, list[Chapter]]:
    """The landing page and every chapter of ``_toc.yml``, in the book's order."""
    spec = yaml.safe_load(toc.read_text(encoding="utf-8"))
    pages = [Chapter(f"{spec['root']}.html", None)]
    for part in spec.get("parts", []):
        for chapter in part.get("chapters", []):
            pages.append(Chapter(f"{chapter['file']}.html", part.get("caption")))
    return spec["root"], pages


def anchor(page: str, fragment: str = "") -> str:
    """The id a page's element ``fragment`` gets in the joined document (the page's own: "")."""
    base = "p-" + re.sub(r"[^a-z0-9]+", "-", page.removesuffix(".html").lower()).strip("-")
    return f"{base}--{fragment}" if fragment else base


def _resolve(page: str, link: str) -> str:
    """``link`` of ``page`` as a path under the HTML root."""
    return posixpath.normpath(posixpath.join(posixpath.dirname(page), link))


def _rewrite(article: Tag, page: str, pages: set[str], html_root: Path, out_dir: Path) -> None:
    """Ids prefixed with the page's, links to the book's pages made links inside the joined
    document, images and other files pointed at from where the joined document lies."""
    for element in article.find_all(id=True):
        element["id"] = anchor(page, element["id"])
    for link in article.find_all("a", href=True):
        href = link["href"]
        if href.startswith(("http:", "https:", "mailto:")):
            continue
        target, fragment = urldefrag(href)
        if not target:
            link["href"] = "#" + anchor(page, fragment)
            continue
        resolved = _resolve(page, target)
        if resolved in pages:
            link["href"] = "#" + anchor(resolved, fragment)
        else:
            link["href"] = posixpath.relpath(html_root / resolved, out_dir)
    for element in article.find_all(src=True):  # images, and a page's scripts or frames
        if not element["src"].startswith(("data:", "http:", "https:")):
            source = _resolve(page, element["src"])
            element["src"] = posixpath.relpath(html_root / source, out_dir)


def _article(html_root: Path, chapter: Chapter, pages: set[str], out_dir: Path) -> Tag:
    soup = BeautifulSoup((html_root / chapter.page).read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article", class_="bd-article")
    if article is None:
        raise ValueError(f"{html_root / chapter.page} has no article: is it a built page?")
    for unwanted in article.select("a.headerlink, .toggle-button, button.copybtn"):
        unwanted.decompose()
    _rewrite(article, chapter.page, pages, html_root, out_dir)
    for heading in article.find_all(re.compile(r"^h[1-5]$")):
        heading.name = f"h{int(heading.name[1]) + 1}"  # the parts are the top level
    section = soup.new_tag(
        "section", attrs={"class": "nnbook-chapter", "id": anchor(chapter.page)}
    )
    section.extend(list(article.children))
    return section


MATHJAX = "mathjax/tex-chtml.js"


def _head(html_root: Path, pages: list[str], out_dir: Path) -> str:
    """The stylesheets and MathJax of the built pages (those of the first page with maths: a
    page without any loads no MathJax), pointed at from the joined document."""
    first_page = next(p for p in pages if MATHJAX in (html_root / p).read_text(encoding="utf-8"))
    soup = BeautifulSoup((html_root / first_page).read_text(encoding="utf-8"), "html.parser")
    parts = ['<meta charset="utf-8">']
    for link in soup.find_all("link", rel="stylesheet"):
        href = posixpath.relpath(html_root / _resolve(first_page, link["href"]), out_dir)
        parts.append(f'<link rel="stylesheet" href="{html.escape(href.split("?")[0])}">')
    for script in soup.find_all("script"):
        if script.string and script.string.strip().startswith("window.MathJax"):
            parts.append(f"<script>{script.string}</script>")
        elif script.get("src", "").split("?")[0].endswith(MATHJAX):
            source = script["src"].split("?")[0]
            src = posixpath.relpath(html_root / _resolve(first_page, source), out_dir)
            parts.append(f'<script defer src="{html.escape(src)}"></script>')
    css = posixpath.relpath(html_root / "_static" / PRINT_CSS, out_dir)
    parts.append(f'<link rel="stylesheet" href="{html.escape(css)}">')
    return "\n".join(parts)


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def joined_document(html_root: Path, toc: Path, out_dir: Path, config: Path) -> str:
    """The whole book as one HTML document, for Chromium to print."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    _, book = chapters(toc)
    pages = {chapter.page for chapter in book}
    missing = [c.page for c in book if not (html_root / c.page).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{html_root / missing[0]} is missing: build the book first "
            "(jupyter-book build . -n -W --keep-going)"
        )
    body, contents, part = [], [], None
    for chapter in book:
        if chapter.part and chapter.part != part:
            part = chapter.part
            part_id = "part-" + re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-")
            body.append(f'<h1 class="nnbook-part" id="{part_id}">{html.escape(part)}</h1>')
            contents.append(f'<li class="part"><a href="#{part_id}">{html.escape(part)}</a></li>')
        section = _article(html_root, chapter, pages, out_dir)
        title = section.find("h2")
        if title is not None:
            text = html.escape(title.get_text(" ", strip=True))
            contents.append(f'<li><a href="#{anchor(chapter.page)}">{text}</a></li>')
        body.append(str(section))
    commit = _commit()
    built = datetime.date.today().isoformat() + (f", commit {commit}" if commit else "")
    title_page = (
        '<section class="nnbook-title-page">'
        f'<h1 id="title">{html.escape(settings["title"])}</h1>'
        f'<p class="author">{html.escape(settings.get("author", ""))}</p>'
        f'<p class="built">Printed from the book built on {built}: every number in it comes '
        "from that build's executed chapters.</p></section>"
        '<nav class="nnbook-contents"><h2 id="contents">Contents</h2>'
        f"<ol>{''.join(contents)}</ol></nav>"
    )
    head = _head(html_root, [chapter.page for chapter in book], out_dir)
    return (
        f'<!DOCTYPE html><html lang="en" data-theme="light"><head>{head}'
        f"<title>{html.escape(settings['title'])}</title></head>"
        f'<body class="nnbook-print">{title_page}{"".join(body)}</body></html>'
    )


def links_relative_to(data: bytes, html_root: Path) -> bytes:
    """The PDF ``data`` with every link to a file of the built book (Chromium stores each as an
    absolute ``file://`` URL of this machine, dead for any reader) made relative to
    ``html_root``, where the PDF lies: the spreadsheet's download, the PDF itself. A reader
    resolves it against the PDF's own place, on the published site or in a copy of the build.
    A link to a file outside the built book is a ValueError."""
    import io
    import logging

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    quiet = logging.getLogger("pypdf")  # Chromium's trailer undercounts its objects: harmless
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    finally:
        quiet.setLevel(level)
    prefix = html_root.resolve().as_uri() + "/"
    for page in writer.pages:
        for annotation in page.get("/Annots", []) or []:
            action = annotation.get_object().get("/A")
            if action is None or action.get("/S") != "/URI":
                continue
            uri = str(action["/URI"])
            if uri.startswith("file:"):
                if not uri.startswith(prefix):
                    raise ValueError(f"the PDF links {uri}, outside the built book {html_root}")
                action[NameObject("/URI")] = TextStringObject(uri[len(prefix) :])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def print_pdf(document: Path, pdf: Path, timeout_s: float = PRINT_TIMEOUT_S) -> None:
    """Typeset ``document`` in Chromium (MathJax as on the page) and print it to ``pdf``, A4,
    headings as bookmarks, links to the book's files relative to ``pdf``'s folder.

    Loading, typesetting and printing take ``timeout_s`` seconds at most, together: a step that
    has not finished then (MathJax that never ends, say) is a RuntimeError that names it, and
    Chromium is closed."""
    steps = ["starting Chromium"]
    try:
        data = asyncio.run(asyncio.wait_for(_printed(document, steps), timeout_s))
    except TimeoutError:
        raise RuntimeError(
            f"Chromium did not print {document} within {timeout_s:g} s: {steps[-1]} had not "
            "finished"
        ) from None
    data = links_relative_to(data, pdf.parent)
    atomic_write(pdf, lambda temporary: temporary.write_bytes(data))


async def _printed(document: Path, steps: list[str]) -> bytes:
    """``print_pdf``'s PDF, unbounded: it appends to ``steps`` the name of each step it begins."""
    async with async_chromium() as browser:
        page = await browser.new_page(viewport={"width": COLUMN_PX, "height": 1000})
        page.set_default_timeout(0)  # no limit of Playwright's own: print_pdf's is the limit
        await allow_files_only_async(page)
        steps.append("loading the document")
        await page.goto(document.resolve().as_uri(), wait_until="load")
        steps.append("typesetting its mathematics (MathJax)")
        await page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
            " && MathJax.startup.document"
        )
        await page.evaluate("() => MathJax.startup.promise")
        errors = await page.evaluate("() => document.querySelectorAll('mjx-merror').length")
        if errors:
            raise RuntimeError(f"MathJax could not typeset {errors} formulas of the book")
        steps.append("printing")
        side = f"{MARGIN_MM}mm"
        footer = (
            '<div style="font-size:8px;width:100%;text-align:center;color:#555">'
            '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
        )
        return await page.pdf(
            format="A4",
            print_background=True,
            outline=True,
            tagged=True,
            display_header_footer=True,
            header_template="<span></span>",
            footer_template=footer,
            margin={"top": "16mm", "bottom": "18mm", "left": side, "right": side},
        )


def build_pdf(
    html_root: Path = ROOT / "_build" / "html",
    toc: Path = ROOT / "_toc.yml",
    config: Path = ROOT / "_config.yml",
) -> Path:
    """The joined document under ``_build/pdf/`` and the PDF at ``_build/html/nnbook.pdf``."""
    out_dir = html_root.parent / PRINT_FOLDER
    text = joined_document(html_root, toc, out_dir, config)  # refuses an unbuilt book first
    out_dir.mkdir(exist_ok=True)
    document = out_dir / "book.html"
    atomic_write(document, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    pdf = html_root / PDF_NAME
    print_pdf(document, pdf)
    return pdf
