"""Every MNIST network of the book by name (what ``python -m nnbook train --model`` accepts),
how to build one, and what each costs: parameters, multiply-adds, receptive field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import nn

from nnbook.mnist.model import DigitClassifier, Net, receptive_fields
from nnbook.mnist.small import Normalised, Skeleton, Tiny

if TYPE_CHECKING:
    from nnbook.mnist.trainer import EpochResult

#: Name → class, in the order the book meets them. ``net`` is the default everywhere.
MODELS: dict[str, type[DigitClassifier]] = {
    "net": Net,
    "skeleton": Skeleton,
    "normalised": Normalised,
    "tiny": Tiny,
}
DEFAULT_MODEL = "net"


def check_model(name: str) -> str:
    """``name`` if it names a network of ``MODELS``; a ValueError listing them otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return name


def build_model(
    model: str | type[DigitClassifier] = DEFAULT_MODEL, device: torch.device | str = "cpu"
) -> DigitClassifier:
    """A freshly initialised network (by name, or its class) on ``device``, in the memory format
    its class names. An unknown name is a ValueError that lists the known ones."""
    cls = MODELS[check_model(model)] if isinstance(model, str) else model
    network = cls()
    return network.to(device, memory_format=network.memory_format)


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters (weights, biases, BatchNorm scales and shifts)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_summaries() -> pd.DataFrame:
    """One row per model: trainable parameters, multiply-adds per image, receptive field."""
    import torchinfo

    rows = []
    for name, cls in MODELS.items():
        network = cls()
        stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0)
        modules = dict(network.named_modules())
        three_by_three = [
            f
            for f in receptive_fields(network)
            if getattr(modules[f.name], "kernel_size", 0) == (3, 3)
        ]
        rows.append(
            {
                "model": name,
                "parameters": parameter_count(network),
                "MACs per image": stats.total_mult_adds,
                # what one pixel of the last 3×3 convolution's map sees, before GAP
                "receptive field": three_by_three[-1].receptive_field,
                "layers": sum(isinstance(m, nn.Conv2d) for m in network.modules()),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def run_summary(model: str, history: Sequence[EpochResult]) -> dict[str, float]:
    """One row of a table of runs: the model's size and cost, and how its run ended."""
    size = model_summaries().loc[check_model(model)]
    last = history[-1]
    return {
        "parameters": int(size["parameters"]),
        "MACs per image": int(size["MACs per image"]),
        "receptive field": int(size["receptive field"]),
        "epochs": len(history),
        "seconds per epoch": sum(row.seconds for row in history) / len(history),
        "final train accuracy (%)": 100 * last.train_accuracy,
        "final test accuracy (%)": 100 * last.test_accuracy,
        "best test accuracy (%)": 100 * max(row.test_accuracy for row in history),
    }
