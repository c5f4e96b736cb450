"""Figures of Part 2: digit grids, class counts, the activations and the losses' gradients,
training curves, confusion matrix, frontier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from nnbook.mnist.trainer import EpochResult


def digit_grid(
    images: torch.Tensor,
    labels: Sequence[int],
    predictions: Sequence[int] | None = None,
    columns: int = 10,
) -> Figure:
    """Images (N×1×28×28) with their label, or 'label → prediction' when predictions are given."""
    count = len(images)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 1.05))
    for k, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if k >= count:
            continue
        ax.imshow(images[k, 0].cpu().numpy(), cmap="gray_r")
        title = f"{int(labels[k])}"
        if predictions is not None:
            title += f" → {int(predictions[k])}"
        ax.set_title(title, fontsize=9, color="C3" if predictions is not None else "black")
    figure.tight_layout()
    return figure


def class_counts(train_labels: torch.Tensor, test_labels: torch.Tensor) -> Figure:
    """How many examples of each digit the training and test sets hold."""
    digits = np.arange(10)
    figure, ax = plt.subplots(figsize=(7, 3))
    width = 0.4
    ax.bar(
        digits - width / 2,
        torch.bincount(train_labels, minlength=10).numpy(),
        width,
        label="train",
    )
    ax.bar(
        digits + width / 2, torch.bincount(test_labels, minlength=10).numpy(), width, label="test"
    )
    ax.set_xticks(digits)
    ax.set_xlabel("digit")
    ax.set_ylabel("examples")
    ax.legend()
    figure.tight_layout()
    return figure


def activations(scores: np.ndarray | None = None) -> Figure:
    """σ beside ReLU (left) and their slopes (right): σ′ = σ(1 − σ) is at most ¼ and vanishes
    on both sides; ReLU′ is 1 wherever the unit is on."""
    z = np.linspace(-6, 6, 601) if scores is None else np.asarray(scores, dtype=float)
    sigma = 1 / (1 + np.exp(-z))
    figure, (value_ax, slope_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    value_ax.plot(z, sigma, label="σ(x)")
    value_ax.plot(z, np.maximum(z, 0), label="ReLU(x) = max(x, 0)")
    value_ax.set_ylim(-0.5, 3)
    slope_ax.plot(z, sigma * (1 - sigma), label="σ′(x) = σ(x)(1 − σ(x))")
    slope_ax.plot(z, (z > 0).astype(float), label="ReLU′(x)")
    for ax, title in ((value_ax, "the function"), (slope_ax, "its slope")):
        ax.set_xlabel("x")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def output_gradients(scores: np.ndarray | None = None) -> Figure:
    """The gradient an output's score z receives when its target is 1, for every z: Part 1's
    squared error of σ(z), (σ(z) − 1)·σ′(z), and the negative log-likelihood of σ(z) (softmax over
    two classes), σ(z) − 1. Far to the left the network is sure and wrong."""
    z = np.linspace(-8, 8, 801) if scores is None else np.asarray(scores, dtype=float)
    sigma = 1 / (1 + np.exp(-z))
    figure, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.plot(z, (sigma - 1) * sigma * (1 - sigma), label="squared error: (σ(z) − 1)·σ′(z)")
    ax.plot(z, sigma - 1, label="negative log-likelihood: p − t = σ(z) − 1")
    ax.set_xlabel("score z of the correct class (the other's 0)")
    ax.set_ylabel("∂(loss)/∂z")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def training_curves(history: Sequence[EpochResult], target: float | None = None) -> Figure:
    """Loss and error (100 − accuracy, %) per epoch, training and test, both on log scales so
    that every epoch is drawn, from the first (an averaged network may be near chance there) to
    the last; beside an average, the raw weights' test error too; an optional target, drawn as
    the error it allows."""
    epochs = [row.epoch for row in history]
    figure, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    loss_ax.plot(epochs, [r.train_loss for r in history], "o-", label="train")
    loss_ax.plot(epochs, [r.test_loss for r in history], "o-", label="test")
    loss_ax.set_ylabel("NLL loss (log scale)")
    error_ax.plot(epochs, [100 * (1 - r.train_accuracy) for r in history], "o-", label="train")
    error_ax.plot(epochs, [100 * (1 - r.test_accuracy) for r in history], "o-", label="test")
    if any(r.raw_test_accuracy is not None for r in history):  # beside the average it keeps
        raw = [100 * (1 - r.raw_test_accuracy) for r in history]
        error_ax.plot(epochs, raw, "s:", mfc="none", label="test, raw weights")
    if target is not None:
        allowed = 100 * (1 - target)
        error_ax.axhline(allowed, color="0.5", ls="--", label=f"target: {allowed:.2g} % error")
    error_ax.set_ylabel("error (%) = 100 − accuracy (log scale)")
    for ax in (loss_ax, error_ax):
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    figure.tight_layout()
    return figure


def seed_curves(epochs: pd.DataFrame, target: float | None = None) -> Figure:
    """Test error (100 − accuracy, %) per epoch of several runs, one line per row of ``epochs``
    (a run's test accuracy in % per epoch, as ``summaries.epochs_table`` gives it), on a log
    scale so that every epoch is drawn; an optional target, drawn as the error it allows."""
    figure, ax = plt.subplots(figsize=(6.5, 3.6))
    numbers = range(1, epochs.shape[1] + 1)
    for name, accuracies in epochs.iterrows():
        ax.plot(numbers, 100 - accuracies.to_numpy(dtype=float), "o-", ms=3, label=str(name))
    if target is not None:
        allowed = 100 * (1 - target)
        ax.axhline(allowed, color="0.5", ls="--", label=f"target: {allowed:.2g} % error")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%) = 100 − accuracy (log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor) -> tuple[Figure, np.ndarray]:
    """The 10×10 counts (rows: true digit, columns: predicted) and a figure of them."""
    counts = torch.bincount(labels * 10 + predictions, minlength=100).reshape(10, 10).numpy()
    figure, ax = plt.subplots(figsize=(5.5, 5))
    off_diagonal = counts - np.diag(np.diag(counts))
    ax.imshow(off_diagonal, cmap="Reds")
    for (row, column), value in np.ndenumerate(counts):
        if value:
            colour = "black" if row != column else "C2"
            ax.text(column, row, str(value), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    figure.tight_layout()
    return figure, counts


def frontier(
    families: Mapping[str, pd.DataFrame],
    target: float,
    published: Sequence[tuple[str, int, float]] = (),
    claim: tuple[str, int, float, float] | None = None,
) -> Figure:
    """Parameters against final test accuracy: each family of networks (name → ``seeds_table``)
    in its own colour, the minimum and the mean over its seeds and the lowest of its last
    epochs; the target, networks published elsewhere as (label, parameters, accuracy %), and a
    ``claim`` as (label, parameters, claimed %, logged %) drawn from what it says down to what
    its log shows."""
    figure, ax = plt.subplots(figsize=(8, 4.6))
    for number, (family, table) in enumerate(families.items()):
        ordered = table.sort_values("parameters")
        x, colour = ordered["parameters"].to_numpy(), f"C{number}"
        held = next(column for column in ordered.columns if column.startswith("min of last"))
        ax.plot(x, ordered["mean final (%)"], "o-", color=colour, label=f"{family}: mean final")
        ax.plot(x, ordered["min final (%)"], "s--", color=colour, mfc="none",
                label=f"{family}: lowest final")  # fmt: skip
        ax.plot(x, ordered[held], "v:", color=colour, alpha=0.6,
                label=f"{family}: {held.replace(' (%)', ' epochs')}")  # fmt: skip
        for name, row in ordered.iterrows():
            ax.annotate(str(name), (row["parameters"], row["mean final (%)"]), fontsize=8,
                        textcoords="offset points", xytext=(4, 6))  # fmt: skip
    ax.axhline(100 * target, color="0.5", ls="--", label=f"{100 * target:g} %")
    for label, parameters, accuracy in published:
        ax.plot(parameters, accuracy, "k*", markersize=10)
        ax.annotate(label, (parameters, accuracy), fontsize=8, textcoords="offset points",
                    xytext=(5, -10))  # fmt: skip
    if claim is not None:
        label, parameters, claimed, logged = claim
        ax.plot(parameters, claimed, "o", mfc="none", mec="C3", markersize=9)
        ax.plot(parameters, logged, "X", color="C3", markersize=9)
        ax.annotate("", (parameters, logged), (parameters, claimed),
                    arrowprops={"arrowstyle": "->", "color": "C3"})  # fmt: skip
        ax.annotate(label, (parameters, claimed), fontsize=8, color="C3",
                    textcoords="offset points", xytext=(6, 0))  # fmt: skip
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("final test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure
