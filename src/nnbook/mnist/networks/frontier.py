"""The frontier: the answer and Tiny narrower and narrower, to see how small each can go
(``bench/experiments/frontier.py`` trains each and records every run)."""

from __future__ import annotations

from nnbook.mnist.networks.candidates import Separable
from nnbook.mnist.networks.steps import Tiny


class Separable19(Separable):
    """The answer narrower after the pool: 19 channels, under 3,000 parameters."""

    after = 19


class Separable16(Separable):
    """The answer at 16 channels after the pool, as many as before it."""

    after = 16


class Separable13(Separable):
    """The answer at 13 channels after the pool, fewer than before it."""

    after = 13


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
