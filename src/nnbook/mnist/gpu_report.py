"""What the record of the GPUs (``bench/timing/gpu.py``) says, for the appendix on performance:
every recipe's runs as a table, and the figures of the GPU's recipe the chapter states and
asserts. The build has no GPU; it reads this record and measures nothing.

A line is one run of ``fit`` (``kind`` "recipe": GPU, batch, peak rate, epochs, whether
deterministic, seed, seconds, each epoch's seconds, final accuracy), one eager epoch timing
("eager"), or a check that two runs end with the same weights ("repeat": the same seed twice;
"resume": a run resumed from its checkpoint against one that was not interrupted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd

from nnbook.mnist.recipes import GPU_RECIPE, TWELVE_EPOCH_RECIPE, Recipe
from nnbook.mnist.targets import GPU_TARGET_ACCURACY, GPU_TARGET_DEVICE, GPU_TARGET_SECONDS


def short_name(gpu: str) -> str:
    """A GPU as its maker calls it: "NVIDIA H100 80GB HBM3" → "H100"."""
    return gpu.removeprefix("NVIDIA ").split()[0]


def recipe_runs(lines: Sequence[Mapping]) -> pd.DataFrame:
    """The runs of ``fit`` in the record, one row each, the GPU by its short name."""
    runs = pd.DataFrame([line for line in lines if line["kind"] == "recipe"])
    if runs.empty:
        raise ValueError("the gpu record holds no run: bench/timing/gpu.py writes them")
    runs["gpu"] = runs["gpu"].map(short_name)
    return runs


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per GPU and recipe: how many runs, the seconds and final accuracy of each."""
    setting = ["gpu", "batch_size", "lr", "epochs", "deterministic"]
    table = (
        runs.groupby(setting, sort=False)
        .agg(
            runs=("seed", "size"),
            seconds=("seconds", lambda s: ", ".join(f"{x:.1f}" for x in s)),
            accuracy=("final_accuracy", lambda a: ", ".join(f"{100 * x:.2f}" for x in a)),
        )
        .reset_index()
        .sort_values(["gpu", "deterministic", "batch_size", "epochs"])
    )
    table["deterministic"] = table["deterministic"].map({True: "yes", False: ""})
    table.columns = [
        "GPU", "batch", "peak learning rate", "epochs", "deterministic", "runs", "seconds",
        "final accuracy (%)",
    ]  # fmt: skip
    return table.set_index("GPU")


def _with_recipe(runs: pd.DataFrame, recipe: Recipe) -> pd.DataFrame:
    """The runs trained with ``recipe``'s batch, peak rate and epochs."""
    same = (
        (runs["batch_size"] == recipe.batch_size)
        & (runs["lr"] == recipe.lr)
        & (runs["epochs"] == recipe.epochs)
    )
    return runs[same]


def _mean_epoch(epoch_seconds: pd.Series) -> float:
    """The mean seconds of an epoch over runs, each run's list of epochs."""
    epochs = [seconds for run in epoch_seconds for seconds in run]
    return sum(epochs) / len(epochs)


def gpu_figures(lines: Sequence[Mapping]) -> dict[str, object]:
    """The figures of the GPU's recipe (``GPU_RECIPE``) that the chapter states, by glue name:
    its runs (``gpu-runs``; ``gpu-target-runs`` on the target GPU; ``gpu-min-accuracy``, in
    %), the slowest on the target GPU against the target (``gpu-max-seconds``,
    ``gpu-within``), an epoch replayed from a CUDA graph against an eager one (``gpu-epoch``,
    ``gpu-eager-epoch``, ``gpu-speedup``), the runs at the twelve-epoch recipe's epochs that
    missed the target accuracy (``gpu-short-runs``, ``gpu-short-misses``), an epoch at half
    the batch against one at the full batch, and the repeat and resume checks."""
    runs = recipe_runs(lines)
    chosen = _with_recipe(runs, GPU_RECIPE)
    on_target = chosen[chosen["gpu"] == GPU_TARGET_DEVICE]
    if on_target.empty:
        raise ValueError(f"the gpu record holds no run of GPU_RECIPE on a {GPU_TARGET_DEVICE}")
    shorter = _with_recipe(runs, replace(GPU_RECIPE, epochs=TWELVE_EPOCH_RECIPE.epochs))
    eager = [
        seconds
        for line in lines
        if line["kind"] == "eager" and short_name(line["gpu"]) == GPU_TARGET_DEVICE
        for seconds in line["epoch_seconds"]
    ]
    graph_epoch, eager_epoch = _mean_epoch(on_target["epoch_seconds"]), sum(eager) / len(eager)
    slowest = float(on_target["seconds"].max())
    return {
        "gpu-name": GPU_TARGET_DEVICE,
        "gpu-batch": GPU_RECIPE.batch_size,
        "gpu-factor": GPU_RECIPE.batch_size // TWELVE_EPOCH_RECIPE.batch_size,
        "gpu-rate-factor": GPU_RECIPE.lr / TWELVE_EPOCH_RECIPE.lr,
        "gpu-lr": GPU_RECIPE.lr,
        "gpu-epochs": GPU_RECIPE.epochs,
        "gpu-runs": len(chosen),
        "gpu-target-runs": len(on_target),
        "gpu-min-accuracy": float(100 * chosen["final_accuracy"].min()),
        "gpu-max-seconds": slowest,
        "gpu-within": "within" if slowest <= GPU_TARGET_SECONDS else "beyond",
        "gpu-target-accuracy": 100 * GPU_TARGET_ACCURACY,
        "gpu-target-seconds": GPU_TARGET_SECONDS,
        "gpu-epoch": graph_epoch,
        "gpu-eager-epoch": eager_epoch,
        "gpu-speedup": eager_epoch / graph_epoch,
        "gpu-short-runs": len(shorter),
        "gpu-short-misses": int((shorter["final_accuracy"] < GPU_TARGET_ACCURACY).sum()),
        "gpu-repeat-checks": sum(line["kind"] == "repeat" for line in lines),
        "gpu-resume-checks": sum(line["kind"] == "resume" for line in lines),
    } | _half_batch(runs)


def _half_batch(runs: pd.DataFrame) -> dict[str, object]:
    """An epoch at half the GPU recipe's batch against one at its batch, on the first GPU that
    ran both at the twelve-epoch recipe's epochs, nondeterministic (evaluation included)."""
    half = GPU_RECIPE.batch_size // 2
    plain = runs[~runs["deterministic"] & (runs["epochs"] == TWELVE_EPOCH_RECIPE.epochs)]
    at_half = plain[plain["batch_size"] == half]
    if at_half.empty:
        raise ValueError(f"the gpu record holds no run at batch {half}")
    gpu = at_half["gpu"].iloc[0]
    epoch_at = {}
    for batch in (half, GPU_RECIPE.batch_size):
        rows = plain[(plain["batch_size"] == batch) & (plain["gpu"] == gpu)]
        epoch_at[batch] = float(rows["epoch_seconds"].map(sum).sum() / rows["epochs"].sum())
    return {
        "gpu-compared": gpu,
        "gpu-half-batch": half,
        "gpu-half-lr": float(at_half["lr"].iloc[0]),
        "gpu-epoch-half": epoch_at[half],
        "gpu-epoch-full": epoch_at[GPU_RECIPE.batch_size],
    }


def checks_hold(lines: Sequence[Mapping]) -> bool:
    """Whether every check of the record says what the chapter says: a repeat ends with the
    same weights exactly when it was deterministic, and every resumed run does."""
    repeats = [
        line["equal"] == line["deterministic"] for line in lines if line["kind"] == "repeat"
    ]
    resumes = [line["equal"] for line in lines if line["kind"] == "resume"]
    return all(repeats) and all(resumes)
