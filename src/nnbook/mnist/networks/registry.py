"""Every MNIST network of the book by name (what ``python -m nnbook train --model`` accepts),
the groups the chapters train them in, how to build one and count its parameters."""

from __future__ import annotations

import torch
from torch import nn

from nnbook.mnist.networks.base import DigitClassifier
from nnbook.mnist.networks.candidates import Separable, Separable31, Widening
from nnbook.mnist.networks.frontier import (
    Separable13,
    Separable16,
    Separable19,
    Tiny5,
    Tiny6,
    Tiny7,
    Tiny8,
)
from nnbook.mnist.networks.net import Net
from nnbook.mnist.networks.steps import Normalised, Skeleton, Tiny

#: Name → class, in the order the book meets them. ``net`` is the default everywhere.
MODELS: dict[str, type[DigitClassifier]] = {
    "net": Net,
    "skeleton": Skeleton,
    "normalised": Normalised,
    "tiny": Tiny,
    "tiny-8": Tiny8,
    "tiny-7": Tiny7,
    "tiny-6": Tiny6,
    "tiny-5": Tiny5,
    "widening": Widening,
    "separable": Separable,
    "separable-31": Separable31,
    "separable-19": Separable19,
    "separable-16": Separable16,
    "separable-13": Separable13,
}
#: The frontier of "How small can it go": Tiny narrower and narrower, largest first. The book's
#: build trains none of them (``bench/experiments/frontier.py`` does, and records every run).
FRONTIER = ("tiny-8", "tiny-7", "tiny-6", "tiny-5")
#: The answer's frontier: ``separable-31`` narrower and narrower after the pool, largest first,
#: trained with its recipe (``bench/experiments/frontier.py`` again).
SEPARABLE_FRONTIER = ("separable-19", "separable-16", "separable-13")
#: Candidates for the last step, measured against it on every seed
#: (``bench/experiments/seeds.py``); the book's build trains none of them either.
CANDIDATES = ("widening", "separable", "separable-31")
#: The candidate the chapter presents as its answer, trained with ``recipes.ANSWER_RECIPE``.
ANSWER = "separable-31"
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
