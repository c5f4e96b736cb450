"""Proofs for the hand-written backward passes: SymPy differentiates the definition of a layer,
and the NumPy backward of ``nnbook.mnist.manual`` — the very function, run on arrays of SymPy
expressions — must give the same expressions.

Each proof takes a small case with a symbol for every input, parameter and upstream gradient
δ; the loss is L = Σ δ · y, so that ∂L/∂x is exactly what a backward pass receives δ for and
returns. ``simplify`` of each difference must be 0 for every symbol's value, not only for the
numbers of one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from nnbook.mnist import manual


@dataclass
class Proof:
    """What SymPy derived, what the NumPy formula gives, and whether every difference is 0."""

    layer: str
    derived: list[sp.Expr]  #: ∂L/∂(each input), differentiated by SymPy from the definition
    formula: list[sp.Expr]  #: the NumPy backward's result on the same symbols
    proved: bool


def _symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of real SymPy symbols name_0, name_1, … of ``shape``."""
    count = int(np.prod(shape))
    return np.array(sp.symbols(f"{name}_0:{count}", real=True), dtype=object).reshape(shape)


def _proof(layer: str, loss: sp.Expr, inputs: np.ndarray, formula: np.ndarray) -> Proof:
    derived = [sp.diff(loss, x) for x in inputs.flat]
    ours = [sp.sympify(f) for f in formula.flat]
    proved = all(sp.simplify(d - f) == 0 for d, f in zip(derived, ours, strict=True))
    return Proof(layer, derived, ours, proved)


def batchnorm_proof(batch: int = 3) -> Proof:
    """One channel, ``batch`` values x_i, scale γ, shift β, ε: y_i = γ·(x_i − μ)/√(var + ε) + β
    with the batch's mean μ and biased variance; ``manual.batchnorm_backward`` against
    ∂(Σ δ_i y_i)/∂x_i."""
    x = _symbols("x", (batch, 1, 1, 1))
    delta = _symbols("delta", (batch, 1, 1, 1))
    gamma, beta, eps = sp.symbols("gamma beta epsilon", positive=True)
    mean = sum(x.flat) / batch
    variance = sum((xi - mean) ** 2 for xi in x.flat) / batch
    inv_std = 1 / sp.sqrt(variance + eps)
    y = gamma * (x - mean) * inv_std + beta  # the definition, element by element
    loss = sum(d * yi for d, yi in zip(delta.flat, y.flat, strict=True))
    cache = manual.BatchNormCache(
        x_hat=(x - mean) * inv_std,
        inv_std=np.array([[[[inv_std]]]], dtype=object),
        gamma=np.array([gamma], dtype=object),
    )
    grad_x, _, _ = manual.batchnorm_backward(delta, cache)
    return _proof("BatchNorm2d", loss, x, grad_x)


def softmax_nll_proof(batch: int = 2, classes: int = 3) -> Proof:
    """Scores z (``batch`` × ``classes``) and labels 0, 1, …: L = −(1/N) Σ_n log softmax(z_n)[y_n];
    ``manual.log_softmax_nll_backward`` (softmax − one-hot, over N) against ∂L/∂z."""
    z = _symbols("z", (batch, classes))
    labels = np.arange(batch) % classes
    denominators = [sum(sp.exp(zj) for zj in row) for row in z]
    probabilities = np.array(
        [[sp.exp(zj) / den for zj in row] for row, den in zip(z, denominators, strict=True)],
        dtype=object,
    )
    loss = -sum(sp.log(probabilities[n, labels[n]]) for n in range(batch)) / batch
    grad = manual.log_softmax_nll_backward(manual.LossCache(probabilities, labels))
    return _proof("log_softmax + NLL", loss, z, grad)


def conv2d_by_definition(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, padding: int
) -> np.ndarray:
    """The convolution as its definition writes it, one sum per output number:
    y[n,o,i,j] = b[o] + Σ_c Σ_Δi Σ_Δj w[o,c,Δi,Δj] · x[n,c,i+Δi−P,j+Δj−P], x = 0 outside."""
    images, channels, height, width = x.shape
    out_channels, _, k, _ = weight.shape
    out_h, out_w = height + 2 * padding - k + 1, width + 2 * padding - k + 1
    y = np.zeros((images, out_channels, out_h, out_w), dtype=np.result_type(x, weight))
    for index in np.ndindex(y.shape):
        n, o, i, j = index
        total = bias[o] if bias is not None else 0
        for c, di, dj in np.ndindex(channels, k, k):
            row, column = i + di - padding, j + dj - padding
            if 0 <= row < height and 0 <= column < width:  # the zero padding adds nothing
                total = total + weight[o, c, di, dj] * x[n, c, row, column]
        y[index] = total
    return y


def conv2d_proof(
    channels: tuple[int, int] = (2, 2), size: int = 4, kernel: int = 3, padding: int = 1
) -> Proof:
    """A ``size`` × ``size`` input of ``channels[0]`` channels, a ``kernel`` × ``kernel``
    convolution to ``channels[1]`` with bias and ``padding``: ``manual.conv2d_backward`` against
    ∂(Σ δ · y)/∂x of the sum ``conv2d_by_definition`` writes out (and the same for w and b)."""
    x = _symbols("x", (1, channels[0], size, size))
    weight = _symbols("w", (channels[1], channels[0], kernel, kernel))
    bias = _symbols("b", (channels[1],))
    y = conv2d_by_definition(x, weight, bias, padding)
    delta = _symbols("delta", y.shape)
    loss = sp.expand(sum(d * yi for d, yi in zip(delta.flat, y.flat, strict=True)))
    _, cache = manual.conv2d_forward(x, weight, bias, padding)
    grad_x, grad_w, grad_b = manual.conv2d_backward(delta, cache)
    inputs = np.concatenate([x.ravel(), weight.ravel(), bias])
    formulas = np.concatenate([grad_x.ravel(), grad_w.ravel(), grad_b])
    return _proof("Conv2d", loss, inputs, formulas)


@dataclass
class ScoreGradient:
    """∂L/∂z_k of one image's loss L = −log p_label: what SymPy derives from the definition,
    and the short form p_k − t_k it equals (t the one-hot target: 1 for the label, else 0)."""

    score: sp.Symbol  #: z_k
    derived: sp.Expr  #: sp.diff(L, z_k), simplified: in the exponentials of the scores
    short: sp.Expr  #: p_k − t_k, with p_k a symbol
    equal: bool  #: derived − (softmax_k − t_k) simplifies to 0

    def latex(self) -> str:
        """The equation ∂L/∂z_k = (derived) = p_k − t_k, in LaTeX."""
        derivative = rf"\frac{{\partial L}}{{\partial {sp.latex(self.score)}}}"
        return f"{derivative} = {sp.latex(self.derived)} = {sp.latex(self.short)}"


def score_gradients(classes: int = 3, label: int = 0) -> list[ScoreGradient]:
    """Log-softmax and the negative log-likelihood for one image with ``classes`` scores
    z_1 … z_K whose correct class is ``label`` (counted from 0: 0 is z_1's class),
    p_k = e^(z_k) / Σ_j e^(z_j),
    L = −log p_label. SymPy differentiates L by every score, and each derivative is checked to be
    p_k − t_k — the counterpart of Part 1's δ_o1 = ∂E_total/∂o_1 = (a_o1 − t_1)·σ′(o_1)."""
    if not (isinstance(classes, int) and classes >= 2):
        raise ValueError(f"need at least 2 classes, got {classes!r}")
    if not (isinstance(label, int) and 0 <= label < classes):
        raise ValueError(f"the label must be one of 0 … {classes - 1}, got {label!r}")
    scores = sp.symbols(f"z_1:{classes + 1}", real=True)
    probabilities = sp.symbols(f"p_1:{classes + 1}", positive=True)
    total = sum(sp.exp(z) for z in scores)
    loss = -sp.log(sp.exp(scores[label]) / total)
    gradients = []
    for k, z in enumerate(scores):
        target = 1 if k == label else 0  # t_k, one-hot
        derived = sp.simplify(sp.diff(loss, z))
        equal = sp.simplify(derived - (sp.exp(z) / total - target)) == 0
        gradients.append(ScoreGradient(z, derived, probabilities[k] - target, equal))
    return gradients


def squared_error_gradient() -> sp.Expr:
    """Part 1's output unit, E = ½(t − σ(z))², differentiated by its net input z:
    −(t − σ(z))·σ(z)(1 − σ(z)), i.e. (σ(z) − t)·σ′(z) — small wherever σ is flat."""
    from nnbook.symbolic import sigmoid

    t, z = sp.symbols("t z", real=True)
    return sp.diff(sp.Rational(1, 2) * (t - sigmoid(z)) ** 2, z)
