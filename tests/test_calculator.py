"""The calculator and the η explorer, in a real browser, against the NumPy backprop.

The page computes with JavaScript printed from the SymPy derivation (``nnbook.calculator``);
NumPy computes with the backprop of ``nnbook.backprop``: two implementations, one answer.
"""

from __future__ import annotations

import csv
import io
import random
import re

import numpy as np
import pytest
from built_book import HTML, chromium, only_the_book, serve_book

from nnbook import calculator
from nnbook.backprop import train
from nnbook.network import (
    BIAS_NAMES,
    BIASES,
    COLUMNS,
    DEFAULT_ITERATIONS,
    DEFAULT_LEARNING_RATE,
    INITIAL_WEIGHTS,
    INPUTS,
    TARGETS,
    WEIGHT_NAMES,
)

pytestmark = pytest.mark.book  # reads the built book

PARAMETER_NAMES = (*WEIGHT_NAMES, *BIAS_NAMES)

PAGE = "book/part1/calculator.html"
ETA_PAGE = "book/part1/learning_rate.html"
SHOWN = [name for name in COLUMNS if name != "iteration"]
#: Relative agreement asked of the page; below FLOOR in size, measured against FLOOR.
RTOL, FLOOR = 1e-12, 1e-4
CASES = 20


def relative_difference(got: float, expected: float) -> float:
    return abs(got - expected) / max(abs(expected), FLOOR)


@pytest.fixture(scope="module")
def server():
    with serve_book() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    only_the_book(context, server)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.errors = errors
    yield tab
    context.close()
    assert not errors, errors


def open_calculator(tab, server):
    tab.goto(server + PAGE, wait_until="load")
    tab.wait_for_selector('[data-quantity="final:E_total"]')


def shown_values(tab) -> dict[str, float]:
    values = tab.eval_on_selector_all(
        "[data-quantity]", "els => els.map(e => [e.dataset.quantity, e.dataset.value])"
    )
    return {name: float(value) for name, value in values}


def set_fields(tab, values: dict[str, object], train_biases: bool = False) -> None:
    form = tab.locator("form.nnbook-calculator")
    for name, value in values.items():
        form.locator(f'input[name="{name}"]').fill(repr(value))
    form.locator('input[name="train_biases"]').set_checked(train_biases)


def worst_difference(shown: dict[str, float], run, iterations: int) -> float:
    worst = 0.0
    for name in SHOWN:
        worst = max(worst, relative_difference(shown[name], run.loc[0, name]))
        worst = max(worst, relative_difference(shown[f"final:{name}"], run.loc[iterations, name]))
    return worst


def test_the_built_module_is_fresh():
    """A freshness check, not a check of the formulas (the browser tests below compare the page
    with the NumPy backprop): the module in the built book is what the package prints now, so a
    build older than the code is caught."""
    built = (HTML / "_static" / calculator.MODULE_NAME).read_bytes()
    assert built == calculator.javascript_module().encode("utf-8")  # regenerated, same bytes
    assigned = re.findall(r"^ {4}const (\w+) = ", built.decode(), flags=re.MULTILINE)
    computed = [name for name in COLUMNS if name not in ("iteration", *PARAMETER_NAMES)]
    assert assigned == computed  # every computed column of a row, in the CLI's order


def test_class_values_and_every_quantity(page, server):
    open_calculator(page, server)
    shown = shown_values(page)
    assert set(shown) == set(SHOWN) | {f"final:{name}" for name in SHOWN}
    run = train(DEFAULT_LEARNING_RATE, DEFAULT_ITERATIONS)
    assert worst_difference(shown, run, DEFAULT_ITERATIONS) < RTOL
    labels = page.eval_on_selector_all(
        "form.nnbook-calculator input", "els => els.filter(e => e.labels.length === 0).length"
    )
    assert labels == 0  # every field has a label a screen reader reads


def test_random_cases_agree_with_numpy(page, server):
    open_calculator(page, server)
    rng = random.Random(20261125)
    worst = 0.0
    for _ in range(CASES):
        weights = [rng.uniform(-1, 1) for _ in INITIAL_WEIGHTS]
        inputs = [rng.uniform(-1, 1) for _ in INPUTS]
        targets = [rng.uniform(0.05, 0.95) for _ in TARGETS]
        biases = [rng.uniform(-0.5, 0.5) for _ in BIASES]
        eta, iterations, train_biases = (
            rng.uniform(0.05, 3),
            rng.randint(1, 60),
            rng.random() < 0.5,
        )
        fields = dict(zip(("i1", "i2", "t1", "t2"), inputs + targets, strict=True))
        fields |= {f"w{k}": w for k, w in enumerate(weights, start=1)}
        fields |= {"b1": biases[0], "b2": biases[1], "eta": eta, "iterations": iterations}
        set_fields(page, fields, train_biases)
        run = train(eta, iterations, weights, inputs, targets, biases, train_biases)
        worst = max(worst, worst_difference(shown_values(page), run, iterations))
    print(f"largest relative difference over {CASES} random cases: {worst:.2e}")
    assert worst < RTOL


def test_one_update_is_row_one(page, server):
    open_calculator(page, server)
    page.click('button[data-action="update"]')
    run = train(DEFAULT_LEARNING_RATE, 1)
    for k, expected in enumerate(run.loc[1, [f"w{k}" for k in range(1, 9)]], start=1):
        got = float(page.input_value(f'form.nnbook-calculator input[name="w{k}"]'))
        assert relative_difference(got, expected) < RTOL
    shown = shown_values(page)
    assert relative_difference(shown["E_total"], run.loc[1, "E_total"]) < RTOL
    page.click('button[data-action="reset"]')
    assert float(page.input_value('input[name="w1"]')) == INITIAL_WEIGHTS[0]


def test_csv_has_the_command_line_columns(page, server):
    open_calculator(page, server)
    set_fields(page, {"iterations": 5})
    with page.expect_download() as download:
        page.click('button[data-action="csv"]')
    text = download.value.path().read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 6
    run = train(DEFAULT_LEARNING_RATE, 5)
    got = np.array([[float(row[name]) for name in COLUMNS] for row in rows])
    np.testing.assert_allclose(got, run.to_numpy(float), rtol=RTOL, atol=FLOOR * RTOL)


def test_bad_input_is_named_not_computed(page, server):
    open_calculator(page, server)
    page.fill('form.nnbook-calculator input[name="w3"]', "")
    alert = page.locator('.nnbook-problem[role="alert"]')
    assert "w3 must be a finite number" in alert.inner_text()
    assert page.locator("[data-quantity]").count() == 0


def test_the_eta_slider_redraws(page, server):
    page.goto(server + ETA_PAGE, wait_until="load")
    canvas = page.locator("form.nnbook-eta-explorer canvas")
    page.wait_for_function("() => document.querySelector('.nnbook-eta-explorer canvas')"
                           ".dataset.finalEtotal !== undefined")  # fmt: skip
    before = canvas.evaluate("c => c.toDataURL()")
    high = calculator.ETA_RANGE[1]
    page.eval_on_selector(
        'form.nnbook-eta-explorer input[name="eta"]',
        f"e => {{ e.value = '{high}'; e.dispatchEvent(new Event('input', {{bubbles: true}})); }}",
    )
    page.wait_for_function(f"() => document.querySelector('.nnbook-eta-explorer canvas')"
                           f".dataset.eta === '{high:g}'")  # fmt: skip
    page.wait_for_timeout(100)  # the chart draws on the next animation frame
    assert canvas.evaluate("c => c.toDataURL()") != before
    final = float(canvas.get_attribute("data-final-etotal"))
    expected = train(high, DEFAULT_ITERATIONS).loc[DEFAULT_ITERATIONS, "E_total"]
    assert relative_difference(final, expected) < RTOL


def test_it_works_from_file_urls(browser):
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto((HTML / PAGE).as_uri(), wait_until="load")
    tab.wait_for_selector('[data-quantity="final:E_total"]')
    context.close()
    assert not errors
