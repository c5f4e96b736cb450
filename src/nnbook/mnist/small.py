"""How small can it go: the steps from a first skeleton to a network of under 4,800 parameters.

Each step is a small ``nn.Module`` with the shape and receptive field (RF) of every layer in a
comment, as ``Net`` has. Shapes are channels × height × width for one 28×28 image.
"""

from __future__ import annotations

import torch
from torch import nn

from nnbook.mnist.model import DigitClassifier

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


def separable_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    """A depthwise-separable 3×3 convolution: a 3×3 kernel per channel (``groups``: each input
    channel its own) → BatchNorm → ReLU, then a 1×1 convolution that mixes the channels →
    BatchNorm → ReLU. 9·C + C·O weights instead of the 9·C·O of a full 3×3 convolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def conv_relu(in_channels: int, out_channels: int, padding: int = 0) -> nn.Sequential:
    """conv 3×3 with a bias → ReLU: the skeleton's layer, before BatchNorm arrives."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=padding)
    return nn.Sequential(conv, nn.ReLU(inplace=True))  # as in Net's conv_block


class SequentialClassifier(DigitClassifier):
    """A ``DigitClassifier`` whose layers are one ``nn.Sequential``, ``features``."""

    features: nn.Sequential

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class Skeleton(SequentialClassifier):
    """Step 1: the shape of every later step — two blocks, a 1×1 transition, GAP — and no more."""

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
    """The last step: ``first`` channels in the first 3×3 convolution, ``width`` in every later
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


class Widening(SequentialClassifier):
    """A candidate for the last step: Tiny's layers with its channels moved, eight before the
    pool (where the maps are large) and twelve after it, the last convolution giving ten."""

    memory_format = SMALL_MEMORY_FORMAT

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 8, padding=1),  # 8×28×28, RF 3
            conv_bn(8, 8),  # 8×26×26, RF 5
            conv_bn(8, 8),  # 8×24×24, RF 7
            nn.MaxPool2d(2),  # 8×12×12, RF 8
            conv_bn(8, 12),  # 12×10×10, RF 12
            conv_bn(12, 12),  # 12×8×8, RF 16
            conv_bn(12, 10),  # 10×6×6, RF 20
            nn.AvgPool2d(6),  # 10×1×1, RF 30
            nn.Conv2d(10, 10, 1),  # 10×1×1
        )


class Separable(SequentialClassifier):
    """A candidate for the last step: Tiny's maps and receptive fields, its later 3×3
    convolutions depthwise-separable, which buys more than twice the channels for fewer
    parameters."""

    memory_format = SMALL_MEMORY_FORMAT
    before = 16  #: channels before the pool (after the first convolution's 12)
    after = 28  #: channels after the pool

    def __init__(self) -> None:
        super().__init__()
        before, after = self.before, self.after
        self.features = nn.Sequential(
            conv_bn(1, 12, padding=1),  # 12×28×28, RF 3
            separable_bn(12, before),  # 16×26×26, RF 5
            separable_bn(before, before),  # 16×24×24, RF 7
            nn.MaxPool2d(2),  # 16×12×12, RF 8
            separable_bn(before, after),  # 28×10×10, RF 12
            separable_bn(after, after),  # 28×8×8, RF 16
            separable_bn(after, after),  # 28×6×6, RF 20
            nn.AvgPool2d(6),  # 28×1×1, RF 30
            nn.Conv2d(after, 10, 1),  # 10×1×1
        )


class Separable31(Separable):
    """The chapter's answer: ``Separable`` with 31 channels after the pool, the most that stay
    within the chapter's parameter budget."""

    after = 31


class Separable19(Separable):
    """The answer narrower after the pool: 19 channels, under 3,000 parameters."""

    after = 19


class Separable16(Separable):
    """The answer at 16 channels after the pool, as many as before it."""

    after = 16


class Separable13(Separable):
    """The answer at 13 channels after the pool, fewer than before it."""

    after = 13


# The frontier: Tiny's shape, narrower and narrower (bench/frontier.py trains each) -----------


class Tiny8(Tiny):
    """Tiny at six channels, then eight: under 3,000 parameters."""

    first, width = 6, 8


class Tiny7(Tiny):
    """Tiny at six channels, then seven."""

    first, width = 6, 7


class Tiny6(Tiny):
    """Tiny at six channels throughout."""

    first, width = 6, 6


class Tiny5(Tiny):
    """Tiny at five channels throughout."""

    first, width = 5, 5
