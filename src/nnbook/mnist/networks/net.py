"""The class notes' MNIST network, ``Net``: BatchNorm, dropout and global average pooling."""

from __future__ import annotations

import torch
from torch import nn

from nnbook.mnist.networks.base import DigitClassifier

DROPOUT = 0.30


def conv_block(
    in_channels: int, out_channels: int, padding: int, batch_norm: bool = True
) -> nn.Sequential:
    """A 3 × 3 convolution → ReLU → batch normalisation (after the ReLU, as in the class notes).

    The ReLU overwrites the convolution's output (``inplace``): the convolution's backward needs
    its input, not its output, so the numbers are the same and a step keeps one map fewer."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, padding=padding),
        nn.ReLU(inplace=True),
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


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
