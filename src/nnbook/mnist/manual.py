"""Backpropagation by hand: every layer of the book's networks in NumPy, forward and backward.

Each kind of layer is a pair of functions. ``*_forward`` returns the layer's output and what its
backward needs (a small cache); ``*_backward`` takes δ = ∂L/∂(output) and returns ∂L/∂(input)
and the gradients of the layer's own parameters. Arrays are N × C × H × W, float64.
``loss_and_gradients`` walks a PyTorch network's own modules in order and runs the pairs — the
chain rule of Part 1, one layer at a time — without autograd.

The module also holds what the book measures with these pairs: ``sgd_step`` (one step of
``torch.optim.SGD`` in NumPy), ``layer_costs`` (the multiply-adds of each layer's pass),
``recording_dropout_masks`` (the masks PyTorch drew, to replay them here) and
``largest_relative_difference``; ``LAYER_KINDS`` is the one table of the layers it knows, which
``nnbook.mnist.export`` also reads.

The book's networks end the same way: their last layer leaves N × 10 × 1 × 1 scores, which
``forward`` flattens and turns into log-probabilities (``F.log_softmax``), and the loss is the
mean negative log-likelihood of the correct digit (``F.nll_loss``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from nnbook.mnist.layer_report import square_size

# ---------------------------------------------------------------------------------------------
# Convolution (stride 1, zero padding): im2col, then one matrix product; a grouped convolution
# (a depthwise one: a group per channel) is one such product per group


@dataclass
class ConvCache:
    columns: np.ndarray  #: im2col: one row per output pixel, the C·k·k inputs it sees
    input_shape: tuple[int, ...]
    weight: np.ndarray
    padding: int


def conv2d_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, padding: int
) -> tuple[np.ndarray, ConvCache]:
    """y[n,o,i,j] = Σ_c Σ_Δi Σ_Δj w[o,c,Δi,Δj] · x_pad[n,c,i+Δi,j+Δj] + b[o]."""
    out_channels, _, k, _ = weight.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x_pad, (k, k), axis=(2, 3))  # N × C × H' × W' × k × k
    n, c, rows, cols = windows.shape[:4]  # the output is rows × cols
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * rows * cols, c * k * k)
    y = columns @ weight.reshape(out_channels, -1).T  # (N·H'·W') × O
    if bias is not None:
        y = y + bias
    return y.reshape(n, rows, cols, out_channels).transpose(0, 3, 1, 2), ConvCache(
        columns, x.shape, weight, padding
    )


def conv2d_backward(
    grad_out: np.ndarray, cache: ConvCache, need_input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """∂L/∂w = Σ δ · (the input window) = δᵀ·columns; ∂L/∂b = Σ δ; ∂L/∂x: the product of δ
    with the kernels, a gradient for every entry of every window, each added back to the pixel
    it was read from (col2im). That is itself a convolution: of the zero-padded δ with each
    kernel flipped in both directions, its input and output channels swapped."""
    weight, pad = cache.weight, cache.padding
    out_channels, in_channels, k, _ = weight.shape
    n, _, rows, cols = grad_out.shape  # the output is rows × cols
    delta = grad_out.transpose(0, 2, 3, 1).reshape(-1, out_channels)  # (N·H'·W') × O
    grad_weight = (delta.T @ cache.columns).reshape(weight.shape)
    grad_bias = delta.sum(axis=0)
    if not need_input_grad:
        return None, grad_weight, grad_bias
    grad_columns = delta @ weight.reshape(out_channels, -1)
    grad_columns = grad_columns.reshape(n, rows, cols, in_channels, k, k)
    _, _, height, width = cache.input_shape
    grad_pad = np.zeros((n, in_channels, height + 2 * pad, width + 2 * pad), grad_columns.dtype)
    for di in range(k):  # col2im: k·k shifted additions (offsets Δi, Δj), not a loop over pixels
        for dj in range(k):
            window_grad = grad_columns[..., di, dj].transpose(0, 3, 1, 2)
            grad_pad[:, :, di : di + rows, dj : dj + cols] += window_grad
    return grad_pad[:, :, pad : pad + height, pad : pad + width], grad_weight, grad_bias


@dataclass
class GroupedConvCache:
    groups: list[ConvCache]  #: each group's own, in the order of the channels


def grouped_conv2d_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, padding: int, groups: int
) -> tuple[np.ndarray, ConvCache | GroupedConvCache]:
    """The channels in ``groups`` equal groups, input and output alike; group g's outputs see
    group g's inputs only: y[n,o,i,j] = Σ_{c of o's group} Σ_p Σ_q w[o,c − c₀,p,q] ·
    x_pad[n,c,i+p,j+q] + b[o], c₀ the group's first input channel. ``weight`` is
    O × C/groups × k × k, as PyTorch keeps it. One group is ``conv2d_forward``."""
    if groups == 1:
        return conv2d_forward(x, weight, bias, padding)
    biases = [None] * groups if bias is None else np.split(bias, groups)
    outputs, caches = zip(
        *(
            conv2d_forward(x_g, w_g, b_g, padding)
            for x_g, w_g, b_g in zip(
                np.split(x, groups, axis=1), np.split(weight, groups), biases, strict=True
            )
        ),
        strict=True,
    )
    return np.concatenate(outputs, axis=1), GroupedConvCache(list(caches))


def grouped_conv2d_backward(
    grad_out: np.ndarray, cache: ConvCache | GroupedConvCache, need_input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Each group's ``conv2d_backward`` on its share of δ; the gradients side by side again."""
    if isinstance(cache, ConvCache):
        return conv2d_backward(grad_out, cache, need_input_grad)
    parts = [
        conv2d_backward(grad_g, cache_g, need_input_grad)
        for grad_g, cache_g in zip(
            np.split(grad_out, len(cache.groups), axis=1), cache.groups, strict=True
        )
    ]
    grad_x = np.concatenate([part[0] for part in parts], axis=1) if need_input_grad else None
    return grad_x, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


# ---------------------------------------------------------------------------------------------
# ReLU


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = max(x, 0); the cache is where the unit is on."""
    return np.maximum(x, 0), x > 0


def relu_backward(grad_out: np.ndarray, on: np.ndarray) -> np.ndarray:
    """∂L/∂x = δ · 1[x > 0]: the gradient passes where the unit was on, nowhere else."""
    return grad_out * on


# ---------------------------------------------------------------------------------------------
# Batch normalisation in training mode: statistics of the batch, per channel

BATCH_AXES = (0, 2, 3)  #: a channel's statistics are taken over the batch and the pixels


@dataclass
class BatchNormCache:
    x_hat: np.ndarray  #: the normalised input (x − μ_c)/√(v_c + ε)
    inv_std: np.ndarray  #: 1/√(v_c + ε), one per channel (v_c: the biased variance)
    gamma: np.ndarray


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, BatchNormCache]:
    """x̂ = (x − μ_c)/√(v_c + ε) with the batch's mean μ_c and (biased) variance v_c per channel;
    y = γ_c·x̂ + β_c."""
    mean = x.mean(axis=BATCH_AXES, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=BATCH_AXES, keepdims=True) + eps)
    x_hat = (x - mean) * inv_std
    y = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    return y, BatchNormCache(x_hat, inv_std, gamma)


def batchnorm_backward(
    grad_out: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∂L/∂γ = Σ δ·x̂, ∂L/∂β = Σ δ, and the compact input gradient
    ∂L/∂x = γ_c/√(v_c + ε) · (δ − mean(δ) − x̂ · mean(δ·x̂)), means over the batch and the
    pixels."""
    x_hat, gamma = cache.x_hat, cache.gamma[None, :, None, None]
    grad_gamma = (grad_out * x_hat).sum(axis=BATCH_AXES)
    grad_beta = grad_out.sum(axis=BATCH_AXES)
    mean_delta = grad_out.mean(axis=BATCH_AXES, keepdims=True)
    mean_delta_x_hat = (grad_out * x_hat).mean(axis=BATCH_AXES, keepdims=True)
    grad_x = gamma * cache.inv_std * (grad_out - mean_delta - x_hat * mean_delta_x_hat)
    return grad_x, grad_gamma, grad_beta


# ---------------------------------------------------------------------------------------------
# Pooling over non-overlapping size × size windows (odd sizes floor, as in PyTorch)


@dataclass
class PoolCache:
    input_shape: tuple[int, ...]
    size: int
    winner: np.ndarray | None = None  #: max pooling: which of the window's pixels was largest


def _windows(x: np.ndarray, size: int) -> np.ndarray:
    """N × C × H/size × W/size × size² (the last rows and columns that fill no window dropped)."""
    n, c, h, w = x.shape
    h2, w2 = h // size, w // size
    cropped = x[:, :, : h2 * size, : w2 * size].reshape(n, c, h2, size, w2, size)
    return cropped.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h2, w2, size * size)


def _unwindows(windows: np.ndarray, cache: PoolCache) -> np.ndarray:
    """The inverse of ``_windows``: back to the input's shape, zeros where no window reached."""
    n, c, h2, w2, _ = windows.shape
    size = cache.size
    blocks = windows.reshape(n, c, h2, w2, size, size).transpose(0, 1, 2, 4, 3, 5)
    full = np.zeros(cache.input_shape, windows.dtype)
    full[:, :, : h2 * size, : w2 * size] = blocks.reshape(n, c, h2 * size, w2 * size)
    return full


def maxpool_forward(x: np.ndarray, size: int) -> tuple[np.ndarray, PoolCache]:
    """y = the largest of each window (the first of equal ones, as PyTorch picks)."""
    windows = _windows(x, size)
    winner = windows.argmax(axis=-1)
    y = np.take_along_axis(windows, winner[..., None], axis=-1)[..., 0]
    return y, PoolCache(x.shape, size, winner)


def maxpool_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    """∂L/∂x = δ at each window's maximum, 0 at its other pixels: pooling routes the gradient."""
    routed = np.zeros((*grad_out.shape, cache.size**2), grad_out.dtype)
    np.put_along_axis(routed, cache.winner[..., None], grad_out[..., None], axis=-1)
    return _unwindows(routed, cache)


def avgpool_forward(x: np.ndarray, size: int) -> tuple[np.ndarray, PoolCache]:
    """y = the mean of each window; over the whole map, global average pooling."""
    return _windows(x, size).mean(axis=-1), PoolCache(x.shape, size)


def avgpool_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    """∂L/∂x = δ/(H·W) at every pixel of an H × W window (global average pooling: the whole
    map): each pixel counts 1/(H·W) in the mean."""
    shares = np.repeat(grad_out[..., None] / cache.size**2, cache.size**2, axis=-1)
    return _unwindows(shares, cache)


# ---------------------------------------------------------------------------------------------
# Dropout with a given mask


def dropout_forward(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = x · m, m = 0 for a dropped unit and 1/(1 − p) for a kept one."""
    return x * mask, mask


def dropout_backward(grad_out: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """∂L/∂x = δ · m."""
    return grad_out * mask


# ---------------------------------------------------------------------------------------------
# Log-softmax and the mean negative log-likelihood


@dataclass
class LossCache:
    probabilities: np.ndarray  #: softmax of the scores, N × classes
    labels: np.ndarray


def log_softmax_nll_forward(scores: np.ndarray, labels: np.ndarray) -> tuple[float, LossCache]:
    """log p = z − log Σ exp z (shifted by max z, which changes nothing but the overflow);
    L = −(1/N) Σ_n log p[n, y_n]."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(len(labels)), labels].mean()
    return float(loss), LossCache(np.exp(log_probs), labels)


def log_softmax_nll_backward(cache: LossCache) -> np.ndarray:
    """∂L/∂z = (softmax(z) − onehot(labels)) / N: (p − t)/N."""
    grad = cache.probabilities.copy()
    grad[np.arange(len(cache.labels)), cache.labels] -= 1
    return grad / len(cache.labels)


# ---------------------------------------------------------------------------------------------
# Walking a network's own modules


def _parameter(module: nn.Module, local: str) -> np.ndarray | None:
    """A parameter's values as a float64 array (a copy: the model is never written to)."""
    tensor = getattr(module, local, None)
    return None if tensor is None else tensor.detach().cpu().double().numpy().copy()


def _conv_forward(name: str, module: nn.Conv2d, x: np.ndarray, mask: None) -> tuple:
    if x.shape[1] != module.in_channels:
        raise ValueError(
            f"layer {name!r} (Conv2d) takes {module.in_channels} channels, "
            f"got an input of shape {x.shape}"
        )
    weight, bias = _parameter(module, "weight"), _parameter(module, "bias")
    return grouped_conv2d_forward(x, weight, bias, square_size(module.padding), module.groups)


def _conv_backward(
    module: nn.Conv2d, grad_out: np.ndarray, cache: ConvCache | GroupedConvCache, need: bool
):
    grad_x, grad_w, grad_b = grouped_conv2d_backward(grad_out, cache, need)
    return grad_x, {"weight": grad_w} | ({"bias": grad_b} if module.bias is not None else {})


def _batchnorm_forward(name: str, module: nn.BatchNorm2d, x: np.ndarray, mask: None) -> tuple:
    if x.shape[1] != module.num_features or x.size // x.shape[1] < 2:
        raise ValueError(
            f"layer {name!r} (BatchNorm2d) normalises {module.num_features} channels over "
            f"more than one value each, got an input of shape {x.shape}"
        )
    ones, zeros = np.ones(module.num_features), np.zeros(module.num_features)
    gamma = _parameter(module, "weight") if module.affine else ones
    beta = _parameter(module, "bias") if module.affine else zeros
    return batchnorm_forward(x, gamma, beta, module.eps)


def _batchnorm_backward(module: nn.BatchNorm2d, grad_out: np.ndarray, cache, need: bool):
    grad_x, grad_gamma, grad_beta = batchnorm_backward(grad_out, cache)
    return grad_x, {"weight": grad_gamma, "bias": grad_beta} if module.affine else {}


def _pooled(name: str, module: nn.Module, x: np.ndarray, mask: None, pool: Callable) -> tuple:
    """``pool`` (``maxpool_forward`` or ``avgpool_forward``) over the module's windows."""
    size = square_size(module.kernel_size)
    if min(x.shape[2:]) < size:
        raise ValueError(f"layer {name!r} pools {size}×{size} windows of a {x.shape} input")
    return pool(x, size)


def _parameterless(
    module: nn.Module, grad_out: np.ndarray, cache: object, need: bool, backward: Callable
) -> tuple:
    """A layer without parameters: its ``backward`` gives ∂x, and it has no gradients of its
    own."""
    return backward(grad_out, cache), {}


@dataclass(frozen=True)
class LayerKind:
    """One kind of layer of the book's networks: what it computes (the rules the backprop
    chapter tabulates), its forward and backward here, and how the page's ``layers.js`` knows
    it (``page``: its kind there; ``numbers``: what it needs of the module besides weights)."""

    forward_rule: str
    backward_rule: str
    forward: Callable  #: (name, module, x, mask) → (y, cache)
    backward: Callable  #: (module, δ, cache, need input gradient) → (∂x, own gradients)
    page: str
    numbers: Callable[[nn.Module], dict[str, object]]


#: Every kind of layer the book's networks use: the one place that dispatches on a layer's kind.
LAYER_KINDS: dict[type[nn.Module], LayerKind] = {
    nn.Conv2d: LayerKind(
        "y = Σ w·x over each window + b (im2col · kernels)",
        "∂w = Σδ·x, ∂b = Σδ; ∂x = δ convolved with the flipped kernels (col2im)",
        _conv_forward, _conv_backward,
        "conv", lambda m: {"padding": square_size(m.padding), "groups": m.groups},
    ),
    nn.ReLU: LayerKind(
        "y = max(x, 0)", "∂x = δ · 1[x > 0]",
        lambda name, m, x, mask: relu_forward(x), partial(_parameterless, backward=relu_backward),
        "relu", lambda m: {},
    ),
    nn.BatchNorm2d: LayerKind(
        "y = γ_c·(x − μ_c)/√(v_c + ε) + β_c", "∂x = γ_c/√(v_c + ε) · (δ − mean δ − x̂·mean δx̂)",
        _batchnorm_forward, _batchnorm_backward,
        "batchnorm", lambda m: {"eps": m.eps},
    ),
    nn.MaxPool2d: LayerKind(
        "y = max of each window", "∂x = δ at each window's maximum",
        partial(_pooled, pool=maxpool_forward), partial(_parameterless, backward=maxpool_backward),
        "maxpool", lambda m: {"size": square_size(m.kernel_size)},
    ),
    nn.Dropout: LayerKind(
        "y = x · m", "∂x = δ · m",
        lambda name, m, x, mask: dropout_forward(x, np.ones_like(x) if mask is None else mask),
        partial(_parameterless, backward=dropout_backward),
        "dropout", lambda m: {"p": m.p},
    ),
    nn.AvgPool2d: LayerKind(
        "y = mean of each window", "∂x = δ/(H·W) at every pixel of it",
        partial(_pooled, pool=avgpool_forward), partial(_parameterless, backward=avgpool_backward),
        "avgpool", lambda m: {"size": square_size(m.kernel_size)},
    ),
}  # fmt: skip


def _check_layer(name: str, module: nn.Module) -> None:
    """A ValueError naming the layer unless ``manual`` computes it exactly as PyTorch does."""
    kind = type(module)
    problem = None
    if kind not in LAYER_KINDS:
        known = ", ".join(k.__name__ for k in LAYER_KINDS)
        problem = f"is a layer nnbook.mnist.manual does not know (it knows {known})"
    elif kind is nn.Conv2d:
        if (module.stride, module.dilation) != ((1, 1), (1, 1)):
            problem = "must have stride 1 and dilation 1"
        elif module.padding_mode != "zeros" or isinstance(module.padding, str):
            problem = "must pad with zeros by a number of pixels"
        elif module.kernel_size[0] != module.kernel_size[1] or len(set(module.padding)) != 1:
            problem = "must have a square kernel and the same padding on every side"
    elif kind in (nn.MaxPool2d, nn.AvgPool2d):
        size, stride = square_size(module.kernel_size), square_size(module.stride)
        if size != stride or square_size(module.padding) or module.ceil_mode:
            problem = "must pool non-overlapping windows (stride = kernel), without padding"
        elif kind is nn.MaxPool2d and (square_size(module.dilation) != 1 or module.return_indices):
            problem = "must have dilation 1 and return no indices"
        elif kind is nn.AvgPool2d and module.divisor_override is not None:
            problem = "must divide by the window's size"
    if problem:
        label = name or "the model itself"
        raise ValueError(f"layer {label!r} ({kind.__name__}) {problem}")


def network_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers of ``model`` in the order its ``forward`` runs them: its leaf modules, as
    ``named_modules`` lists them (the book's networks register their layers in that order).
    Every one is checked; one this module cannot compute is a ValueError naming it."""
    # a model without children is one layer itself (named ""): the list is never empty
    layers = [(name, m) for name, m in model.named_modules() if not any(m.children())]
    for name, module in layers:
        _check_layer(name, module)
    return layers


@dataclass
class LayerPass:
    """One layer of a forward pass: its name, module, output and backward cache."""

    name: str
    module: nn.Module
    output: np.ndarray
    cache: Any
    delta: np.ndarray | None = None  #: δ = ∂L/∂output, filled in by ``backward``


def _layer_forward(
    name: str, module: nn.Module, x: np.ndarray, mask: np.ndarray | None
) -> LayerPass:
    y, cache = LAYER_KINDS[type(module)].forward(name, module, x, mask)
    return LayerPass(name, module, y, cache)


def _check_mask(name: str, module: nn.Dropout, mask: np.ndarray, shape: tuple) -> np.ndarray:
    mask = np.asarray(mask, dtype=np.float64)
    if mask.shape != shape:
        raise ValueError(
            f"layer {name!r} (Dropout): its mask has shape {mask.shape}, its output {shape}"
        )
    keep = 1 / (1 - module.p) if module.p < 1 else 0.0
    if not np.all(np.isclose(mask, 0) | np.isclose(mask, keep)):
        raise ValueError(
            f"layer {name!r} (Dropout): a mask holds 0 or 1/(1 − p) = {keep:.6g}, nothing else"
        )
    return mask


def forward(
    model: nn.Module, images: np.ndarray, masks: Sequence[np.ndarray] | None = None
) -> list[LayerPass]:
    """Every layer of ``model`` on ``images`` (N × C × H × W), in order, with batch statistics
    and the dropout ``masks`` (one per ``Dropout`` in ``model.modules()`` order; None: no unit
    is dropped). The last step's output is the network's N × classes × 1 × 1 scores."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"images must be a non-empty N × C × H × W array, got shape {x.shape}")
    layers = network_layers(model)
    dropouts = [name for name, m in layers if isinstance(m, nn.Dropout)]
    if masks is not None and len(masks) != len(dropouts):
        raise ValueError(f"{len(masks)} masks for the {len(dropouts)} Dropout layers {dropouts}")
    steps, drawn = [], iter(masks or ())
    for name, module in layers:
        mask = None
        if isinstance(module, nn.Dropout) and masks is not None:
            mask = _check_mask(name, module, next(drawn), x.shape)
        steps.append(_layer_forward(name, module, x, mask))
        x = steps[-1].output
    if x.shape[2:] != (1, 1):
        raise ValueError(
            f"the last layer {layers[-1][0]!r} leaves {x.shape}, not N × classes × 1 × 1 scores"
        )
    return steps


def _layer_backward(
    step: LayerPass, grad_out: np.ndarray, need_input_grad: bool
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """∂L/∂(input) of one layer and the gradients of its parameters, by their local names."""
    return LAYER_KINDS[type(step.module)].backward(
        step.module, grad_out, step.cache, need_input_grad
    )


def backward(steps: Sequence[LayerPass], grad_scores: np.ndarray) -> dict[str, np.ndarray]:
    """The chain rule from the last layer to the first: δ goes backwards through every step,
    and each layer with parameters adds their gradients (named as in ``named_parameters``).
    Each step keeps the δ it received (``step.delta``). The images' own gradient is not needed,
    so the first layer does not compute it."""
    grads: dict[str, np.ndarray] = {}
    delta = grad_scores.reshape(steps[-1].output.shape)
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        step.delta = delta
        delta, own = _layer_backward(step, delta, need_input_grad=index > 0)
        for local, grad in own.items():
            grads[f"{step.name}.{local}" if step.name else local] = grad
    return grads


def _check_labels(labels: np.ndarray, count: int, classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be {count} whole numbers, got {labels.dtype} {labels.shape}"
        )
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(
            f"labels must lie in 0..{classes - 1}, got {labels.min()}..{labels.max()}"
        )
    return labels


def loss_and_gradients(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    masks: Sequence[np.ndarray] | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """The mean NLL loss of ``model``'s log-softmax output on ``images`` (N × 1 × 28 × 28) and
    ``labels`` (N ints), batch normalisation in training mode, and ∂L/∂w for every parameter w
    of ``model.named_parameters()`` (same names, same shapes, float64). ``masks``: one array per
    ``Dropout`` (``model.modules()`` order) of that layer's output shape, 0 or 1/(1 − q);
    None drops no unit. NumPy only: no autograd, and the model is not changed."""
    steps = forward(model, images, masks)
    scores = steps[-1].output.reshape(len(steps[-1].output), -1)
    loss, cache = log_softmax_nll_forward(scores, _check_labels(labels, *scores.shape))
    grads = backward(steps, log_softmax_nll_backward(cache))
    missing = [name for name, _ in model.named_parameters() if name not in grads]
    if missing:
        raise ValueError(f"parameters outside the layers this module walks: {missing}")
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    return loss, {name: grads[name].reshape(shape) for name, shape in shapes.items()}


# ---------------------------------------------------------------------------------------------
# What PyTorch drew, and how far two sets of gradients are apart


@contextlib.contextmanager
def recording_dropout_masks(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Within the block, every forward pass of ``model`` appends the mask each ``Dropout`` drew
    (in ``model.modules()`` order): 0 for a dropped unit, 1/(1 − p) for a kept one.

    The mask is drawn again from the random state the layer started with, on a tensor of ones
    of the input's shape and layout, so a unit whose input is exactly 0 is not mistaken for a
    dropped one; the draw is checked to give the layer's own output.
    """
    masks: list[torch.Tensor] = []
    states: dict[nn.Module, torch.Tensor] = {}

    def before(module: nn.Module, inputs: tuple) -> None:
        states[module] = torch.get_rng_state()

    def after(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        (x,) = inputs
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.set_rng_state(states.pop(module))
            mask = nn.functional.dropout(torch.ones_like(x), module.p, module.training)
            if not torch.equal(x.detach() * mask, output.detach()):
                raise RuntimeError("the redrawn dropout mask does not give the layer's output")
        masks.append(mask)

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            if module.inplace:
                raise ValueError("an in-place Dropout leaves no input to redraw its mask from")
            handles += [
                module.register_forward_pre_hook(before),
                module.register_forward_hook(after),
            ]
    try:
        yield masks
    finally:
        for handle in handles:
            handle.remove()


def largest_relative_difference(
    ours: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]
) -> float:
    """max over parameters of max|ours − reference| / max|reference|: round-off is ~1e-16."""
    if ours.keys() != reference.keys():
        raise ValueError(f"different parameters: {sorted(ours.keys() ^ reference.keys())}")
    worst = 0.0
    for name, value in reference.items():
        scale = float(np.abs(value).max())
        difference = float(np.abs(np.asarray(ours[name]) - value).max())
        worst = max(worst, difference / scale if scale else difference)
    return worst


# ---------------------------------------------------------------------------------------------
# One step of the recipe's optimiser, and what a step costs


def sgd_step(
    params: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    momenta: Mapping[str, np.ndarray] | None,
    lr: float,
    momentum: float,
    weight_decay: float,
    nesterov: bool,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One step of ``torch.optim.SGD`` (no dampening) in NumPy; returns the new weights and
    momenta. ``momenta`` None: the first step, whose buffer is the gradient itself."""
    new_params, new_momenta = {}, {}
    for name, w in params.items():
        g = grads[name] + weight_decay * w  # g = ∂L/∂w + λ·w
        u = g if momenta is None else momentum * momenta[name] + g  # u ← α·u + g
        step = g + momentum * u if nesterov else u  # Nesterov looks ahead: g + α·u
        new_params[name], new_momenta[name] = w - lr * step, u  # w ← w − η·step
    return new_params, new_momenta


def _first_layer(backward_rule: str) -> str:
    """A layer's backward rule without its ∂x, which the first layer does not compute."""
    kept = [part for part in backward_rule.split("; ") if not part.startswith("∂x")]
    return "; ".join([*kept, "no ∂x: the images need none"])


def layer_costs(model: nn.Module, input_shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """One row per layer: its kind, output shape, forward and backward rule, and the
    multiply-adds of the pass through it for a batch of ``input_shape`` (convolutions: one per
    kernel weight and output pixel forward; as many again for ∂w and for ∂x backward, but the
    first layer, whose input needs no gradient). Other layers do a few operations per number."""
    steps = forward(model, np.zeros(input_shape))
    rows = []
    for index, step in enumerate(steps):
        kind = LAYER_KINDS[type(step.module)]
        macs = 0
        if isinstance(step.module, nn.Conv2d):
            seen = step.module.in_channels // step.module.groups  # the channels of its group
            macs = step.output.size * seen * square_size(step.module.kernel_size) ** 2
        rows.append(
            {
                "layer": step.name,
                "kind": type(step.module).__name__,
                "output": "×".join(map(str, step.output.shape[1:])),
                "forward": kind.forward_rule,
                "backward": kind.backward_rule if index > 0 else _first_layer(kind.backward_rule),
                "forward MACs": macs,
                "backward MACs": macs * (2 if index > 0 else 1),
            }
        )
    return rows
