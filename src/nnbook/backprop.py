"""Numeric backpropagation for the class network, in NumPy (float64).

Every function takes weights whose last axis is w1..w8, so one call can run several learning
rates side by side: weights of shape ``(6, 8)`` are six networks trained at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nnbook.network import (
    BIAS_GRADIENT_NAMES,
    BIAS_NAMES,
    BIASES,
    COLUMNS,
    DEFAULT_ITERATIONS,
    FORWARD_NAMES,
    GRADIENT_NAMES,
    INITIAL_WEIGHTS,
    INPUT_NAMES,
    INPUTS,
    TARGET_NAMES,
    TARGETS,
    WEIGHT_NAMES,
    Gradients,
    as_biases,
    as_pair,
    as_weights,
    check_iterations,
    check_learning_rate,
)


class DivergenceError(ArithmeticError):
    """Raised when E_total stops being a finite number during training."""


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^(−x)); e^(−x) overflowing to ∞ gives the limit 0, so it is not warned."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class ForwardPass:
    """Every intermediate of one forward pass (arrays broadcast over leading weight axes)."""

    h1: np.ndarray
    a_h1: np.ndarray
    h2: np.ndarray
    a_h2: np.ndarray
    o1: np.ndarray
    a_o1: np.ndarray
    o2: np.ndarray
    a_o2: np.ndarray
    E1: np.ndarray
    E2: np.ndarray
    E_total: np.ndarray

    def values(self) -> np.ndarray:
        """The intermediates stacked on a last axis, in the order of ``FORWARD_NAMES``."""
        return np.stack([getattr(self, name) for name in FORWARD_NAMES], axis=-1)


def forward(
    weights: object,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
    biases: object = BIASES,
) -> ForwardPass:
    """Run the network forward and keep every intermediate.

    ``biases`` holds b1, b2 in its last axis: one pair, or one pair per row of ``weights``.
    """
    w1, w2, w3, w4, w5, w6, w7, w8 = np.moveaxis(as_weights(weights), -1, 0)
    b1, b2 = np.moveaxis(as_biases(biases), -1, 0)
    i1, i2 = as_pair(inputs, INPUT_NAMES)
    t1, t2 = as_pair(targets, TARGET_NAMES)
    h1 = w1 * i1 + w2 * i2 + b1  # h1 = w1·i1 + w2·i2 + b1
    h2 = w3 * i1 + w4 * i2 + b1  # h2 = w3·i1 + w4·i2 + b1
    a_h1, a_h2 = sigmoid(h1), sigmoid(h2)
    o1 = w5 * a_h1 + w6 * a_h2 + b2  # o1 = w5·a_h1 + w6·a_h2 + b2
    o2 = w7 * a_h1 + w8 * a_h2 + b2  # o2 = w7·a_h1 + w8·a_h2 + b2
    a_o1, a_o2 = sigmoid(o1), sigmoid(o2)
    e1 = 0.5 * (t1 - a_o1) ** 2  # E1 = ½(t1 − a_o1)²
    e2 = 0.5 * (t2 - a_o2) ** 2  # E2 = ½(t2 − a_o2)²
    return ForwardPass(h1, a_h1, h2, a_h2, o1, a_o1, o2, a_o2, e1, e2, e1 + e2)


@dataclass(frozen=True)
class Deltas:
    """The error signals δ = ∂E_total/∂(net input) of the four units."""

    o1: np.ndarray
    o2: np.ndarray
    h1: np.ndarray
    h2: np.ndarray


def deltas(weights: np.ndarray, targets: Sequence[float], state: ForwardPass) -> Deltas:
    """δ of each unit, output layer first, from one forward pass."""
    t1, t2 = as_pair(targets, TARGET_NAMES)
    _, _, _, _, w5, w6, w7, w8 = np.moveaxis(weights, -1, 0)
    # δo = ∂E_total/∂o = (a_o − t) · σ'(o), with σ'(o) = a_o (1 − a_o)
    delta_o1 = (state.a_o1 - t1) * state.a_o1 * (1 - state.a_o1)
    delta_o2 = (state.a_o2 - t2) * state.a_o2 * (1 - state.a_o2)
    # δh1 = ∂E_total/∂h1 = (δo1 · w5 + δo2 · w7) · a_h1 (1 − a_h1), and likewise δh2
    delta_h1 = (delta_o1 * w5 + delta_o2 * w7) * state.a_h1 * (1 - state.a_h1)
    delta_h2 = (delta_o1 * w6 + delta_o2 * w8) * state.a_h2 * (1 - state.a_h2)
    return Deltas(delta_o1, delta_o2, delta_h1, delta_h2)


def gradients(
    weights: object,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
    state: ForwardPass | None = None,
    biases: Sequence[float] = BIASES,
) -> Gradients:
    """∂E_total/∂w1..∂E_total/∂w8 and ∂E_total/∂b1, ∂E_total/∂b2 by the chain rule (last axis),
    from one forward pass and one set of δ."""
    w = as_weights(weights)
    s = forward(w, inputs, targets, biases) if state is None else state
    i1, i2 = as_pair(inputs, INPUT_NAMES)
    d = deltas(w, targets, s)
    weight_gradients = [
        d.h1 * i1,  # dE_total/dw1 = δh1 · i1
        d.h1 * i2,  # dE_total/dw2 = δh1 · i2
        d.h2 * i1,  # dE_total/dw3 = δh2 · i1
        d.h2 * i2,  # dE_total/dw4 = δh2 · i2
        d.o1 * s.a_h1,  # dE_total/dw5 = δo1 · a_h1
        d.o1 * s.a_h2,  # dE_total/dw6 = δo1 · a_h2
        d.o2 * s.a_h1,  # dE_total/dw7 = δo2 · a_h1
        d.o2 * s.a_h2,  # dE_total/dw8 = δo2 · a_h2
    ]
    # each shared bias collects both units' δ: dE_total/db1 = δh1 + δh2 (b1 feeds both hidden
    # units), dE_total/db2 = δo1 + δo2
    bias_gradients = [d.h1 + d.h2, d.o1 + d.o2]
    return Gradients(np.stack(weight_gradients, axis=-1), np.stack(bias_gradients, axis=-1))


def train_array(
    learning_rates: Sequence[float],
    iterations: int = DEFAULT_ITERATIONS,
    weights: object = INITIAL_WEIGHTS,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
    biases: Sequence[float] = BIASES,
    train_biases: bool = False,
) -> np.ndarray:
    """Train one network per learning rate, all from ``weights``, with w ← w − η·∂E_total/∂w.

    The biases stay fixed unless ``train_biases``, which updates them likewise. Returns an array
    of shape ``(len(learning_rates), iterations + 1, len(COLUMNS))``: row k of a run is the
    state after k updates (weights, biases, forward pass, gradients), columns as ``COLUMNS``.
    """
    rates = np.array([check_learning_rate(lr) for lr in learning_rates], dtype=np.float64)
    steps = check_iterations(iterations)
    start = as_weights(weights)
    if start.ndim != 1:
        raise ValueError(f"expected one set of 8 starting weights, got shape {start.shape}")
    inputs, targets = as_pair(inputs, INPUT_NAMES), as_pair(targets, TARGET_NAMES)
    w = np.tile(start, (len(rates), 1))
    b = np.tile(np.array(as_pair(biases, BIAS_NAMES)), (len(rates), 1))
    rows = np.empty((len(rates), steps + 1, len(COLUMNS)))
    for k in range(steps + 1):
        finite = np.all(np.isfinite(w), axis=-1) & np.all(np.isfinite(b), axis=-1)
        if np.all(finite):
            state = forward(w, inputs, targets, b)
            finite = np.isfinite(state.E_total)
        if not np.all(finite):
            bad = ", ".join(f"{r:g}" for r in rates[~finite])
            raise DivergenceError(
                f"the run diverged at iteration {k}: the weights or E_total are no longer "
                f"finite numbers (learning rate {bad})"
            )
        grad, bias_grad = gradients(w, inputs, targets, state)
        rows[:, k, 0] = k
        rows[:, k, _WEIGHTS] = w
        rows[:, k, _BIASES] = b
        rows[:, k, _FORWARD] = state.values()
        rows[:, k, _GRADIENTS] = grad
        rows[:, k, _BIAS_GRADIENTS] = bias_grad
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught above, by name
            w = w - rates[:, None] * grad  # all eight weights updated from one forward pass
            if train_biases:
                b = b - rates[:, None] * bias_grad  # b ← b − η·∂E_total/∂b
    return rows


def _column_slice(names: Sequence[str]) -> slice:
    start = COLUMNS.index(names[0])
    return slice(start, start + len(names))


_WEIGHTS, _BIASES = _column_slice(WEIGHT_NAMES), _column_slice(BIAS_NAMES)
_FORWARD, _GRADIENTS = _column_slice(FORWARD_NAMES), _column_slice(GRADIENT_NAMES)
_BIAS_GRADIENTS = _column_slice(BIAS_GRADIENT_NAMES)


def train(
    lr: float,
    iterations: int = DEFAULT_ITERATIONS,
    weights: object = INITIAL_WEIGHTS,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
    biases: Sequence[float] = BIASES,
    train_biases: bool = False,
) -> pd.DataFrame:
    """One training run as a table: one row per iteration 0..T, columns ``COLUMNS``."""
    runs = train_many([lr], iterations, weights, inputs, targets, biases, train_biases)
    return runs[float(lr)]


def train_many(
    learning_rates: Sequence[float],
    iterations: int = DEFAULT_ITERATIONS,
    weights: object = INITIAL_WEIGHTS,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
    biases: Sequence[float] = BIASES,
    train_biases: bool = False,
) -> dict[float, pd.DataFrame]:
    """Several runs computed together, as ``{η: table}``; row k = the state after k updates."""
    rows = train_array(learning_rates, iterations, weights, inputs, targets, biases, train_biases)
    tables = {}
    for lr, run in zip(learning_rates, rows, strict=True):
        table = pd.DataFrame(run, columns=list(COLUMNS))
        table["iteration"] = table["iteration"].astype(int)
        tables[float(lr)] = table
    return tables


#: Below this E_total a change is not read as the network's doing (``rises``, ``overshoots``):
#: |a_o − t| is then about 1e-10, the targets are met, and the last updates move E_total by
#: amounts that float64's rounding of a_o (1e-16 near 0.5) soon decides.
ROUND_OFF_FLOOR = 1e-20


def rises(error: Sequence[float], floor: float = ROUND_OFF_FLOOR) -> bool:
    """True when E_total rises from one update to the next anywhere above ``floor``."""
    curve = np.asarray(error, dtype=np.float64)
    return bool(np.any((np.diff(curve) > 0) & (curve[:-1] > floor)))


def overshoots(
    run: pd.DataFrame, floor: float = ROUND_OFF_FLOOR, trained_biases: bool = False
) -> bool:
    """True when some update of ``run`` (rows as ``train`` returns them), from an E_total above
    ``floor``, carries the parameters past the lowest E_total along its own step: the gradient
    it lands on points back along the step, its dot product with the step's gradient negative.
    The step moves the weights, and the biases too when they were trained."""
    names = [*GRADIENT_NAMES, *(BIAS_GRADIENT_NAMES if trained_biases else ())]
    gradient = run[names].to_numpy()  # ∂E_total/∂w1..w8 (and b1, b2) of rows 0..T
    along = (gradient[:-1] * gradient[1:]).sum(axis=1)  # g_T · g_(T+1)
    return bool(np.any((along < 0) & (run["E_total"].to_numpy()[:-1] > floor)))
