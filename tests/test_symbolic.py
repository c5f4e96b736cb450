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
    assert r"\sigma\left(" in w5.expanded_latex()
    assert sp.latex(sym.sigmoid(sym.w1)) == r"\sigma\left(w_{1}\right)"


def test_lambdified_rejects_a_batch():
    with pytest.raises(ValueError, match="one set"):
        sym.lambdified_gradients([[0.1] * 8, [0.2] * 8])
