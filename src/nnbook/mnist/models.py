"""Every MNIST network of the book by name: what ``python -m nnbook train --model`` accepts."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from nnbook.mnist.model import Net
from nnbook.mnist.small import Normalised, Skeleton, Tiny

#: Name → class, in the order the book meets them. ``net`` is the default everywhere.
MODELS: dict[str, type[nn.Module]] = {
    "net": Net,
    "skeleton": Skeleton,
    "normalised": Normalised,
    "tiny": Tiny,
}
DEFAULT_MODEL = "net"


def build_model(name: str = DEFAULT_MODEL, device: torch.device | str = "cpu") -> nn.Module:
    """A freshly initialised network on ``device``, in the memory format its class names.

    An unknown name is a ValueError that lists the known ones.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    network = MODELS[name]()
    return network.to(
        device, memory_format=getattr(network, "memory_format", torch.contiguous_format)
    )


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters (weights, biases, BatchNorm scales and shifts)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_summaries() -> pd.DataFrame:
    """One row per model: trainable parameters, multiply-adds per image, receptive field."""
    import torchinfo

    from nnbook.mnist.model import receptive_fields

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
