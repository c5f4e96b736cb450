"""Check your own derivative: the questions, their answers and mistakes, held to SymPy's own.

The answers are SymPy's derivatives (``nnbook.derivative_check``); here each question's
chain-rule form and every listed mistake are read back from text as a reader types it, and
SymPy's ``simplify(typed − answer) == 0`` must say right for the one and wrong for each of the
others. The page's verdicts on the same texts are tested in ``test_check_page.py``.
"""

from __future__ import annotations

import re

import pytest
from typed_formulas import sympy_says_equal, typed

from nnbook import derivative_check as check

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
