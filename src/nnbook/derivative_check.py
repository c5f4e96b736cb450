"""Check your own derivative: the questions the page asks, their answers and the usual mistakes.

For each question SymPy derives the right answer: ∂E_total/∂w from the class network's E_total,
∂E_total/∂a_h and ∂E_total/∂o with the hidden activations or the output units' net inputs as
free symbols, and ∂L/∂z of log-softmax with the negative log-likelihood for one image. Beside
it stand the answer changed in each way a student commonly goes wrong — the sign, a factor of
the chain rule missing, the wrong weight or activation, one path of two, E1 for E_total — each
with what to say when a typed formula equals it.

``javascript_module`` prints all of them, and the forward pass that gives every name the reader
may type its value, with SymPy's JavaScript printer into ``_static/nnbook-check.js``, together
with the points the formulas are compared at (``comparison_points``: the class's numbers first,
then random ones, where every answer is well away from zero). ``book/_static/check.js`` parses
what the reader types with mathjs and compares; ``question_html`` is a question's box.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Callable
from functools import cache

import numpy as np
import sympy as sp

from nnbook import symbolic as sym
from nnbook.calculator import NetworkPrinter
from nnbook.network import INITIAL_WEIGHTS, INPUTS, TARGETS

MODULE_NAME = "nnbook-check.js"
#: Relative difference under which two values count as equal: rounding in float64 stays below
#: 1e-13 at the points below; every listed mistake differs by more than 1e-3 at one of them.
RTOL = 1e-9
#: Random points besides the class's, and the seed that draws them.
RANDOM_POINTS, POINTS_SEED = 16, 2026
#: A point is kept only where every answer is at least this large and every output at least
#: this far from its target, so that rounding cannot bring two different formulas together.
SMALLEST_ANSWER, SMALLEST_OUTPUT_ERROR = 1e-3, 0.05

# ---------------------------------------------------------------------------------------------
# The two families of names: the class network's, and one image's three scores.

i1, i2, t1, t2 = sym.i1, sym.i2, sym.t1, sym.t2
w1, w2, w3, w4, w5, w6, w7, w8 = sym.WEIGHTS
a_h1, a_h2, a_o1, a_o2 = sym.ACTIVATIONS
sigmoid = sym.sigmoid
_NO_BIASES = {sym.b1: 0, sym.b2: 0}
z1, z2, z3 = SCORES = sp.symbols("z1:4", real=True)
p1, p2, p3 = PROBABILITIES = sp.symbols("p1:4", real=True)


@dataclasses.dataclass(frozen=True)
class Family:
    """Names a reader may type, and how the forward pass gives each its value at a point."""

    name: str
    base: tuple[sp.Symbol, ...]  #: what a point gives values to
    #: every other name, in the base symbols and the names before it, in forward order
    forward: dict[str, sp.Expr]
    ranges: dict[sp.Symbol, tuple[float, float]]  #: where random points are drawn
    example: dict[sp.Symbol, float]  #: the point a message quotes: the class's numbers

    @property
    def names(self) -> tuple[str, ...]:
        return (*map(str, self.base), *self.forward)

    def in_base(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every forward name replaced by its definition in the base symbols."""
        symbols = {sp.Symbol(name, real=True): value for name, value in self.forward.items()}
        for _ in range(len(symbols)):  # later names are defined through earlier ones
            expr = expr.xreplace(symbols)
        return expr


_h1, _h2 = sym.h1.subs(_NO_BIASES), sym.h2.subs(_NO_BIASES)
_o1, _o2 = sym.o1.subs(_NO_BIASES), sym.o2.subs(_NO_BIASES)
#: The output units' net inputs as symbols, for ∂E_total/∂o.
o1, o2 = sp.symbols("o1 o2", real=True)
h1, h2 = sp.symbols("h1 h2", real=True)
CLASS_NETWORK = Family(
    name="class network",
    base=(i1, i2, t1, t2, *sym.WEIGHTS),
    forward={
        "h1": w1 * i1 + w2 * i2,
        "h2": w3 * i1 + w4 * i2,
        "a_h1": sigmoid(h1),
        "a_h2": sigmoid(h2),
        "o1": w5 * a_h1 + w6 * a_h2,
        "o2": w7 * a_h1 + w8 * a_h2,
        "a_o1": sigmoid(o1),
        "a_o2": sigmoid(o2),
    },
    ranges={i1: (0.05, 1), i2: (0.05, 1), t1: (0, 1), t2: (0, 1)}
    | {w: (-1, 1) for w in sym.WEIGHTS},
    example=dict(
        zip((i1, i2, t1, t2, *sym.WEIGHTS), (*INPUTS, *TARGETS, *INITIAL_WEIGHTS), strict=True)
    ),
)
_exponentials = sum(sp.exp(z) for z in SCORES)
SOFTMAX = Family(
    name="three scores",
    base=SCORES,
    forward={
        str(p): sp.exp(z) / _exponentials for p, z in zip(PROBABILITIES, SCORES, strict=True)
    },
    ranges={z: (-3, 3) for z in SCORES},
    example={z1: 1.0, z2: 2.0, z3: 0.5},
)
FAMILIES = {family.name: family for family in (CLASS_NETWORK, SOFTMAX)}
#: The loss of one image whose correct class is the first: L = −log p1.
LOSS = -sp.log(SOFTMAX.in_base(p1))

# ---------------------------------------------------------------------------------------------
# The questions.


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A right answer changed in one way, and what the page says when a formula equals it."""

    message: str
    expr: sp.Expr  #: in the family's names (activations allowed)


@dataclasses.dataclass(frozen=True)
class Question:
    key: str  #: what ``window.nnbookCheck`` takes, e.g. ``dE_total/dw5``
    text: str  #: how a message writes it, e.g. ``∂E_total/∂w5``
    latex: str
    family: Family
    answer: sp.Expr  #: SymPy's derivative, in the family's base symbols
    chain_rule: sp.Expr  #: the same in the notes' chain-rule form (activations)
    mistakes: tuple[Mistake, ...]


# The chain rule's pieces, in the activations (the class notes' form).
_ERROR_AT = {1: a_o1 - t1, 2: a_o2 - t2}  # ∂E_total/∂a_o = a_o − t
_OUTPUT = {1: a_o1, 2: a_o2}
_HIDDEN = {1: a_h1, 2: a_h2}
_INPUT = {1: i1, 2: i2}
#: The weight from hidden unit h to output o, and from input i to hidden unit h.
_HIDDEN_TO_OUTPUT = {(1, 1): w5, (2, 1): w6, (1, 2): w7, (2, 2): w8}
_INPUT_TO_HIDDEN = {(1, 1): w1, (2, 1): w2, (1, 2): w3, (2, 2): w4}
_ERRORS = {1: sp.Rational(1, 2) * (t1 - sigmoid(_o1)) ** 2}
_ERRORS[2] = sp.Rational(1, 2) * (t2 - sigmoid(_o2)) ** 2


def _slope(activation: sp.Expr) -> sp.Expr:
    return activation * (1 - activation)  # σ′(net) = a(1 − a)


def _delta(o: int) -> sp.Expr:
    return _ERROR_AT[o] * _slope(_OUTPUT[o])  # δo = (a_o − t)·a_o(1 − a_o)


def _back(h: int, delta: Callable[[int], sp.Expr] = _delta) -> sp.Expr:
    """∂E_total/∂a_h: the δ of each output times the weight from h to it, summed."""
    return sum(delta(o) * _HIDDEN_TO_OUTPUT[(h, o)] for o in (1, 2))


def _other(k: int) -> int:
    return 3 - k


def _sign_and_half(right: sp.Expr) -> list[Mistake]:
    return [
        Mistake("The sign is flipped: E = ½(t − a)² gives (a − t), not (t − a).", -right),
        Mistake(
            "Twice the answer: the ½ of E = ½(t − a)² cancels the 2 of the square.", 2 * right
        ),
    ]


def _path_mistakes(w: sp.Symbol, h: int, tail: sp.Expr) -> list[Mistake]:
    """Only one of the two paths from hidden unit h to E_total, each times ``tail``."""
    return [
        Mistake(
            f"Only the path through o{o}: {w} reaches E_total through o{_other(o)} too "
            f"(this is ∂E{o}/∂{w}).",
            _delta(o) * _HIDDEN_TO_OUTPUT[(h, o)] * tail,
        )
        for o in (1, 2)
    ]


def _output_weight(h: int, o: int) -> tuple[sp.Expr, list[Mistake]]:
    w, a_h = _HIDDEN_TO_OUTPUT[(h, o)], _HIDDEN[h]
    right = _delta(o) * a_h
    return right, [
        *_sign_and_half(right),
        Mistake(
            f"σ′ of the output is missing: the factor a_o{o}(1 − a_o{o}) = ∂a_o{o}/∂o{o}.",
            _ERROR_AT[o] * a_h,
        ),
        Mistake(f"The activation a_h{h} is missing: ∂o{o}/∂{w} = a_h{h}.", _delta(o)),
        Mistake(
            f"a_h{_other(h)} where a_h{h} belongs: {w} carries a_h{h} into o{o}.",
            _delta(o) * _HIDDEN[_other(h)],
        ),
        Mistake(
            f"The error of o{_other(o)} where o{o}'s belongs: {w} feeds o{o}.",
            _delta(_other(o)) * a_h,
        ),
    ]


def _input_weight(i: int, h: int) -> tuple[sp.Expr, list[Mistake]]:
    w, a_h, x = _INPUT_TO_HIDDEN[(i, h)], _HIDDEN[h], _INPUT[i]
    right = _back(h) * _slope(a_h) * x
    weights = ", ".join(str(_HIDDEN_TO_OUTPUT[(h, o)]) for o in (1, 2))
    others = ", ".join(str(_HIDDEN_TO_OUTPUT[(_other(h), o)]) for o in (1, 2))
    return right, [
        *_sign_and_half(right),
        *_path_mistakes(w, h, _slope(a_h) * x),
        Mistake(
            "σ′ of the outputs is missing: each path carries a_o(1 − a_o) of its output.",
            _back(h, lambda o: _ERROR_AT[o]) * _slope(a_h) * x,
        ),
        Mistake(
            f"σ′ of the hidden unit is missing: the factor a_h{h}(1 − a_h{h}) = ∂a_h{h}/∂h{h}.",
            _back(h) * x,
        ),
        Mistake(f"The input i{i} is missing: ∂h{h}/∂{w} = i{i}.", _back(h) * _slope(a_h)),
        Mistake(
            f"a_h{_other(h)} where a_h{h} belongs: {w} feeds h{h}, so its slope is "
            f"a_h{h}(1 − a_h{h}).",
            _back(h) * _slope(_HIDDEN[_other(h)]) * x,
        ),
        Mistake(
            f"The wrong weights: h{h} reaches the outputs through {weights}, not {others}.",
            _back(_other(h)) * _slope(a_h) * x,
        ),
        Mistake(
            f"i{_other(i)} where i{i} belongs: {w} carries i{i} into h{h}.",
            _back(h) * _slope(a_h) * _INPUT[_other(i)],
        ),
    ]


def _hidden_activation(h: int) -> tuple[sp.Expr, list[Mistake]]:
    right = _back(h)
    weights = ", ".join(str(_HIDDEN_TO_OUTPUT[(h, o)]) for o in (1, 2))
    others = ", ".join(str(_HIDDEN_TO_OUTPUT[(_other(h), o)]) for o in (1, 2))
    return right, [
        *_sign_and_half(right),
        *_path_mistakes(_HIDDEN[h], h, sp.Integer(1)),
        Mistake(
            "σ′ of the outputs is missing: each path carries a_o(1 − a_o) of its output.",
            _back(h, lambda o: _ERROR_AT[o]),
        ),
        Mistake(
            f"The wrong weights: a_h{h} reaches the outputs through {weights}, not {others}.",
            _back(_other(h)),
        ),
        Mistake(
            f"One step too far: times a_h{h}(1 − a_h{h}) it is ∂E_total/∂h{h}, the net input's.",
            right * _slope(_HIDDEN[h]),
        ),
    ]


def _output_net_input(o: int) -> tuple[sp.Expr, list[Mistake]]:
    right = _delta(o)
    return right, [
        *_sign_and_half(right),
        Mistake(
            f"That is ∂E_total/∂a_o{o}: the slope σ′(o{o}) = a_o{o}(1 − a_o{o}) is missing.",
            _ERROR_AT[o],
        ),
    ]


def _score(c: int) -> tuple[sp.Expr, list[Mistake]]:
    p = PROBABILITIES[c - 1]
    if c == 1:
        right = p1 - 1
        changed = [
            Mistake("The −1 of the correct class is missing: −log p1 = −z1 + log Σ e^z.", p1),
            Mistake(
                "That is ∂p1/∂z1, the softmax's own slope: the log of L = −log p1 adds −1/p1.",
                p1 * (1 - p1),
            ),
            Mistake("That is ∂L/∂p1: the chain rule needs ∂p1/∂z1 as well.", -1 / p1),
        ]
    else:
        right = p
        changed = [
            Mistake(f"The −1 belongs to the correct class's score z1 alone, not to z{c}.", p - 1),
            Mistake(
                f"That is ∂p1/∂z{c}, the softmax's own slope: the log of L = −log p1 adds −1/p1.",
                -p1 * p,
            ),
        ]
    return right, [Mistake("The sign is flipped.", -right), *changed]


def _class_question(symbol: sp.Symbol, answer: sp.Expr, built: tuple) -> Question:
    name = str(symbol)
    return Question(
        key=f"dE_total/d{name}",
        text=f"∂E_total/∂{name}",
        latex=rf"\frac{{\partial E_{{total}}}}{{\partial {sp.latex(symbol)}}}",
        family=CLASS_NETWORK,
        answer=answer,
        chain_rule=built[0],
        mistakes=tuple(built[1]),
    )


def _error_in(free: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    """E_total with ``free`` (a unit's net input or activation → a symbol) made free."""
    return sum(error.xreplace(free) for error in _ERRORS.values())


def _build_questions() -> dict[str, Question]:
    questions = []
    for (i, h), w in _INPUT_TO_HIDDEN.items():
        questions.append(_class_question(w, sp.diff(sym.CLASS_E_TOTAL, w), _input_weight(i, h)))
    for (h, o), w in _HIDDEN_TO_OUTPUT.items():
        questions.append(_class_question(w, sp.diff(sym.CLASS_E_TOTAL, w), _output_weight(h, o)))
    questions.sort(key=lambda q: int(q.key[-1]))
    hidden = {sigmoid(_h1): a_h1, sigmoid(_h2): a_h2}
    for h, a_h in _HIDDEN.items():
        derived = sp.diff(_error_in(hidden), a_h).xreplace({a: s for s, a in hidden.items()})
        questions.append(_class_question(a_h, derived, _hidden_activation(h)))
    nets = {1: o1, 2: o2}
    outputs = {_o1: nets[1], _o2: nets[2]}
    for o, net in nets.items():
        derived = sp.diff(_error_in(outputs), net).xreplace({s: v for v, s in outputs.items()})
        questions.append(_class_question(net, derived, _output_net_input(o)))
    for c, z in enumerate(SCORES[:2], start=1):
        right, mistakes = _score(c)
        questions.append(
            Question(
                key=f"dL/d{z}",
                text=f"∂L/∂{z}",
                latex=rf"\frac{{\partial L}}{{\partial {sp.latex(z)}}}",
                family=SOFTMAX,
                answer=sp.diff(LOSS, z),
                chain_rule=right,
                mistakes=tuple(mistakes),
            )
        )
    return {q.key: q for q in questions}


# ---------------------------------------------------------------------------------------------
# Points, and the mistakes that differ from the answer (and from each other) there.


def _numeric(family: Family, expr: sp.Expr) -> Callable[..., np.ndarray]:
    return sp.lambdify(family.base, family.in_base(expr).rewrite(sp.exp), "numpy")


def _values(family: Family, expr: sp.Expr, points: np.ndarray) -> np.ndarray:
    return np.broadcast_to(_numeric(family, expr)(*points.T), points.shape[:1]).astype(float)


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two formulas' values differ by more than ``RTOL`` (relative) at any point."""
    scale = np.maximum(np.abs(a), np.abs(b))
    return bool(np.any(np.abs(a - b) > RTOL * scale))


def _kept(family: Family, answers: list[sp.Expr], points: np.ndarray) -> np.ndarray:
    keep = np.ones(len(points), dtype=bool)
    for answer in answers:
        keep &= np.abs(_values(family, answer, points)) >= SMALLEST_ANSWER
    if family is CLASS_NETWORK:
        for o, target in ((1, t1), (2, t2)):
            error = _values(family, _OUTPUT[o] - target, points)
            keep &= np.abs(error) >= SMALLEST_OUTPUT_ERROR
    return keep


@cache
def comparison_points(family_name: str) -> np.ndarray:
    """The class's (or the example's) numbers, then ``RANDOM_POINTS`` random points where every
    answer of the family is at least ``SMALLEST_ANSWER`` and every output at least
    ``SMALLEST_OUTPUT_ERROR`` from its target; one row per point, columns as ``family.base``."""
    family = FAMILIES[family_name]
    answers = [q.answer for q in _built().values() if q.family is family]
    rng = np.random.default_rng(POINTS_SEED)
    low, high = (np.array([family.ranges[s][k] for s in family.base]) for k in (0, 1))
    example = np.array([[family.example[s] for s in family.base]], dtype=float)
    found = [example]
    while sum(map(len, found)) < RANDOM_POINTS + 1:
        drawn = rng.uniform(low, high, size=(4 * RANDOM_POINTS, len(family.base)))
        found.append(drawn[_kept(family, answers, drawn)])
    return np.concatenate(found)[: RANDOM_POINTS + 1]


@cache
def _built() -> dict[str, Question]:
    return _build_questions()


@cache
def questions() -> dict[str, Question]:
    """Every question, its mistakes kept only where they differ at the comparison points from
    the answer and from the mistakes before them (one formula, one message)."""
    return {key: _distinct_mistakes(question) for key, question in _built().items()}


def _distinct_mistakes(question: Question) -> Question:
    family = question.family
    points = comparison_points(family.name)
    seen = [_values(family, question.answer, points)]
    kept = []
    for mistake in question.mistakes:
        values = _values(family, mistake.expr, points)
        if all(differs(values, other) for other in seen):
            kept.append(mistake)
            seen.append(values)
    return dataclasses.replace(question, mistakes=tuple(kept))


def mistake_margin(key: str) -> float:
    """How far the question's closest mistake stays from its answer: over the mistakes, the
    smallest of the largest relative difference at the comparison points."""
    question = questions()[key]
    family = question.family
    points = comparison_points(family.name)
    answer = _values(family, question.answer, points)
    margins = [
        np.max(np.abs(values - answer) / np.maximum(np.abs(values), np.abs(answer)))
        for values in (_values(family, m.expr, points) for m in question.mistakes)
    ]
    return float(min(margins))


QUESTION_KEYS = (
    *(f"dE_total/dw{k}" for k in range(1, 9)),
    "dE_total/da_h1",
    "dE_total/da_h2",
    "dE_total/do1",
    "dE_total/do2",
    "dL/dz1",
    "dL/dz2",
)

# ---------------------------------------------------------------------------------------------
# The page: the module the build writes, and a question's box.


def _js(expr: sp.Expr) -> str:
    return NetworkPrinter({"strict": False}).doprint(expr)


def _function(expr: sp.Expr) -> str:
    """A function of a scope holding every name of the family (``forward`` of a point)."""
    unpack = ", ".join(sorted(map(str, expr.free_symbols)))
    return f"function (p) {{ const {{ {unpack} }} = p; return {_js(expr)}; }}"


def _family_js(family: Family) -> str:
    unpack = ", ".join(map(str, family.base))
    forward = "; ".join(f"const {name} = {_js(expr)}" for name, expr in family.forward.items())
    points = [
        dict(zip(map(str, family.base), map(float, row), strict=True))
        for row in comparison_points(family.name)
    ]
    latex = {name: sp.latex(sp.Symbol(name)) for name in family.names}
    return (
        f"{{ names: {json.dumps(family.names)}, latex: {json.dumps(latex)},\n"
        f"      forward: function (p) {{ const {{ {unpack} }} = p; {forward}; "
        f"return {{ {', '.join(family.forward)} }}; }},\n"
        f"      points: {json.dumps(points)} }}"
    )


def _question_js(question: Question) -> str:
    mistakes = ",\n".join(
        f"        {{ message: {json.dumps(m.message)}, value: {_function(m.expr)} }}"
        for m in question.mistakes
    )
    return (
        f"    {json.dumps(question.key)}: {{ text: {json.dumps(question.text)}, "
        f"family: {json.dumps(question.family.name)},\n"
        f"      answer: {_function(question.answer)},\n"
        f"      mistakes: [\n{mistakes}\n      ] }}"
    )


def javascript_module() -> str:
    """The module's source: ``window.nnbookCheckData`` with the families and the questions."""
    families = ",\n".join(f"    {json.dumps(f.name)}: {_family_js(f)}" for f in FAMILIES.values())
    body = ",\n".join(_question_js(q) for q in questions().values())
    return (
        "// Generated by nnbook.derivative_check from SymPy's derivatives. Do not edit: every\n"
        "// formula below is printed by SymPy's JavaScript printer.\n"
        "(function (root) {\n"
        '  "use strict";\n'
        f"  root.nnbookCheckData = {{ RTOL: {RTOL!r},\n"
        f"  families: {{\n{families}\n  }},\n"
        f"  questions: {{\n{body}\n  }} }};\n"
        '})(typeof window === "undefined" ? globalThis : window);\n'
    )


def question_html(key: str) -> str:
    """The box of one question: the formula's field, *check*, what was read, the verdict."""
    if key not in QUESTION_KEYS:
        raise ValueError(f"unknown question {key!r}; the questions are {', '.join(QUESTION_KEYS)}")
    question = questions()[key]
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower())
    return (
        f'<div class="nnbook-check" data-nnbook-check="{html.escape(key)}">'
        f'<label for="check-{slug}"><span class="math notranslate nohighlight">'
        rf"\({question.latex} =\)</span></label> "
        f'<input id="check-{slug}" type="text" autocomplete="off" autocapitalize="off" '
        f'spellcheck="false" aria-label="{html.escape(question.text)} ="'
        ">"
        '<button type="button" data-action="check">check</button>'
        '<div class="nnbook-check-typed" data-typed></div>'
        '<p class="nnbook-check-verdict" data-verdict aria-live="polite"></p>'
        "</div>"
    )


def questions_html(*keys: str) -> str:
    """Several questions' boxes, one after the other."""
    return "".join(map(question_html, keys))
