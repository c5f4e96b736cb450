"""SymPy's derivatives: equal to the class notes' formulas, and rendered as LaTeX."""

import warnings

import numpy as np
import pytest
import sympy as sp
import torch

from nnbook import symbolic as sym


def derivative_of(parameter: sp.Symbol) -> sym.Derivative:
    """Looked up when the test runs, not when it is collected (mutation testing sees it then)."""
    return {d.weight: d for d in (*sym.derivatives(), *sym.bias_derivatives())}[parameter]


@pytest.mark.parametrize("weight", sym.WEIGHTS, ids=str)
def test_each_derivative_equals_the_hand_formula(weight):
    assert sym.matches_hand_formula(derivative_of(weight))


def test_a_hand_error_is_caught():
    # ∂E/∂w3 with the wrong hidden unit's σ' (a_h1 instead of a_h2): the classic sheet mistake
    wrong = sym.HAND_FORMULAS[sym.w3].xreplace({sym.a_h2: sym.a_h1})
    assert not sym.equals(sym.derivatives()[2], wrong)
    # and a formula right in the activations but wrong in the weights: w5 ↔ w6 swapped
    swapped = sym.HAND_FORMULAS[sym.w1].xreplace({sym.w5: sym.w6})
    assert not sym.equals(sym.derivatives()[0], swapped)


def test_chain_rule_form_uses_activations_only():
    for d in sym.derivatives():
        assert not d.chain_rule.has(sym.sigmoid)
        assert d.chain_rule.free_symbols <= {
            *sym.ACTIVATIONS,
            *sym.WEIGHTS,
            *sym.INPUT_SYMBOLS,
            *sym.TARGET_SYMBOLS,
        }


def test_expanded_form_is_in_the_weights_alone():
    for d in sym.derivatives():
        assert d.expanded.free_symbols <= set(sym.WEIGHTS)
        assert d.weight in d.expanded.free_symbols  # each gradient depends on its own weight


def test_latex():
    w5 = sym.derivatives()[4]
    assert w5.chain_rule_latex().startswith(r"\frac{\partial E_{total}}{\partial w_{5}} = ")
    assert "a_{h1}" in w5.chain_rule_latex()
    assert r"\sigma(" in w5.expanded_latex() and r"\left(" not in w5.expanded_latex()
    assert sp.latex(sym.sigmoid(sym.w1)) == r"\sigma(w_{1})"


def fraction_parts(latex: str) -> list[str]:
    """The numerator and denominator of every ``\\frac{…}{…}`` (braces balanced)."""
    parts, start = [], 0
    while (start := latex.find(r"\frac{", start)) != -1:
        position = start + len(r"\frac")
        for _ in range(2):
            depth, end = 0, position
            while True:
                depth += {"{": 1, "}": -1}.get(latex[end], 0)
                end += 1
                if depth == 0:
                    break
            parts.append(latex[position + 1 : end - 1])
            position = end
        start += 1
    return parts


def test_expanded_latex_can_break_between_factors():
    x, y, a, b = sp.symbols("x y a b")
    assert sym.sum_latex(-x * (a + b) / 20 + y) == (
        r"y \goodbreak - \frac{1}{20} \goodbreak\cdot x \goodbreak\cdot (a + b)"
    )
    for d in sym.derivatives():
        latex = d.expanded_latex()
        # nothing breaks inside a fraction: no fraction may hold a σ(…) or a product
        parts = fraction_parts(latex)
        assert all(r"\sigma" not in part and r"\cdot" not in part for part in parts)
        assert r"\left(" not in latex and latex.count(r"\goodbreak") >= 3


def test_lambdified_rejects_a_batch():
    with pytest.raises(ValueError, match="one set"):
        sym.lambdified_gradients([[0.1] * 8, [0.2] * 8])


@pytest.mark.parametrize("parameter", sym.PARAMETERS, ids=str)
def test_the_notes_form_is_what_sp_diff_returned(parameter):
    derivative = derivative_of(parameter)
    assert derivative.weight == parameter
    assert derivative.notes == sym.walk(parameter).notes
    assert sp.expand(derivative.notes - derivative.chain_rule) == 0
    assert sym.equals(derivative, derivative.notes)


def test_the_notes_order_and_signs():
    w5, w1 = sym.derivatives()[4], sym.derivatives()[0]
    assert w5.chain_rule_latex().endswith(
        r"= (a_{o1} - t_{1}) \cdot a_{o1} \cdot (1 - a_{o1}) \cdot a_{h1}"
    )
    assert w1.chain_rule_latex().endswith(r"\cdot a_{h1} \cdot (1 - a_{h1}) \cdot i_{1}")
    assert r"\left(" not in w1.chain_rule_latex()  # plain parentheses: MathJax breaks there
    assert r"- a_{o1} + t_{1}" not in w5.chain_rule_latex()  # SymPy's own order, not the notes'


def test_the_bias_derivatives_are_the_hand_formulas():
    b1, b2 = sym.bias_derivatives()
    assert sym.matches_hand_formula(b1) and sym.matches_hand_formula(b2)
    # and a hand slip is caught: b2 taking only the first output's error signal
    assert not sym.equals(b2, sym.HAND_FORMULAS[sym.b2].xreplace({sym.a_o2: sym.a_o1}))


def test_number_latex():
    assert sym.number_latex(0.0128808186316) == "0.0128808186"
    assert sym.number_latex(3.5101878e-05) == r"3.5101878 \times 10^{-5}"


def partial(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


#: Each walk as the class notes label it: the paths into a hidden unit, then the factors.
NOTES_WALKS = {
    "w5": ([], [("E_{total}", "a_{o1}"), ("a_{o1}", "o_{1}"), ("o_{1}", "w_{5}")]),
    "w1": (
        [("E_{1}", "a_{h1}"), ("E_{2}", "a_{h1}")],
        [("E_{total}", "a_{h1}"), ("a_{h1}", "h_{1}"), ("h_{1}", "w_{1}")],
    ),
    "b1": (
        [("E_{1}", "a_{h1}"), ("E_{2}", "a_{h1}"), ("E_{1}", "a_{h2}"), ("E_{2}", "a_{h2}")],
        [("E_{total}", "b_{1}")],
    ),
    "b2": ([], [("E_{total}", "b_{2}")]),
}


@pytest.mark.parametrize("name", NOTES_WALKS)
def test_the_walk_labels_every_factor_as_the_notes_do(name):
    parameter = getattr(sym, name)
    walk = sym.walk(parameter)
    paths, factors = NOTES_WALKS[name]
    assert walk.parameter == parameter
    assert walk.paths == tuple(walk.paths)  # a tuple, empty where no path leads in
    assert [p.label for p in walk.paths] == [partial(*pair) for pair in paths]
    assert [f.label for f in walk.factors] == [partial(*pair) for pair in factors]


def test_the_walks_sums_keep_each_path_as_a_product():
    # unevaluated, as the notes write them: ∂E_total/∂a_h1 is the sum of the two paths, each
    # error · slope · weight; the biases' sums hold one error · slope product per unit, without
    # the factor ∂h/∂b1 = 1
    (hidden_sum, *_), paths = sym.walk(sym.w1).factors, sym.walk(sym.w1).paths
    assert hidden_sum.expr.args == tuple(path.expr for path in paths)
    assert [len(term.args) for term in hidden_sum.expr.args] == [3, 3]
    for bias in (sym.b1, sym.b2):
        (total,) = sym.walk(bias).factors
        assert isinstance(total.expr, sp.Add)
        assert [len(term.args) for term in total.expr.args] == [2, 2]
        assert all(1 not in term.args for term in total.expr.args)


def test_class_values_keep_the_readers_decimals_exactly():
    values = sym.class_values(inputs=(0.123456789, 0.3), targets=(0.01, 0.99), biases=(0.35, 0))
    assert values[sym.i1] == sp.Rational(123456789, 10**9)
    # a number that looks like √2/2 stays the decimal it is
    assert sym.class_values(inputs=(0.7071067811865476, 0.1))[sym.i1].is_Rational
    assert values[sym.t2] == sp.Rational(99, 100) and values[sym.b1] == sp.Rational(7, 20)


def test_the_expanded_form_is_the_derivative_at_the_class_numbers():
    for parameter in sym.PARAMETERS:
        derivative = derivative_of(parameter)
        assert derivative.expanded == derivative.derived.xreplace(sym.class_values())
        assert derivative.expanded_latex().startswith(sym.derivative_latex(parameter) + " = ")


def test_a_sum_prints_its_signs_and_dot_products():
    a, b = sp.symbols("a b", real=True)
    printed = sym.sum_latex(sp.Rational(1, 2) * a * b - sp.Rational(1, 3) * a)
    assert printed.split(r" \goodbreak ")[0] == r"- \frac{1}{3} \goodbreak\cdot a"
    assert r"+ \frac{1}{2} \goodbreak\cdot a \goodbreak\cdot b" in printed
    # products inside a factor are dotted too, and MathJax's ( ) replace \left( \right)
    assert sym.sum_latex(a * (a * b + 1) ** 2) == r"a \goodbreak\cdot (a \cdot b + 1)^{2}"
    assert sym.sum_latex(3 * a * b) == r"3 \goodbreak\cdot a \goodbreak\cdot b"


def test_gradients_at_overflowing_weights_warn_of_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # σ(x) = 1/(1 + e^(−x)) at x ≈ −1,200: e^(1,200) overflows to ∞, σ is 0
        gradients = sym.lambdified_gradients([-8000.0] * 8)
        point = sym.point([-8000.0] * 8)
    assert np.isfinite(np.concatenate(gradients)).all() and np.isfinite(list(point.values())).all()


def test_lambdified_gradients_of_numbers_of_ones_own():
    weights, inputs, targets, biases = [0.3] * 8, (0.2, -0.7), (0.9, 0.1), (0.4, -0.2)
    expected = backprop_gradients(weights, inputs, targets, biases)
    ours = sym.lambdified_gradients(weights, inputs, targets, biases)
    np.testing.assert_allclose(ours.weights, expected.weights, rtol=1e-12)
    np.testing.assert_allclose(ours.biases, expected.biases, rtol=1e-12)


def backprop_gradients(weights, inputs, targets, biases):
    from nnbook import backprop

    state = backprop.forward(np.asarray(weights), inputs, targets, biases)
    return backprop.gradients(np.asarray(weights), inputs, targets, state, biases)


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 0.25, 4.0])
def test_sigmoid_written_with_exp_is_the_logistic_function(x):
    rewritten = sym.sigmoid(sp.Float(x)).rewrite(sp.exp)
    assert float(rewritten) == pytest.approx(
        torch.sigmoid(torch.tensor(x, dtype=torch.float64)).item(), rel=1e-15
    )


def test_every_column_and_update_prints_as_a_formula_of_the_spreadsheets_cells():
    """The workbook writes each expression of a row and of an update with the cells of its
    columns, looked up by symbol: the symbols of ``row_expressions`` and ``update_expressions``
    are its symbols (real, as the network's), or no formula can be printed."""
    from nnbook import spreadsheet

    templates = spreadsheet.row_templates.__wrapped__()  # computed afresh, not from the cache
    expressions = {**sym.row_expressions(), **sym.update_expressions()}
    assert len(templates) == len(expressions) == len(spreadsheet.COLUMNS) - 1
    assert all(template.startswith("=") for template in templates.values())
