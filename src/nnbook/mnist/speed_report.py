"""What the record of speed (``bench/timing/speed.py``) and the allocator's probe say, for the
appendix on performance: tables, figures and verdicts as data. The chapter reads the records
(``nnbook.records``), calls these and glues what they return; it decides nothing itself.

Each function takes the lines of a record, so a test can hand it lines of its own. Times are
read and reported, never asserted: a verdict says "within" or "beyond", whichever the record
shows. What the chapter claims of the record (an order, a bound) comes back as figures for
the chapter's asserts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from nnbook.prose import Markdown, span


def precision_of(recipe: object) -> str:
    """The arithmetic a recorded recipe (a mapping of its fields) trained in: "bfloat16" under
    autocast, else "float32" (a line without a recipe, NaN in a table, predates autocast)."""
    return "bfloat16" if isinstance(recipe, Mapping) and recipe.get("cpu_bfloat16") else "float32"


def malloc_verdict(plain: Mapping, tuned: Mapping) -> Markdown:
    """What keeping freed memory did to the training steps ``bench/timing/allocator.py``
    measured (``plain``: malloc as it comes, ``tuned``: with the setting), in words; a
    ValueError if the setting changed the weights the steps end with."""
    if tuned["weights_sha256"] != plain["weights_sha256"]:
        raise ValueError("keeping freed memory changed the weights the steps end with")
    if not tuned["keep_freed"]:  # macOS, Windows, musl: nothing to tune, and nothing changes
        return Markdown(
            "The machine that built this page does not use glibc, so `keep_freed_memory` "
            "changed nothing here: both rows ran with the C library's own allocator, and the "
            "weights after the steps are bit for bit the same."
        )
    before, after = plain["seconds_per_step"], tuned["seconds_per_step"]
    return Markdown(
        f"With `malloc` as it comes, a step page-faults {plain['page_faults_per_step']:,.0f} "
        f"times and takes {1000 * before:.0f} ms; keeping freed memory brings that to "
        f"{_faults(tuned['page_faults_per_step'])} and {1000 * after:.0f} ms, a factor of "
        f"{before / after:.1f}, and the weights after the steps are bit for bit the same."
    )


def _faults(count: float) -> str:
    """Page faults per step, in words: "72 faults", or "under one fault"."""
    if count < 1:
        return "under one fault"
    return f"{count:,.0f} fault{'' if round(count) == 1 else 's'}"


def cpu_epochs(reports: Sequence[Mapping], multiply_adds: Mapping[str, int]) -> pd.DataFrame:
    """One row per network and measurement of ``bench/timing/speed.py``'s record, of the networks
    as they are now: a row whose multiply-adds per image differ from ``multiply_adds`` (a
    network padded since, say) is left out. Adds the epoch's time over its convolutions' alone."""
    epochs = pd.DataFrame(
        [
            {"CPU": r["cpu"], "date": r["date"], "vector instructions": r["vector instructions"]}
            | row
            | {"matmul GFLOP/s": r["matmul GFLOP/s"], "threads": r["threads"]}
            for r in reports
            for row in r["epochs"]
        ]
    )
    if "recipe" not in epochs:
        epochs["recipe"] = None
    today = epochs["MACs per image"] == epochs["model"].map(multiply_adds)
    epochs = epochs[today].reset_index(drop=True)
    # an epoch / its convolutions alone: 1 would mean everything else costs nothing
    epochs["epoch ÷ convolutions"] = epochs["seconds per epoch"] / epochs["convolutions alone, s"]
    return epochs


def _epoch_at_target(row: pd.Series | pd.DataFrame, target: float) -> float | pd.Series:
    """Seconds an epoch of ``row`` (or of each row) would take at ``target`` % of the matmul
    rate: its work is the same, so the time scales by the rate it runs at now over the target."""
    return row["seconds per epoch"] * row["% of matmul"] / target


def target_table(epochs: pd.DataFrame, model: str, target: float) -> pd.DataFrame:
    """Each measurement of an epoch of ``model`` against ``target`` (a % of the matmul rate):
    how it ran, the seconds it would take at the target, and what those seconds leave
    everything but the convolutions (0 where the convolutions alone take longer), beside what
    that took. One row per measurement, indexed by CPU, date and vector instructions (a day
    may measure one CPU with AVX-512 and again limited to AVX2)."""
    net = _measured(epochs, model)
    at_target = _epoch_at_target(net, target)
    convolutions = net["convolutions alone, s"]
    table = pd.DataFrame(
        {
            "CPU": net["CPU"],
            "date": net["date"],
            "instructions": net["vector instructions"],
            "threads": net["threads"],
            "arithmetic": net["recipe"].map(precision_of),
            "epoch (s)": net["seconds per epoch"],
            "% of matmul": net["% of matmul"],
            "at the target (s)": at_target,
            "convolutions alone (s)": convolutions,
            "left for the rest (s)": (at_target - convolutions).clip(lower=0),
            "the rest took (s)": net["seconds per epoch"] - convolutions,
        }
    )
    return table.set_index(["CPU", "date", "instructions"])


def _measured(epochs: pd.DataFrame, model: str) -> pd.DataFrame:
    """The rows of ``model`` in ``epochs``; a ValueError when the record has none."""
    net = epochs[epochs["model"] == model]
    if net.empty:
        raise ValueError(f"the speed record measures no epoch of {model!r}")
    return net


def cpu_verdicts(epochs: pd.DataFrame, model: str, target: float) -> dict[str, object]:
    """What the measurements of an epoch of ``model`` say against ``target`` (a % of the
    matmul rate), for the glue names of the chapter: what the convolutions alone allow
    (``cpu-conv-verdict``), and what the target leaves the rest of the epoch in the latest
    measurement (``cpu-rest-verdict``); ``target_table`` gives each measurement's figures."""
    net = _measured(epochs, model)
    return {
        "cpu-target": target,
        "cpu-conv-verdict": _convolutions_verdict(net, target),
        "cpu-rest-verdict": _rest_verdict(net.iloc[-1], target),
    }


def _convolutions_verdict(net: pd.DataFrame, target: float) -> str:
    """Whether a network's convolutions alone run at the target, by vector instructions."""
    ceilings = net["ceiling, % of matmul"]
    fast, slow = net[ceilings >= target], net[ceilings < target]
    sentences = []
    if len(fast):
        kinds = " or ".join(sorted(set(fast["vector instructions"])))
        sentences.append(
            f"The convolutions themselves are not the problem where the CPU has {kinds}: they "
            "multiply small matrices, and oneDNN, the library PyTorch calls for them on a CPU, "
            f"runs them at {span(fast['ceiling, % of matmul'], '.0f')} % of the rate of one "
            "large multiply (the table's last column)."
        )
    if len(slow):
        kinds = " and ".join(sorted(set(slow["vector instructions"])))
        sentences.append(
            f"With {kinds} only they reach {slow['ceiling, % of matmul'].max():.0f} %, below "
            "the target: there the convolutions alone rule it out."
        )
    return " ".join(sentences)


def _rest_verdict(latest: pd.Series, target: float) -> str:
    """What the target leaves everything but the convolutions in one measurement."""
    precision = precision_of(latest["recipe"])
    if latest["% of matmul"] >= target:
        return f"the latest measurement, in {precision}, already runs above the target"
    if latest["ceiling, % of matmul"] < target:
        return (
            f"on the CPU measured latest ({latest['vector instructions']}, {precision}) not even "
            "an epoch whose rest cost nothing would reach it"
        )
    seconds, convolutions = latest["seconds per epoch"], latest["convolutions alone, s"]
    budget = _epoch_at_target(latest, target) - convolutions
    share = 100 * budget / (seconds - convolutions)
    return (
        f"in the latest measurement, in {precision}, the target leaves everything else "
        f"{share:.0f} % of the time it takes now"
    )


#: The kinds of operator a step's profile groups that only move memory, as the prose names them.
MEMORY_BOUND = {
    "batch norm": "batch normalisation",
    "ReLU": "ReLU",
    "pooling": "pooling",
    "dropout": "dropout",
}


def step_profile(epochs: pd.DataFrame, model: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """Where a step of ``model`` spends its CPU time, by kind of operator, in each measurement
    (ms and % of the step, one column per measurement), and the latest's shares for the prose:
    the convolutions' (``conv-share-of-step``), the memory-bound kinds' together
    (``memory-share-of-step``), named (``memory-kinds``: those that took any time) and batch
    normalisation's (``bn-share-of-step``)."""
    net = epochs[epochs["model"] == model]
    steps = pd.DataFrame(list(net["step ms by kind"]), index=net["CPU"] + ", " + net["date"]).T
    shares = 100 * steps / steps.sum()
    latest = shares.iloc[:, -1]
    figures = {
        "conv-share-of-step": float(latest["convolution"]),
        "memory-share-of-step": float(latest[list(MEMORY_BOUND)].sum()),
        "memory-kinds": _named([name for kind, name in MEMORY_BOUND.items() if latest[kind] > 0]),
        "bn-share-of-step": float(latest["batch norm"]),
    }
    return pd.concat({"ms per step": steps, "% of the step": shares}, axis=1), figures


#: The variants of a step that ``bench/timing/speed.py --variants`` measures, in table order.
VARIANTS = ("eager", "compiled", "bfloat16", "other memory format", "without oneDNN")


def variant_table(reports: Sequence[Mapping]) -> pd.DataFrame:
    """ms per step of each variant, one row per machine, network and batch; NaN where a line
    did not run a variant."""
    variants = pd.DataFrame(
        [{"CPU": r["cpu"], "date": r["date"], **v} for r in reports for v in r.get("variants", [])]
    )
    if variants.empty:
        raise ValueError("no variants recorded: run bench/timing/speed.py --variants --record")
    table = variants.pivot_table(
        index=["CPU", "date", "model", "batch size"],
        columns="variant",
        values="ms per step",
        sort=False,
    )
    return table[[name for name in VARIANTS if name in table.columns]]


def _step_ms(line: Mapping, model: str, variant: str) -> float:
    """``model``'s ms per step as ``variant`` in a line of the record."""
    return next(
        v["ms per step"]
        for v in line["variants"]
        if (v["model"], v["variant"]) == (model, variant)
    )


def _named(names: list[str]) -> str:
    """Names in a sentence: "a", "a and b", "a, b and c"."""
    if not names:
        raise ValueError("nothing to name")
    *others, last = names
    return f"{', '.join(others)} and {last}" if others else last


def _ran(line: Mapping, model: str, variant: str) -> bool:
    """Whether a line of the record ran ``model`` as ``variant``."""
    return any((v["model"], v["variant"]) == (model, variant) for v in line.get("variants", []))


def compiled_and_bfloat16(reports: Sequence[Mapping], model: str) -> dict[str, object]:
    """What ``torch.compile`` and bfloat16 autocast did to a step of ``model``, from the latest
    line that ran both: ms per step eager and compiled (``step-eager``, ``step-compiled``),
    the difference in words (``compile-verdict``) and bfloat16's effect on that CPU
    (``bf16-verdict``)."""
    lines = [r for r in reports if _ran(r, model, "compiled") and _ran(r, model, "bfloat16")]
    if not lines:
        raise ValueError(f"no line of the speed record ran {model!r} compiled and in bfloat16")
    line = lines[-1]
    eager, compiled = _step_ms(line, model, "eager"), _step_ms(line, model, "compiled")
    gain = 100 * (1 - compiled / eager)
    speedup = eager / _step_ms(line, model, "bfloat16")
    effect = f"{speedup:.1f} times as fast" if speedup >= 1 else f"{1 / speedup:.1f} times as slow"
    hardware = "has" if line["bfloat16 in hardware"] else "lacks"
    return {
        "step-eager": float(eager),
        "step-compiled": float(compiled),
        "compile-verdict": _time_change(gain),
        "bf16-verdict": Markdown(
            f"bfloat16 made the step {effect} on the machine measured latest, whose CPU "
            f"{hardware} instructions for bfloat16 arithmetic."
        ),
    }


def _time_change(gain: float) -> str:
    """A change of a step's time, ``gain`` % less, in words: "14 % more time"."""
    if round(gain) == 0:
        return "as much time"
    return f"{gain:.0f} % less time" if gain > 0 else f"{-gain:.0f} % more time"


def emulated_bfloat16_ratios(reports: Sequence[Mapping], model: str) -> list[float]:
    """A step of ``model`` in bfloat16 over the same in float32, on each CPU measured without
    bfloat16 instructions (where bfloat16 is emulated), oldest first."""
    return [
        _step_ms(r, model, "bfloat16") / _step_ms(r, model, "eager")
        for r in reports
        if _ran(r, model, "bfloat16") and not r["bfloat16 in hardware"]
    ]


def kernels_verdict(
    reports: Sequence[Mapping], formats: Mapping[str, str]
) -> tuple[Markdown, pd.Series]:
    """Each network's step in its own memory format (``formats``: network → its name), in the
    other one and without oneDNN, from the latest line that ran those variants, in words; and
    PyTorch's own kernels' ms per step over oneDNN's, by network."""
    lines = [
        r for r in reports if any(v["variant"] == "without oneDNN" for v in r.get("variants", []))
    ]
    if not lines:
        raise ValueError("no line of the speed record ran a step without oneDNN")
    line = lines[-1]
    steps = pd.DataFrame(line["variants"]).pivot_table(
        index="model", columns="variant", values="ms per step", sort=False
    )
    other_slower = steps["other memory format"] > steps["eager"]
    slowdowns = steps["without oneDNN"] / steps["eager"]
    if len(steps) == 1:
        formats_said = "was " + ("slower" if other_slower.all() else "not slower")
    else:
        formats_said = f"was slower for {int(other_slower.sum())} of the {len(steps)} networks"
    rows = "\n".join(
        f"- `{model}` ({formats[model]}): {row['eager']:.1f}, {row['other memory format']:.1f}, "
        f"{row['without oneDNN']:.1f}"
        for model, row in steps.iterrows()
    )
    ending = (
        ". Neither pays: each network keeps its format, and oneDNN computes every step."
        if other_slower.all()
        else "."
    )
    verdict = Markdown(
        f"On the {line['cpu']} ({line['date']}), ms per step in each network's own memory "
        f"format, in the other one, and without oneDNN:\n\n{rows}\n\nThe other format "
        f"{formats_said}, and PyTorch's own kernels {span(slowdowns)} times as slow "
        f"as oneDNN's{ending}"
    )
    return verdict, slowdowns


def convolutions_alone(epochs: pd.DataFrame, line: Mapping) -> dict[str, float]:
    """The seconds an epoch's convolutions alone take for each network, in the latest
    measurement on the kind of CPU a line of another record ran on: the same name and vector
    instructions."""
    kind = (epochs["CPU"] == line["cpu"]) & (
        epochs["vector instructions"] == line["vector instructions"]
    )
    on_cpu = epochs[kind]
    if on_cpu.empty:
        raise ValueError(
            f"the speed record measures no epoch on the {line['cpu']} with "
            f"{line['vector instructions']}"
        )
    return on_cpu.groupby("model", sort=False)["convolutions alone, s"].last().to_dict()
