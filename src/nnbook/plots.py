"""Figures of Part 1: the network diagram and the error curves (matplotlib figures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnbook.network import INPUTS, TARGETS


def network_diagram(weights: Sequence[float], inputs: Sequence[float] = INPUTS) -> Figure:
    """The 2-2-2 network with every weight written on its edge."""
    positions = {
        "i1": (0, 1),
        "i2": (0, 0),
        "h1": (1, 1),
        "h2": (1, 0),
        "o1": (2, 1),
        "o2": (2, 0),
    }
    edges = [  # (source, destination, weight index), in the class's numbering w1..w8
        ("i1", "h1", 0), ("i2", "h1", 1), ("i1", "h2", 2), ("i2", "h2", 3),
        ("h1", "o1", 4), ("h2", "o1", 5), ("h1", "o2", 6), ("h2", "o2", 7),
    ]  # fmt: skip
    figure, axes = plt.subplots(figsize=(7, 3.6))
    for source, target, k in edges:
        (x0, y0), (x1, y1) = positions[source], positions[target]
        axes.annotate("", (x1 - 0.09, y1 + (y0 - y1) * 0.09), (x0 + 0.09, y0 + (y1 - y0) * 0.09),
                      arrowprops={"arrowstyle": "->", "color": "0.4"})  # fmt: skip
        fraction = 0.25 if y0 == y1 else (0.3 if y0 > y1 else 0.7)
        x, y = x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction
        axes.text(x, y + 0.06, f"$w_{k + 1}$ = {weights[k]:g}", ha="center", fontsize=9,
                  bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})  # fmt: skip
    labels = {
        "i1": f"$i_1$\n{inputs[0]:g}", "i2": f"$i_2$\n{inputs[1]:g}",
        "h1": "$h_1$", "h2": "$h_2$", "o1": "$o_1$", "o2": "$o_2$",
    }  # fmt: skip
    for name, (x, y) in positions.items():
        colour = {"i": "#dbe9f6", "h": "#fde5c8", "o": "#d7f0d2"}[name[0]]
        axes.add_patch(plt.Circle((x, y), 0.09, facecolor=colour, edgecolor="0.2"))
        axes.text(x, y, labels[name], ha="center", va="center", fontsize=9)
    for k, target in enumerate(TARGETS):
        axes.text(2.17, 1 - k, f"$t_{k + 1}$ = {target:g}", va="center", fontsize=9)
    axes.set_xlim(-0.2, 2.45)
    axes.set_ylim(-0.25, 1.25)
    axes.set_aspect("equal")
    axes.axis("off")
    figure.tight_layout()
    return figure


def error_curves(runs: Mapping[float, pd.DataFrame], columns: int = 3) -> Figure:
    """One small E_total-against-iteration graph per learning rate, as in the class notes."""
    rows = -(-len(runs) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.6 * rows), sharey=True)
    for ax, (lr, run) in zip(np.ravel(axes), runs.items(), strict=False):
        ax.plot(run["iteration"], run["E_total"], color="C0")
        ax.set_title(f"η = {lr:g}")
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    for ax in np.ravel(axes)[len(runs) :]:
        ax.axis("off")
    for ax in np.atleast_2d(axes)[:, 0]:
        ax.set_ylabel("$E_{total}$")
    figure.tight_layout()
    return figure


def error_overlay(runs: Mapping[float, pd.DataFrame]) -> Figure:
    """All learning rates on one graph, E_total on a log scale."""
    figure, ax = plt.subplots(figsize=(7, 4))
    for lr, run in runs.items():
        ax.plot(run["iteration"], run["E_total"], label=f"η = {lr:g}")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("$E_{total}$ (log scale)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    figure.tight_layout()
    return figure
