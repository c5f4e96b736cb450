"""The built HTML leaks nothing of the machine that built it: no paths, tracebacks or stderr."""

import re

import pytest
from built_book import HTML, ROOT, html_pages

pytestmark = pytest.mark.book  # reads the built book

FORBIDDEN = [
    "/root/", "/home/", "/tmp/", "site-packages", str(ROOT),
    "Traceback (most recent call last)", 'class="output stderr"',
    "&lt;Figure size",  # a figure that was glued without its image
    "&lt;IPython.core.display.",  # a Markdown object glued, then pasted as its plain text
]  # fmt: skip


@pytest.mark.parametrize("page", html_pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_page_is_clean(page):
    text = page.read_text(encoding="utf-8")
    found = [needle for needle in FORBIDDEN if needle in text]
    assert not found, f"{page.relative_to(HTML)} contains {found}"
    assert not re.search(r"\w+Warning: ", text), "a Python warning was printed into the page"


def test_every_chapter_was_built():
    pages = {str(p.relative_to(HTML)) for p in html_pages()}
    for chapter in ROOT.joinpath("book").rglob("*.ipynb"):
        if ".ipynb_checkpoints" not in chapter.parts:
            assert str(chapter.relative_to(ROOT).with_suffix(".html")) in pages


def test_buttons_come_from_the_one_repository_url():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    owner_repo = config["repository"]["url"].removeprefix("https://github.com/")
    page = (HTML / "book" / "part1" / "derivatives.html").read_text(encoding="utf-8")
    assert f'href="https://github.com/{owner_repo}"' in page  # repository button
    assert f"https://mybinder.org/v2/gh/{owner_repo}/main" in page  # launch: Binder
    assert f"https://colab.research.google.com/github/{owner_repo}/blob/main/" in page  # Colab
    assert "_sources/book/part1/derivatives.ipynb" in page  # download: the notebook


#: The longest code cell a reader is shown, in lines: a call or two, a network, a plot.
LONGEST_VISIBLE_CELL = 25
BOOKKEEPING = re.compile(r"(glue\(|assert )")


@pytest.mark.parametrize("page", html_pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_the_code_a_reader_sees_teaches(page):
    """No visible code cell is longer than ``LONGEST_VISIBLE_CELL`` lines, none glues a value
    for the text (at any depth: a loop of ``glue(`` calls too), and none is mostly bookkeeping
    (``glue(`` and ``assert`` statements): those run in cells whose input is hidden."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    for shown in soup.select("div.cell div.cell_input pre"):
        code = shown.get_text().rstrip("\n")
        lines = code.splitlines()
        statements = [line for line in lines if line.strip() and not line[0].isspace()]
        statements = [line for line in statements if not line.startswith((")", "]", "}"))]
        kept = [line for line in statements if BOOKKEEPING.match(line)]
        where = f"{page.relative_to(HTML)}: a cell beginning {lines[0]!r}"
        assert len(lines) <= LONGEST_VISIBLE_CELL, f"{where} shows {len(lines)} lines"
        assert not any(line.lstrip().startswith("glue(") for line in lines), f"{where} glues"
        assert len(statements) < 4 or 2 * len(kept) < len(statements), f"{where} is bookkeeping"


def test_only_pages_that_need_the_repository_offer_no_launch_button():
    """A chapter opened alone in Colab or Binder must run there; those that cannot offer no
    launch button (``nnbook.sphinxext.NEEDS_THE_REPOSITORY``)."""
    from nnbook.sphinxext import NEEDS_THE_REPOSITORY

    chapters = [p.relative_to(ROOT).with_suffix("") for p in (ROOT / "book").rglob("*.ipynb")]
    assert {str(page) for page in chapters} >= set(NEEDS_THE_REPOSITORY)
    for chapter in chapters:
        html = (HTML / chapter).with_suffix(".html").read_text(encoding="utf-8")
        offers = "dropdown-launch-buttons" in html
        assert offers == (str(chapter) not in NEEDS_THE_REPOSITORY), chapter
