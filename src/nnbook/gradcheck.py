"""Independent checks of the backprop gradients: torch.autograd and central finite differences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from nnbook.backprop import forward, gradients
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
from nnbook.symbolic import lambdified_gradients


def _autograd(
    weights: object, inputs: Sequence[float], targets: Sequence[float], biases: Sequence[float]
) -> np.ndarray:
    """∂E_total/∂(w1..w8, b1, b2) from torch.autograd, the network written in torch."""
    w = torch.tensor(as_weights(weights), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(as_pair(biases, BIAS_NAMES), dtype=torch.float64, requires_grad=True)
    i = torch.tensor(as_pair(inputs, INPUT_NAMES), dtype=torch.float64)
    t = torch.tensor(as_pair(targets, TARGET_NAMES), dtype=torch.float64)
    a_h = torch.sigmoid(w[:4].reshape(2, 2) @ i + b[0])  # [a_h1, a_h2]
    a_o = torch.sigmoid(w[4:].reshape(2, 2) @ a_h + b[1])  # [a_o1, a_o2]
    e_total = 0.5 * ((t - a_o) ** 2).sum()
    e_total.backward()
    return np.concatenate([w.grad.numpy(), b.grad.numpy()])


def autograd_gradients(
    weights: object,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
    biases: Sequence[float] = BIASES,
) -> Gradients:
    """∂E_total/∂w1..w8 and ∂E_total/∂b1, ∂E_total/∂b2 from torch.autograd (float64)."""
    return Gradients(*split_trainable(_autograd(weights, inputs, targets, biases)))


def _central_differences(
    weights: object,
    step: float,
    inputs: Sequence[float],
    targets: Sequence[float],
    biases: Sequence[float],
) -> np.ndarray:
    """(E(θ + h·e_k) − E(θ − h·e_k)) / 2h for every trainable θ_k (w1..w8, b1, b2)."""
    theta = np.concatenate([as_weights(weights), as_pair(biases, BIAS_NAMES)])
    shifts = np.eye(len(theta)) * step
    upper, lower = split_trainable(theta + shifts), split_trainable(theta - shifts)
    return (
        forward(upper[0], inputs, targets, upper[1]).E_total
        - forward(lower[0], inputs, targets, lower[1]).E_total
    ) / (2 * step)


#: The step h of the central differences: their truncation error shrinks as h², their round-off
#: grows as float64's 1e-16 / h; at 1e-6 both stay far below the class's gradients.
DIFFERENCE_STEP = 1e-6


def finite_difference_gradients(
    weights: object,
    step: float = DIFFERENCE_STEP,
    inputs: Sequence[float] = INPUTS,
    targets: Sequence[float] = TARGETS,
    biases: Sequence[float] = BIASES,
) -> Gradients:
    """Central differences (E(θ + h·e_k) − E(θ − h·e_k)) / 2h for each weight and bias θ_k."""
    differences = _central_differences(weights, step, inputs, targets, biases)
    return Gradients(*split_trainable(differences))


def gradient_table(weights: object) -> pd.DataFrame:
    """The eight gradients by four methods, and each method's largest relative difference."""
    backprop = gradients(weights)
    table = pd.DataFrame(
        {
            "NumPy backprop": backprop.weights,
            "SymPy (lambdified)": lambdified_gradients(weights).weights,
            "torch.autograd": autograd_gradients(weights).weights,
            "finite differences": finite_difference_gradients(weights).weights,
        },
        index=pd.Index([f"∂E_total/∂{name}" for name in WEIGHT_NAMES], name="gradient"),
    )
    return table


def relative_differences(table: pd.DataFrame) -> pd.Series:
    """Largest |method − NumPy| / |NumPy| over the eight gradients, per method."""
    reference = table["NumPy backprop"].abs()
    return (
        table.drop(columns="NumPy backprop")
        .sub(table["NumPy backprop"], axis=0)
        .abs()
        .div(reference, axis=0)
        .max()
    )
