"""The generated workbook, recalculated by LibreOffice, against the NumPy backprop."""

import contextlib
import io
import os
import re
import time
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import sympy as sp
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

from nnbook import cli, spreadsheet
from nnbook.backprop import train_many
from nnbook.network import (
    BIAS_NAMES,
    BIASES,
    COLUMNS,
    DEFAULT_ITERATIONS,
    INITIAL_WEIGHTS,
    INPUTS,
    LEARNING_RATES,
    TARGETS,
    WEIGHT_NAMES,
)


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sheet")
    path = spreadsheet.write_workbook(folder / "backprop.xlsx")
    return path, spreadsheet.recalculate(path, folder / "recalculated")


def test_every_cell_matches_numpy(workbook):
    _, recalculated = workbook
    tables = spreadsheet.read_values(recalculated)
    runs = train_many(LEARNING_RATES, DEFAULT_ITERATIONS)
    assert list(tables) == [f"eta={lr:g}" for lr in LEARNING_RATES]
    for lr, run in runs.items():
        table = tables[f"eta={lr:g}"]
        assert len(table) == DEFAULT_ITERATIONS + 1
        assert spreadsheet.largest_relative_difference(table, run) < 1e-12, lr


@pytest.fixture
def written(tmp_path):
    """The default workbook as saved, not recalculated: made by each test that reads it (mutation
    testing runs a function's mutants with the tests that call it, not with a shared file)."""
    return spreadsheet.write_workbook(tmp_path / "backprop.xlsx")


def test_every_computed_cell_is_a_formula(written):
    book = load_workbook(written)
    assert book.sheetnames[0] == "about"
    for sheet in book.worksheets[1:]:
        assert sheet["B7"].value in LEARNING_RATES  # η, a plain labelled value
        for row in sheet.iter_rows(min_row=spreadsheet.FIRST_DATA_ROW + 1, max_col=len(COLUMNS)):
            for cell in row:
                assert isinstance(cell.value, str) and cell.value.startswith("="), cell.coordinate
        first = sheet[spreadsheet.FIRST_DATA_ROW]
        assert all(str(c.value).startswith("=") for c in first[1 : len(COLUMNS)])


def test_every_eta_sheet_has_a_chart(written):
    with zipfile.ZipFile(written) as archive:
        names = archive.namelist()
        charts = [n for n in names if n.startswith("xl/charts/chart")]
        assert len(charts) == len(LEARNING_RATES)
        for k in range(1, len(LEARNING_RATES) + 2):
            rels = f"xl/worksheets/_rels/sheet{k}.xml.rels"
            if k == 1:
                assert rels not in names  # the about sheet has none
            else:
                assert "drawing" in archive.read(rels).decode()
        assert all(b"E_total" in archive.read(c) for c in charts)


def test_changing_eta_recomputes(workbook, tmp_path):
    book = load_workbook(workbook[0])
    book["eta=0.5"]["B7"] = 0.7
    book["eta=0.5"]["C10"] = 0.25  # and a starting weight, w2
    edited = tmp_path / "edited.xlsx"
    book.save(edited)
    table = spreadsheet.read_values(spreadsheet.recalculate(edited, tmp_path / "out"))["eta=0.5"]
    weights = [0.15, 0.25, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]
    run = train_many([0.7], DEFAULT_ITERATIONS, weights)[0.7]
    assert spreadsheet.largest_relative_difference(table, run) < 1e-12


def test_formula_printer():
    x, y = sp.symbols("x y", real=True)
    cells = {x: "A1", y: "B1"}
    assert spreadsheet.to_formula(-(x**2), cells) == "=-((A1)^(2))"  # not -A1^2 = (−A1)²
    assert spreadsheet.to_formula(sp.exp(x) / 2, cells) == "=EXP(A1)/2"
    from nnbook.symbolic import sigmoid

    assert spreadsheet.to_formula(sigmoid(x + y), cells) == "=(1/(1+EXP(-(A1 + B1))))"
    with pytest.raises(ValueError, match="no cell holds"):
        spreadsheet.to_formula(x + sp.Symbol("z"), cells)


def run_cli(*args):
    """``nnbook spreadsheet ARGS`` in this process (``tests/test_cli.py`` runs the command line
    in a subprocess): its exit status and what it wrote to stderr."""
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = cli.main(["spreadsheet", *args])
        except SystemExit as exit_:
            status = exit_.code
    return SimpleNamespace(returncode=status, stderr=errors.getvalue())


def test_cli_writes_and_replaces(tmp_path):
    out = tmp_path / "sheet.xlsx"
    out.write_text("old")
    result = run_cli(str(out), "--iterations", "5")
    assert result.returncode == 0, result.stderr
    book = load_workbook(out)
    assert book["eta=2"].max_row == spreadsheet.FIRST_DATA_ROW + 5
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.xlsx"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--iterations", "-1"], "iteration count must be 0 or more"),
        (["--iterations", "2000000"], "at most"),
        (["--learning-rates", "0"], "learning rate must be a finite positive number"),
        (["--learning-rates", "inf"], "learning rate must be a finite positive number"),
        (["--learning-rates", "0.5", "0.5"], "learning rates must differ"),
    ],
)
def test_cli_bad_input_leaves_no_file(tmp_path, args, message):
    out = tmp_path / "sheet.xlsx"
    out.write_text("keep me")
    result = run_cli(str(out), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert out.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.xlsx"]


def test_cli_bad_name_and_folder(tmp_path):
    assert run_cli(str(tmp_path / "sheet.csv")).returncode == 2
    result = run_cli(str(tmp_path / "missing" / "sheet.xlsx"))
    assert result.returncode == 2 and "cannot write" in result.stderr


def test_relative_difference_is_measured_against_a_floor():
    run = train_many([0.5], 2)[0.5]
    assert spreadsheet.largest_relative_difference(run, run) == 0
    shifted = run.copy()
    shifted.loc[1, "w5"] += 1e-9  # w5 is about 0.4: relative about 2.5e-9
    assert spreadsheet.largest_relative_difference(shifted, run) == pytest.approx(
        1e-9 / run.loc[1, "w5"]
    )
    near_zero, tiny = run.copy(), run.copy()
    near_zero.loc[0, "w5"], tiny.loc[0, "w5"] = 0.0, 1e-12  # |value| < 1e-4: against the floor
    assert spreadsheet.largest_relative_difference(tiny, near_zero) == pytest.approx(1e-8)
    with pytest.raises(ValueError, match="shape"):
        spreadsheet.largest_relative_difference(run.iloc[:2], run)


def test_biases_and_own_numbers_live_in_every_formula(tmp_path):
    numbers = spreadsheet.SheetNumbers(
        INITIAL_WEIGHTS, (0.05, 0.1), (0.01, 0.99), (0.35, 0.6), train_biases=True
    )
    path = spreadsheet.write_workbook(tmp_path / "mine.xlsx", [0.5], 20, numbers)
    sheet = load_workbook(path)["eta=0.5"]
    assert sheet["J10"].value == 0.35 and sheet["K10"].value == 0.6  # yellow bias cells
    assert sheet[spreadsheet.TRAIN_BIASES_CELL].value == 1
    recalculated = spreadsheet.recalculate(path, tmp_path / "out")
    table = spreadsheet.read_values(recalculated)["eta=0.5"]
    run = train_many([0.5], 20, INITIAL_WEIGHTS, (0.05, 0.1), (0.01, 0.99), (0.35, 0.6), True)
    assert spreadsheet.largest_relative_difference(table, run[0.5]) < 1e-12
    # switch training off and move b2 in the sheet: the biases then stay, and all follows
    book = load_workbook(path)
    book["eta=0.5"][spreadsheet.TRAIN_BIASES_CELL] = 0
    book["eta=0.5"]["K10"] = -0.2
    book.save(tmp_path / "edited.xlsx")
    edited = spreadsheet.recalculate(tmp_path / "edited.xlsx", tmp_path / "out2")
    table = spreadsheet.read_values(edited)["eta=0.5"]
    run = train_many([0.5], 20, INITIAL_WEIGHTS, (0.05, 0.1), (0.01, 0.99), (0.35, -0.2))
    assert spreadsheet.largest_relative_difference(table, run[0.5]) < 1e-12


CELL = re.compile(r"\$?([A-Z]{1,3})\$?(\d+)")


def test_yellow_marks_exactly_the_cells_the_formulas_read_and_none_computes():
    """The sheet's inputs, found from its formulas (cells they read that hold no formula), are
    the yellow cells; each has a bold label, to its left or above it, naming what it holds."""
    sheet = spreadsheet.build_workbook([0.5], 3)["eta=0.5"]
    cells = {c.coordinate: c for row in sheet.iter_rows() for c in row if c.value is not None}
    formulas = {k for k, c in cells.items() if str(c.value).startswith("=")}
    read = {f"{col}{row}" for k in formulas for col, row in CELL.findall(cells[k].value)}
    yellow = {k for k, c in cells.items() if c.fill.fgColor.rgb == "00" + spreadsheet.YELLOW}
    counter = f"A{spreadsheet.FIRST_DATA_ROW}"  # iteration 0, which the next row counts on from
    assert yellow == read - formulas - {counter}
    values = {}
    for coordinate in yellow:
        cell = cells[coordinate]
        left, above = sheet.cell(cell.row, cell.column - 1), sheet.cell(cell.row - 1, cell.column)
        label = (
            left
            if left.value is not None and not left.fill.fgColor.rgb.endswith(spreadsheet.YELLOW)
            else above
        )
        assert label.font.b, coordinate
        values[label.value] = cell.value
    names = (*WEIGHT_NAMES, *BIAS_NAMES)
    assert {name: values[name] for name in names} == dict(
        zip(names, (*INITIAL_WEIGHTS, *BIASES), strict=True)
    )
    assert {name: values[name] for name in ("i1", "i2", "t1", "t2")} == {
        "i1": INPUTS[0], "i2": INPUTS[1], "t1": TARGETS[0], "t2": TARGETS[1],
    }  # fmt: skip
    (eta,) = [label for label in values if label.startswith("η")]
    assert values[eta] == 0.5
    (flag,) = [label for label in values if "biases" in label and "1" in label]
    assert values[flag] == 0  # the class network's biases stay fixed


def test_the_header_stays_in_view_and_the_title_names_eta():
    book = spreadsheet.build_workbook([0.2, 2], 4)
    for lr in (0.2, 2):
        sheet = book[spreadsheet.sheet_name(lr)]
        assert f"η = {lr:g}" in sheet["A1"].value
        assert sheet["A1"].font.b and sheet["A1"].font.sz > 11  # larger than the labels
        header = [c.value for c in sheet[spreadsheet.HEADER_ROW]][: len(COLUMNS)]
        assert header == list(COLUMNS)
        assert all(c.font.b for c in sheet[spreadsheet.HEADER_ROW][: len(COLUMNS)])
        # frozen: every row above the first iteration, and the iteration column
        assert sheet.freeze_panes == f"B{spreadsheet.FIRST_DATA_ROW}"
        assert sheet[f"A{spreadsheet.FIRST_DATA_ROW}"].value == 0


@pytest.mark.parametrize("iterations", [0, 3, 200])
def test_the_chart_is_one_line_of_e_total_against_iteration_and_hides_no_cell(iterations):
    sheet = spreadsheet.build_workbook([0.5], iterations)["eta=0.5"]
    (chart,) = sheet._charts
    (series,) = chart.series  # one line, not one series per row
    first, last = spreadsheet.FIRST_DATA_ROW, spreadsheet.FIRST_DATA_ROW + iterations
    total = get_column_letter(COLUMNS.index("E_total") + 1)

    def rows(column):
        return f"'eta=0.5'!${column}${first}" + (f":${column}${last}" if iterations else "")

    assert (series.val.numRef.f, series.cat.numRef.f) == (rows(total), rows("A"))
    assert series.tx.strRef.f == f"'eta=0.5'!{total}{spreadsheet.HEADER_ROW}"  # "E_total"

    def text(title):
        return "".join(run.t for paragraph in title.tx.rich.p for run in paragraph.r or ())

    assert "E_total" in text(chart.title) and "η = 0.5" in text(chart.title)
    assert (text(chart.x_axis.title), text(chart.y_axis.title)) == ("iteration", "E_total")
    assert chart.legend is None  # a single line needs none
    # where it sits: right of every filled cell of its rows, and above the header row
    column, row = coordinate_from_string(chart.anchor)
    filled = [c for r in sheet.iter_rows(max_row=spreadsheet.HEADER_ROW - 1) for c in r if c.value]
    assert column_index_from_string(column) > max(c.column for c in filled if c.row >= 3)
    row_cm = 15 / 72 * 2.54  # a default row: 15 points
    assert (row - 1) * row_cm + chart.height <= (spreadsheet.HEADER_ROW - 1) * row_cm


def test_printed_formulas_compute_what_sympy_computes(tmp_path):
    """Each kind of expression the printer knows, printed as a formula, recalculated by
    LibreOffice (an independent evaluator), equals SymPy's value: spreadsheets bind unary minus
    tighter than ``^``, and ``^`` left to right, where SymPy's ``**`` is right to left."""
    from openpyxl import Workbook

    from nnbook.symbolic import sigmoid

    x, y = sp.symbols("x y", real=True)
    values = {x: 0.3, y: -1.7}
    expressions = [
        -(x**2), x ** (y**2), (x + y) ** -2, 1 / x, 1 / (x - y), sp.sqrt(x),
        x ** sp.Rational(1, 3), sp.Rational(3, 4) * y, sp.Float(0.125) * x, sp.exp(-y) / 2,
        sigmoid(x * y), 2 ** (-x), x + sp.Rational(1, 2), x + 3,
    ]  # fmt: skip
    book = Workbook()
    sheet = book.active
    sheet["A1"], sheet["B1"] = values[x], values[y]
    for row, expression in enumerate(expressions, start=2):
        sheet.cell(row, 1, spreadsheet.to_formula(expression, {x: "$A$1", y: "$B$1"}))
    book.save(tmp_path / "formulas.xlsx")
    recalculated = spreadsheet.recalculate(tmp_path / "formulas.xlsx", tmp_path / "a" / "b")
    computed = load_workbook(recalculated, data_only=True).active
    for row, expression in enumerate(expressions, start=2):
        expected = float(expression.subs(values).replace(sigmoid, lambda z: 1 / (1 + sp.exp(-z))))
        assert computed.cell(row, 1).value == pytest.approx(expected, rel=1e-14), expression


def test_recalculating_without_libreoffice_or_a_file_says_so(tmp_path, monkeypatch):
    with pytest.raises(
        RuntimeError, match=r"(?s)could not recalculate .*missing\.xlsx: .*loaded$"
    ):
        spreadsheet.recalculate(tmp_path / "missing.xlsx", tmp_path / "out")  # LO's own words
    assert list((tmp_path / "out").iterdir()) == []
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    message = (
        "LibreOffice (soffice) is needed to recalculate the workbook; on Debian: "
        "apt-get install libreoffice-calc-nogui"
    )
    with pytest.raises(RuntimeError, match=f"^{re.escape(message)}$"):
        spreadsheet.recalculate(tmp_path / "missing.xlsx", tmp_path / "out")


def test_read_values_reads_the_eta_sheets_and_refuses_another_table(workbook, tmp_path):
    book = load_workbook(workbook[1])
    assert set(spreadsheet.read_values(workbook[1])) == set(book.sheetnames) - {"about"}
    book["eta=0.5"].cell(spreadsheet.HEADER_ROW, 3, "weight 2")
    book.save(tmp_path / "renamed.xlsx")
    with pytest.raises(ValueError, match=r"sheet eta=0\.5 does not have the columns"):
        spreadsheet.read_values(tmp_path / "renamed.xlsx")


def test_the_about_sheet_names_every_sheet_and_the_rows():
    book = spreadsheet.build_workbook([0.2, 2], 4)
    about = book["about"]
    assert book.sheetnames == ["about", "eta=0.2", "eta=2"]
    text = "\n".join(cell.value for (cell,) in about.iter_rows(max_col=1))
    assert "One sheet per learning rate: eta=0.2, eta=2." in text
    assert "iteration 0..4;" in text
    assert about["A1"].font.b and about["A1"].font.sz > 11
    longest = max(len(cell.value) for (cell,) in about.iter_rows(max_col=1))
    assert about.column_dimensions["A"].width >= longest  # no line cut at the column's edge


def test_sheet_numbers_are_checked_and_stored_as_floats():
    numbers = spreadsheet.SheetNumbers(np.arange(8) / 10, [1, 0], np.array([0.5, 0.25]), (0, 1))
    assert numbers.weights == tuple(k / 10 for k in range(8))
    assert all(type(v) is float for v in (*numbers.weights, *numbers.inputs, *numbers.targets))
    assert (numbers.inputs, numbers.targets, numbers.biases) == ((1.0, 0.0), (0.5, 0.25), (0, 1))
    stored = (*numbers.weights, *numbers.inputs, *numbers.targets, *numbers.biases)
    assert all(type(v) is float for v in stored)
    assert spreadsheet.SheetNumbers(biases=np.array([0, 1])).biases == (0.0, 1.0)
    with pytest.raises(ValueError, match="one set of 8 weights, got shape \\(2, 8\\)"):
        spreadsheet.SheetNumbers(np.zeros((2, 8)))
    for field in ("inputs", "targets", "biases"):
        with pytest.raises(ValueError, match=r"i1, i2|t1, t2|b1, b2"):
            spreadsheet.SheetNumbers(**{field: (1, 2, 3)})


def test_a_workbook_needs_a_rate_and_rows_that_fit(monkeypatch):
    with pytest.raises(ValueError, match=r"^at least one learning rate is needed$"):
        spreadsheet.build_workbook([], 3)
    monkeypatch.setattr(spreadsheet, "MAX_ITERATIONS", 3)
    assert (
        spreadsheet.build_workbook([0.5], 3)["eta=0.5"].max_row == spreadsheet.FIRST_DATA_ROW + 3
    )
    with pytest.raises(ValueError, match="at most 3 iterations fit in a sheet, got 4"):
        spreadsheet.build_workbook([0.5], 4)


@pytest.mark.parametrize("installed", ["soffice", "libreoffice"])
def test_libreoffice_is_found_by_either_name_and_recalculates_into_a_folder_twice(
    tmp_path, monkeypatch, installed, capfd
):
    """Debian installs both names; a machine with only one of them recalculates too, and a
    second recalculation into the same folder replaces the first; LibreOffice's chatter ("convert
    … using filter …") stays out of the build's log."""
    import shutil

    real = shutil.which("soffice") or shutil.which("libreoffice")
    monkeypatch.setattr(shutil, "which", lambda name: real if name == installed else None)
    path = spreadsheet.write_workbook(tmp_path / "small.xlsx", [0.5], 2)
    for _ in range(2):
        out = spreadsheet.recalculate(path, tmp_path / "out")
    assert capfd.readouterr() == ("", "")
    table = spreadsheet.read_values(out)["eta=0.5"]
    assert spreadsheet.largest_relative_difference(table, train_many([0.5], 2)[0.5]) < 1e-12


def test_the_sheet_says_what_the_reader_may_change_and_labels_the_starting_values():
    sheet = spreadsheet.build_workbook([0.5], 1)["eta=0.5"]
    assert "yellow" in sheet["A2"].value  # the instructions name the cells to change
    label = sheet.cell(spreadsheet.WEIGHT_LABEL_ROW - 1, 1)
    assert label.font.b and "starting" in label.value
    assert sheet["B3"].fill.fill_type == "solid"  # a colour the spreadsheet shows


def test_read_values_ignores_columns_a_reader_adds_and_refuses_error_cells(workbook, tmp_path):
    book = load_workbook(workbook[1])
    book["eta=0.5"].cell(spreadsheet.HEADER_ROW, len(COLUMNS) + 2, "my notes")
    book.save(tmp_path / "noted.xlsx")
    table = spreadsheet.read_values(tmp_path / "noted.xlsx")["eta=0.5"]
    assert list(table.columns) == list(COLUMNS)
    run = train_many([0.5], DEFAULT_ITERATIONS)[0.5]
    broken = table.copy()
    broken.loc[3, "E1"] = "#DIV/0!"  # what LibreOffice writes for a formula that fails
    with pytest.raises(ValueError, match="could not convert string to float"):
        spreadsheet.largest_relative_difference(broken, run)


def test_a_workbook_name_must_end_in_xlsx(tmp_path):
    with pytest.raises(ValueError, match=r"^the workbook's name must end in \.xlsx, got a\.csv$"):
        spreadsheet.write_workbook(tmp_path / "a.csv")
    assert list(tmp_path.iterdir()) == []


def test_constants_and_roots_print_as_the_class_sheet_writes_them():
    """Readable formulas: a square root as SQRT, a reciprocal as 1/x, a fraction in brackets,
    a whole number as itself (the values are checked by LibreOffice above)."""
    x = sp.Symbol("x", real=True)
    cells = {x: "A1"}
    assert spreadsheet.to_formula(sp.sqrt(x), cells) == "=SQRT(A1)"
    assert spreadsheet.to_formula(1 / x, cells) == "=(1/(A1))"
    assert spreadsheet.to_formula(x + sp.Rational(1, 2), cells) == "=A1 + (1/2)"
    assert spreadsheet.to_formula(x + 3, cells) == "=A1 + 3"


def test_a_libreoffice_that_hangs_is_stopped_after_its_limit(tmp_path, monkeypatch):
    """A LibreOffice that never finishes (here a ``soffice`` script whose program hangs, as
    the real script's ``soffice.bin`` would) is stopped, program too, with a clear error
    after the limit: the build does not hang."""
    fake = tmp_path / "bin" / "soffice"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nsleep 120 &\nsleep 120\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    started = time.monotonic()
    message = r"^LibreOffice did not finish recalculating \S*a\.xlsx within 0\.5 s and was stopped"
    with pytest.raises(RuntimeError, match=message):
        spreadsheet.recalculate(tmp_path / "a.xlsx", tmp_path / "out", timeout=0.5)
    assert time.monotonic() - started < 30  # not the two minutes of either sleep
