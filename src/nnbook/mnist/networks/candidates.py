"""The candidates for the chapter's last step, each with Tiny's maps and receptive fields:
``Widening``, ``Separable`` and the answer, ``Separable31``."""

from __future__ import annotations

from torch import nn

from nnbook.mnist.networks.base import SequentialClassifier
from nnbook.mnist.networks.steps import SMALL_MEMORY_FORMAT, conv_bn


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
