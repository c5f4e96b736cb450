"""The calculator's Python side without a built book: the JavaScript module ``nnbook.calculator``
prints, run in Node.js, against the NumPy backprop; and the forms it writes, read back.

(``tests/test_calculator.py`` drives the built page in Chromium; this file is what mutation
testing runs on ``nnbook.calculator``, since it needs no build.)
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess

import numpy as np
import pytest
from bs4 import BeautifulSoup
from bs4.formatter import HTMLFormatter

from nnbook import calculator
from nnbook.backprop import train
from nnbook.network import (
    BIAS_NAMES,
    BIASES,
    COLUMNS,
    DEFAULT_ITERATIONS,
    DEFAULT_LEARNING_RATE,
    INITIAL_WEIGHTS,
    INPUT_NAMES,
    INPUTS,
    TARGET_NAMES,
    TARGETS,
    WEIGHT_NAMES,
)

NODE = shutil.which("node")
#: Rows run through the module: the parameters of row k + 1 come from row k's gradients.
UPDATES = 3
#: JavaScript and NumPy evaluate the same formulas in a different order: round-off apart.
RTOL, ATOL = 1e-12, 1e-15

DRIVER = """
const source = require("fs").readFileSync(0, "utf8");
eval(source);
const net = globalThis.nnbookNetwork;
const {start, eta, trainBiases, updates} = JSON.parse(process.argv[1]);
let p = start;
const rows = [];
for (let k = 0; k <= updates; k++) {
  const r = net.row(p);
  rows.push(Object.assign({iteration: k}, p, r));
  p = Object.assign({}, p, net.next(p, r, eta, trainBiases ? 1 : 0));
}
console.log(JSON.stringify({rows, columns: net.COLUMNS, parameters: net.PARAMETERS,
                            max: net.MAX_ITERATIONS}));
"""


def run_module(start: dict[str, float], eta: float, train_biases: bool) -> dict:
    if NODE is None:
        pytest.fail("these tests need Node.js (npm's, as the README's set-up installs)")
    argument = json.dumps(
        {"start": start, "eta": eta, "trainBiases": train_biases, "updates": UPDATES}
    )
    done = subprocess.run(
        [NODE, "-e", DRIVER, argument],
        input=calculator.javascript_module(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def numbers(count: int, generator: random.Random) -> list[float]:
    return [generator.uniform(-1, 1) for _ in range(count)]


@pytest.mark.parametrize("train_biases", [False, True])
@pytest.mark.parametrize("case", range(4))
def test_the_printed_module_trains_as_numpy_does(case, train_biases):
    generator = random.Random(case)
    inputs, targets = numbers(2, generator), [generator.uniform(0, 1) for _ in range(2)]
    weights = INITIAL_WEIGHTS if case == 0 else numbers(8, generator)
    biases = BIASES if case == 0 else numbers(2, generator)
    eta = DEFAULT_LEARNING_RATE if case == 0 else generator.uniform(0.05, 2)
    names = (*INPUT_NAMES, *TARGET_NAMES, *WEIGHT_NAMES, *BIAS_NAMES)
    start = dict(zip(names, (*inputs, *targets, *weights, *biases), strict=True))
    out = run_module(start, eta, train_biases)
    expected = train(eta, UPDATES, weights, inputs, targets, biases, train_biases)
    assert out["columns"] == list(COLUMNS)
    assert out["parameters"] == list(calculator.PARAMETER_NAMES)
    assert out["max"] == calculator.PAGE_MAX_ITERATIONS
    for k, row in enumerate(out["rows"]):
        got = np.array([row[name] for name in COLUMNS])
        np.testing.assert_allclose(got, expected.iloc[k].to_numpy(), rtol=RTOL, atol=ATOL)


def inputs_of(html: str) -> dict[str, dict[str, str]]:
    form = BeautifulSoup(html, "html.parser")
    return {field["name"]: field.attrs for field in form.find_all("input")}


def test_the_calculator_form_starts_at_the_class_values():
    html = calculator.calculator_html()
    fields = inputs_of(html)
    names = (*INPUT_NAMES, *TARGET_NAMES, *WEIGHT_NAMES, *BIAS_NAMES)
    values = (*INPUTS, *TARGETS, *INITIAL_WEIGHTS, *BIASES)
    for name, value in zip(names, values, strict=True):
        assert (fields[name]["type"], float(fields[name]["value"])) == ("number", value)
        assert fields[name]["step"] == "any"
    assert float(fields["eta"]["value"]) == DEFAULT_LEARNING_RATE
    iterations = fields["iterations"]
    assert int(iterations["value"]) == DEFAULT_ITERATIONS
    assert (iterations["min"], iterations["max"]) == ("0", str(calculator.PAGE_MAX_ITERATIONS))
    assert fields["train_biases"]["type"] == "checkbox" and "checked" not in fields["train_biases"]
    form = BeautifulSoup(html, "html.parser")
    assert [b["data-action"] for b in form.find_all("button")] == ["update", "reset", "csv"]
    legends = [legend.text for legend in form.find_all("legend")]
    assert legends == ["inputs", "targets", "weights", "biases", "training"]
    labels = [span.text for span in form.select("label.nnbook-field > span")]
    assert labels[:-1] == [*names, "η", "updates T"]


def test_the_eta_explorer_starts_at_the_class_network():
    html = calculator.eta_explorer_html()
    form = BeautifulSoup(html, "html.parser").form
    start = json.loads(form["data-parameters"])
    names = (*INPUT_NAMES, *TARGET_NAMES, *WEIGHT_NAMES, *BIAS_NAMES)
    assert start == dict(zip(names, (*INPUTS, *TARGETS, *INITIAL_WEIGHTS, *BIASES), strict=True))
    eta = inputs_of(html)["eta"]
    low, high = calculator.ETA_RANGE
    assert (eta["type"], float(eta["min"]), float(eta["max"])) == ("range", low, high)
    assert (float(eta["step"]), float(eta["value"])) == (
        calculator.ETA_STEP,
        DEFAULT_LEARNING_RATE,
    )
    assert int(inputs_of(html)["iterations"]["value"]) == DEFAULT_ITERATIONS
    assert form.find("output")["name"] == "eta-shown"


class AsWritten(HTMLFormatter):
    """Beautiful Soup's HTML5 output with the attributes in the order they were written."""

    def __init__(self) -> None:
        super().__init__(void_element_close_prefix="")

    def attributes(self, tag):
        return tag.attrs.items()


@pytest.mark.parametrize("form", ["calculator_html", "eta_explorer_html"])
def test_each_form_is_well_formed_html_and_nothing_else(form):
    # (the explorer's JSON attribute, read by the test above, is written back with other quotes)
    html = re.sub(r' data-parameters="[^"]*"', "", getattr(calculator, form)())
    soup = BeautifulSoup(html, "html.parser")
    # parsed and written back unchanged: lower-case names, quoted attributes, every tag closed
    assert soup.decode(formatter=AsWritten()) == html
    # one form; no text lies loose in it, outside a label, legend, button or output
    assert [element.name for element in soup.contents] == ["form"]
    containers = {"label", "legend", "button", "output", "span"}
    loose = [
        text
        for text in soup.find_all(string=True)
        if text.strip() and not ({parent.name for parent in text.parents} & containers)
    ]
    assert loose == []
    # accessible names read as sentences
    for labelled in soup.find_all(attrs={"aria-label": True}):
        assert labelled["aria-label"][0].isupper(), labelled["aria-label"]


def test_the_calculators_buttons_say_what_they_do():
    soup = BeautifulSoup(calculator.calculator_html(), "html.parser")
    captions = [button.text for button in soup.find_all("button")]
    assert captions == ["one update", "class values", "download CSV"]
    assert soup.select_one("input[name=train_biases]").parent.text.strip() == (
        "train the biases too"
    )
