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

CHAPTERS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
IGNORE = "nbval-ignore-output"
#: Calls whose results depend on the training run: every cell from the first one on is tagged.
RUN_DEPENDENT = re.compile(r"\bfit\(")
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
