"""``nnbook.pdf`` on a small book of its own, without the built one: the joined document (ids,
links, images, headings, the title page, the contents, the head), the PDF's links made relative,
and one printed PDF. ``tests/test_pdf.py`` reads the PDF the build printed; this file is what
mutation testing runs on ``nnbook.pdf``, since it needs no build.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from bs4 import BeautifulSoup
from pypdf import PdfReader, PdfWriter
from pypdf.annotations import Link

from nnbook import pdf
from nnbook.sphinxext import FONT, FONT_PARTS, mathjax_source

#: The book's MathJax settings, as Sphinx writes them into every page: the font from the book's
#: own copy (a CDN is out of reach), no speech worker (a page from file:// cannot start one),
#: long equations broken over lines.
MATHJAX_SETTINGS = yaml.safe_load((pdf.ROOT / "_config.yml").read_text())["sphinx"]["config"][
    "mathjax3_config"
]
HEAD = (
    '<link rel="stylesheet" href="{up}_static/styles/theme.css?digest=abc">'
    "<script>window.MathJax = "
    + json.dumps(MATHJAX_SETTINGS).replace("{", "{{").replace("}", "}}")
    + "</script>"
    '<script defer src="{up}_static/mathjax/tex-chtml.js?v=1"></script>'
    # what else a built page's head holds: an icon, an inline script of the theme's
    '<link rel="icon" href="{up}_static/favicon.ico">'
    '<script>document.documentElement.dataset.mode = "light";</script>'
)
LANDING = (
    "<article class='bd-article'><h1 id='welcome'>Welcome<a class='headerlink' href='#welcome'>"
    "#</a></h1><p><a href='book/part1/one.html#sec'>one</a> <a href='https://example.org/x'>"
    "out</a> <a href='book/part1/sheet.xlsx'>sheet</a> <a href='mailto:a@b.c'>mail</a> "
    "<a href='http://example.com/y'>plain</a> <a name='old'>no link</a></p></article>"
)
CHAPTER = (
    "<article class='bd-article'><section id='sec'><h1>One &amp; all</h1><h2 id='sub'>Sub</h2>"
    "<p><a href='#sub'>up</a> <a href='../../index.html'>home</a> <a href='two.html'>two</a>"
    "</p><img src='../../_images/fig.png' alt='fig'><img src='data:image/png;base64,AA==' "
    "alt='inline'><img src='http://example.com/a.png' alt='remote'>"
    "<img src='https://example.com/b.png' alt='secure'><script src='../../_static/w.js'>"
    "</script><button class='copybtn'>copy</button><h5 id='deep'>Deep</h5></section>"
    "</article>"
)
SECOND = (
    "<article class='note'>an aside</article><div class='bd-article'>not the article</div>"
    "<article class='bd-article'><h1>\n  Two\n  <em>parts</em>\n</h1><p>\\(x^2 + 1\\)</p>"
    "</article>"
)
TOC = """root: index
parts:
  - caption: Part One!
    chapters:
      - file: book/part1/one
      - file: book/part1/two
"""
CONFIG = "title: A & B\nauthor: The <authors>\n"


def page(body: str, up: str = "", maths: bool = True) -> str:
    head = HEAD.format(up=up) if maths else ""
    return f"<html><head>{head}</head><body>{body}</body></html>"


@pytest.fixture
def book(tmp_path):
    html_root = tmp_path / "html"
    (html_root / "book" / "part1").mkdir(parents=True)
    (html_root / "index.html").write_text(page(LANDING, maths=False), encoding="utf-8")
    (html_root / "book" / "part1" / "one.html").write_text(page(CHAPTER, "../../"), "utf-8")
    (html_root / "book" / "part1" / "two.html").write_text(page(SECOND, "../../"), "utf-8")
    (tmp_path / "_toc.yml").write_text(TOC, encoding="utf-8")
    (tmp_path / "_config.yml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def joined(book, out_dir=None) -> BeautifulSoup:
    html_root = book / "html"
    text = pdf.joined_document(
        html_root, book / "_toc.yml", out_dir or html_root, book / "_config.yml"
    )
    return BeautifulSoup(text, "html.parser")


def test_chapters_in_the_books_order(book):
    root, chapters = pdf.chapters(book / "_toc.yml")
    assert root == "index"
    assert chapters == [
        pdf.Chapter("index.html", None),
        pdf.Chapter("book/part1/one.html", "Part One!"),
        pdf.Chapter("book/part1/two.html", "Part One!"),
    ]


def test_anchors_are_unique_per_page_and_fragment():
    assert pdf.anchor("book/part1/One_Two.html") == "p-book-part1-one-two"
    assert pdf.anchor("book/part1/One_Two.html", "Frag") == "p-book-part1-one-two--Frag"
    assert pdf.anchor("-x-.html") == "p-x"


def test_the_title_page_and_the_contents(book):
    soup = joined(book)
    assert soup.html["lang"] == "en" and soup.html["data-theme"] == "light"
    assert soup.title.text == "A & B" and soup.body["class"] == ["nnbook-print"]
    title = soup.select_one("section.nnbook-title-page")
    assert title.h1.text == "A & B" and title.h1["id"] == "title"
    assert title.select_one("p.author").text == "The <authors>"
    assert datetime.date.today().isoformat() in title.select_one("p.built").text
    contents = [(a["href"], a.text) for a in soup.select("nav.nnbook-contents a")]
    assert contents == [
        ("#p-index", "Welcome"),
        ("#part-part-one", "Part One!"),  # the id: letters and digits, joined by dashes
        ("#p-book-part1-one", "One & all"),
        ("#p-book-part1-two", "Two parts"),  # its words, one space apart
    ]
    assert [li.get("class") for li in soup.select("nav.nnbook-contents li")] == [
        None, ["part"], None, None,
    ]  # fmt: skip
    parts = soup.select("h1.nnbook-part")
    assert [(h["id"], h.text) for h in parts] == [("part-part-one", "Part One!")]  # once


def test_each_page_is_a_section_with_its_ids_prefixed_and_headings_demoted(book):
    soup = joined(book)
    sections = soup.select("section.nnbook-chapter")
    assert [s["id"] for s in sections] == ["p-index", "p-book-part1-one", "p-book-part1-two"]
    ids = {element["id"] for element in soup.find_all(id=True)}
    assert {"p-index--welcome", "p-book-part1-one--sec", "p-book-part1-one--sub"} <= ids
    one = sections[1]
    assert [h.name for h in one.find_all(["h2", "h3", "h4", "h5", "h6"])] == ["h2", "h3", "h6"]
    assert not soup.select("a.headerlink, button.copybtn")


def test_links_lead_inside_the_document_or_to_the_books_files(book):
    soup = joined(book)
    hrefs = [a.get("href") for a in soup.select("section.nnbook-chapter a")]
    assert hrefs == [
        "#p-book-part1-one--sec",  # another page's element
        "https://example.org/x",  # left alone
        "book/part1/sheet.xlsx",  # a file: relative to where the document lies
        "mailto:a@b.c",
        "http://example.com/y",
        None,  # an anchor without a link stays one
        "#p-book-part1-one--sub",  # the page's own element
        "#p-index",  # another page
        "#p-book-part1-two",
    ]
    sources = [element["src"] for element in soup.select("section.nnbook-chapter [src]")]
    assert sources == [
        "_images/fig.png", "data:image/png;base64,AA==", "http://example.com/a.png",
        "https://example.com/b.png", "_static/w.js",
    ]  # fmt: skip
    # only the article of each page, and all of it
    assert "an aside" not in soup.text and "not the article" not in soup.text


def test_files_are_pointed_at_from_the_documents_folder(book):
    soup = joined(book, out_dir=book / "pdf")
    assert soup.find("a", string="sheet")["href"] == "../html/book/part1/sheet.xlsx"
    assert soup.find("img")["src"] == "../html/_images/fig.png"
    assert soup.body.find("script", src=True)["src"] == "../html/_static/w.js"
    for text, url in [("mail", "mailto:a@b.c"), ("plain", "http://example.com/y")]:
        assert soup.find("a", string=text)["href"] == url  # not a file of the book
    remote = [img["src"] for img in soup.find_all("img") if "example.com" in img["src"]]
    assert remote == ["http://example.com/a.png", "https://example.com/b.png"]
    styles = [link["href"] for link in soup.head.find_all("link", rel="stylesheet")]
    assert styles == ["../html/_static/styles/theme.css", f"../html/_static/{pdf.PRINT_CSS}"]
    scripts = soup.head.find_all("script")
    assert scripts[0].string.startswith("window.MathJax = {") and scripts[0].get("src") is None
    assert scripts[1]["src"] == "../html/_static/mathjax/tex-chtml.js"
    assert scripts[1].has_attr("defer") and len(scripts) == 2
    assert soup.head.meta["charset"] == "utf-8"


def test_a_missing_page_or_a_page_without_an_article_is_a_clear_error(book):
    (book / "html" / "book" / "part1" / "two.html").write_text("<html><body></body></html>")
    with pytest.raises(ValueError, match=r"two\.html has no article: is it a built page\?"):
        joined(book)
    (book / "html" / "book" / "part1" / "two.html").unlink()
    with pytest.raises(FileNotFoundError, match=r"two\.html is missing: build the book first"):
        joined(book)


def pdf_linking(*uris: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    for k, uri in enumerate(uris):
        writer.add_annotation(0, Link(rect=(10, 10 + 20 * k, 50, 25 + 20 * k), url=uri))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def link_targets(data: bytes) -> list[str]:
    page = PdfReader(io.BytesIO(data)).pages[0]
    return [str(a.get_object()["/A"]["/URI"]) for a in page.get("/Annots", [])]


def test_links_to_the_books_files_become_relative(tmp_path):
    inside = (tmp_path / "book" / "sheet.xlsx").as_uri()
    data = pdf_linking(inside, "https://example.org/", (tmp_path / "nnbook.pdf").as_uri())
    assert link_targets(pdf.links_relative_to(data, tmp_path)) == [
        "book/sheet.xlsx", "https://example.org/", "nnbook.pdf",
    ]  # fmt: skip


def test_a_link_outside_the_book_is_refused(tmp_path):
    outside = (tmp_path.parent / "elsewhere.txt").as_uri()
    with pytest.raises(ValueError, match=r"the PDF links file:.*elsewhere\.txt, outside the"):
        pdf.links_relative_to(pdf_linking(outside), tmp_path)


def install_print_assets(book):
    """MathJax and its font from npm, and the print style sheet, where a build puts them."""
    mathjax, font = mathjax_source(pdf.ROOT)
    static = book / "html" / "_static"
    shutil.copytree(mathjax, static / "mathjax", symlinks=True)
    for part in FONT_PARTS:
        source, target = font / part, static / "mathjax" / "fonts" / FONT / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    shutil.copy(pdf.ROOT / "book" / "_static" / pdf.PRINT_CSS, static / pdf.PRINT_CSS)


def test_a_small_book_prints_to_one_pdf(book):
    install_print_assets(book)
    (book / "html" / "book" / "part1" / "sheet.xlsx").write_bytes(b"")
    printed = pdf.build_pdf(book / "html", book / "_toc.yml", book / "_config.yml")
    assert printed == book / "html" / pdf.PDF_NAME
    assert (book / "pdf" / "book.html").is_file()
    reader = PdfReader(printed)
    text = "".join(p.extract_text() for p in reader.pages)
    assert "A & B" in text and "Welcome" in text and "One & all" in text
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert (round(width * 25.4 / 72), round(height * 25.4 / 72)) == (210, 297)  # A4, in mm
    targets = [uri for page in reader.pages for uri in link_targets_of(page)]
    assert "book/part1/sheet.xlsx" in targets and "https://example.org/x" in targets
    titles = [item.title for item in flatten(reader.outline)]
    assert titles[0] == "A & B" and {"Contents", "Part One!", "One & all", "Two parts"} <= set(
        titles
    )
    # tagged, with page numbers in the footer of every page, inside A4's margins
    assert "/StructTreeRoot" in reader.trailer["/Root"]
    xs, ys = [], []
    for number, page in enumerate(reader.pages, start=1):
        assert f"{number} / {len(reader.pages)}" in page.extract_text()
        page_xs, page_ys = text_positions(page)
        xs, ys = xs + page_xs, ys + page_ys
    margin = pdf.MARGIN_MM / 25.4 * 72  # the text starts at the left margin, in points
    assert margin - 1 <= min(xs) < margin + 20 and max(xs) < 595 - margin
    assert max(ys) <= 842 - 16 / 25.4 * 72 + 1  # below the top margin
    # MathJax typeset the formula (its glyphs are in the text, the TeX source is not)
    assert "x^2" not in text and "\\(" not in text


def test_a_formula_mathjax_cannot_typeset_stops_the_print(book):
    chapter = book / "html" / "book" / "part1" / "two.html"
    chapter.write_text(page(SECOND.replace("x^2 + 1", "\\frac{1}"), "../../"), "utf-8")
    install_print_assets(book)
    with pytest.raises(RuntimeError, match=r"^MathJax could not typeset 1 formulas of the book$"):
        pdf.build_pdf(book / "html", book / "_toc.yml", book / "_config.yml")
    assert not (book / "html" / pdf.PDF_NAME).exists()


def print_error(document: Path, seconds: float) -> Exception:
    """What ``print_pdf`` raised for ``document`` with a limit of ``seconds``; the test fails if
    it has not returned within a minute (a print that hangs)."""
    raised = []

    def print_it():
        try:
            pdf.print_pdf(document, document.with_suffix(".pdf"), timeout_s=seconds)
        except Exception as error:  # the test reads it
            raised.append(error)

    printing = threading.Thread(target=print_it, daemon=True)
    printing.start()
    printing.join(60)
    assert not printing.is_alive(), "the print did not stop at its limit"
    assert not document.with_suffix(".pdf").exists()
    (error,) = raised
    return error


def test_typesetting_that_never_ends_stops_the_print_after_its_limit(tmp_path):
    """A page whose MathJax never finishes typesetting (its promise never settles): the print
    ends with an error naming the step after its limit, not hours later, and writes no PDF."""
    document = tmp_path / "book.html"
    never = "{startup: {promise: new Promise(() => {}), document: {}}}"
    document.write_text(f"<html><head><script>window.MathJax = {never};</script></head>"
                        "<body><p>x</p></body></html>", encoding="utf-8")  # fmt: skip
    error = print_error(document, 10)  # Chromium starts and loads the page well within it
    assert isinstance(error, RuntimeError) and str(error) == (
        f"Chromium did not print {document} within 10 s: typesetting its mathematics (MathJax) "
        "had not finished"
    )


def test_a_chromium_that_never_starts_stops_the_print_after_its_limit(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "chromium"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec sleep 120\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    document = tmp_path / "book.html"
    document.write_text("<html><body><p>x</p></body></html>", encoding="utf-8")
    error = print_error(document, 1.5)
    assert isinstance(error, RuntimeError) and str(error) == (
        f"Chromium did not print {document} within 1.5 s: starting Chromium had not finished"
    )


def flatten(outline):
    for item in outline:
        yield from flatten(item) if isinstance(item, list) else [item]


def text_positions(page):
    xs, ys = [], []

    def visit(text, cm, tm, font, size):
        if text.strip():
            xs.append(cm[4] + tm[4] * cm[0])
            ys.append(cm[5] + tm[5] * cm[3])

    page.extract_text(visitor_text=visit)
    return xs, ys


def link_targets_of(page) -> list[str]:
    found = []
    for annotation in page.get("/Annots", []) or []:
        action = annotation.get_object().get("/A")
        if action is not None and action.get("/S") == "/URI":
            found.append(str(action["/URI"]))
    return found


def test_a_toc_without_parts_or_a_part_without_chapters(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("root: index\n", encoding="utf-8")
    assert pdf.chapters(toc) == ("index", [pdf.Chapter("index.html", None)])
    toc.write_text("root: index\nparts:\n  - caption: Later\n", encoding="utf-8")
    assert pdf.chapters(toc) == ("index", [pdf.Chapter("index.html", None)])


def test_nothing_but_the_title_page_and_the_chapters_in_the_body(book):
    soup = joined(book)
    stray = [text for text in soup.body.find_all(string=True, recursive=False) if text.strip()]
    assert stray == []
    assert [child.name for child in soup.body.children] == [
        "section", "nav", "section", "h1", "section", "section",
    ]  # fmt: skip
    assert [li.name for li in soup.select_one("nav.nnbook-contents ol").children] == ["li"] * 4
    assert [text for text in soup.head.find_all(string=True) if text.strip()] == [
        soup.head.script.string,
        "A & B",
    ]  # the MathJax settings and the title, no stray text


def git(folder, *args):
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_title_page_says_when_and_from_which_commit(book, monkeypatch):
    repository = book / "repo"
    repository.mkdir()
    git(repository, "init", "-q")
    (repository / "x").write_text("x")
    git(repository, "add", "x")
    git(repository, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    short = git(repository, "log", "-1", "--format=%h")
    monkeypatch.setattr(pdf, "ROOT", repository)
    built = joined(book).select_one("p.built").text
    assert built == (
        f"Printed from the book built on {datetime.date.today().isoformat()}, commit {short}: "
        "every number in it comes from that build's executed chapters."
    )
    monkeypatch.setattr(pdf, "ROOT", book / "html")  # no repository: the date alone
    built = joined(book).select_one("p.built").text
    assert built.startswith(f"Printed from the book built on {datetime.date.today()}: every")


def test_a_book_without_an_author(book):
    (book / "_config.yml").write_text("title: T\n", encoding="utf-8")
    assert joined(book).select_one("p.author").text == ""


def test_an_unbuilt_book_is_refused_with_the_build_command_and_nothing_written(book):
    command = next(
        line.strip()
        for line in (pdf.ROOT / ".ci" / "setup").read_text().splitlines()
        if line.strip().startswith("jupyter-book build")
    )
    shutil.rmtree(book / "html")
    with pytest.raises(FileNotFoundError, match="build the book first") as refused:
        pdf.build_pdf(book / "html", book / "_toc.yml", book / "_config.yml")
    assert str(refused.value).endswith(f"({command})")  # the command the set-up runs
    assert sorted(p.name for p in book.iterdir()) == ["_config.yml", "_toc.yml"]


def test_links_relative_to_keeps_pypdfs_warnings_about_chromiums_trailer_quiet(tmp_path, caplog):
    data = pdf_linking((tmp_path / "a.txt").as_uri())
    trailer = data.rindex(b"/Size ")
    end = data.index(b"\n", trailer)
    undercounted = data[:trailer] + b"/Size 2" + data[end:]  # as Chromium's trailers say
    with caplog.at_level(logging.WARNING):
        PdfWriter(clone_from=PdfReader(io.BytesIO(undercounted))).write(io.BytesIO())
        assert "exceeds defined trailer size" in caplog.text  # what pypdf says of such a file
        caplog.clear()
        assert link_targets(pdf.links_relative_to(undercounted, tmp_path)) == ["a.txt"]
    assert caplog.records == []
    assert logging.getLogger("pypdf").level == logging.NOTSET  # put back as it was


def ink_boxes(path):
    """Each page of a PDF rendered at 72 dots an inch (one pixel a point): its non-white pixels
    as a boolean array, and whether any of them is red."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["pdftoppm", "-r", "72", "-png", str(path), f"{folder}/p"], check=True)
        pages = []
        for png in sorted(Path(folder).glob("p-*.png")):
            pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
            red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
            pages.append((pixels.min(axis=2) < 200, bool(red.any())))
        return pages


def test_the_printed_pages_keep_their_margins_their_backgrounds_and_their_equations(book):
    """Long paragraphs, a shaded block and an equation wider than the column: the body stays
    inside A4's margins (the equation broken for the printed column, not for a screen), only
    the page number lies in the bottom margin, and backgrounds are printed."""
    words = " ".join(f"word{k}" for k in range(60))
    equation = " + ".join(f"a_{{{k}}} b_{{{k}}}" for k in range(40))
    long = (
        "<article class='bd-article'><h1>Long</h1>"
        "<div style='background:#ff0000;height:30px'></div>"
        f"<p>\\[ {equation} \\]</p>" + f"<p>{words}</p>" * 40 + "</article>"
    )
    (book / "html" / "book" / "part1" / "two.html").write_text(page(long, "../../"), "utf-8")
    install_print_assets(book)
    printed = pdf.build_pdf(book / "html", book / "_toc.yml", book / "_config.yml")
    pages = ink_boxes(printed)
    mm = 72 / 25.4
    width, height = pages[0][0].shape[1], pages[0][0].shape[0]
    assert (round(width / mm), round(height / mm)) == (210, 297)
    assert any(red for _, red in pages)  # the shaded block is printed
    full = 0
    for ink, _ in pages:
        rows, columns = np.nonzero(ink)
        assert columns.min() >= pdf.MARGIN_MM * mm - 2 and columns.max() <= width - 15 * mm + 2
        assert rows.min() >= 16 * mm - 2  # nothing in the top margin
        in_bottom = columns[rows > height - 18 * mm]
        assert in_bottom.max() - in_bottom.min() < 30 * mm  # the page number alone
        body = columns[rows < height - 18 * mm]
        full += body.max() > width - 15 * mm - 25 * mm  # lines that reach the right margin
    assert full >= 2  # text runs up to the right margin on the pages of paragraphs
    # every term of the equation is printed: broken over lines at the column, none cut off
    text = "".join("".join(page.extract_text() for page in PdfReader(printed).pages).split())
    assert all(f"\U0001d44e{k}\U0001d44f{k}" in text for k in range(40))  # 𝑎k𝑏k, MathJax's
    # a second print finds its folder there and replaces the document and the PDF
    assert pdf.build_pdf(book / "html", book / "_toc.yml", book / "_config.yml") == printed
