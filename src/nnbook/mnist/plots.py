"""Figures of Part 2: digit grids, class counts, the activations and the losses' gradients,
training curves, confusion matrix, frontier.

Every figure is drawn in one look, ``plots.mplstyle`` beside this file (font sizes, grid, layout,
the default size): the functions here say what a figure shows, the style how it looks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nnbook.mnist.recipes import Recipe
from nnbook.mnist.trainer import EpochResult, make_optimizer

#: The book's look for Part 2's figures.
STYLE = Path(__file__).with_name("plots.mplstyle")
#: A target is drawn as a grey dashed line, apart from the coloured data.
TARGET_LINE = {"color": "0.5", "linestyle": "--"}
#: Where a point's name is written, in points from the point: right of it and above, or below
#: for a network published elsewhere (apart from the book's own).
NAME_ABOVE, NAME_BELOW = (4, 6), (5, -10)
#: The size of a marker that stands for a single network the text talks about.
SINGLE_MARKER = 9


def digit_grid(
    images: torch.Tensor,
    labels: Sequence[int],
    predictions: Sequence[int] | None = None,
    columns: int = 10,
) -> Figure:
    """Images (N×1×28×28), dark ink on white, each titled with its label, or 'label → answer'
    when the network's answers are given, a wrong answer in red."""
    count = len(images)
    rows = -(-count // columns)
    with plt.style.context(STYLE):
        figure, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 1.05))
        for k, ax in enumerate(np.ravel(axes)):
            ax.set_axis_off()
            if k >= count:
                continue
            ax.imshow(images[k, 0].cpu().numpy(), cmap="gray_r")
            title, wrong = f"{int(labels[k])}", False
            if predictions is not None:
                title += f" → {int(predictions[k])}"
                wrong = int(predictions[k]) != int(labels[k])
            ax.set_title(title, color="C3" if wrong else "black")
    return figure


def class_counts(train_labels: torch.Tensor, test_labels: torch.Tensor) -> Figure:
    """How many examples of each digit the training and test sets hold: two bars side by side
    around each digit."""
    digits = np.arange(10)
    width = 0.4
    with plt.style.context(STYLE):
        figure, ax = plt.subplots()
        for offset, labels, name in ((-1, train_labels, "train"), (1, test_labels, "test")):
            counts = torch.bincount(labels, minlength=10).numpy()
            ax.bar(digits + offset * width / 2, counts, width, label=name)
        ax.set_xticks(digits)
        ax.set_xlabel("digit")
        ax.set_ylabel("examples")
        ax.legend()
    return figure


def activations(scores: np.ndarray | None = None) -> Figure:
    """σ beside ReLU (left) and their slopes (right): σ′ = σ(1 − σ) is at most ¼ and vanishes
    on both sides; ReLU′ is 1 wherever the unit is on."""
    z = np.linspace(-6, 6, 601) if scores is None else np.asarray(scores)
    sigma = 1 / (1 + np.exp(-z))
    with plt.style.context(STYLE):
        figure, (value_ax, slope_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
        value_ax.plot(z, sigma, label="σ(x)")
        value_ax.plot(z, np.maximum(z, 0), label="ReLU(x) = max(x, 0)")
        value_ax.set_ylim(top=3)  # ReLU grows without bound; σ's (0, 1) stays readable
        slope_ax.plot(z, sigma * (1 - sigma), label="σ′(x) = σ(x)(1 − σ(x))")
        slope_ax.plot(z, np.where(z > 0, 1.0, 0.0), label="ReLU′(x)")  # 0 at the kink, as torch
        for ax, title in ((value_ax, "the function"), (slope_ax, "its slope")):
            ax.set_xlabel("x")
            ax.set_title(title)
            ax.legend()
    return figure


def output_gradients(scores: np.ndarray | None = None) -> Figure:
    """The gradient an output's score z receives when its target is 1, for every z: Part 1's
    squared error of σ(z), (σ(z) − 1)·σ′(z), and the negative log-likelihood of σ(z) (softmax over
    two classes), σ(z) − 1. Far to the left the network is sure and wrong."""
    z = np.linspace(-8, 8, 801) if scores is None else np.asarray(scores)
    sigma = 1 / (1 + np.exp(-z))
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(6.5, 3.2))
        ax.plot(z, (sigma - 1) * sigma * (1 - sigma), label="squared error: (σ(z) − 1)·σ′(z)")
        ax.plot(z, sigma - 1, label="negative log-likelihood: p − t = σ(z) − 1")
        ax.set_xlabel("score z of the correct class (the other's 0)")
        ax.set_ylabel("∂(loss)/∂z")
        ax.legend()
    return figure


def schedule(recipe: Recipe, steps_per_epoch: int) -> Figure:
    """The learning rate η (left) and the momentum α (right) of every step of a run with
    ``recipe``, as the trainer's optimiser sets them (``make_optimizer``), against the epoch."""
    stand_in = torch.nn.ParameterList([torch.zeros(1)])  # a weight to schedule, never moved
    optimizer, scheduler = make_optimizer(stand_in, recipe, steps_per_epoch)
    rates, momenta = [], []
    for _ in range(recipe.epochs * steps_per_epoch):
        group = optimizer.param_groups[0]
        rates.append(group["lr"])
        momenta.append(group["momentum"])
        optimizer.step()  # no gradient: no weight moves, the schedule goes on
        scheduler.step()
    epochs = np.arange(len(rates)) / steps_per_epoch
    with plt.style.context(STYLE):
        figure, (rate_ax, momentum_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
        rate_ax.plot(epochs, rates)
        rate_ax.set_ylabel("learning rate η")
        momentum_ax.plot(epochs, momenta, color="C1")
        momentum_ax.set_ylabel("momentum α")
        for ax in (rate_ax, momentum_ax):
            ax.set_xlabel("epoch")
    return figure


def _draw_target_error(ax: Axes, target: float | None) -> None:
    """A target accuracy, drawn as the test error (%) it allows."""
    if target is not None:
        allowed = 100 * (1 - target)
        ax.axhline(allowed, **TARGET_LINE, label=f"target: {allowed:.2g} % error")


def training_curves(history: Sequence[EpochResult], target: float | None = None) -> Figure:
    """Loss and error (100 − accuracy, %) per epoch, training and test, both on log scales so
    that every epoch is drawn, from the first (an averaged network may be near chance there) to
    the last; beside an average, the raw weights' test error too; an optional target, drawn as
    the error it allows."""
    epochs = [row.epoch for row in history]
    with plt.style.context(STYLE):
        figure, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
        loss_ax.plot(epochs, [r.train_loss for r in history], "o-", label="train")
        loss_ax.plot(epochs, [r.test_loss for r in history], "o-", label="test")
        loss_ax.set_ylabel("NLL loss (log scale)")
        error_ax.plot(epochs, [100 * (1 - r.train_accuracy) for r in history], "o-", label="train")
        error_ax.plot(epochs, [100 * (1 - r.test_accuracy) for r in history], "o-", label="test")
        if any(r.raw_test_accuracy is not None for r in history):  # beside the average it keeps
            raw = [100 * (1 - r.raw_test_accuracy) for r in history]
            error_ax.plot(epochs, raw, "s:", mfc="none", label="test, raw weights")
        _draw_target_error(error_ax, target)
        error_ax.set_ylabel("error (%) = 100 − accuracy (log scale)")
        for ax in (loss_ax, error_ax):
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.legend()
    return figure


def seed_curves(epochs: pd.DataFrame, target: float | None = None) -> Figure:
    """Test error (100 − accuracy, %) per epoch of several runs, one line per row of ``epochs``
    (a run's test accuracy in % per epoch, as ``summaries.epochs_table`` gives it), on a log
    scale so that every epoch is drawn; an optional target, drawn as the error it allows."""
    numbers = range(1, epochs.shape[1] + 1)
    with plt.style.context(STYLE):
        figure, ax = plt.subplots()
        for name, accuracies in epochs.iterrows():
            ax.plot(numbers, 100 - accuracies.to_numpy(), "o-", label=str(name))
        _draw_target_error(ax, target)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test error (%) = 100 − accuracy (log scale)")
        ax.legend()
    return figure


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor) -> tuple[Figure, np.ndarray]:
    """The 10×10 counts (rows: true digit, columns: predicted) and a figure of them: the
    mistakes shaded, none white; the right answers, on the diagonal, written in green."""
    counts = torch.bincount(labels * 10 + predictions, minlength=100).reshape(10, 10).numpy()
    off_diagonal = counts - np.diag(np.diag(counts))
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(5.5, 5))
        ax.imshow(off_diagonal, cmap="Reds")
        ax.grid(False)  # no lines across the counts
        for (row, column), value in np.ndenumerate(counts):
            if value:
                colour = "C2" if row == column else "black"
                ax.text(column, row, str(value), ha="center", va="center", color=colour)
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
    return figure, counts


def _name_point(
    ax: Axes, name: str, point: tuple[float, float], offset: tuple[int, int], **text: object
) -> None:
    """Write a point's name beside it, ``offset`` points away."""
    ax.annotate(name, point, textcoords="offset points", xytext=offset, **text)


def _draw_family(ax: Axes, family: str, table: pd.DataFrame, colour: str) -> None:
    """One family of networks in one colour: the mean, the lowest final accuracy and the lowest
    of the last epochs over its seeds, by parameters, each network named at its mean."""
    ordered = table.sort_values("parameters")
    x = ordered["parameters"].to_numpy()
    held = next(column for column in ordered.columns if column.startswith("min of last"))
    ax.plot(x, ordered["mean final (%)"], "o-", color=colour, label=f"{family}: mean final")
    ax.plot(x, ordered["min final (%)"], "s--", color=colour, mfc="none",
            label=f"{family}: lowest final")  # fmt: skip
    ax.plot(x, ordered[held], "v:", color=colour, alpha=0.6,
            label=f"{family}: {held.replace(' (%)', ' epochs')}")  # fmt: skip
    for name, row in ordered.iterrows():
        _name_point(ax, str(name), (row["parameters"], row["mean final (%)"]), NAME_ABOVE)


def frontier(
    families: Mapping[str, pd.DataFrame],
    target: float,
    published: Sequence[tuple[str, int, float]] = (),
    claim: tuple[str, int, float, float] | None = None,
) -> Figure:
    """Parameters against final test accuracy: each family of networks (name → ``seeds_table``)
    in its own colour, the minimum and the mean over its seeds and the lowest of its last
    epochs; the target, networks published elsewhere as (label, parameters, accuracy %), and a
    ``claim`` as (label, parameters, claimed %, logged %) drawn as an arrow from what it says
    down to what its log shows."""
    with plt.style.context(STYLE):
        figure, ax = plt.subplots(figsize=(8, 4.6))
        for number, (family, table) in enumerate(families.items()):
            _draw_family(ax, family, table, colour=f"C{number}")
        ax.axhline(100 * target, **TARGET_LINE, label=f"{100 * target:g} %")
        for label, parameters, accuracy in published:
            ax.plot(parameters, accuracy, "k*", markersize=SINGLE_MARKER)
            _name_point(ax, label, (parameters, accuracy), NAME_BELOW)
        if claim is not None:
            label, parameters, claimed, logged = claim
            ax.plot(parameters, claimed, "o", mfc="none", mec="C3", markersize=SINGLE_MARKER)
            ax.plot(parameters, logged, "X", color="C3", markersize=SINGLE_MARKER)
            ax.annotate("", (parameters, logged), (parameters, claimed),
                        arrowprops={"arrowstyle": "->", "color": "C3"})  # fmt: skip
            _name_point(ax, label, (parameters, claimed), NAME_ABOVE, color="C3")
        ax.set_xlabel("trainable parameters")
        ax.set_ylabel("final test accuracy (%)")
        ax.legend(loc="lower right")
    return figure
