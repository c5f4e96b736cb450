"""Formulas as a reader types them, and SymPy's reading of them, for the derivative checks.

``right_forms`` writes a question's answer the ways a student might (expanded, factored, with
σ or exp, its factors in another order); ``sympy_says_equal`` is SymPy's own verdict on a typed
text, ``simplify(typed − answer) == 0``, that the page's verdicts are held to.
"""

from __future__ import annotations

import sympy as sp
from sympy.parsing.sympy_parser import parse_expr

from nnbook import derivative_check as check
from nnbook import symbolic as sym

CLASS = check.CLASS_NETWORK
HIDDEN = {check.h1: sym.a_h1, check.h2: sym.a_h2}
OUTPUTS = {check.o1: sym.a_o1, check.o2: sym.a_o2}
ACTIVATION_OF = {**HIDDEN, **OUTPUTS}


def typed(expr: sp.Expr, *, sigma: str = "sigmoid", power: str = "^", times: str = "*") -> str:
    text = sp.sstr(expr).replace("**", "§").replace("*", times).replace("§", power)
    return text.replace("sigmoid", sigma)


def reversed_products(expr: sp.Expr) -> str:
    """The chain-rule form with every product's factors in the opposite order, · between."""
    if isinstance(expr, sp.Mul):
        return "·".join(f"({reversed_products(arg)})" for arg in reversed(expr.args))
    if isinstance(expr, sp.Add):
        return " + ".join(f"({reversed_products(arg)})" for arg in expr.args)
    return typed(expr)


def with_sigma(expr: sp.Expr) -> sp.Expr:
    """Activations written as σ of the net inputs: a_h1 → σ(h1), a_o1 → σ(o1)."""
    return expr.xreplace({a: sym.sigmoid(net) for net, a in ACTIVATION_OF.items()})


def with_exp(expr: sp.Expr) -> sp.Expr:
    """Activations written out: a_h1 → 1/(1 + exp(−h1))."""
    return expr.xreplace({a: 1 / (1 + sp.exp(-net)) for net, a in ACTIVATION_OF.items()})


def right_forms(question: check.Question) -> list[str]:
    chain = question.chain_rule
    forms = [
        typed(chain),
        typed(sp.expand(chain), power="**"),
        typed(sp.factor(chain), times="×"),
        reversed_products(chain),
    ]
    if question.family is CLASS:
        forms += [typed(with_sigma(chain), sigma="σ"), typed(with_exp(chain))]
        forms.append(typed(question.answer))  # SymPy's own, in the weights and inputs
    else:
        forms += [typed(question.family.in_base(chain)), typed(question.answer)]
    return forms


def read_by_sympy(text: str, family: check.Family) -> sp.Expr:
    names = {name: sp.Symbol(name, real=True) for name in family.names}
    functions = {"sigmoid": sym.sigmoid, "exp": sp.exp, "log": sp.log}
    source = text.replace("σ", "sigmoid").replace("·", "*").replace("×", "*").replace("^", "**")
    return parse_expr(source, local_dict={**names, **functions})


def in_activations(expr: sp.Expr) -> sp.Expr:
    """A class-network formula in the activations alone: σ(net) and e^(∓net) by the unit's
    activation a (e^(−net) = (1 − a)/a), the nets' definitions by the activations below."""
    nets = {
        sym.sigmoid(CLASS.forward["h1"]): sym.a_h1,
        sym.sigmoid(CLASS.forward["h2"]): sym.a_h2,
    }
    outputs = {
        sym.sigmoid(CLASS.forward["o1"]): sym.a_o1,
        sym.sigmoid(CLASS.forward["o2"]): sym.a_o2,
    }
    rules = {}
    for net, a in ACTIVATION_OF.items():
        rules[sym.sigmoid(net)] = a
        rules[sp.exp(-net)] = (1 - a) / a
        rules[sp.exp(net)] = a / (1 - a)
    expr = expr.xreplace(rules).xreplace(nets).xreplace(outputs)
    # what is left is the weights' own (SymPy's derivative): the same, from the inside out
    return expr.xreplace(nets).xreplace(outputs)


def sympy_says_equal(text: str, question: check.Question) -> bool:
    """SymPy's verdict: simplify(typed − answer) == 0, both in the same variables."""
    family = question.family
    difference = read_by_sympy(text, family) - question.answer
    if family is CLASS:
        difference = in_activations(difference)
    else:
        difference = family.in_base(difference)
    return sp.simplify(difference) == 0
