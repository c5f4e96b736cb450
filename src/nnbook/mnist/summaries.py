"""Reports on the book's networks: what each costs (parameters, multiply-adds per image,
receptive field, layers) and how a run of one ended. Kept apart from ``nnbook.mnist.models``,
which the trainer imports: the runs' digest covers the trainer's modules, and a change to a
table should retrain nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
from torch import nn

from nnbook.mnist.model import receptive_fields, square_size
from nnbook.mnist.models import MODELS, check_model, parameter_count

if TYPE_CHECKING:
    from nnbook.mnist.trainer import EpochResult


def model_summaries() -> pd.DataFrame:
    """One row per model: trainable parameters, multiply-adds per image, receptive field."""
    import torchinfo

    rows = []
    for name, cls in MODELS.items():
        network = cls()
        stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0)
        modules = dict(network.named_modules())
        three_by_three = [
            f
            for f in receptive_fields(network)
            if isinstance(modules[f.name], nn.Conv2d)
            and square_size(modules[f.name].kernel_size) == 3
        ]
        rows.append(
            {
                "model": name,
                "parameters": parameter_count(network),
                "MACs per image": stats.total_mult_adds,
                # what one pixel of the last 3×3 convolution's map sees, before GAP
                "receptive field": three_by_three[-1].receptive_field,
                "layers": sum(isinstance(m, nn.Conv2d) for m in network.modules()),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def run_summary(model: str, history: Sequence[EpochResult]) -> dict[str, float]:
    """One row of a table of runs: the model's size and cost, and how its run ended."""
    size = model_summaries().loc[check_model(model)]
    last = history[-1]
    return {
        "parameters": int(size["parameters"]),
        "MACs per image": int(size["MACs per image"]),
        "receptive field": int(size["receptive field"]),
        "epochs": len(history),
        "seconds per epoch": sum(row.seconds for row in history) / len(history),
        "final train accuracy (%)": 100 * last.train_accuracy,
        "final test accuracy (%)": 100 * last.test_accuracy,
        "best test accuracy (%)": 100 * max(row.test_accuracy for row in history),
    }
