"""The class network of Part 1: two inputs, two hidden and two output sigmoid units, no biases.

One definition, used by the NumPy backprop, the SymPy derivation, the spreadsheet and the book.
"""

from __future__ import annotations

import numpy as np

#: Inputs i1, i2.
INPUTS: tuple[float, float] = (0.05, 0.1)
#: Targets t1, t2.
TARGETS: tuple[float, float] = (0.5, 0.5)
#: Initial weights w1..w8 (w1..w4 input → hidden, w5..w8 hidden → output).
INITIAL_WEIGHTS: tuple[float, ...] = (0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55)
#: The learning rates η the class compares.
LEARNING_RATES: tuple[float, ...] = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)
#: Number of updates in the class runs.
DEFAULT_ITERATIONS = 100

WEIGHT_NAMES: tuple[str, ...] = tuple(f"w{k}" for k in range(1, 9))
#: Every intermediate of the forward pass, in the order of the class sheet.
FORWARD_NAMES: tuple[str, ...] = (
    "h1",
    "a_h1",
    "h2",
    "a_h2",
    "o1",
    "a_o1",
    "o2",
    "a_o2",
    "E1",
    "E2",
    "E_total",
)
GRADIENT_NAMES: tuple[str, ...] = tuple(f"dE_d{name}" for name in WEIGHT_NAMES)
#: Columns of one training row: the state after k updates.
COLUMNS: tuple[str, ...] = ("iteration", *WEIGHT_NAMES, *FORWARD_NAMES, *GRADIENT_NAMES)


def as_weights(weights: object) -> np.ndarray:
    """Return ``weights`` as a float64 array whose last axis holds w1..w8.

    Raises ``ValueError`` when the last axis does not have length 8 or a weight is not finite.
    """
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != len(WEIGHT_NAMES):
        raise ValueError(f"expected {len(WEIGHT_NAMES)} weights (w1..w8), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("weights must be finite numbers")
    return array


def check_learning_rate(lr: float) -> float:
    """Return ``lr`` as a float, or raise ``ValueError`` if it is not finite and positive."""
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"learning rate must be a number, got {lr!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"learning rate must be a finite positive number, got {lr!r}")
    return value


def check_iterations(iterations: int) -> int:
    """Return ``iterations`` as an int, or raise ``ValueError`` if it is negative."""
    if isinstance(iterations, bool) or int(iterations) != iterations:
        raise ValueError(f"iteration count must be a whole number, got {iterations!r}")
    if iterations < 0:
        raise ValueError(f"iteration count must be 0 or more, got {iterations}")
    return int(iterations)
