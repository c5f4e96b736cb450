"""The book's MNIST networks, in one place:

- ``base``: what every network is (``DigitClassifier``);
- ``net``: the class notes' network, ``Net``;
- ``steps``: the steps of "How small can it go" and the layers they are made of;
- ``candidates``: the candidates for its last step, the answer ``Separable31`` among them;
- ``frontier``: the answer and Tiny narrower and narrower;
- ``registry``: every network by name (what ``python -m nnbook train --model`` accepts),
  how to build one and count its parameters, which this package's name gives too.

What each costs and how its runs ended are reported by ``nnbook.mnist.summaries``, its layers by
``nnbook.mnist.layer_report``; the trainer imports neither (so a change to a report retrains
nothing).
"""

from nnbook.mnist.networks.registry import (
    ANSWER,
    CANDIDATES,
    DEFAULT_MODEL,
    FRONTIER,
    MODELS,
    SEPARABLE_FRONTIER,
    build_model,
    check_model,
    parameter_count,
)

__all__ = [
    "ANSWER",
    "CANDIDATES",
    "DEFAULT_MODEL",
    "FRONTIER",
    "MODELS",
    "SEPARABLE_FRONTIER",
    "build_model",
    "check_model",
    "parameter_count",
]
