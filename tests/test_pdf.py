"""The whole book as one PDF (``python -m nnbook pdf``): it opens, its bookmarks are the book's
title and chapters in order, it holds this build's glued numbers and every figure, no raw TeX,
no placeholder, no unresolved reference, working internal links, and every page is A4 with its
text on it. Needs the built book and its PDF, and poppler's ``pdftotext`` (``poppler-utils``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from urllib.parse import urldefrag

import numpy as np
import pytest
import yaml
from bs4 import BeautifulSoup
from built_book import HTML, ROOT

from nnbook.pdf import PDF_NAME, chapters

pytestmark = pytest.mark.book  # reads the built book

PDF = HTML / PDF_NAME
A4 = (595.28, 841.89)  # points
EXECUTED = ROOT / "_build" / "jupyter_execute"


@pytest.fixture(scope="module")
def reader():
    from pypdf import PdfReader

    if not PDF.is_file():
        pytest.fail(f"no {PDF}: run `python -m nnbook pdf` after the build", pytrace=False)
    return PdfReader(PDF)


@cache
def pdf_words() -> list[tuple[int, float, float, float, float, str]]:
    """Every word of the PDF with its page and box, from poppler's ``pdftotext -bbox``."""
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext not found (apt-get install poppler-utils)", pytrace=False)
    done = subprocess.run(
        ["pdftotext", "-bbox", str(PDF), "-"], capture_output=True, text=True, check=True
    )
    words, page = [], 0
    for line in done.stdout.splitlines():
        if line.lstrip().startswith("<page "):
            page += 1
        found = re.search(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>',
            line,
        )
        if found:
            x0, y0, x1, y1 = map(float, found.groups()[:4])
            words.append((page, x0, y0, x1, y1, found.group(5)))
    return words


@cache
def pdf_text() -> str:
    done = subprocess.run(["pdftotext", str(PDF), "-"], capture_output=True, text=True, check=True)
    return " ".join(done.stdout.split())


def flatten(outline) -> list:
    for item in outline:
        if isinstance(item, list):
            yield from flatten(item)
        else:
            yield item


def glued(notebook: str, key: str) -> str:
    """The value this build glued under ``key`` (its plain-text form), as myst-nb kept it for
    the HTML (``_build/jupyter_execute/…/chapter.glue.json``)."""
    values = json.loads((EXECUTED / notebook.replace(".ipynb", ".glue.json")).read_text())
    assert key in values, f"{key} is not glued in {notebook}"
    return values[key]["data"]["text/plain"]


def page_text(relative: str) -> str:
    soup = BeautifulSoup((HTML / relative).read_text(encoding="utf-8"), "html.parser")
    return " ".join(soup.find("article").get_text(" ").split())


def test_it_opens_as_a4_pages(reader):
    assert len(reader.pages) > 50
    for number, page in enumerate(reader.pages, start=1):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4[0]) <= 1 and abs(height - A4[1]) <= 1, (number, width, height)


def bare(title: str) -> str:
    """A title without its spaces: Chromium joins a heading's wrapped lines without one."""
    return "".join(title.split())


def test_the_bookmarks_are_the_title_and_every_chapter_in_order(reader):
    titles = [bare(item.title) for item in flatten(reader.outline)]
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    expected = [bare(config["title"])]
    for chapter in chapters(ROOT / "_toc.yml")[1]:
        soup = BeautifulSoup((HTML / chapter.page).read_text(encoding="utf-8"), "html.parser")
        heading = soup.find("article").find("h1")
        expected.append(bare(heading.get_text("", strip=True).rstrip("#")))
    positions = [titles.index(title) if title in titles else -1 for title in expected]
    assert -1 not in positions, [t for t, p in zip(expected, positions, strict=True) if p < 0]
    assert positions == sorted(positions), "the bookmarks are not in the book's order"


def test_it_holds_this_builds_glued_numbers():
    final = f"{float(glued('book/part2/training.ipynb', 'final-accuracy')):.2f}"
    gradient = f"{float(glued('book/part1/derivatives.ipynb', 'dE_dw5')):.6f}"
    for value, page in (
        (final, "book/part2/training.html"),
        (gradient, "book/part1/derivatives.html"),
    ):
        assert value in page_text(page), f"{value} is not on {page}"  # as printed in the HTML
        assert value in pdf_text(), f"{value} of {page} is not in the PDF"


@pytest.mark.parametrize("raw", ["\\frac", "\\partial", "<Figure size", "??", "$$"])
def test_no_raw_tex_placeholder_or_unresolved_reference(raw):
    assert raw not in pdf_text()


def rgb(image) -> np.ndarray:
    """An image's pixels as RGB on white (a transparent pixel counts as white)."""
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float64)
    alpha = rgba[..., 3:] / 255
    return rgba[..., :3] * alpha + 255 * (1 - alpha)


def test_every_figure_of_the_html_is_in_it_pixel_for_pixel(reader):
    """Each figure of the HTML matches its own image of the PDF (same size, same pixels, one
    image each): a figure printed twice cannot stand in for one that is missing."""
    from PIL import Image

    figures = []
    for chapter in chapters(ROOT / "_toc.yml")[1]:
        page = HTML / chapter.page
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for img in soup.find("article").find_all("img"):
            figures.append((img["src"], rgb(Image.open(page.parent / img["src"]))))
    printed = [rgb(image.image) for page in reader.pages for image in page.images]
    unmatched = []
    for source, pixels in figures:
        match = next(
            (
                k
                for k, candidate in enumerate(printed)
                if candidate.shape == pixels.shape and np.abs(candidate - pixels).mean() < 1
            ),
            None,
        )
        if match is None:
            unmatched.append(source)
        else:
            printed.pop(match)
    assert len(figures) > 10 and unmatched == [], unmatched


def test_no_text_runs_off_a_page(reader):
    outside = [
        (page, word)
        for page, x0, y0, x1, y1, word in pdf_words()
        if x0 < -0.5 or y0 < -0.5 or x1 > A4[0] + 0.5 or y1 > A4[1] + 0.5
    ]
    assert not outside, outside[:10]


def test_no_page_is_blank(reader):
    """Every page holds more than its footer ("n / N"): no margin spilled onto a page of its
    own before a forced break."""
    words = {}
    for page, *_ in pdf_words():
        words[page] = words.get(page, 0) + 1
    blank = [page for page in range(1, len(reader.pages) + 1) if words.get(page, 0) <= 3]
    assert blank == []


def test_cross_references_are_links_inside_the_pdf(reader):
    named = set(reader.named_destinations)
    internal = broken = 0
    for page in reader.pages:
        for annotation in page.get("/Annots", []) or []:
            link = annotation.get_object()
            if link.get("/Subtype") != "/Link":
                continue
            target = link.get("/Dest")
            action = link.get("/A")
            if target is None and action is not None and action.get("/S") == "/GoTo":
                target = action.get("/D")
            if target is None:
                continue
            internal += 1
            if isinstance(target, str) and target not in named:
                broken += 1
    assert internal > 100 and broken == 0, (internal, broken)


def test_links_to_the_books_files_are_relative_and_lead_to_them(reader):
    """Chromium writes a link to a file of the book as this machine's ``file://`` path; the
    PDF holds it relative to its own folder, the built HTML's, where the file is."""
    uris = [
        str(action["/URI"])
        for page in reader.pages
        for annotation in page.get("/Annots", []) or []
        if (action := annotation.get_object().get("/A")) is not None and action.get("/S") == "/URI"
    ]
    local = [uri for uri in uris if not re.match(r"(https?|mailto):", uri)]
    assert "nnbook.pdf" in local and any(uri.endswith(".xlsx") for uri in local), local
    assert [uri for uri in local if uri.startswith(("file:", "/")) or ".." in uri] == []
    assert [uri for uri in local if not (HTML / urldefrag(uri).url).is_file()] == []


def test_the_html_links_the_pdf():
    intro = (HTML / "book" / "intro.html").read_text(encoding="utf-8")
    assert 'href="../nnbook.pdf"' in intro
    model = (HTML / "book" / "part2" / "model.html").read_text(encoding="utf-8")
    assert "download-book-pdf-button" in model and "../../nnbook.pdf" in model


def test_a_missing_build_is_a_clear_error(tmp_path):
    from cli_runner import run_nnbook

    result = run_nnbook("pdf", "--html", str(tmp_path))
    assert result.returncode == 2 and "build the book first" in result.stderr
    assert "Traceback" not in result.stderr


def test_pages_as_pictures():
    """Renders a few pages to PNG (``test-artifacts/pdf/``) for a person to look at."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not found")
    out = ROOT / "test-artifacts" / "pdf"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "12", str(PDF), str(out / "page")],
        check=True,
    )
    from PIL import Image

    pictures = sorted(Path(out).glob("page*.png"))
    assert len(pictures) == 12
    for picture in pictures:  # A4 upright, and something printed on it
        image = Image.open(picture).convert("L")
        assert abs(image.height / image.width - A4[1] / A4[0]) < 0.01, picture.name
        assert np.asarray(image).min() < 100, f"{picture.name} is blank"
