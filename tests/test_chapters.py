"""The chapters as files: what nbval compares, and what it must not.

nbval compares every output of a cell that is not tagged ``nbval-ignore-output``. Outputs that
depend on the training run (the seed, the CPU's floating point, the clock) must be tagged, or CI
fails on another host; each claim they carry stays behind an ``assert`` in the cell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from built_book import ROOT

from nnbook.sphinxext import NEEDS_THE_REPOSITORY

CHAPTERS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
IGNORE = "nbval-ignore-output"
#: Calls whose results depend on the training run: every cell from the first one on is tagged.
RUN_DEPENDENT = re.compile(r"\b(fit|trained)\(")
#: What varies from run to run wherever it appears.
CLOCK = re.compile(r"perf_counter|time\.time\(|datetime\.now")


def code_cells(chapter: Path) -> list[dict]:
    cells = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
    return [cell for cell in cells if cell["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_outputs_after_training_are_not_compared(chapter):
    trained = False
    for number, cell in enumerate(code_cells(chapter)):
        trained = trained or bool(RUN_DEPENDENT.search(source(cell)))
        if trained and cell.get("outputs"):
            assert IGNORE in tags(cell), f"code cell {number} shows a result of the training run"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_timings_are_not_compared_nor_asserted(chapter):
    for number, cell in enumerate(code_cells(chapter)):
        if CLOCK.search(source(cell)):
            assert IGNORE in tags(cell), f"code cell {number} reads the clock"
            assert not re.search(r"assert .*seconds", source(cell)), "speed is for bench/"


#: What a time read from a record looks like in a chapter's code.
TIME_WORDS = re.compile(r"second|\bms\b|_ms|GFLOP|matmul|speedup|epoch_seconds|step_\d")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_times_read_from_records_are_reported_not_asserted(chapter):
    """A record of bench/ holds times measured on some machine: a chapter may show them, never
    assert on them (a faster or slower host would then fail the build for no fault)."""
    for number, cell in enumerate(code_cells(chapter)):
        text = source(cell)
        if ".jsonl" in text or "records" in text:
            asserts = re.findall(r"^\s*assert .*$", text, flags=re.MULTILINE)
            timed = [line.strip() for line in asserts if TIME_WORDS.search(line)]
            assert not timed, f"code cell {number} asserts a time: {timed}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_chapters_are_committed_executed(chapter):
    cells = code_cells(chapter)
    assert all(cell.get("execution_count") for cell in cells), "run the chapter before committing"
    counts = [cell["execution_count"] for cell in cells]
    assert counts == sorted(counts), "cells were executed out of order"


def test_the_training_seed_comes_from_the_environment():
    text = (ROOT / "book" / "part2" / "training.ipynb").read_text(encoding="utf-8")
    assert "seed_from_environment()" in text
    assert not re.search(r"SEED = \d", text)


def install_cell(libreoffice: bool = False) -> str:
    """The first cell every chapter starts with, from the repository of ``_config.yml``; a
    chapter that recalculates a workbook also installs LibreOffice where it runs in Colab."""
    import yaml

    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    cell = (
        "# Colab, Binder or a downloaded notebook: install the book's package if it is missing.\n"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("nnbook") is None:\n'
        f'    %pip install --quiet "nnbook @ git+{repository["url"]}@{repository["branch"]}"'
    )
    if libreoffice:
        cell += (
            "\n\n# LibreOffice recalculates this chapter's workbook; in Colab, install it when"
            " it is missing.\n"
            "import shutil\nimport sys\n\n"
            'if "google.colab" in sys.modules and shutil.which("soffice") is None:\n'
            "    !apt-get -qq update && apt-get -qq install -y libreoffice-calc-nogui > /dev/null"
        )
    return cell


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_chapter_installs_the_package_where_it_is_missing(chapter):
    first = code_cells(chapter)[0]
    recalculates = any("recalculate(" in source(cell) for cell in code_cells(chapter)[1:])
    expected = install_cell(libreoffice=recalculates)
    assert source(first) == expected, f"the first cell should be:\n{expected}"
    assert "remove-cell" in tags(first)  # hidden in the HTML
    assert first["outputs"] == []  # where nnbook is installed (the build, nbval), a no-op


def test_the_package_declares_what_it_imports():
    """Every third-party module that src/nnbook imports comes from a declared dependency."""
    import ast
    import importlib.metadata
    import sys
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        Requirement(line).name.lower().replace("_", "-") for line in project["dependencies"]
    }
    provided = importlib.metadata.packages_distributions()
    needed = set()
    for path in (ROOT / "src" / "nnbook").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "nnbook":
                    needed.update(d.lower() for d in provided.get(top, [top]))
    via_myst_nb = {"sphinx", "ipython"}  # myst-nb requires both
    missing = needed - declared - via_myst_nb
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_chapter_has_exercises_with_solutions(chapter):
    """At least three exercises per chapter of Part 1 and two elsewhere, each with a solution."""
    cells = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
    text = "\n".join(source(cell) for cell in cells if cell["cell_type"] == "markdown")
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", text)
    solved = re.findall(r"```\{solution-start\} (\S+)", text)
    if chapter.parent.name != "appendix":
        assert len(labels) >= (3 if chapter.parent.name == "part1" else 2)
    assert sorted(labels) == sorted(solved), "every exercise needs its solution"


def test_the_derivatives_chapter_shows_the_class_network_without_biases():
    """The class network has no biases: no formula of the derivatives chapter may hold one."""
    chapter = ROOT / "book" / "part1" / "derivatives.ipynb"
    shown = [
        "".join(output.get("data", {}).get("text/latex", ""))
        for cell in code_cells(chapter)
        for output in cell.get("outputs", [])
    ]
    formulas = [text for text in shown if text]
    assert any(text.startswith("$\\displaystyle E_{total} =") for text in formulas), formulas[:1]
    assert not [text for text in formulas if re.search(r"b_\{?[12]", text)]


#: Chapters that read a file of the repository outside the package (their pages offer no
#: launch button: ``nnbook.sphinxext``).
READS_THE_REPOSITORY = {f"{page}.ipynb" for page in NEEDS_THE_REPOSITORY}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_chapter_reads_nothing_of_the_repository_but_the_package(chapter):
    """Opened alone (Colab, a downloaded notebook), a chapter has the installed package and
    MNIST: its records come through ``nnbook.records``, never a path into the repository."""
    name = str(chapter.relative_to(ROOT))
    reaching = [
        line.strip()
        for cell in code_cells(chapter)
        for line in source(cell).splitlines()
        # a path into the repository (the chapters run in book/part*/), not a message naming one
        if re.search(r"""["']\.\./|Path\(\s*["'](?:bench|src|book)/""", line.split("#")[0])
    ]
    if name in READS_THE_REPOSITORY:
        assert reaching, f"{name} reads no file of the repository now: take it off the list"
    else:
        assert reaching == [], f"{name} reads the repository: {reaching}"


@pytest.mark.parametrize("name", ["book/part2/layers.ipynb", "book/part1/forward.ipynb"])
def test_a_chapter_copied_alone_into_an_empty_folder_runs(name, tmp_path, mnist_root):
    """As Colab runs it: the notebook by itself, with the installed package (and MNIST)."""
    import nbformat
    from nbclient import NotebookClient

    alone = tmp_path / "alone.ipynb"
    alone.write_bytes((ROOT / name).read_bytes())
    notebook = nbformat.read(alone, as_version=4)
    NotebookClient(
        notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.ipynb"]  # and wrote nothing
