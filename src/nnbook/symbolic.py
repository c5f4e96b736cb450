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

from nnbook.network import (
    BIAS_NAMES,
    BIASES,
    INPUT_NAMES,
    INPUTS,
    TARGET_NAMES,
    TARGETS,
    WEIGHT_NAMES,
    Gradients,
    as_pair,
    as_weights,
    split_trainable,
)

w1, w2, w3, w4, w5, w6, w7, w8 = WEIGHTS = sp.symbols("w1:9", real=True)
b1, b2 = BIAS_SYMBOLS = sp.symbols("b1 b2", real=True)
#: Everything gradient descent updates: the eight weights, then the two biases.
PARAMETERS = (*WEIGHTS, *BIAS_SYMBOLS)
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
        return rf"\sigma({printer._print(self.args[0])})"  # plain ( ): MathJax may break inside


# The network, one line per equation of the class notes (b1 = b2 = 0 in the class network).
h1 = w1 * i1 + w2 * i2 + b1
h2 = w3 * i1 + w4 * i2 + b1
o1 = w5 * sigmoid(h1) + w6 * sigmoid(h2) + b2
o2 = w7 * sigmoid(h1) + w8 * sigmoid(h2) + b2
E1 = sp.Rational(1, 2) * (t1 - sigmoid(o1)) ** 2
E2 = sp.Rational(1, 2) * (t2 - sigmoid(o2)) ** 2
E_total = E1 + E2
#: The class network's error: it has no biases (b1 = b2 = 0), so neither does its E_total.
CLASS_E_TOTAL = E_total.subs({b1: 0, b2: 0})

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
    # a shared bias collects the δ of every unit it feeds
    b1: (_delta_o1 * w5 + _delta_o2 * w7) * a_h1 * (1 - a_h1)
    + (_delta_o1 * w6 + _delta_o2 * w8) * a_h2 * (1 - a_h2),
    b2: _delta_o1 + _delta_o2,
}


def class_values(
    inputs: tuple[float, float] = INPUTS,
    targets: tuple[float, float] = TARGETS,
    biases: tuple[float, float] = BIASES,
) -> dict[sp.Symbol, sp.Expr]:
    """Inputs, targets and biases as exact rationals (0.05 → 1/20); the class's by default."""
    values = (
        *as_pair(inputs, INPUT_NAMES),
        *as_pair(targets, TARGET_NAMES),
        *as_pair(biases, BIAS_NAMES),
    )
    symbols = (*INPUT_SYMBOLS, *TARGET_SYMBOLS, *BIAS_SYMBOLS)
    return {s: sp.nsimplify(v, rational=True) for s, v in zip(symbols, values, strict=True)}


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
    """∂E_total/∂w for one weight (or bias), in its forms."""

    weight: sp.Symbol
    derived: sp.Expr  #: straight from sp.diff(E_total, w), in w, b, i, t
    chain_rule: sp.Expr  #: the same in the activations a_o1, a_o2, a_h1, a_h2, t, w, i
    expanded: sp.Expr  #: in the weights alone (class inputs, targets and biases substituted)
    #: the chain-rule form as the class notes write it: its factors, unevaluated, in order
    notes: sp.Expr

    @property
    def name(self) -> str:
        return str(self.weight)

    def chain_rule_latex(self) -> str:
        """LaTeX for ∂E_total/∂w = the chain-rule form, in the class notes' order and signs."""
        return rf"{derivative_latex(self.weight)} = {notes_latex(self.notes)}"

    def expanded_latex(self) -> str:
        """LaTeX for ∂E_total/∂w = expanded form in the weights alone, breakable over lines."""
        return rf"{derivative_latex(self.weight)} = {sum_latex(self.expanded)}"


def derivative_latex(weight: sp.Symbol) -> str:
    """``\\frac{\\partial E_{total}}{\\partial w_5}`` for w5."""
    return rf"\frac{{\partial E_{{total}}}}{{\partial {sp.latex(weight)}}}"


def _derivative(parameter: sp.Symbol) -> Derivative:
    derived = sp.diff(E_total, parameter)
    chain_rule = sp.factor_terms(to_activations(derived))
    expanded = derived.xreplace(class_values())
    return Derivative(parameter, derived, chain_rule, expanded, walk(parameter).notes)


@cache
def derivatives() -> tuple[Derivative, ...]:
    """Differentiate E_total with respect to w1..w8."""
    return tuple(_derivative(weight) for weight in WEIGHTS)


@cache
def bias_derivatives() -> tuple[Derivative, ...]:
    """Differentiate E_total with respect to b1 and b2."""
    return tuple(_derivative(bias) for bias in BIAS_SYMBOLS)


# ---------------------------------------------------------------------------------------------
# The chain rule, factor by factor, as the class notes walk it.

#: Each unit's net input in the activations of the layer below (E_k in its output activation).
_NET_INPUT = {
    a_h1: h1,
    a_h2: h2,
    a_o1: w5 * a_h1 + w6 * a_h2 + b2,
    a_o2: w7 * a_h1 + w8 * a_h2 + b2,
}
_ERROR = {a_o1: sp.Rational(1, 2) * (t1 - a_o1) ** 2, a_o2: sp.Rational(1, 2) * (t2 - a_o2) ** 2}
_OUTPUTS, _HIDDEN = (a_o1, a_o2), (a_h1, a_h2)
_NET_NAME = {a_h1: "h_{1}", a_h2: "h_{2}", a_o1: "o_{1}", a_o2: "o_{2}"}
_ERROR_NAME = {a_o1: "E_{1}", a_o2: "E_{2}"}
_x = sp.Symbol("x", real=True)


def sigma_prime(activation: sp.Symbol) -> sp.Expr:
    """σ'(net) written in the unit's activation a: SymPy's dσ/dx = σ(x)(1 − σ(x)) → a(1 − a)."""
    return sp.diff(sigmoid(_x), _x).xreplace({sigmoid(_x): activation})


def _partial(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


@dataclass(frozen=True)
class Factor:
    """One factor of the chain rule: the partial derivative it is, and its formula."""

    label: str  #: LaTeX of the partial derivative, e.g. ∂E_total/∂a_o1
    expr: sp.Expr  #: its formula (unevaluated where it is a product or sum of factors)

    def latex(self) -> str:
        return f"{self.label} = {notes_latex(self.expr)}"

    def value(self, numbers: dict[sp.Symbol, float]) -> float:
        """The factor at ``numbers`` (activations, weights, inputs, targets)."""
        return float(self.expr.xreplace(numbers))


@dataclass(frozen=True)
class ChainRule:
    """∂E_total/∂p walked as the notes walk it: the paths into a hidden unit, then the factors."""

    parameter: sp.Symbol
    #: for a parameter below the output layer: the error reaching it through each output
    paths: tuple[Factor, ...]
    factors: tuple[Factor, ...]  #: multiplied together, they are the gradient

    @property
    def notes(self) -> sp.Expr:
        return sp.Mul(*(factor.expr for factor in self.factors), evaluate=False)

    def value(self, numbers: dict[sp.Symbol, float]) -> float:
        """The gradient at ``numbers``: the product of the factors' values."""
        return float(np.prod([factor.value(numbers) for factor in self.factors]))

    def lines(self, numbers: dict[sp.Symbol, float]) -> list[str]:
        """The walk in LaTeX, one equation a line: each factor, its formula and value, then their
        product (separate equations, so that each can break to fit a narrow screen)."""
        lines = []
        for factor in (*self.paths, *self.factors):
            formula = notes_latex(factor.expr)
            if self.paths and factor is self.factors[0] and len(self.factors) > 1:
                formula = " + ".join(path.label for path in self.paths)  # the two paths, summed
            lines.append(rf"{factor.label} = {formula} = {number_latex(factor.value(numbers))}")
        product = r" \cdot ".join(number_latex(f.value(numbers)) for f in self.factors)
        total = number_latex(self.value(numbers))
        lines.append(rf"{derivative_latex(self.parameter)} = {product} = {total}")
        return lines


def _error_at_output(output: sp.Symbol) -> tuple[Factor, Factor]:
    """∂E_total/∂a_ok = ∂E_k/∂a_ok = a_ok − t_k (the other output's error has no a_ok) and
    ∂a_ok/∂o_k = σ'(o_k), both by ``sp.diff``."""
    error = Factor(_partial("E_{total}", sp.latex(output)), sp.diff(_ERROR[output], output))
    slope = Factor(_partial(sp.latex(output), _NET_NAME[output]), sigma_prime(output))
    return error, slope


def _path_to_hidden(output: sp.Symbol, hidden: sp.Symbol) -> Factor:
    """∂E_k/∂a_hj = ∂E_k/∂a_ok · ∂a_ok/∂o_k · ∂o_k/∂a_hj (the error through one output)."""
    error, slope = _error_at_output(output)
    weight = sp.diff(_NET_INPUT[output], hidden)
    label = _partial(_ERROR_NAME[output], sp.latex(hidden))
    return Factor(label, sp.Mul(error.expr, slope.expr, weight, evaluate=False))


def walk(parameter: sp.Symbol) -> ChainRule:
    """The chain rule for ∂E_total/∂``parameter``, each factor derived by ``sp.diff``."""
    if parameter not in PARAMETERS:
        raise ValueError(f"{parameter} is not a parameter of the network (w1..w8, b1, b2)")
    name = sp.latex(parameter)
    outputs = [a for a in _OUTPUTS if _NET_INPUT[a].has(parameter)]
    if parameter == b2:  # b2 feeds both outputs: the error of each, summed
        terms = [sp.Mul(*(f.expr for f in _error_at_output(a)), evaluate=False) for a in outputs]
        return ChainRule(
            parameter, (), (Factor(_partial("E_{total}", name), sp.Add(*terms, evaluate=False)),)
        )
    if outputs:  # w5..w8: one output, one path
        (output,) = outputs
        error, slope = _error_at_output(output)
        net = Factor(_partial(_NET_NAME[output], name), sp.diff(_NET_INPUT[output], parameter))
        return ChainRule(parameter, (), (error, slope, net))
    hidden = [a for a in _HIDDEN if _NET_INPUT[a].has(parameter)]
    paths, factors = [], []
    for unit in hidden:  # w1..w4 feed one hidden unit; b1 feeds both
        arriving = tuple(_path_to_hidden(output, unit) for output in _OUTPUTS)
        paths.extend(arriving)
        total = Factor(
            _partial("E_{total}", sp.latex(unit)),
            sp.Add(*(path.expr for path in arriving), evaluate=False),
        )
        slope = Factor(_partial(sp.latex(unit), _NET_NAME[unit]), sigma_prime(unit))
        net = Factor(_partial(_NET_NAME[unit], name), sp.diff(_NET_INPUT[unit], parameter))
        factors.append((total, slope, net))
    if len(factors) == 1:
        return ChainRule(parameter, tuple(paths), factors[0])
    # b1: ∂h/∂b1 = 1 for both hidden units, so each term is ∂E_total/∂a_h · σ'(h)
    terms = [sp.Mul(*(f.expr for f in chain if f.expr != 1), evaluate=False) for chain in factors]
    total = Factor(_partial("E_{total}", name), sp.Add(*terms, evaluate=False))
    return ChainRule(parameter, tuple(paths), (total,))


def number_latex(value: float, digits: int = 9) -> str:
    """``value`` to ``digits`` significant digits, as LaTeX (1.5 \\times 10^{-5}, not 1.5e-05)."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def notes_latex(expr: sp.Expr) -> str:
    """LaTeX that keeps the factors and terms in the order they were written, with ·.

    Parentheses are plain: MathJax cannot break a line inside a ``\\left( … \\right)`` group, and
    the long first-layer formulas must break to fit a phone's width.
    """
    return breakable(sp.latex(expr, order="none", mul_symbol="dot"))


def breakable(latex: str) -> str:
    """``\\left( … \\right)`` as plain parentheses, inside which MathJax can break a line."""
    return latex.replace(r"\left(", "(").replace(r"\right)", ")")


def sum_latex(expr: sp.Expr) -> str:
    """LaTeX of a sum of products that MathJax can break at every term and factor.

    SymPy would print ``-w5·(…)·(…)/20`` as one fraction, and nothing inside a fraction breaks
    over lines; here each term's rational coefficient comes first (``−1/20 · w5 · (…)``), and
    ``·`` between factors and plain parentheses leave a line break possible everywhere.
    """
    pieces = []
    for term in sp.Add.make_args(expr):
        coefficient, product = term.as_coeff_Mul()
        sign = "-" if coefficient < 0 else "+"
        coefficient = abs(coefficient)
        factors = [coefficient] if coefficient != 1 else []
        factors += product.as_ordered_factors()
        printed = [breakable(sp.latex(f, mul_symbol="dot")) for f in factors]
        printed = [f"({p})" if f.is_Add else p for f, p in zip(factors, printed, strict=True)]
        # \goodbreak: where MathJax should break first, between factors rather than inside one
        pieces.append(f"{sign} " + r" \goodbreak\cdot ".join(printed))
    return r" \goodbreak ".join(pieces).removeprefix("+ ")


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


_ARGUMENTS = [WEIGHTS, INPUT_SYMBOLS, TARGET_SYMBOLS, BIAS_SYMBOLS]


@cache
def _gradient_function() -> Callable[..., list[float]]:
    exprs = [d.derived.rewrite(sp.exp) for d in (*derivatives(), *bias_derivatives())]
    return sp.lambdify(_ARGUMENTS, exprs, modules="numpy")


@cache
def _activation_function() -> Callable[..., list[float]]:
    exprs = [ACTIVATION_DEFINITIONS[a].rewrite(sp.exp) for a in ACTIVATIONS]
    return sp.lambdify(_ARGUMENTS, exprs, modules="numpy")


def _arguments(
    weights: object, inputs: object, targets: object, biases: object
) -> list[list[float]]:
    w = as_weights(weights)
    if w.ndim != 1:
        raise ValueError(f"expected one set of {len(WEIGHT_NAMES)} weights, got {w.shape}")
    pairs = (as_pair(inputs, INPUT_NAMES), as_pair(targets, TARGET_NAMES))
    return [list(w), *map(list, pairs), list(as_pair(biases, BIAS_NAMES))]


def _lambdified(weights: object, inputs: object, targets: object, biases: object) -> np.ndarray:
    """The ten SymPy derivatives (``TRAINABLE_NAMES`` order) evaluated via ``sp.lambdify``."""
    with np.errstate(over="ignore"):
        values = _gradient_function()(*_arguments(weights, inputs, targets, biases))
    return np.array(values, dtype=np.float64)


def lambdified_gradients(
    weights: object,
    inputs: tuple[float, float] = INPUTS,
    targets: tuple[float, float] = TARGETS,
    biases: tuple[float, float] = BIASES,
) -> Gradients:
    """The SymPy derivatives ∂E_total/∂w1..w8 and ∂E_total/∂b1, ∂E_total/∂b2 evaluated
    numerically (via ``sp.lambdify``)."""
    return Gradients(*split_trainable(_lambdified(weights, inputs, targets, biases)))


def point(
    weights: object,
    inputs: tuple[float, float] = INPUTS,
    targets: tuple[float, float] = TARGETS,
    biases: tuple[float, float] = BIASES,
) -> dict[sp.Symbol, float]:
    """Every symbol of the chain-rule forms at these numbers, the activations computed by SymPy.

    ``Factor.value`` and ``expr.xreplace`` take it; nothing here comes from the NumPy backprop,
    so a factor's value is an independent check of it.
    """
    arguments = _arguments(weights, inputs, targets, biases)
    with np.errstate(over="ignore"):
        activations = _activation_function()(*arguments)
    symbols = (*WEIGHTS, *INPUT_SYMBOLS, *TARGET_SYMBOLS, *BIAS_SYMBOLS, *ACTIVATIONS)
    values = (*arguments[0], *arguments[1], *arguments[2], *arguments[3], *activations)
    return {symbol: float(value) for symbol, value in zip(symbols, values, strict=True)}


# ---------------------------------------------------------------------------------------------
# One row of a training run, column by column: what the spreadsheet and the page calculator print.

LEARNING_RATE = sp.Symbol("eta", positive=True)
#: 1 when the biases learn, 0 when they stay fixed.
TRAIN_BIASES = sp.Symbol("train_biases", nonnegative=True)


def row_expressions() -> dict[str, sp.Expr]:
    """Each computed column of a row as an expression in earlier columns of the same row.

    The forward pass of the network (σ(h) replaced by the a_h column), then the
    gradients SymPy's chain-rule forms of ∂E_total/∂w and ∂E_total/∂b.
    """
    h1_, h2_, o1_, o2_, e1_, e2_ = sp.symbols("h1 h2 o1 o2 E1 E2", real=True)
    expressions = {
        "h1": h1,
        "a_h1": sigmoid(h1_),
        "h2": h2,
        "a_h2": sigmoid(h2_),
        "o1": to_activations(o1),
        "a_o1": sigmoid(o1_),
        "o2": to_activations(o2),
        "a_o2": sigmoid(o2_),
        "E1": to_activations(E1),
        "E2": to_activations(E2),
        "E_total": e1_ + e2_,
    }
    for derivative in (*derivatives(), *bias_derivatives()):
        expressions[f"dE_d{derivative.name}"] = derivative.chain_rule
    return expressions


def update_expressions() -> dict[str, sp.Expr]:
    """The next row's parameters: w ← w − η·∂E_total/∂w, b ← b − train·η·∂E_total/∂b."""
    updates = {}
    for parameter in PARAMETERS:
        gradient = sp.Symbol(f"dE_d{parameter}", real=True)
        step = LEARNING_RATE * gradient
        updates[str(parameter)] = parameter - (
            step if parameter in WEIGHTS else TRAIN_BIASES * step
        )
    return updates
