"""The class spreadsheet, generated from the SymPy derivation: every computed cell is a formula.

A small printer turns SymPy expressions into spreadsheet formulas (``^`` for powers, ``EXP`` for
the exponential, σ(x) written out as ``1/(1+EXP(-(x)))``), with each symbol replaced by the cell
that holds it. Change η or a starting weight in Excel or LibreOffice and the sheet recomputes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import sympy as sp
from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sympy.printing.str import StrPrinter

from nnbook import symbolic as sym
from nnbook.files import atomic_write
from nnbook.network import (
    BIAS_NAMES,
    BIASES,
    COLUMNS,
    DEFAULT_ITERATIONS,
    INITIAL_WEIGHTS,
    INPUT_NAMES,
    INPUTS,
    LEARNING_RATES,
    TARGET_NAMES,
    TARGETS,
    WEIGHT_NAMES,
    as_pair,
    as_weights,
    check_iterations,
    check_learning_rate,
)

#: Most rows a sheet may hold (Excel's limit is 1,048,576, less the rows above the table). The
#: page calculator has a limit of its own, for another reason (``calculator.PAGE_MAX_ITERATIONS``).
MAX_ITERATIONS = 1_000_000
#: Seconds LibreOffice may take to recalculate a workbook (it takes a few): a LibreOffice
#: that hangs is stopped then, and the build ends with an error instead of hanging.
RECALCULATE_TIMEOUT_S = 300
PARAMETER_ROWS = {"i1": 3, "i2": 4, "t1": 5, "t2": 6, "eta": 7}
#: 1 (update b1, b2 like the weights) or 0 (keep them fixed): a live cell, D3 labels it.
TRAIN_BIASES_CELL = "E3"
#: Starting weights w1..w8 in columns B..I, then the biases b1, b2 in J, K.
WEIGHT_LABEL_ROW, WEIGHT_ROW = 9, 10
HEADER_ROW = 12
FIRST_DATA_ROW = HEADER_ROW + 1
ETA, TRAIN_BIASES = sym.LEARNING_RATE, sym.TRAIN_BIASES


class FormulaPrinter(StrPrinter):
    """SymPy → spreadsheet formula text; ``cells`` maps each symbol to a cell reference."""

    def __init__(self, cells: Mapping[sp.Symbol, str]) -> None:
        super().__init__()
        self.cells = cells

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        try:
            return self.cells[expr]
        except KeyError:
            raise ValueError(f"no cell holds the symbol {expr}") from None

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # Always parenthesised: in spreadsheets unary minus binds tighter than ^ (-2^2 = 4).
        base, exponent = expr.as_base_exp()
        if exponent == sp.Rational(1, 2):
            return f"SQRT({self._print(base)})"
        if exponent == -1:
            return f"(1/({self._print(base)}))"
        return f"(({self._print(base)})^({self._print(exponent)}))"

    def _print_Rational(self, expr: sp.Rational) -> str:
        return f"({expr.p}/{expr.q})" if expr.q != 1 else str(expr.p)

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_exp(self, expr: sp.Expr) -> str:
        return f"EXP({self._print(expr.args[0])})"

    def _print_sigmoid(self, expr: sp.Expr) -> str:
        return f"(1/(1+EXP(-({self._print(expr.args[0])}))))"


def to_formula(expr: sp.Expr, cells: Mapping[sp.Symbol, str]) -> str:
    """``=…`` formula text for ``expr`` with symbols replaced by ``cells``."""
    return "=" + FormulaPrinter(cells).doprint(expr)


def _row_cells(row: str) -> dict[sp.Symbol, str]:
    """Symbols → cells: parameters (absolute) and the columns of data row ``row``.

    ``row`` may be a placeholder such as ``"{row}"``: formulas are printed once per column and
    the row number is filled in with ``str.format``.
    """
    letter = {name: get_column_letter(k + 1) for k, name in enumerate(COLUMNS)}
    cells = {
        sym.i1: "$B$3", sym.i2: "$B$4", sym.t1: "$B$5", sym.t2: "$B$6", ETA: "$B$7",
        TRAIN_BIASES: "$E$3",
    }  # fmt: skip
    for name in COLUMNS[1:]:
        cells[sp.Symbol(name, real=True)] = f"{letter[name]}{row}"
    return cells


@cache
def row_templates() -> dict[int, str]:
    """Column number → formula template of a data row after the first (``{row}``, ``{previous}``).

    Weights: w ← w − η·∂E_total/∂w from the row above; biases: b ← b − train·η·∂E_total/∂b
    (train = the 1/0 cell); the rest from ``nnbook.symbolic.row_expressions``.
    """
    here, above = _row_cells("{row}"), _row_cells("{previous}")
    templates = {}
    for name, expression in sym.update_expressions().items():
        templates[COLUMNS.index(name) + 1] = to_formula(expression, above)
    for name, expression in sym.row_expressions().items():
        templates[COLUMNS.index(name) + 1] = to_formula(expression, here)
    return templates


def first_row_templates() -> dict[int, str]:
    """As ``row_templates``, but row 0 takes the starting weights and biases at the top."""
    templates = dict(row_templates())
    for k in range(len(WEIGHT_NAMES) + len(BIAS_NAMES)):
        templates[k + 2] = f"={get_column_letter(k + 2)}${WEIGHT_ROW}"
    return templates


def sheet_name(lr: float) -> str:
    return f"eta={lr:g}"


@dataclass(frozen=True)
class SheetNumbers:
    """What the yellow cells start with: the network's numbers, checked."""

    weights: tuple[float, ...] = INITIAL_WEIGHTS
    inputs: tuple[float, float] = INPUTS
    targets: tuple[float, float] = TARGETS
    biases: tuple[float, float] = BIASES
    train_biases: bool = False

    def __post_init__(self) -> None:
        weights = as_weights(self.weights)
        if weights.ndim != 1:
            raise ValueError(f"expected one set of 8 weights, got shape {weights.shape}")
        object.__setattr__(self, "weights", tuple(float(w) for w in weights))
        object.__setattr__(self, "inputs", as_pair(self.inputs, INPUT_NAMES))
        object.__setattr__(self, "targets", as_pair(self.targets, TARGET_NAMES))
        object.__setattr__(self, "biases", as_pair(self.biases, BIAS_NAMES))


#: What each η sheet says at its top, and the labels of its yellow cells.
TITLE = "Backpropagation, the 2-2-2 network, learning rate η = {lr:g}"
INSTRUCTIONS = "Change η, an input, a target or a starting value (yellow): every row recomputes."
LABELS = {"eta": "η (learning rate)"}  #: a parameter row's label, when not its name
TRAIN_BIASES_LABEL = "train biases (1 = yes, 0 = no)"
STARTING_LABEL = "starting weights and biases"
YELLOW = "FFF2CC"  #: the fill of every cell the reader may change, and of no other
#: The chart of E_total: right of the yellow cells and above the table, in the rows the frozen
#: panes keep in view, so that it hides no cell (openpyxl sizes charts in centimetres; a row
#: is 15 points, about 0.53 cm, high).
CHART_ANCHOR, CHART_WIDTH_CM, CHART_HEIGHT_CM = "M1", 16.0, 5.5

#: The about sheet, line by line: what the workbook holds and how it computes.
ABOUT = """\
nnbook: the class backpropagation sheet, generated from the SymPy derivation

Network: inputs i1, i2; hidden h1 = w1·i1 + w2·i2 + b1, h2 = w3·i1 + w4·i2 + b1,
a_h = σ(h); outputs o1 = w5·a_h1 + w6·a_h2 + b2, o2 = w7·a_h1 + w8·a_h2 + b2,
a_o = σ(o), σ(x) = 1/(1+e^(−x)). The class network has no biases: b1 = b2 = 0.
Error: E_total = E1 + E2 = ½(t1 − a_o1)² + ½(t2 − a_o2)².
Update: w ← w − η·∂E_total/∂w for all eight weights, from the same forward pass;
b ← b − η·∂E_total/∂b too when the cell 'train biases' is 1 (fixed when it is 0).

One sheet per learning rate: {sheets}.
At the top of each: inputs, targets, η, starting weights and biases (yellow cells).
Below the header row: one row per iteration 0..{iterations}; row k is the state after k updates:
weights, biases, every intermediate of the forward pass, E1, E2, E_total, the gradients.
Every computed cell is a formula printed from SymPy's expressions; nothing is typed.
The chart on each sheet plots E_total against iteration."""


def _write_inputs(sheet: Worksheet, lr: float, numbers: SheetNumbers) -> None:
    """The title, then the yellow cells with their labels: inputs, targets, η, whether the
    biases train, the starting weights and biases."""
    bold, yellow = Font(bold=True), PatternFill("solid", fgColor=YELLOW)
    sheet["A1"] = TITLE.format(lr=lr)
    sheet["A1"].font = Font(bold=True, size=13)
    sheet["A2"] = INSTRUCTIONS
    values = {
        "i1": numbers.inputs[0], "i2": numbers.inputs[1],
        "t1": numbers.targets[0], "t2": numbers.targets[1], "eta": lr,
    }  # fmt: skip
    for name, row in PARAMETER_ROWS.items():
        sheet.cell(row, 1, LABELS.get(name, name)).font = bold
        sheet.cell(row, 2, values[name]).fill = yellow
    flag = sheet[TRAIN_BIASES_CELL]
    sheet.cell(flag.row, flag.column - 1, TRAIN_BIASES_LABEL).font = bold
    flag.value, flag.fill = int(numbers.train_biases), yellow
    sheet.cell(WEIGHT_LABEL_ROW - 1, 1, STARTING_LABEL).font = bold
    starting = (*numbers.weights, *numbers.biases)
    for k, (name, value) in enumerate(zip((*WEIGHT_NAMES, *BIAS_NAMES), starting, strict=True)):
        sheet.cell(WEIGHT_LABEL_ROW, k + 2, name).font = bold
        sheet.cell(WEIGHT_ROW, k + 2, value).fill = yellow


def _write_table(sheet: Worksheet, iterations: int) -> None:
    """The header row and one row of formulas per iteration, the header kept in view."""
    for k, name in enumerate(COLUMNS):
        sheet.cell(HEADER_ROW, k + 1, name).font = Font(bold=True)
    for k in range(iterations + 1):
        row = FIRST_DATA_ROW + k
        sheet.cell(row, 1, k if k == 0 else f"=A{row - 1}+1")
        templates = first_row_templates() if k == 0 else row_templates()
        for column, template in templates.items():
            sheet.cell(row, column, template.format(row=row, previous=row - 1))
    sheet.freeze_panes = sheet.cell(FIRST_DATA_ROW, 2)


def _add_chart(sheet: Worksheet, lr: float, iterations: int) -> None:
    """A line chart of the table's E_total column against its iteration column."""
    chart = LineChart()
    chart.title = f"E_total against iteration, η = {lr:g}"
    chart.x_axis.title = "iteration"
    chart.y_axis.title = "E_total"
    chart.legend = None
    column = COLUMNS.index("E_total") + 1
    last = FIRST_DATA_ROW + iterations
    values = Reference(sheet, min_col=column, min_row=HEADER_ROW, max_row=last)
    chart.add_data(values, titles_from_data=True)  # one series: the header names it
    chart.set_categories(Reference(sheet, min_col=1, min_row=FIRST_DATA_ROW, max_row=last))
    chart.width, chart.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
    sheet.add_chart(chart, CHART_ANCHOR)


def _write_eta_sheet(
    workbook: Workbook, lr: float, iterations: int, numbers: SheetNumbers
) -> None:
    sheet = workbook.create_sheet(sheet_name(lr))
    _write_inputs(sheet, lr, numbers)
    _write_table(sheet, iterations)
    _add_chart(sheet, lr, iterations)


def _write_about_sheet(
    workbook: Workbook, learning_rates: Sequence[float], iterations: int
) -> None:
    sheet = workbook.active
    sheet.title = "about"
    sheets = ", ".join(sheet_name(lr) for lr in learning_rates)
    for k, line in enumerate(ABOUT.format(sheets=sheets, iterations=iterations).splitlines()):
        sheet.cell(k + 1, 1, line)
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.column_dimensions["A"].width = 100


def build_workbook(
    learning_rates: Sequence[float] = LEARNING_RATES,
    iterations: int = DEFAULT_ITERATIONS,
    numbers: SheetNumbers = SheetNumbers(),
) -> Workbook:
    """The workbook in memory: an ``about`` sheet, then one sheet per learning rate."""
    rates = [check_learning_rate(lr) for lr in learning_rates]
    if not rates:
        raise ValueError("at least one learning rate is needed")
    if len({sheet_name(lr) for lr in rates}) != len(rates):
        raise ValueError(f"learning rates must differ, got {list(learning_rates)}")
    steps = check_iterations(iterations)
    if steps > MAX_ITERATIONS:
        raise ValueError(f"at most {MAX_ITERATIONS} iterations fit in a sheet, got {steps}")
    workbook = Workbook()
    _write_about_sheet(workbook, rates, steps)
    for lr in rates:
        _write_eta_sheet(workbook, lr, steps, numbers)
    return workbook


def write_workbook(
    path: str | os.PathLike[str],
    learning_rates: Sequence[float] = LEARNING_RATES,
    iterations: int = DEFAULT_ITERATIONS,
    numbers: SheetNumbers = SheetNumbers(),
) -> Path:
    """Build the workbook and save it at ``path``, replacing a file there only when complete."""
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise ValueError(f"the workbook's name must end in .xlsx, got {target.name}")
    workbook = build_workbook(learning_rates, iterations, numbers)  # validates before writing
    return atomic_write(target, workbook.save)


def recalculate(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    timeout: float = RECALCULATE_TIMEOUT_S,
) -> Path:
    """Open the workbook in headless LibreOffice, recalculate it and save it as ``out_dir/NAME``.

    The saved copy holds LibreOffice's computed value of every formula cell. A LibreOffice still
    running after ``timeout`` seconds is stopped, with every process it started (``soffice`` is
    a script that starts the program), and is a RuntimeError.
    """
    import shutil
    import signal
    import subprocess

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise RuntimeError(
            "LibreOffice (soffice) is needed to recalculate the workbook; on Debian: "
            "apt-get install libreoffice-calc-nogui"
        )
    source, destination = Path(path).resolve(), Path(out_dir).resolve()
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nnbook-lo-") as profile:
        command = [
            soffice, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless",
            "--norestore", "--calc", "--convert-to", "xlsx", "--outdir", str(destination),
            str(source),
        ]  # fmt: skip
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # its own process group: stopped whole
        ) as process:  # fmt: skip
            try:
                _, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise RuntimeError(
                    f"LibreOffice did not finish recalculating {source} within {timeout:g} s "
                    "and was stopped"
                ) from None
    output = destination / source.name
    if process.returncode != 0 or not output.is_file():
        raise RuntimeError(f"LibreOffice could not recalculate {source}: {stderr.strip()}")
    return output


def read_values(path: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """The computed values of every η sheet of a recalculated workbook, as ``{sheet: table}``."""
    from openpyxl import load_workbook

    workbook = load_workbook(path, data_only=True, read_only=True)
    tables = {}
    for sheet in workbook.worksheets:
        if not sheet.title.startswith("eta="):
            continue
        rows = sheet.iter_rows(min_row=HEADER_ROW, max_col=len(COLUMNS), values_only=True)
        header = next(rows)
        if list(header) != list(COLUMNS):
            raise ValueError(f"sheet {sheet.title} does not have the columns {COLUMNS}")
        tables[sheet.title] = pd.DataFrame(list(rows), columns=list(COLUMNS))
    workbook.close()
    return tables


#: Below this size a value is compared absolutely (see ``largest_relative_difference``).
SMALLEST_DENOMINATOR = 1e-4


def largest_relative_difference(table: pd.DataFrame, run: pd.DataFrame) -> float:
    """max |sheet − NumPy| / max(|NumPy|, 1e-4) over every cell of ``COLUMNS``.

    A weight that crosses zero (w5 at η = 1 passes −1e-5) makes a purely pointwise relative
    difference meaningless; below 1e-4 the difference is taken relative to 1e-4, i.e. an
    absolute 1e-16 at a 1e-12 tolerance, far below the size of any quantity in the sheet.
    """
    got = table[list(COLUMNS)].to_numpy(float)
    expected = run[list(COLUMNS)].to_numpy(float)
    if got.shape != expected.shape:
        raise ValueError(f"the sheet has shape {got.shape}, the run {expected.shape}")
    scale = np.maximum(np.abs(expected), SMALLEST_DENOMINATOR)
    return float(np.max(np.abs(got - expected) / scale))
