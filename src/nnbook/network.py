"""The class network of Part 1: two inputs, two hidden and two output sigmoid units.

The class network has no biases; the network takes a bias b1 shared by both hidden units and a
bias b2 shared by both output units, 0 by default, as in the best-known worked example.

One definition, used by the NumPy backprop, the SymPy derivation, the spreadsheet and the book.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

#: Inputs i1, i2.
INPUTS: tuple[float, float] = (0.05, 0.1)
#: Targets t1, t2.
TARGETS: tuple[float, float] = (0.5, 0.5)
#: Initial weights w1..w8 (w1..w4 input → hidden, w5..w8 hidden → output).
INITIAL_WEIGHTS: tuple[float, ...] = (0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55)
#: Biases b1 (both hidden units) and b2 (both output units): the class network has none.
BIASES: tuple[float, float] = (0.0, 0.0)
#: The learning rates η the class compares.
LEARNING_RATES: tuple[float, ...] = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)
#: The learning rate of a single run unless another is chosen (the middle of the class's six).
DEFAULT_LEARNING_RATE = 0.5
#: Number of updates in the class runs.
DEFAULT_ITERATIONS = 100


@dataclass(frozen=True)
class Example:
    """A worked example: the numbers of the network besides its starting weights."""

    inputs: tuple[float, float]
    targets: tuple[float, float]
    biases: tuple[float, float]
    lr: float
    iterations: int


#: The best-known worked example of backpropagation (M. Mazur, 2015): the class's 2-2-2 network
#: and weights, with biases, other targets, and η = 0.5.
TEXTBOOK_EXAMPLE = Example(
    inputs=(0.05, 0.10), targets=(0.01, 0.99), biases=(0.35, 0.60), lr=0.5, iterations=10_000
)

#: What the worked example publishes of its training, to the digits it prints: the error after
#: one update, and the error and the two outputs after its 10,000 updates.
TEXTBOOK_PUBLISHED: dict[int, dict[str, float]] = {
    1: {"E_total": 0.291027924},
    10_000: {"E_total": 0.0000351085, "a_o1": 0.015912196, "a_o2": 0.984065734},
}

WEIGHT_NAMES: tuple[str, ...] = tuple(f"w{k}" for k in range(1, 9))
BIAS_NAMES: tuple[str, str] = ("b1", "b2")
INPUT_NAMES: tuple[str, str] = ("i1", "i2")
TARGET_NAMES: tuple[str, str] = ("t1", "t2")
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
#: Everything gradient descent can update, in this order wherever the two come together.
TRAINABLE_NAMES: tuple[str, ...] = (*WEIGHT_NAMES, *BIAS_NAMES)
GRADIENT_NAMES: tuple[str, ...] = tuple(f"dE_d{name}" for name in WEIGHT_NAMES)
BIAS_GRADIENT_NAMES: tuple[str, str] = ("dE_db1", "dE_db2")
#: Columns of one training row: the state after k updates.
COLUMNS: tuple[str, ...] = (
    "iteration",
    *WEIGHT_NAMES,
    *BIAS_NAMES,
    *FORWARD_NAMES,
    *GRADIENT_NAMES,
    *BIAS_GRADIENT_NAMES,
)


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


class Gradients(NamedTuple):
    """Every ∂E_total of one backward pass, as CS231n's ``affine_backward`` returns dw and db
    together: ``dw, db = gradients(...)``."""

    weights: np.ndarray  #: ∂E_total/∂w1..∂E_total/∂w8 (last axis)
    biases: np.ndarray  #: ∂E_total/∂b1, ∂E_total/∂b2 (last axis)


def split_trainable(values: object) -> tuple[np.ndarray, np.ndarray]:
    """(w1..w8, b1 b2) of values whose last axis is in ``TRAINABLE_NAMES`` order: the one place
    where weights and biases, computed together, are told apart."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != len(TRAINABLE_NAMES):
        raise ValueError(
            f"expected {len(TRAINABLE_NAMES)} values (w1..w8, b1, b2), got {array.shape}"
        )
    return array[..., : len(WEIGHT_NAMES)], array[..., len(WEIGHT_NAMES) :]


def as_pair(values: object, names: tuple[str, str]) -> tuple[float, float]:
    """Two finite numbers, e.g. the inputs (i1, i2); ``ValueError`` naming them otherwise."""
    label = f"{names[0]}, {names[1]}"
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be numbers, got {values!r}") from None
    if array.shape != (2,):
        raise ValueError(f"expected 2 values ({label}), got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{label} must be finite numbers, got {values!r}")
    return float(array[0]), float(array[1])


def as_biases(biases: object) -> np.ndarray:
    """``biases`` as a float64 array whose last axis holds b1, b2 (finite), else ``ValueError``."""
    try:
        array = np.asarray(biases, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"b1, b2 must be numbers, got {biases!r}") from None
    if array.ndim == 0 or array.shape[-1] != len(BIAS_NAMES):
        raise ValueError(f"expected 2 values (b1, b2), got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"b1, b2 must be finite numbers, got {biases!r}")
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
