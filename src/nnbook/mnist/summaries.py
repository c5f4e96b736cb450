"""Reports on the book's networks: what each costs (parameters, multiply-adds per image,
receptive field, layers), how a run of one ended, and how its runs on several seeds did. Kept
apart from ``nnbook.mnist.models``, which the trainer imports: the runs' digest covers the
trainer's modules, and a change to a table should retrain nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd
from torch import nn

from nnbook.mnist.model import receptive_fields, square_size
from nnbook.mnist.models import MODELS, check_model, parameter_count
from nnbook.mnist.recipes import Recipe
from nnbook.mnist.targets import HELD_EPOCHS, TARGET_ACCURACY

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


def seeds_table(
    records: Sequence[dict],
    models: Sequence[str],
    recipe: Recipe,
    seeds: Sequence[int],
    target: float = TARGET_ACCURACY,
    version: str = "today",
    limits: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per model of ``models`` from the seeds record (``bench/results/seeds.jsonl``):
    its latest line with ``recipe`` that trained every one of ``seeds``, on those seeds, of the
    network as ``MODELS`` builds it now (``version="today"``: the same multiply-adds per image,
    which a change of padding or stride changes where the parameters do not), of an earlier
    version (``"earlier"``) or of any. Columns: parameters, epochs, the final test accuracy of
    each seed (%), their minimum and mean, the lowest of each run's last ``HELD_EPOCHS`` epochs,
    how many runs *hold* the target (each of those epochs at or above it) and whether all do,
    and where the line came from. ``limits``: only lines run under these instruction limits
    (``bench/provenance.py``; None: only lines run without any). A model the record lacks is a
    ValueError."""
    if version not in ("today", "earlier", "any"):
        raise ValueError(f"version must be 'today', 'earlier' or 'any', got {version!r}")
    rows, costs = {}, model_summaries()["MACs per image"]
    for model in models:
        line = _latest_line(records, model, recipe, seeds, int(costs[model]), version, limits)
        runs = [line["accuracy per epoch"][line["seeds"].index(seed)] for seed in seeds]
        finals = [100 * run[-1] for run in runs]
        held = [min(run[-HELD_EPOCHS:]) for run in runs]
        rows[model] = {
            "parameters": line["parameters"],
            "epochs": len(runs[0]),
            **{f"seed {seed} (%)": final for seed, final in zip(seeds, finals, strict=True)},
            "min final (%)": min(finals),
            "mean final (%)": statistics.fmean(finals),
            f"min of last {HELD_EPOCHS} (%)": 100 * min(held),
            "seeds held": sum(lowest >= target for lowest in held),
            "holds": min(held) >= target,
            **{field: line[field] for field in ("command", "commit", "date", "cpu", "threads")},
        }
    types = {"parameters": int, "epochs": int, "seeds held": int, "holds": bool, "threads": int}
    return pd.DataFrame(rows).T.astype(types)


def frontier_table(
    records: Sequence[dict], models: Sequence[str], recipe: Recipe, seeds: Sequence[int]
) -> pd.DataFrame:
    """``seeds_table`` of a family of networks, largest first, for those of ``models`` the
    record has run with ``recipe`` (a family's narrowest may be untrained: its frontier ended
    above it), with what each narrowing bought and cost against the row above: ``parameters
    saved`` and ``points lost`` (of mean final accuracy)."""
    recorded = {line["model"] for line in records if Recipe(**line["recipe"]) == recipe}
    table = seeds_table(records, [m for m in models if m in recorded], recipe, seeds)
    table["parameters saved"] = -table["parameters"].diff()
    table["points lost"] = -table["mean final (%)"].astype(float).diff()
    return table


def last_epochs_table(
    records: Sequence[dict],
    model: str,
    recipe: Recipe,
    seeds: Sequence[int],
    limits: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The test accuracy (%) of each of the last ``HELD_EPOCHS`` epochs (columns) of each seed's
    run (rows) of today's ``model`` with ``recipe``: the seeds record's latest line of them, as
    ``seeds_table`` reads it (``limits`` too)."""
    costs = model_summaries()["MACs per image"]
    line = _latest_line(
        records, check_model(model), recipe, seeds, int(costs[model]), "today", limits
    )
    rows = {}
    for seed in seeds:
        run = line["accuracy per epoch"][line["seeds"].index(seed)]
        first = len(run) - HELD_EPOCHS + 1
        epochs = [f"epoch {first + k}" for k in range(HELD_EPOCHS)]
        last = (100 * accuracy for accuracy in run[-HELD_EPOCHS:])
        rows[f"seed {seed}"] = dict(zip(epochs, last, strict=True))
    return pd.DataFrame(rows).T


def _latest_line(
    records: Sequence[dict],
    model: str,
    recipe: Recipe,
    seeds: Sequence[int],
    multiply_adds: int,
    version: str,
    limits: Mapping[str, str] | None,
) -> dict:
    """The latest line of the seeds record of ``model`` (in ``version``) with ``recipe`` that
    trained every one of ``seeds`` under the instruction ``limits`` (None: none); a ValueError
    when there is none."""
    lines = [
        line
        for line in records
        if line["model"] == model
        and Recipe(**line["recipe"]) == recipe  # a field added since: its default
        and set(seeds) <= set(line["seeds"])
        and _is_version(line, multiply_adds, version)
        and line.get("instruction limits") == (dict(limits) if limits else None)
    ]
    if not lines:
        under = f" under {dict(limits)}" if limits else ""
        raise ValueError(f"the seeds record has no run of {model} on seeds {list(seeds)}{under}")
    return lines[-1]


def _is_version(line: dict, multiply_adds: int, version: str) -> bool:
    """Whether a line of the seeds record is of the network today (its multiply-adds), of an
    earlier version (other multiply-adds, or a line from before they were recorded), or any."""
    today = line.get("multiply-adds per image") == multiply_adds
    return version == "any" or today == (version == "today")
