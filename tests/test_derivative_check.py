"""Check your own derivative: the questions, their answers and mistakes, held to SymPy's own.

The answers are SymPy's derivatives (``nnbook.derivative_check``); here each question's
chain-rule form and every listed mistake are read back from text as a reader types it, and
SymPy's ``simplify(typed − answer) == 0`` must say right for the one and wrong for each of the
others. The page's verdicts on the same texts are tested in ``test_check_page.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from typed_formulas import sympy_says_equal, typed

from nnbook import derivative_check as check
from nnbook.backprop import deltas, forward, gradients

# ---------------------------------------------------------------------------------------------
# The questions themselves.


def test_the_questions_are_the_keys_in_order():
    assert tuple(check.questions()) == check.QUESTION_KEYS


@pytest.mark.parametrize("key", check.QUESTION_KEYS)
def test_the_chain_rule_form_is_sympys_derivative(key):
    question = check.questions()[key]
    assert sympy_says_equal(typed(question.chain_rule), question)


@pytest.mark.parametrize("key", check.QUESTION_KEYS)
def test_every_mistake_is_wrong_and_has_its_own_message(key):
    question = check.questions()[key]
    assert len(question.mistakes) >= 3
    assert len({m.message for m in question.mistakes}) == len(question.mistakes)
    assert check.mistake_margin(key) > 1e6 * check.RTOL  # far from the tolerance
    for mistake in question.mistakes:
        assert not sympy_says_equal(typed(mistake.expr), question), mistake.message


def test_the_usual_slips_are_all_listed():
    messages = {
        key: " ".join(m.message for m in q.mistakes) for key, q in check.questions().items()
    }
    for key in ("dE_total/dw1", "dE_total/dw4"):
        for slip in ("sign", "Twice", "outputs is missing", "hidden unit is missing",
                     "input i", "Only the path through o1", "Only the path through o2",
                     "wrong weights", "where a_h"):  # fmt: skip
            assert slip in messages[key], (key, slip)
    for slip in ("sign", "output is missing", "activation a_h1 is missing", "a_h2 where a_h1"):
        assert slip in messages["dE_total/dw5"], slip


def test_points_start_at_the_class_numbers_and_stay_in_range():
    family = check.CLASS_NETWORK
    points = check.comparison_points(family.name)
    assert points.shape == (check.RANDOM_POINTS + 1, len(family.base))
    assert points[0].tolist() == [family.example[s] for s in family.base]
    for column, symbol in zip(points[1:].T, family.base, strict=True):
        low, high = family.ranges[symbol]
        assert low <= column.min() and column.max() <= high
    assert len({tuple(row) for row in points}) == len(points)


def test_an_unknown_question_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown question 'dE_total/dw9'"):
        check.question_html("dE_total/dw9")


def test_a_question_box_has_the_contract_elements():
    box = check.question_html("dE_total/dw5")
    assert 'data-nnbook-check="dE_total/dw5"' in box
    assert re.search(r"<input[^>]+type=\"text\"", box)
    assert 'data-action="check"' in box and "data-verdict" in box and 'aria-live="polite"' in box


def test_the_module_prints_every_answer_and_mistake():
    module = check.javascript_module()
    assert all(f'"{key}":' in module for key in check.QUESTION_KEYS)
    count = sum(len(q.mistakes) for q in check.questions().values())
    assert module.count("message:") == count
    assert "Math.exp" in module and "sigmoid(" not in module


# ---------------------------------------------------------------------------------------------
# The module the page loads, run in Node.js: every number the page compares, against NumPy.

NODE = shutil.which("node")
#: JavaScript, NumPy and SymPy's lambdify evaluate the same formulas in other orders.
ROUND_OFF = 1e-12

DRIVER = """
const source = require("fs").readFileSync(0, "utf8");
eval(source);
const data = globalThis.nnbookCheckData;
const out = {RTOL: data.RTOL, families: {}, questions: {}};
const scopes = {};
for (const [name, family] of Object.entries(data.families)) {
  scopes[name] = family.points.map((p) => Object.assign({}, p, family.forward(p)));
  out.families[name] = {names: family.names, latex: family.latex, points: family.points,
                        scopes: scopes[name]};
}
for (const [key, q] of Object.entries(data.questions)) {
  out.questions[key] = {text: q.text, family: q.family,
    answer: scopes[q.family].map((s) => q.answer(s)),
    mistakes: q.mistakes.map((m) => ({message: m.message,
                                      values: scopes[q.family].map((s) => m.value(s))}))};
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def page_data() -> dict:
    """What ``window.nnbookCheckData`` holds, every formula evaluated at every point."""
    if NODE is None:
        pytest.fail("these tests need Node.js (npm's, as the README's set-up installs)")
    done = subprocess.run(
        [NODE, "-e", DRIVER],
        input=check.javascript_module(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def class_network_columns(points: np.ndarray) -> dict[str, np.ndarray]:
    """NumPy's forward pass and chain rule (``nnbook.backprop``) at each point: inputs,
    targets, then w1..w8 in its columns."""
    rows = []
    for point in points:
        inputs, targets, weights = point[:2], point[2:4], point[4:]
        state = forward(weights, inputs, targets)
        delta = deltas(weights, targets, state)
        w5, w6, w7, w8 = weights[4:]
        row = {name: getattr(state, name) for name in ("h1", "h2", "a_h1", "a_h2")}
        row |= {name: getattr(state, name) for name in ("o1", "o2", "a_o1", "a_o2")}
        dw = gradients(weights, inputs, targets, state).weights
        row |= {f"dE_total/dw{k}": dw[k - 1] for k in range(1, 9)}
        row |= {"dE_total/do1": delta.o1, "dE_total/do2": delta.o2}
        row["dE_total/da_h1"] = delta.o1 * w5 + delta.o2 * w7  # both paths from h1
        row["dE_total/da_h2"] = delta.o1 * w6 + delta.o2 * w8
        rows.append(row)
    return {name: np.array([row[name] for row in rows], dtype=float) for name in rows[0]}


def softmax_columns(points: np.ndarray) -> dict[str, np.ndarray]:
    """Softmax's probabilities, and L = −log p1's gradient p − t with t = (1, 0, 0)."""
    probabilities = np.exp(points) / np.exp(points).sum(axis=1, keepdims=True)
    columns = {f"p{d}": probabilities[:, d - 1] for d in (1, 2, 3)}
    return columns | {"dL/dz1": probabilities[:, 0] - 1, "dL/dz2": probabilities[:, 1]}


REFERENCES = {"class network": class_network_columns, "three scores": softmax_columns}


@pytest.mark.parametrize("name", list(check.FAMILIES))
def test_the_pages_points_and_forward_pass_are_numpys(page_data, name):
    family, shown = check.FAMILIES[name], page_data["families"][name]
    base = [str(symbol) for symbol in family.base]
    assert shown["names"][: len(base)] == base
    points = np.array([[point[s] for s in base] for point in shown["points"]])
    np.testing.assert_array_equal(points, check.comparison_points(name))
    reference = REFERENCES[name](points)
    assert set(shown["names"]) == set(base) | {n for n in reference if "/" not in n}
    for column in shown["names"]:
        values = [scope[column] for scope in shown["scopes"]]
        expected = points[:, base.index(column)] if column in base else reference[column]
        np.testing.assert_allclose(values, expected, rtol=ROUND_OFF, err_msg=column)


def test_the_page_writes_each_name_as_the_book_does(page_data):
    latex = page_data["families"]["class network"]["latex"]
    assert (latex["a_h1"], latex["w5"], latex["i2"], latex["o1"]) == (
        "a_{h1}",
        "w_{5}",
        "i_{2}",
        "o_{1}",
    )
    assert page_data["families"]["three scores"]["latex"]["p3"] == "p_{3}"
    assert page_data["RTOL"] == check.RTOL


@pytest.mark.parametrize("key", check.QUESTION_KEYS)
def test_the_pages_answer_is_numpys_and_its_mistakes_sympys(page_data, key):
    question, shown = check.questions()[key], page_data["questions"][key]
    family = question.family
    assert (shown["text"], shown["family"]) == (question.text, family.name)
    points = check.comparison_points(family.name)
    expected = REFERENCES[family.name](points)[key]
    np.testing.assert_allclose(shown["answer"], expected, rtol=ROUND_OFF, atol=1e-15)
    assert [m["message"] for m in shown["mistakes"]] == [m.message for m in question.mistakes]
    for mistake, page in zip(question.mistakes, shown["mistakes"], strict=True):
        sympys = check._values(family, mistake.expr, points)
        np.testing.assert_allclose(page["values"], sympys, rtol=ROUND_OFF, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# A question's box, as ``book/_static/check.js`` and ``nnbook.css`` find it.

CHECK_JS = (Path(__file__).parents[1] / "book" / "_static" / "check.js").read_text()
CSS = (Path(__file__).parents[1] / "book" / "_static" / "nnbook.css").read_text()
#: The classes Sphinx gives inline maths, for MathJax to find: styled by MathJax, not the book.
MATHJAX_CLASSES = {"math", "notranslate", "nohighlight"}


def boxes(*keys: str) -> list:
    return BeautifulSoup(check.questions_html(*keys), "html.parser").find_all(recursive=False)


@pytest.mark.parametrize("key", check.QUESTION_KEYS)
def test_each_element_the_script_looks_for_is_in_the_box_once(key):
    (box,) = boxes(key)
    assert box.select("[data-nnbook-check]") == [] and box["data-nnbook-check"] == key
    selectors = re.findall(r"box\.querySelector\((['\"])(.+?)\1\)", CHECK_JS)
    assert {selector for _, selector in selectors} >= {"input", "[data-typed]", "[data-verdict]"}
    for _, selector in selectors:
        assert len(box.select(selector)) == 1, selector
    for element in [box, *box.find_all(class_=True)]:
        for name in set(element["class"]) - MATHJAX_CLASSES:
            assert re.search(rf"\.{re.escape(name)}\b", CSS), f"{name} is styled nowhere"
    assert box.get_text(" ", strip=True) == rf"\({check.questions()[key].latex} =\) check"


def test_each_box_labels_its_own_field():
    ids = []
    for box in boxes(*check.QUESTION_KEYS):
        field, label = box.select_one("input"), box.select_one("label")
        assert label["for"] == field["id"] and re.fullmatch(r"check-[a-z0-9-]+", field["id"])
        assert field["aria-label"] == f"{check.questions()[box['data-nnbook-check']].text} ="
        ids.append(field["id"])
    assert len(set(ids)) == len(ids) == len(check.QUESTION_KEYS)


def test_boxes_come_in_the_order_asked_and_an_unknown_one_is_refused():
    keys = ("dL/dz2", "dE_total/dw1", "dE_total/do2")
    assert [box["data-nnbook-check"] for box in boxes(*keys)] == list(keys)
    assert check.questions_html() == ""
    with pytest.raises(ValueError, match=r"the questions are dE_total/dw1, dE_total/dw2, "):
        check.questions_html("dE_total/dw1", "dw9")
