"""Reports on the book's networks: what each costs (parameters, multiply-adds per image,
receptive field, layers), how a run of one ended, and how its runs on several seeds did. Kept
apart from ``nnbook.mnist.networks``, which the trainer imports: the runs' digest covers the
trainer's modules, and a change to a table should retrain nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING

import pandas as pd
from torch import nn

from nnbook.mnist.layer_report import receptive_fields, square_size
from nnbook.mnist.networks import MODELS, check_model, parameter_count
from nnbook.mnist.recipes import Recipe, recorded_recipe
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
        "threads": history[-1].threads,
        "final train accuracy (%)": 100 * last.train_accuracy,
        "final test accuracy (%)": 100 * last.test_accuracy,
        "best test accuracy (%)": 100 * max(row.test_accuracy for row in history),
    }


def peak_rate_epoch(recipe: Recipe, steps_per_epoch: int) -> int:
    """The epoch (counted from 1) in which ``recipe``'s learning-rate schedule peaks, stepped as
    ``fit`` steps it, ``steps_per_epoch`` times an epoch (the first, for a constant rate)."""
    from nnbook.mnist.trainer import make_optimizer

    optimizer, scheduler = make_optimizer(nn.Linear(1, 1), recipe, steps_per_epoch)
    rates = []
    for _ in range(recipe.epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: nothing moves but the schedule
        scheduler.step()
    return rates.index(max(rates)) // steps_per_epoch + 1


def average_and_raw(history: Sequence[EpochResult]) -> dict[str, float]:
    """The test accuracy (%) of a run's average of its weights and of its raw weights, after its
    first epoch and after its last: how far the average lags at first, and where both end."""
    if not history or any(row.raw_test_accuracy is None for row in history):
        raise ValueError("the run kept no average of its weights: there is no raw figure beside")
    first, last = history[0], history[-1]
    return {
        "average-first": 100 * first.test_accuracy,
        "raw-first": 100 * first.raw_test_accuracy,
        "average-final": 100 * last.test_accuracy,
        "raw-final": 100 * last.raw_test_accuracy,
    }


def threads_phrase(threads: Iterable[int]) -> str:
    """The CPU threads runs had, in words: "1 thread", "2 threads", "1 or 2 threads"."""
    counts = sorted(set(threads))
    if not counts:
        raise ValueError("no thread counts to name")
    if any(not isinstance(n, Integral) or n < 1 for n in counts):
        raise ValueError(f"thread counts are positive whole numbers, got {counts}")
    counts = [int(n) for n in counts]  # a table's column holds NumPy's integers
    *others, last = counts
    words = f"{', '.join(map(str, others))} or {last}" if others else str(last)
    return f"{words} thread{'' if counts == [1] else 's'}"


def seeds_table(
    records: Sequence[dict],
    models: Sequence[str],
    recipe: Recipe,
    seeds: Sequence[int],
    target: float = TARGET_ACCURACY,
    network: str = "as built",
    limits: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per model of ``models`` from the seeds record (``bench/results/seeds.jsonl``):
    its latest line with ``recipe`` that trained every one of ``seeds``, on those seeds, of the
    network as ``MODELS`` builds it now (``network="as built"``: a line of the same multiply-adds
    per image, which a change of padding or stride changes where the parameters do not), of an
    earlier version of it (``"earlier"``: other multiply-adds, or none recorded) or of any.
    Columns: parameters, epochs, the final test accuracy of each seed (%), their minimum and
    mean, the lowest of each run's last ``HELD_EPOCHS`` epochs, how many runs *hold* the target
    (each of those epochs at or above it) and whether all do, and where the line came from.
    ``limits``: only lines run under these instruction limits (``bench/provenance.py``; None:
    only lines run without any). A model the record lacks is a ValueError."""
    if network not in NETWORK_VERSIONS:
        raise ValueError(f"network must be one of {NETWORK_VERSIONS}, got {network!r}")
    rows, costs = {}, model_summaries()["MACs per image"]
    for model in models:
        line = _latest_line(records, model, recipe, seeds, int(costs[model]), network, limits)
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
    recorded = {line["model"] for line in records if recorded_recipe(line["recipe"]) == recipe}
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
        records, check_model(model), recipe, seeds, int(costs[model]), "as built", limits
    )
    return _last_epochs(line, seeds)


def epochs_table(
    records: Sequence[dict], model: str, recipe: Recipe, seeds: Sequence[int]
) -> pd.DataFrame:
    """The test accuracy (%) after every epoch (columns ``epoch 1`` …) of each seed's run (rows)
    of today's ``model`` with ``recipe``: the seeds record's latest line of them on selection
    seeds, as ``seeds_table`` reads it."""
    costs = model_summaries()["MACs per image"]
    line = _latest_line(
        records, check_model(model), recipe, seeds, int(costs[model]), "as built", None
    )
    runs = {
        f"seed {seed}": line["accuracy per epoch"][line["seeds"].index(seed)] for seed in seeds
    }
    return pd.DataFrame(
        {
            name: {f"epoch {k}": 100 * accuracy for k, accuracy in enumerate(run, start=1)}
            for name, run in runs.items()
        }
    ).T


def page_speed_table(lines: Sequence[dict], networks: Sequence[str]) -> pd.DataFrame:
    """One row per network of ``networks`` that ``bench/timing/train_page.py`` measured in its
    version of today (the same multiply-adds per image), from its latest such line of ``lines``:
    ms per step in the page and in PyTorch (float64, float32) and one pass over the page's digits
    (seconds, test accuracy %). A network without such a line has no row."""
    costs = model_summaries()["MACs per image"]
    rows = {}
    for name in networks:
        today = int(costs[check_model(name)])
        measured = [
            line
            for line in lines
            if line["network"] == name and line.get("multiply-adds per image") == today
        ]
        if measured:
            line = measured[-1]
            rows[name] = {
                "page ms per step": line["page ms per step"],
                "PyTorch float64 ms": line["torch float64 ms per step"],
                "PyTorch float32 ms": line["torch float32 ms per step"],
                "page ÷ float64": line["page ms per step"] / line["torch float64 ms per step"],
                "one pass (s)": line["pass"]["seconds"],
                "test accuracy after it (%)": 100 * line["pass"]["test accuracy"],
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "network"
    return table


def _latest_line(
    records: Sequence[dict],
    model: str,
    recipe: Recipe,
    seeds: Sequence[int],
    multiply_adds: int,
    network: str,
    limits: Mapping[str, str] | None,
) -> dict:
    """The latest line of the seeds record of ``model`` (``network``: as ``seeds_table``'s)
    with ``recipe`` that trained every one of ``seeds`` under the instruction ``limits`` (None:
    none), of selection seeds; a ValueError when there is none."""
    lines = [
        line
        for line in records
        if line["model"] == model
        and role_of(line) == "selection"
        and recorded_recipe(line["recipe"]) == recipe
        and set(seeds) <= set(line["seeds"])
        and _of_network(line, multiply_adds, network)
        and line.get("instruction limits") == (dict(limits) if limits else None)
    ]
    if not lines:
        under = f" under {dict(limits)}" if limits else ""
        raise ValueError(f"the seeds record has no run of {model} on seeds {list(seeds)}{under}")
    return lines[-1]


#: Which version of a network a line of the seeds record may be of (``seeds_table``).
NETWORK_VERSIONS = ("as built", "earlier", "any")


def _of_network(line: dict, multiply_adds: int, network: str) -> bool:
    """Whether a line of the seeds record is of the network as built now (its multiply-adds), of
    an earlier version (other multiply-adds, or a line from before they were recorded), or any."""
    as_built = line.get("multiply-adds per image") == multiply_adds
    return network == "any" or as_built == (network == "as built")


#: The roles a line's seeds play (``bench/experiments/seeds.py``): runs on selection seeds choose
#: networks and recipes; runs on evaluation seeds only judge a choice already made.
ROLES = ("selection", "evaluation")


def role_of(line: Mapping) -> str:
    """The role of a seeds-record line's seeds; a line without one is of selection seeds (the
    record's lines from before the roles were told apart)."""
    role = line.get("role", "selection")
    if role not in ROLES:
        raise ValueError(f"a line of {line.get('model')!r} has role {role!r}, not one of {ROLES}")
    return role


@dataclass(frozen=True)
class Evaluation:
    """How a network did on evaluation seeds: the line of the seeds record it comes from, each
    seed's last ``HELD_EPOCHS`` epochs (%), how many runs held the target in each of them, and
    that rate with its confidence interval."""

    model: str
    line: Mapping
    seeds: tuple[int, ...]
    last_epochs: pd.DataFrame  #: rows ``seed N``, columns ``epoch E``: test accuracy (%)
    held: int  #: runs whose every one of the last epochs is at or above the target
    target: float  #: the target (a fraction, as ``TARGET_ACCURACY``)
    confidence: float  #: of ``interval``
    interval: tuple[float, float]  #: Clopper-Pearson interval of the held fraction

    @property
    def runs(self) -> int:
        return len(self.seeds)

    @property
    def rate(self) -> float:
        """The fraction of runs that held the target."""
        return self.held / self.runs

    @property
    def lowest_per_seed(self) -> pd.Series:
        """The lowest of each seed's last epochs (%)."""
        return self.last_epochs.min(axis=1)

    @property
    def lowest(self) -> float:
        """The lowest of all the runs' last epochs (%)."""
        return float(self.lowest_per_seed.min())

    @property
    def spread(self) -> float:
        """From the worst seed to the best: the highest minus the lowest of the seeds' lowest
        last epochs (percentage points)."""
        return float(self.lowest_per_seed.max() - self.lowest_per_seed.min())

    @property
    def missed(self) -> list[int]:
        """The seeds whose run fell below the target in one of its last epochs."""
        below = self.lowest_per_seed < 100 * self.target
        return [seed for seed, miss in zip(self.seeds, below, strict=True) if miss]


def held_rate_interval(held: int, runs: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) ``confidence`` interval of a rate of ``held`` of ``runs``,
    each run a Bernoulli trial: ``scipy.stats.binomtest``'s."""
    from scipy.stats import binomtest

    if not (isinstance(runs, int) and isinstance(held, int) and 0 <= held <= runs and runs > 0):
        raise ValueError(f"need 0 <= held <= runs and runs > 0, got {held} of {runs}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    interval = binomtest(held, runs).proportion_ci(confidence_level=confidence, method="exact")
    return float(interval.low), float(interval.high)


def _evaluation_lines(records: Sequence[dict], model: str, recipe: Recipe) -> list[dict]:
    """The seeds record's lines of evaluation seeds of today's ``model`` with ``recipe``."""
    check_model(model)
    macs = int(model_summaries()["MACs per image"][model])
    return [
        line
        for line in records
        if line["model"] == model
        and role_of(line) == "evaluation"
        and recorded_recipe(line["recipe"]) == recipe
        and _of_network(line, macs, "as built")
    ]


def _no_evaluation(model: str, limits: Mapping[str, str] | None) -> ValueError:
    """The error of a seeds record without a line of ``model`` on evaluation seeds (under the
    instruction ``limits``): it says what to run."""
    under = f" under {dict(limits)}" if limits else ""
    return ValueError(
        f"the seeds record has no run of {model} on evaluation seeds{under}: run "
        f"`python -m bench.experiments.seeds --model {model} --evaluation-seeds --record "
        "bench/results/seeds.jsonl` from the repository's root"
    )


def evaluation_report(
    records: Sequence[dict],
    model: str,
    recipe: Recipe,
    target: float = TARGET_ACCURACY,
    limits: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> Evaluation:
    """``model`` with ``recipe`` judged on evaluation seeds: the seeds record's latest line of
    evaluation seeds of the network as built (``seeds_table``'s ``network="as built"``) under the
    instruction ``limits`` (None: none). A ValueError when there is no such line, when one of its
    seeds was also a selection seed of some line of the record (it served a choice), or when the
    line is malformed (runs and seeds that do not pair, a run shorter than ``HELD_EPOCHS``, an
    accuracy outside 0 to 1)."""
    wanted = dict(limits) if limits else None
    lines = [
        line
        for line in _evaluation_lines(records, model, recipe)
        if line.get("instruction limits") == wanted
    ]
    if not lines:
        raise _no_evaluation(model, wanted)
    line = lines[-1]
    seeds, runs = list(line["seeds"]), line["accuracy per epoch"]
    if not seeds or len(seeds) != len(runs) or len(set(seeds)) != len(seeds):
        raise ValueError(f"{model}'s evaluation line pairs {len(runs)} runs with seeds {seeds}")
    selection = {
        seed for other in records if role_of(other) == "selection" for seed in other["seeds"]
    }
    if used := sorted(selection & set(seeds)):
        raise ValueError(f"evaluation seeds {used} of {model} are selection seeds too")
    for seed, run in zip(seeds, runs, strict=True):
        if len(run) < HELD_EPOCHS:
            raise ValueError(
                f"{model} seed {seed} ran {len(run)} epochs, fewer than {HELD_EPOCHS}"
            )
        if not all(isinstance(a, float | int) and 0 <= a <= 1 for a in run):
            raise ValueError(f"{model} seed {seed}: accuracies must be fractions in [0, 1]")
    table = _last_epochs(line, seeds)
    held = sum(min(run[-HELD_EPOCHS:]) >= target for run in runs)
    return Evaluation(
        model=model, line=line, seeds=tuple(seeds), last_epochs=table, held=held,
        target=target, confidence=confidence,
        interval=held_rate_interval(held, len(seeds), confidence),
    )  # fmt: skip


def provenance_of(line: Mapping) -> str:
    """Where a line of a record comes from, for the prose (Markdown): its command, and the CPU,
    its vector instructions (and limits), threads, date and commit it ran with."""
    threads = f"{line['threads']} thread" + ("s" if line["threads"] != 1 else "")
    return (
        f"`{line['command']}` on an {line['cpu']} ({kernels_of(line)}, {threads} a run, "
        f"{line['date']}, commit `{line['commit'][:7]}`)"
    )


def kernels_of(line: Mapping) -> str:
    """Which vector instructions a line's runs computed with: the CPU's own (``AVX512``), or
    those its instruction limits allowed, marked as such (``AVX2, limited``)."""
    return line["vector instructions"] + (", limited" if line.get("instruction limits") else "")


def evaluations_by_kernels(
    records: Sequence[dict], model: str, recipe: Recipe, target: float = TARGET_ACCURACY
) -> dict[str, Evaluation]:
    """``model`` with ``recipe`` judged on evaluation seeds once for every set of instruction
    limits the seeds record has runs under (none first), keyed by ``kernels_of``: the latest
    line of each, as ``evaluation_report`` reads it."""
    limits: list[dict | None] = []
    for line in _evaluation_lines(records, model, recipe):
        if line.get("instruction limits") not in limits:
            limits.append(line.get("instruction limits"))
    limits.sort(key=lambda wanted: wanted is not None)  # the CPU's own instructions first
    if not limits:
        raise _no_evaluation(model, None)
    judged = [evaluation_report(records, model, recipe, target, wanted) for wanted in limits]
    return {kernels_of(evaluation.line): evaluation for evaluation in judged}


def evaluation_table(evaluations: Mapping[str, Evaluation]) -> pd.DataFrame:
    """One row per set of kernels: how many evaluation seeds held the target in each of their
    last ``HELD_EPOCHS`` epochs, that rate's interval, the lowest of those epochs, the spread of
    the seeds' lowest epochs, the mean final accuracy and the seeds that missed."""
    rows = {}
    for kernels, judged in evaluations.items():
        low, high = judged.interval
        finals = [run[-1] for run in judged.line["accuracy per epoch"]]
        rows[kernels] = {
            "held": f"{judged.held} of {judged.runs}",
            f"{100 * judged.confidence:.0f} % interval (%)": f"{100 * low:.1f}–{100 * high:.1f}",
            f"lowest of last {HELD_EPOCHS} (%)": judged.lowest,
            "spread (points)": judged.spread,
            "mean final (%)": 100 * sum(finals) / len(finals),
            "seeds that missed": ", ".join(map(str, judged.missed)) or "none",
        }
    table = pd.DataFrame(rows).T
    table.index.name = "kernels"
    return table


def _last_epochs(line: Mapping, seeds: Sequence[int]) -> pd.DataFrame:
    """The test accuracy (%) of each of the last ``HELD_EPOCHS`` epochs (columns) of each of
    ``seeds``'s runs (rows) of a line of the seeds record."""
    rows = {}
    for seed in seeds:
        run = line["accuracy per epoch"][line["seeds"].index(seed)]
        if len(run) < HELD_EPOCHS:
            raise ValueError(f"seed {seed} ran {len(run)} epochs, fewer than {HELD_EPOCHS}")
        rows[f"seed {seed}"] = {
            f"epoch {epoch}": 100 * run[epoch - 1]
            for epoch in range(len(run) - HELD_EPOCHS + 1, len(run) + 1)
        }
    return pd.DataFrame(rows).T
