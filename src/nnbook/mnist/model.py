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


class DigitClassifier(nn.Module):
    """What every network of the book is: its layers turn 1×28×28 images into ten maps of 1×1
    (``scores``), which ``forward`` flattens and turns into log-probabilities of the digits."""

    #: The memory format a network's training steps are fastest in on a CPU (its class says).
    memory_format: torch.memory_format = torch.contiguous_format

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.scores(x).flatten(1), dim=1)


class Net(DigitClassifier):
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

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block2(self.block1(x)))


def set_dropout(network: nn.Module, share: float) -> None:
    """Every ``Dropout`` layer of ``network`` drops ``share`` of its inputs from now on (0: none,
    and PyTorch then skips the layer: no mask is drawn)."""
    if not 0 <= share < 1:
        raise ValueError(f"dropout must be in [0, 1), got {share!r}")
    for module in network.modules():
        if isinstance(module, nn.Dropout):
            module.p = share


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
