"""The class network in SymPy: E_total from symbols, and every ∂E_total/∂w derived from it.

σ is a SymPy function whose derivative SymPy knows as σ(x)(1 − σ(x)); it can be rewritten as
1/(1 + e^(−x)) to check the derivation against the plain exponential form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from nnbook.network import INPUTS, TARGETS, WEIGHT_NAMES, as_weights

w1, w2, w3, w4, w5, w6, w7, w8 = WEIGHTS = sp.symbols("w1:9", real=True)
i1, i2 = INPUT_SYMBOLS = sp.symbols("i1 i2", real=True)
t1, t2 = TARGET_SYMBOLS = sp.symbols("t1 t2", real=True)
#: Activations as plain symbols, for the chain-rule form.
a_h1, a_h2, a_o1, a_o2 = ACTIVATIONS = sp.symbols("a_h1 a_h2 a_o1 a_o2", real=True)


class sigmoid(sp.Function):  # noqa: N801  (SymPy functions are lower case, like sp.exp)
    """The logistic function σ(x) = 1/(1 + e^(−x)), with dσ/dx = σ(x)(1 − σ(x))."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        x = self.args[0]
        return sigmoid(x) * (1 - sigmoid(x))

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs: object) -> sp.Expr:
        return 1 / (1 + sp.exp(-x))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


# The network, one line per equation of the class notes.
h1 = w1 * i1 + w2 * i2
h2 = w3 * i1 + w4 * i2
o1 = w5 * sigmoid(h1) + w6 * sigmoid(h2)
o2 = w7 * sigmoid(h1) + w8 * sigmoid(h2)
E1 = sp.Rational(1, 2) * (t1 - sigmoid(o1)) ** 2
E2 = sp.Rational(1, 2) * (t2 - sigmoid(o2)) ** 2
E_total = E1 + E2

#: How each activation symbol is defined in terms of the weights, inputs and targets.
ACTIVATION_DEFINITIONS: dict[sp.Symbol, sp.Expr] = {
    a_h1: sigmoid(h1),
    a_h2: sigmoid(h2),
    a_o1: sigmoid(o1),
    a_o2: sigmoid(o2),
}

# δo = (a_o − t)·a_o(1 − a_o): the output units' error signals, as in the class notes.
_delta_o1 = (a_o1 - t1) * a_o1 * (1 - a_o1)
_delta_o2 = (a_o2 - t2) * a_o2 * (1 - a_o2)

#: The hand-derived formulas of the class notes, in the activation symbols.
HAND_FORMULAS: dict[sp.Symbol, sp.Expr] = {
    w1: (_delta_o1 * w5 + _delta_o2 * w7) * a_h1 * (1 - a_h1) * i1,
    w2: (_delta_o1 * w5 + _delta_o2 * w7) * a_h1 * (1 - a_h1) * i2,
    w3: (_delta_o1 * w6 + _delta_o2 * w8) * a_h2 * (1 - a_h2) * i1,
    w4: (_delta_o1 * w6 + _delta_o2 * w8) * a_h2 * (1 - a_h2) * i2,
    w5: _delta_o1 * a_h1,
    w6: _delta_o1 * a_h2,
    w7: _delta_o2 * a_h1,
    w8: _delta_o2 * a_h2,
}


def class_values() -> dict[sp.Symbol, sp.Expr]:
    """The class inputs and targets as exact rationals (0.05 → 1/20)."""
    values = (*INPUTS, *TARGETS)
    symbols = (*INPUT_SYMBOLS, *TARGET_SYMBOLS)
    return {s: sp.nsimplify(v) for s, v in zip(symbols, values, strict=True)}


def to_activations(expr: sp.Expr) -> sp.Expr:
    """Replace σ(h1), σ(h2), then σ(o1), σ(o2) by a_h1, a_h2, a_o1, a_o2 (innermost first)."""
    hidden = expr.xreplace({sigmoid(h1): a_h1, sigmoid(h2): a_h2})
    o1_short, o2_short = (o.xreplace({sigmoid(h1): a_h1, sigmoid(h2): a_h2}) for o in (o1, o2))
    return hidden.xreplace({sigmoid(o1_short): a_o1, sigmoid(o2_short): a_o2})


def from_activations(expr: sp.Expr) -> sp.Expr:
    """Replace a_h1, a_h2, a_o1, a_o2 by their definitions in the weights."""
    return expr.xreplace(ACTIVATION_DEFINITIONS)


@dataclass(frozen=True)
class Derivative:
    """∂E_total/∂w for one weight, in its three forms."""

    weight: sp.Symbol
    derived: sp.Expr  #: straight from sp.diff(E_total, w), in w, i, t
    chain_rule: sp.Expr  #: the same in the activations a_o1, a_o2, a_h1, a_h2, t, w, i
    expanded: sp.Expr  #: in the weights alone (class inputs and targets substituted)

    @property
    def name(self) -> str:
        return str(self.weight)

    def chain_rule_latex(self) -> str:
        """LaTeX for ∂E_total/∂w = chain-rule form."""
        return rf"{derivative_latex(self.weight)} = {sp.latex(self.chain_rule)}"

    def expanded_latex(self) -> str:
        """LaTeX for ∂E_total/∂w = expanded form in the weights alone."""
        return rf"{derivative_latex(self.weight)} = {sp.latex(self.expanded)}"


def derivative_latex(weight: sp.Symbol) -> str:
    """``\\frac{\\partial E_{total}}{\\partial w_5}`` for w5."""
    return rf"\frac{{\partial E_{{total}}}}{{\partial {sp.latex(weight)}}}"


@cache
def derivatives() -> tuple[Derivative, ...]:
    """Differentiate E_total with respect to w1..w8."""
    numbers = class_values()
    result = []
    for weight in WEIGHTS:
        derived = sp.diff(E_total, weight)
        chain_rule = sp.factor_terms(to_activations(derived))
        result.append(Derivative(weight, derived, chain_rule, derived.xreplace(numbers)))
    return tuple(result)


def equals(derivative: Derivative, formula: sp.Expr) -> bool:
    """True when SymPy proves ``derivative`` equal to ``formula`` (written in the activations).

    Two proofs: in the activation symbols the difference expands to 0, and with σ rewritten as
    1/(1 + e^(−x)) everywhere the difference of the full expressions simplifies to 0.
    """
    if sp.expand(derivative.chain_rule - formula) != 0:
        return False
    difference = (derivative.derived - from_activations(formula)).rewrite(sp.exp)
    return sp.simplify(difference) == 0


def matches_hand_formula(derivative: Derivative) -> bool:
    """True when SymPy proves the derivative equal to the class notes' formula."""
    return equals(derivative, HAND_FORMULAS[derivative.weight])


@cache
def _gradient_function() -> Callable[..., list[float]]:
    exprs = [d.derived.rewrite(sp.exp) for d in derivatives()]
    return sp.lambdify([WEIGHTS, INPUT_SYMBOLS, TARGET_SYMBOLS], exprs, modules="numpy")


def lambdified_gradients(
    weights: object, inputs: tuple[float, float] = INPUTS, targets: tuple[float, float] = TARGETS
) -> np.ndarray:
    """The eight SymPy derivatives evaluated numerically (via ``sp.lambdify``)."""
    w = as_weights(weights)
    if w.ndim != 1:
        raise ValueError(f"expected one set of {len(WEIGHT_NAMES)} weights, got {w.shape}")
    function = _gradient_function()
    with np.errstate(over="ignore"):
        return np.array(function(list(w), list(inputs), list(targets)), dtype=np.float64)
