"""SymPy's derivatives: equal to the class notes' formulas, and rendered as LaTeX."""

import pytest
import sympy as sp

from nnbook import symbolic as sym


@pytest.mark.parametrize("derivative", sym.derivatives(), ids=lambda d: d.name)
def test_each_derivative_equals_the_hand_formula(derivative):
    assert sym.matches_hand_formula(derivative)


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


@pytest.mark.parametrize(
    "derivative", [*sym.derivatives(), *sym.bias_derivatives()], ids=lambda d: d.name
)
def test_the_notes_form_is_what_sp_diff_returned(derivative):
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
