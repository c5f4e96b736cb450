"""The generated workbook, recalculated by LibreOffice, against the NumPy backprop."""

import contextlib
import io
import zipfile
from types import SimpleNamespace

import pytest
import sympy as sp
from openpyxl import load_workbook

from nnbook import cli, spreadsheet
from nnbook.backprop import train_many
from nnbook.network import COLUMNS, DEFAULT_ITERATIONS, INITIAL_WEIGHTS, LEARNING_RATES


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


def test_every_computed_cell_is_a_formula(workbook):
    path = workbook[0]
    book = load_workbook(path)
    assert book.sheetnames[0] == "about"
    for sheet in book.worksheets[1:]:
        assert sheet["B7"].value in LEARNING_RATES  # η, a plain labelled value
        for row in sheet.iter_rows(min_row=spreadsheet.FIRST_DATA_ROW + 1, max_col=len(COLUMNS)):
            for cell in row:
                assert isinstance(cell.value, str) and cell.value.startswith("="), cell.coordinate
        first = sheet[spreadsheet.FIRST_DATA_ROW]
        assert all(str(c.value).startswith("=") for c in first[1 : len(COLUMNS)])


def test_every_eta_sheet_has_a_chart(workbook):
    with zipfile.ZipFile(workbook[0]) as archive:
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
