"""The class notes' MNIST network: BatchNorm, dropout 0.30 and global average pooling."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

DROPOUT = 0.30


def conv_block(
    in_channels: int, out_channels: int, padding: int, batch_norm: bool = True
) -> nn.Sequential:
    """conv 3×3 → ReLU → BatchNorm (BN after the non-linearity, as in the class notes).

    The ReLU overwrites the convolution's output (``inplace``): the convolution's gradients need
    its input, not its output, so the numbers are the same and a step keeps one activation fewer.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, padding=padding),
        nn.ReLU(inplace=True),
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


class Net(nn.Module):
    """Input 1×28×28 → log-probabilities of the ten digits."""

    #: channels-last (NHWC) tensors: faster steps for Net's 16 and 32 channels on the CPU
    memory_format = torch.channels_last

    def __init__(self, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.block1 = nn.Sequential(
            conv_block(1, 16, padding=1),  # 16×28×28, receptive field 3
            conv_block(16, 32, padding=1),  # 32×28×28, RF 5
            nn.MaxPool2d(2),  # 32×14×14, RF 6
            nn.Conv2d(32, 8, 1),  # 8×14×14: 1×1 "transition" squeezes channels
            nn.Dropout(dropout),
        )
        self.block2 = nn.Sequential(
            conv_block(8, 16, padding=0),  # 16×12×12, RF 10
            conv_block(16, 32, padding=0),  # 32×10×10, RF 14
            nn.Conv2d(32, 8, 1),  # 8×10×10
            nn.Dropout(dropout),
        )
        self.head = nn.Sequential(
            conv_block(8, 16, padding=0, batch_norm=False),  # 16×8×8, RF 18
            conv_block(16, 32, padding=0, batch_norm=False),  # 32×6×6, RF 22
            nn.Conv2d(32, 10, 1),  # 10×6×6: one map per digit
            nn.AvgPool2d(6),  # 10×1×1: global average pooling
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.block2(self.block1(x)))
        return F.log_softmax(x.flatten(1), dim=1)


@dataclass(frozen=True)
class ReceptiveField:
    """How much of the input one output pixel of a layer sees."""

    name: str
    layer: str
    receptive_field: int  #: side of the input square that one output pixel depends on
    jump: int  #: input pixels between neighbouring output pixels


def receptive_fields(model: nn.Module) -> list[ReceptiveField]:
    """Receptive field after each convolution and pooling layer, in order.

    r_out = r_in + (k − 1)·j_in and j_out = j_in·s, for kernel size k and stride s.
    """
    fields, size, jump = [], 1, 1
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            kernel = module.kernel_size
            stride = module.stride
            kernel = kernel[0] if isinstance(kernel, tuple) else kernel
            stride = stride[0] if isinstance(stride, tuple) else stride
            size, jump = size + (kernel - 1) * jump, jump * stride
            fields.append(ReceptiveField(name, type(module).__name__, size, jump))
    return fields


def layer_table(model: nn.Module, input_size: tuple[int, ...] = (1, 1, 28, 28)) -> pd.DataFrame:
    """Convolution and pooling layers: output shape, parameters, receptive field (torchinfo)."""
    import torchinfo

    stats = torchinfo.summary(model, input_size=input_size, verbose=0, depth=4)
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
