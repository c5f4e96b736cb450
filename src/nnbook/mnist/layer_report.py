"""Reports on a network's layers: the receptive field after each convolution and pooling, and
the table of output shapes and parameters that the chapters print."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from torch import nn


@dataclass(frozen=True)
class ReceptiveField:
    """How much of the input one output pixel of a layer sees."""

    name: str
    layer: str
    receptive_field: int  #: side of the input square that one output pixel depends on
    jump: int  #: input pixels between neighbouring output pixels
    start: float  #: the input pixel at the centre of the field of output pixel 0


def square_size(value: int | tuple[int, ...]) -> int:
    """A kernel size, stride or padding (PyTorch keeps one per side) as one number; a ValueError
    for one that differs between sides."""
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"not square: {value}")
        return value[0]
    return value


def receptive_fields(model: nn.Module) -> list[ReceptiveField]:
    """Receptive field after each convolution and pooling layer, in order.

    r_out = r_in + (k − 1)·j_in and j_out = j_in·s, for kernel size k and stride s; the centre
    of the first field moves by ((k − 1)/2 − p)·j_in for padding p.
    """
    fields, size, jump, start = [], 1, 1, 0.0
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            kernel, stride, padding = (
                square_size(value) for value in (module.kernel_size, module.stride, module.padding)
            )
            start += ((kernel - 1) / 2 - padding) * jump
            size, jump = size + (kernel - 1) * jump, jump * stride
            fields.append(ReceptiveField(name, type(module).__name__, size, jump, start))
    return fields


def layer_table(model: nn.Module, input_size: tuple[int, ...] = (1, 1, 28, 28)) -> pd.DataFrame:
    """Convolution and pooling layers: output shape, parameters, receptive field (torchinfo)."""
    import torchinfo

    stats = torchinfo.summary(model, input_size=input_size, verbose=0)  # every layer, any depth
    by_module = {id(layer.module): layer for layer in stats.summary_list}
    modules = dict(model.named_modules())
    rows = []
    for field in receptive_fields(model):
        layer = by_module[id(modules[field.name])]
        rows.append(
            {
                "layer": field.name,
                "type": field.layer,
                "output shape": "×".join(map(str, layer.output_size[1:])),
                "parameters": layer.trainable_params,
                "receptive field": field.receptive_field,
                "jump": field.jump,
            }
        )
    return pd.DataFrame(rows).set_index("layer")
