"""Check your own derivative in the built page: headless Chromium from ``file://``.

Every question of ``nnbook.derivative_check`` is asked on its page in several right forms
(the chain-rule form, expanded, factored, its products reversed, with σ, with exp, SymPy's own)
and with every listed mistake, with every other request blocked; each verdict is held to
SymPy's ``simplify(typed − answer) == 0`` on the same text (``test_derivative_check.py``).
"""

from __future__ import annotations

import re

import pytest
from built_book import HTML, chromium
from typed_formulas import right_forms, sympy_says_equal, typed

from nnbook import browser
from nnbook import derivative_check as check

pytestmark = pytest.mark.book  # reads the built book

PAGES = {
    "book/part1/derivatives.html": [f"dE_total/dw{k}" for k in range(1, 9)],
    "book/part1/walk.html": ["dE_total/do1", "dE_total/do2", "dE_total/da_h1", "dE_total/da_h2"],
    "book/part2/backprop.html": ["dL/dz1", "dL/dz2"],
}


def test_every_question_is_asked_on_a_page():
    assert sorted(key for keys in PAGES.values() for key in keys) == sorted(check.QUESTION_KEYS)
    for name, keys in PAGES.items():
        page = (HTML / name).read_text(encoding="utf-8")
        assert re.findall(r'data-nnbook-check="([^"]+)"', page) == keys


# ---------------------------------------------------------------------------------------------
# The page.


@pytest.fixture(scope="module")
def launched():
    with chromium() as started:
        yield started


@pytest.fixture
def tab(launched):
    context = launched.new_context(viewport={"width": 1280, "height": 900})
    blocked = browser.allow_files_only(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert not errors, errors
    assert not blocked, blocked


def open_page(tab, name: str):
    tab.goto((HTML / name).as_uri(), wait_until="load")
    tab.wait_for_function("() => window.nnbookCheck && window.math && window.nnbookCheckData")


def verdicts(tab, asked: list[tuple[str, str]]) -> list[dict]:
    return tab.evaluate("asked => asked.map(([q, t]) => window.nnbookCheck(q, t))", asked)


@pytest.mark.parametrize("name", PAGES)
def test_right_forms_are_right_and_mistakes_named(tab, name):
    open_page(tab, name)
    for key in PAGES[name]:
        question = check.questions()[key]
        forms = right_forms(question)
        got = verdicts(tab, [(key, form) for form in forms])
        results = [g["result"] for g in got]
        assert results == ["right"] * len(forms), list(zip(forms, got, strict=True))
        wrong = [typed(m.expr) for m in question.mistakes]
        got = verdicts(tab, [(key, form) for form in wrong])
        assert [g["result"] for g in got] == ["wrong"] * len(wrong)
        assert [g["message"] for g in got] == [m.message for m in question.mistakes]


@pytest.mark.parametrize("name", PAGES)
def test_the_page_agrees_with_sympys_simplify(tab, name):
    open_page(tab, name)
    for key in PAGES[name]:
        question = check.questions()[key]
        forms = right_forms(question)[:3] + [typed(m.expr) for m in question.mistakes[:3]]
        forms.append(typed(question.chain_rule + 1))  # wrong in no listed way
        for form, got in zip(forms, verdicts(tab, [(key, f) for f in forms]), strict=True):
            assert (got["result"] == "right") == sympy_says_equal(form, question), form


def test_other_answers_and_plain_wrong_ones_are_said(tab):
    open_page(tab, "book/part1/derivatives.html")
    w8 = typed(check.questions()["dE_total/dw8"].chain_rule)
    [other, plain] = verdicts(tab, [("dE_total/dw5", w8), ("dE_total/dw5", "w5 + 1")])
    assert other["result"] == "wrong"
    assert other["message"] == "That is ∂E_total/∂w8; the question asks for ∂E_total/∂w5."
    assert plain["result"] == "wrong"
    assert plain["message"].startswith("Not equal to ∂E_total/∂w5. At i1 = 0.05, i2 = 0.1")
    value = float(re.search(r"yours is ([-\d.e]+)", plain["message"]).group(1))
    assert value == pytest.approx(check.INITIAL_WEIGHTS[4] + 1)


def test_the_notes_shorthands_are_read(tab):
    open_page(tab, "book/part1/derivatives.html")
    asked = [
        ("dE_total/dw5", "(a_o1 − t1) · a_o1(1 − a_o1) · a_h1"),
        ("dE_total/dw5", "(a_o1 - t1) × σ(o1)*(1 - σ(o1)) × sigmoid(h1)"),
        ("dE_total/dw5", "(a_o1 - t1)*exp(-o1)/(1 + exp(-o1))^2*a_h1"),
        ("dE_total/dw5", "a_h1 (a_o1 - t1) a_o1 (1 - a_o1)"),
    ]
    assert [g["result"] for g in verdicts(tab, asked)] == ["right"] * len(asked)


BAD = [
    ("dE_total/dw5", "", "type a formula"),
    ("dE_total/dw5", "   ", "type a formula"),
    ("dE_total/dw5", "(a_o1 - t1", "cannot read"),
    ("dE_total/dw5", "w9 * a_h1", 'unknown name "w9"'),
    ("dE_total/dw5", "w5a_h1", 'unknown name "w5a_h1"'),
    ("dE_total/dw5", "sin(w5)", 'unknown function "sin"'),
    ("dE_total/dw5", "z1", 'unknown name "z1"'),  # a name of the other family
    ("dE_total/dw5", "a_h1 = 1", "is not a formula"),
    ("dE_total/dw5", "[a_h1, 1]", "is not a formula"),
    ("dE_total/dw5", "3!", '"!" is not allowed'),
    ("dE_total/dw5", "a_h1 > 0", '">" is not allowed'),
    ("dE_total/dw9", "a_h1", 'unknown question "dE_total/dw9"'),
    ("dL/dz1", "a_h1", 'unknown name "a_h1"'),
]


def test_bad_input_is_invalid_with_a_reason(tab):
    open_page(tab, "book/part1/derivatives.html")
    got = verdicts(tab, [(q, t) for q, t, _ in BAD])
    for (_, text, reason), verdict in zip(BAD, got, strict=True):
        assert verdict["result"] == "invalid", (text, verdict)
        assert reason in verdict["message"], (text, verdict)
    odd = tab.evaluate("() => [window.nnbookCheck('dE_total/dw5', null), window.nnbookCheck()]")
    assert [v["result"] for v in odd] == ["invalid", "invalid"]


def test_a_formula_that_is_not_a_number_somewhere_is_wrong(tab):
    open_page(tab, "book/part1/derivatives.html")
    got = verdicts(tab, [("dE_total/dw5", "1/(w5 - w5)"), ("dE_total/dw5", "log(-1 - a_h1^2)")])
    assert [g["result"] for g in got] == ["wrong", "wrong"]
    assert all("Not a finite real number" in g["message"] for g in got)


def test_the_box_checks_with_the_keyboard_and_shows_what_it_read(tab):
    open_page(tab, "book/part1/derivatives.html")
    box = tab.locator('[data-nnbook-check="dE_total/dw5"]')
    field = box.locator("input")
    field.focus()
    field.type("(t1 - a_o1)*a_o1*(1 - a_o1)*a_h1")
    tab.keyboard.press("Enter")
    verdict = box.locator("[data-verdict]")
    assert verdict.get_attribute("data-result") == "wrong"
    assert verdict.inner_text().startswith("The sign is flipped")
    assert verdict.get_attribute("aria-live") == "polite"
    field.fill("(a_o1 - t1)*a_o1*(1 - a_o1)*a_h1")
    tab.keyboard.press("Tab")  # to the button
    tab.keyboard.press("Enter")
    assert verdict.get_attribute("data-result") == "right"
    box.locator("[data-typed] mjx-container").wait_for()  # typeset by MathJax
    latex = box.locator("[data-typed]").get_attribute("data-latex")
    assert "a_{o1}" in latex and not re.search(r"\\[a-z]+a_", latex)  # "\cdot a_{o1}"
    assert "σ" not in box.locator("[data-typed]").inner_text()  # a_o1, not σ(o1), was typed


def test_the_page_loads_its_scripts_from_the_book():
    sizes = {
        name: (HTML / "_static" / name).stat().st_size
        for name in ("mathjs/math.js", check.MODULE_NAME, "check.js")
    }
    assert all(size > 0 for size in sizes.values())
    assert (HTML / "_static" / "mathjs" / "math.js.LICENSE.txt").is_file()
    assert sizes[check.MODULE_NAME] == len(check.javascript_module().encode())
