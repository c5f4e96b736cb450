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
    COLUMNS,
    DEFAULT_ITERATIONS,
    FORWARD_NAMES,
    INITIAL_WEIGHTS,
    INPUTS,
    TARGETS,
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
) -> ForwardPass:
    """Run the network forward and keep every intermediate."""
    w = as_weights(weights)
    i1, i2 = inputs
    t1, t2 = targets
    w1, w2, w3, w4, w5, w6, w7, w8 = np.moveaxis(w, -1, 0)
    h1 = w1 * i1 + w2 * i2
    h2 = w3 * i1 + w4 * i2
    a_h1, a_h2 = sigmoid(h1), sigmoid(h2)
    o1 = w5 * a_h1 + w6 * a_h2
    o2 = w7 * a_h1 + w8 * a_h2
    a_o1, a_o2 = sigmoid(o1), sigmoid(o2)
    e1 = 0.5 * (t1 - a_o1) ** 2  # E1 = ½(t1 − a_o1)²
    e2 = 0.5 * (t2 - a_o2) ** 2  # E2 = ½(t2 − a_o2)²
    return ForwardPass(h1, a_h1, h2, a_h2, o1, a_o1, o2, a_o2, e1, e2, e1 + e2)


def gradients(
    weights: object,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
    state: ForwardPass | None = None,
) -> np.ndarray:
    """∂E_total/∂w1..∂E_total/∂w8 by the chain rule (last axis), from one forward pass."""
    w = as_weights(weights)
    s = forward(w, inputs, targets) if state is None else state
    i1, i2 = inputs
    t1, t2 = targets
    _, _, _, _, w5, w6, w7, w8 = np.moveaxis(w, -1, 0)
    # δo = ∂E_total/∂o = (a_o − t) · σ'(o), with σ'(o) = a_o (1 − a_o)
    delta_o1 = (s.a_o1 - t1) * s.a_o1 * (1 - s.a_o1)
    delta_o2 = (s.a_o2 - t2) * s.a_o2 * (1 - s.a_o2)
    # δh = ∂E_total/∂h = (Σ_k δo_k · w_hk) · a_h (1 − a_h)
    delta_h1 = (delta_o1 * w5 + delta_o2 * w7) * s.a_h1 * (1 - s.a_h1)
    delta_h2 = (delta_o1 * w6 + delta_o2 * w8) * s.a_h2 * (1 - s.a_h2)
    return np.stack(
        [
            delta_h1 * i1,  # dE/dw1 = δh1 · i1
            delta_h1 * i2,  # dE/dw2 = δh1 · i2
            delta_h2 * i1,  # dE/dw3 = δh2 · i1
            delta_h2 * i2,  # dE/dw4 = δh2 · i2
            delta_o1 * s.a_h1,  # dE/dw5 = δo1 · a_h1
            delta_o1 * s.a_h2,  # dE/dw6 = δo1 · a_h2
            delta_o2 * s.a_h1,  # dE/dw7 = δo2 · a_h1
            delta_o2 * s.a_h2,  # dE/dw8 = δo2 · a_h2
        ],
        axis=-1,
    )


def train_array(
    learning_rates: Sequence[float],
    iterations: int = DEFAULT_ITERATIONS,
    weights: object = INITIAL_WEIGHTS,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
) -> np.ndarray:
    """Train one network per learning rate, all from ``weights``, with w ← w − η·∂E_total/∂w.

    Returns an array of shape ``(len(learning_rates), iterations + 1, len(COLUMNS))``: row k of
    a run is the state after k updates (weights, forward pass, gradients), columns as ``COLUMNS``.
    """
    rates = np.array([check_learning_rate(lr) for lr in learning_rates], dtype=np.float64)
    steps = check_iterations(iterations)
    start = as_weights(weights)
    if start.ndim != 1:
        raise ValueError(f"expected one set of 8 starting weights, got shape {start.shape}")
    w = np.tile(start, (len(rates), 1))
    rows = np.empty((len(rates), steps + 1, len(COLUMNS)))
    for k in range(steps + 1):
        finite = np.all(np.isfinite(w), axis=-1)
        state = forward(w[finite], inputs, targets)
        finite[finite] = np.isfinite(state.E_total)
        if not np.all(finite):
            bad = ", ".join(f"{r:g}" for r in rates[~finite])
            raise DivergenceError(
                f"the run diverged at iteration {k}: the weights or E_total are no longer "
                f"finite numbers (learning rate {bad})"
            )
        grad = gradients(w, inputs, targets, state)
        rows[:, k, 0] = k
        rows[:, k, 1:9] = w
        rows[:, k, 9:20] = state.values()
        rows[:, k, 20:] = grad
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught above, by name
            w = w - rates[:, None] * grad  # all eight weights updated from one forward pass
    return rows


def train(
    lr: float,
    iterations: int = DEFAULT_ITERATIONS,
    weights: object = INITIAL_WEIGHTS,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
) -> pd.DataFrame:
    """One training run as a table: one row per iteration 0..N, columns ``COLUMNS``."""
    return train_many([lr], iterations, weights, inputs, targets)[float(lr)]


def train_many(
    learning_rates: Sequence[float],
    iterations: int = DEFAULT_ITERATIONS,
    weights: object = INITIAL_WEIGHTS,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
) -> dict[float, pd.DataFrame]:
    """Several runs computed together, as ``{η: table}``; row k = the state after k updates."""
    rows = train_array(learning_rates, iterations, weights, inputs, targets)
    tables = {}
    for lr, run in zip(learning_rates, rows, strict=True):
        table = pd.DataFrame(run, columns=list(COLUMNS))
        table["iteration"] = table["iteration"].astype(int)
        tables[float(lr)] = table
    return tables
