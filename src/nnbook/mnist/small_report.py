"""What the seeds record says of the networks of "How small can it go", as figures by the glue
names of the chapter: a network's runs on the selection seeds, its judgement on fresh seeds,
the same runs with other kernels, the frontier's smallest network that reaches the target.

The tables come from ``nnbook.mnist.summaries`` (``seeds_table``, ``frontier_table``,
``evaluations_by_kernels``); these turn a row or an evaluation into what the prose states. The
chapter asserts what it claims of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from nnbook.mnist.recipes import Recipe
from nnbook.mnist.summaries import Evaluation, provenance_of, threads_phrase
from nnbook.mnist.targets import HELD_EPOCHS
from nnbook.prose import Markdown

#: The column of ``seeds_table`` with the lowest of every run's last ``HELD_EPOCHS`` epochs.
HELD = f"min of last {HELD_EPOCHS} (%)"


def seeds_figures(row: Mapping, prefix: str) -> dict[str, object]:
    """A network's runs on the selection seeds (a row of ``seeds_table``): on how many seeds it
    held the target in each last epoch (``PREFIX-held``), the lowest of those epochs in %
    (``PREFIX-lowest``) and the mean final accuracy in % (``PREFIX-mean``)."""
    return {
        f"{prefix}-held": int(row["seeds held"]),
        f"{prefix}-lowest": float(row[HELD]),
        f"{prefix}-mean": float(row["mean final (%)"]),
    }


def finals(row: Mapping, seeds: Sequence[int]) -> list[float]:
    """The final test accuracy of each of ``seeds`` in a row of ``seeds_table`` (%)."""
    return [float(row[f"seed {seed} (%)"]) for seed in seeds]


def seeds_record(row: Mapping, seeds: Sequence[int]) -> Markdown:
    """Where a row of ``seeds_table`` comes from and what its runs did, in a sentence."""
    return Markdown(
        f"`{row['command']}` trained this step with seeds {', '.join(map(str, seeds))} on an "
        f"{row['cpu']} ({threads_phrase([row['threads']])}, {row['date']}, commit "
        f"`{row['commit'][:7]}`, `bench/results/seeds.jsonl`): final test accuracies "
        f"{', '.join(f'{a:.2f}' for a in finals(row, seeds))} %; the lowest of any run's last "
        f"{HELD_EPOCHS} epochs {row[HELD]:.2f} %; the target held in each last epoch on "
        f"{row['seeds held']} of the {len(seeds)} seeds."
    )


def hold_verdict(row: Mapping, target: float) -> str:
    """Whether a network holds ``target`` (a fraction) in each last epoch of every seed, and
    if not, how far short its lowest epoch is."""
    if row["holds"]:
        return "it holds the target on every seed"
    return (
        f"it does not yet hold it on every seed: {100 * target - row[HELD]:.2f} points short "
        "at the lowest"
    )


def evaluation_figures(evaluation: Evaluation, prefix: str) -> dict[str, object]:
    """A network's runs on fresh seeds: how many held the target (``PREFIX-held``), the
    interval of that rate in % (``PREFIX-low``, ``PREFIX-high``), the lowest last epoch
    (``PREFIX-lowest``), the spread of the seeds' lowest epochs (``PREFIX-spread``), the seeds
    that missed (``PREFIX-missed``) and where the runs come from (``PREFIX-record``)."""
    low, high = evaluation.interval
    return {
        f"{prefix}-held": evaluation.held,
        f"{prefix}-low": 100 * low,
        f"{prefix}-high": 100 * high,
        f"{prefix}-lowest": evaluation.lowest,
        f"{prefix}-spread": evaluation.spread,
        f"{prefix}-missed": ", ".join(map(str, evaluation.missed)),
        f"{prefix}-record": Markdown(provenance_of(evaluation.line)),
    }


def limited_kernels(records: Sequence[Mapping], model: str) -> Mapping[str, str]:
    """The instruction limits of the latest line of ``model`` run under limits: the same runs
    with the kernels of an AVX2-only CPU."""
    limited = [
        line for line in records if line["model"] == model and line.get("instruction limits")
    ]
    if not limited:
        raise ValueError(f"the seeds record holds no run of {model!r} under instruction limits")
    return limited[-1]["instruction limits"]


def kernels_figures(own: pd.DataFrame, other: pd.DataFrame, target: float) -> dict[str, object]:
    """The same runs' last epochs with the CPU's own kernels (``own``) and with the kernels
    of instruction limits (``other``; rows seeds, columns epochs, in %): on how many seeds the
    other kernels held ``target`` (``avx2-held``), their lowest epoch (``avx2-lowest``), how
    many of the figures differ (``avx2-differ``: "all", or "N of the") of how many
    (``avx2-figures``), and by how much at most (``avx2-largest-difference``, points)."""
    if own.shape != other.shape:
        raise ValueError(f"the two tables differ in shape: {own.shape} and {other.shape}")
    lowest = other.min(axis=1)
    differ = int((other.to_numpy() != own.to_numpy()).sum())
    return {
        "avx2-held": int((lowest >= 100 * target).sum()),
        "avx2-lowest": float(lowest.min()),
        "avx2-differ": "all" if differ == own.size else f"{differ} of the",
        "avx2-figures": own.size,
        "avx2-largest-difference": float(abs(other.to_numpy() - own.to_numpy()).max()),
    }


def frontier_figures(frontier: pd.DataFrame, target: float) -> dict[str, object]:
    """The frontier's networks (rows of ``frontier_table``) against ``target`` (a fraction):
    the smallest whose every seed ends at the target (``frontier-smallest-name``, its
    parameters and its lowest last epoch), and the narrowest of all (its parameters and mean
    final accuracy). A ValueError when none reaches the target."""
    reaching = frontier[frontier["min final (%)"] >= 100 * target]
    if reaching.empty:
        raise ValueError(f"no network of the frontier reaches {100 * target:.1f} % on every seed")
    smallest = reaching["parameters"].astype(int).idxmin()
    narrowest = frontier.loc[frontier["parameters"].astype(int).idxmin()]
    return {
        "frontier-smallest-name": smallest,
        "frontier-smallest-parameters": int(reaching.loc[smallest, "parameters"]),
        "frontier-smallest-lowest": float(reaching.loc[smallest, HELD]),
        "frontier-smallest-holds": bool(reaching.loc[smallest, "holds"]),
        "frontier-narrowest": int(narrowest["parameters"]),
        "frontier-narrowest-mean": float(narrowest["mean final (%)"]),
    }


def early_share(recipe: Recipe, steps_per_epoch: int, early_epochs: int) -> float:
    """How much of the average of the weights at the end of a run still comes from its first
    ``early_epochs`` epochs, in %: each later update multiplies their weight by the decay."""
    if not 0 < early_epochs < recipe.epochs:
        raise ValueError(f"early_epochs must be from 1 to {recipe.epochs - 1}, got {early_epochs}")
    later_updates = steps_per_epoch * (recipe.epochs - early_epochs)
    return 100 * recipe.ema_decay**later_updates


def record_of(row: Mapping) -> Markdown:
    """Where a row of ``seeds_table`` comes from: its command, CPU, threads, date, commit."""
    return Markdown(
        f"`{row['command']}`, on an {row['cpu']} ({threads_phrase([row['threads']])} a run, "
        f"{row['date']}, commit `{row['commit'][:7]}`)"
    )


def held_change(row: Mapping, before: Mapping) -> str:
    """On how many seeds a network held the target against an earlier version of it (rows of
    ``seeds_table``), in words: "on 3 seeds instead of 2", or "on 2 seeds, as before"."""
    held, held_before = int(row["seeds held"]), int(before["seeds held"])
    seeds = f"on {held} seed{'' if held == 1 else 's'}"
    return f"{seeds}, as before" if held == held_before else f"{seeds} instead of {held_before}"
