"""What every network of the book is (``DigitClassifier``), the ones made of one
``nn.Sequential`` (``SequentialClassifier``), and the dropout setting the trainer applies."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DigitClassifier(nn.Module):
    """What every network of the book is: its layers turn 1×28×28 images into ten maps of 1×1
    (``scores``), which ``forward`` flattens and turns into log-probabilities of the digits."""

    #: The memory format a network's training steps are fastest in on a CPU (its class says).
    memory_format: torch.memory_format = torch.contiguous_format

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.scores(x).flatten(1), dim=1)


class SequentialClassifier(DigitClassifier):
    """A ``DigitClassifier`` whose layers are one ``nn.Sequential``, ``features``."""

    features: nn.Sequential

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def set_dropout(network: nn.Module, share: float) -> None:
    """Every ``Dropout`` layer of ``network`` drops ``share`` of its inputs from now on (0: none,
    and PyTorch then skips the layer: no mask is drawn)."""
    if not 0 <= share < 1:
        raise ValueError(f"dropout must be in [0, 1), got {share!r}")
    for module in network.modules():
        if isinstance(module, nn.Dropout):
            module.p = share
