"""The steps of "How small can it go", from a first skeleton to a network below the smallest
published one, and the layers they are made of.

Each step is a small ``nn.Module`` with the shape and receptive field (RF) of every layer in a
comment, as ``Net`` has. Shapes are channels × height × width for one 28×28 image.
"""

from __future__ import annotations

import torch
from torch import nn

from nnbook.mnist.networks.base import SequentialClassifier

#: Each class names the memory format its steps are fastest in on a CPU. Channels-last suits
#: widths that are multiples of 8 (Skeleton: 5.6 against 7.2 s of steps per epoch at batch 64),
#: NCHW the others (Tiny's 10 channels: 11.1 against 17.5 s; 2-core Intel Xeon).
SMALL_MEMORY_FORMAT = torch.contiguous_format


def conv_bn(in_channels: int, out_channels: int, padding: int = 0) -> nn.Sequential:
    """conv 3×3 (no bias: BatchNorm's shift replaces it) → BatchNorm → ReLU (in place: the
    normalisation's gradients need its input, not its output)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=padding, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def conv_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv 3×3 with a bias, unpadded → ReLU: the skeleton's layer, before BatchNorm arrives."""
    conv = nn.Conv2d(in_channels, out_channels, 3)
    return nn.Sequential(conv, nn.ReLU(inplace=True))  # as in Net's conv_block


class Skeleton(SequentialClassifier):
    """Step 1: a shape — two blocks, a 1×1 transition, GAP — and no more."""

    memory_format = torch.channels_last

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_relu(1, 8),  # 8×26×26, RF 3
            conv_relu(8, 16),  # 16×24×24, RF 5
            nn.MaxPool2d(2),  # 16×12×12, RF 6
            nn.Conv2d(16, 8, 1),  # 8×12×12: 1×1 transition, fewer channels
            conv_relu(8, 16),  # 16×10×10, RF 10
            conv_relu(16, 16),  # 16×8×8, RF 14
            conv_relu(16, 16),  # 16×6×6, RF 18
            nn.AvgPool2d(6),  # 16×1×1: global average pooling, RF 28
            nn.Conv2d(16, 10, 1),  # 10×1×1: one score per digit
        )


class Normalised(SequentialClassifier):
    """Step 2: the skeleton with BatchNorm after every 3×3 convolution (and its biases gone)."""

    memory_format = torch.channels_last

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 8),  # 8×26×26, RF 3
            conv_bn(8, 16),  # 16×24×24, RF 5
            nn.MaxPool2d(2),  # 16×12×12, RF 6
            nn.Conv2d(16, 8, 1, bias=False),  # 8×12×12
            conv_bn(8, 16),  # 16×10×10, RF 10
            conv_bn(16, 16),  # 16×8×8, RF 14
            conv_bn(16, 16),  # 16×6×6, RF 18
            nn.AvgPool2d(6),  # 16×1×1, RF 28
            nn.Conv2d(16, 10, 1),  # 10×1×1
        )


class Tiny(SequentialClassifier):
    """Step 3: ``first`` channels in the first 3×3 convolution, ``width`` in every later
    one, three 3×3 convolutions on each side of the pool, the first padded so that the maps stay
    larger (no parameter more)."""

    memory_format = SMALL_MEMORY_FORMAT
    first = 8  #: channels of the first 3×3 convolution
    width = 10  #: channels of every later one

    def __init__(self) -> None:
        super().__init__()
        first, width = self.first, self.width
        self.features = nn.Sequential(
            conv_bn(1, first, padding=1),  # 8×28×28, RF 3
            conv_bn(first, width),  # 10×26×26, RF 5
            conv_bn(width, width),  # 10×24×24, RF 7
            nn.MaxPool2d(2),  # 10×12×12, RF 8
            conv_bn(width, width),  # 10×10×10, RF 12
            conv_bn(width, width),  # 10×8×8, RF 16
            conv_bn(width, width),  # 10×6×6, RF 20
            nn.AvgPool2d(6),  # 10×1×1, RF 30
            nn.Conv2d(width, 10, 1),  # 10×1×1
        )
