"""What the record of halving (``bench/experiments/halve.py``) says, for the appendix on
performance: the default recipe against the twelve-epoch recipe it replaced, each lever alone,
the build's training before and after, and the first steps in fewer epochs. Tables, figures
and verdicts as data; the chapter glues them and asserts what it claims of them.

A line of the record holds ``recipes`` (name → the recipe's fields) and ``runs`` (name → one
run per seed: its seed, CPU and wall seconds, final test and training accuracy, and both per
epoch); a line of the whole build (``--build``) names which runs the build trained ``before``
and ``after`` the recipe was halved, with ``models`` (name → network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd

from nnbook.mnist.recipes import (
    DEFAULT_RECIPE,
    FIRST_STEPS_EPOCHS,
    TWELVE_EPOCH_RECIPE,
    Recipe,
    default_recipe_for,
    recorded_recipe,
)
from nnbook.mnist.summaries import threads_phrase
from nnbook.mnist.targets import HALVED_TARGET_ACCURACY, HALVED_TARGET_SHARE
from nnbook.prose import Markdown

#: A network that ends below this test accuracy has diverged: ten digits, a tenth is a guess.
DIVERGED_BELOW = 0.5


def runs_of(line: Mapping, recipe: Recipe) -> list[dict] | None:
    """The runs of ``line`` trained with ``recipe``, or None when it trained none."""
    names = [name for name, fields in line["recipes"].items() if recorded_recipe(fields) == recipe]
    return line["runs"][names[0]] if names else None


def cpu_seconds(runs: Sequence[Mapping]) -> float:
    """The CPU seconds of a run, on average over ``runs`` (one per seed)."""
    return sum(run["cpu seconds"] for run in runs) / len(runs)


def finals(runs: Sequence[Mapping]) -> str:
    """The final test accuracy of each run in %, as "99.41, 99.38"."""
    return ", ".join(f"{100 * run['final accuracy']:.2f}" for run in runs)


def recipe_lines(lines: Sequence[Mapping]) -> list[Mapping]:
    """The lines of the record that compare recipes of ``Net``, not the whole build."""
    return [line for line in lines if "build" not in line]


def halve_table(lines: Sequence[Mapping], model: str) -> pd.DataFrame:
    """Every run of the record's recipe lines: the final test accuracy of each seed, the CPU
    seconds of a run and of an epoch, and, for a run of ``model``, its CPU seconds as a % of
    ``model``'s twelve-epoch recipe on the same CPU and threads (None where there is none)."""
    twelve_on = {  # what a run of the model is set against: its twelve epochs, same machine
        (line["cpu"], line["threads"]): cpu_seconds(runs)
        for line in recipe_lines(lines)
        if (runs := runs_of(line, TWELVE_EPOCH_RECIPE))
    }

    def share(line: Mapping, name: str, runs: Sequence[Mapping]) -> float | None:
        baseline = twelve_on.get((line["cpu"], line["threads"]))
        ran = line.get("models", {}).get(name, model)  # older lines: the model's recipes only
        return 100 * cpu_seconds(runs) / baseline if ran == model and baseline else None

    return pd.DataFrame(
        [
            {
                "CPU": f"{line['cpu']}, {threads_phrase([line['threads']])}",
                "date": line["date"],
                "recipe": name,
                **{f"seed {run['seed']} (%)": 100 * run["final accuracy"] for run in runs},
                "min final (%)": 100 * min(run["final accuracy"] for run in runs),
                "CPU s per run": cpu_seconds(runs),
                "CPU s per epoch": cpu_seconds(runs) / line["recipes"][name]["epochs"],
                "% of 12 epochs": share(line, name, runs),
            }
            for line in recipe_lines(lines)
            for name, runs in line["runs"].items()
        ]
    )


def halved_verdict(lines: Sequence[Mapping]) -> dict[str, object]:
    """The default recipe against the twelve-epoch one, from the latest line that trained both
    on the same seeds: the default's CPU seconds as a % of the other's (``halved-share``), its
    lowest final accuracy in % (``halved-min-accuracy``), and both in words
    (``halved-verdict``). A ValueError when no line trained both, or on other seeds."""
    both = [
        line
        for line in recipe_lines(lines)
        if runs_of(line, default_recipe_for(line["bfloat16 in hardware"]))
        and runs_of(line, TWELVE_EPOCH_RECIPE)
    ]
    if not both:
        raise ValueError("no line of the halve record trains the default and twelve epochs")
    line = both[-1]
    before = runs_of(line, TWELVE_EPOCH_RECIPE)
    after = runs_of(line, default_recipe_for(line["bfloat16 in hardware"]))
    seeds = [run["seed"] for run in after]
    if [run["seed"] for run in before] != seeds:
        raise ValueError("the two recipes of the halve record ran on different seeds")
    share = cpu_seconds(after) / cpu_seconds(before)
    below = sum(run["final accuracy"] < HALVED_TARGET_ACCURACY for run in after)
    aim = f"{100 * HALVED_TARGET_ACCURACY:.1f} %"
    accuracy = (
        f"at or above {aim} on every seed"
        if not below
        else f"below {aim} on {below} of {len(after)} seeds"
    )
    precision = "bfloat16" if line["bfloat16 in hardware"] else "float32"
    verdict = Markdown(
        f"On the {line['cpu']} ({line['threads']} threads, {line['date']}, commit "
        f"`{line['commit'][:7]}`; the default trained in {precision} there), seeds "
        f"{', '.join(map(str, seeds))}: the default recipe ended at {finals(after)} % "
        f"({accuracy}), the twelve-epoch recipe at {finals(before)} %. A run of the default "
        f"took {cpu_seconds(after):.0f} CPU seconds against {cpu_seconds(before):.0f}, "
        f"{100 * share:.0f} % of them: {'within' if share <= HALVED_TARGET_SHARE else 'beyond'} "
        f"the aim of {100 * HALVED_TARGET_SHARE:.0f} %."
    )
    return {
        "halved-share": 100 * share,
        "halved-min-accuracy": 100 * min(run["final accuracy"] for run in after),
        "halved-verdict": verdict,
    }


def levers_verdict(lines: Sequence[Mapping]) -> Markdown:
    """Each lever of the default recipe alone, from the latest line that trained the
    twelve-epoch recipe cut to the default's epochs: CPU seconds per epoch against the recipe
    cut short as it is, and the final accuracies."""
    shorter = replace(TWELVE_EPOCH_RECIPE, epochs=DEFAULT_RECIPE.epochs)
    with_levers = [line for line in recipe_lines(lines) if runs_of(line, shorter)]
    if not with_levers:
        raise ValueError("no line of the halve record trains the levers alone")
    line = with_levers[-1]
    plain = runs_of(line, shorter)
    plain_name = next(n for n, f in line["recipes"].items() if recorded_recipe(f) == shorter)
    per_epoch = cpu_seconds(plain) / shorter.epochs
    rows = []
    for name, fields in line["recipes"].items():
        recipe = recorded_recipe(fields)
        if recipe == shorter or recipe.epochs != shorter.epochs:
            continue
        runs = line["runs"][name]
        seconds = cpu_seconds(runs) / recipe.epochs
        rows.append(
            f"- `{name}`: {seconds:.1f} CPU s per epoch ({100 * (seconds / per_epoch - 1):+.0f} "
            f"%), final {finals(runs)} %"
        )
    return Markdown(
        f"On the {line['cpu']} ({line['threads']} threads, {line['date']}), `{plain_name}` took "
        f"{per_epoch:.1f} CPU s per epoch and ended at {finals(plain)} %; each lever alone:\n\n"
        + "\n".join(rows)
    )


def latest_build(lines: Sequence[Mapping]) -> Mapping:
    """The latest line of the record that trained the whole build (``--build``)."""
    builds = [line for line in lines if "build" in line]
    if not builds:
        raise ValueError("the halve record holds no build: run bench/experiments/halve.py --build")
    return builds[-1]


def _built(line: Mapping) -> dict[str, Mapping]:
    """Each run of a build line by name (one seed each), those of the build before first."""
    names = dict.fromkeys(line["build"]["before"] + line["build"]["after"])
    return {name: line["runs"][name][0] for name in names}


def build_table(line: Mapping) -> pd.DataFrame:
    """The runs of a build line: epochs, in which build (before, after, both), CPU and wall
    seconds, final test accuracy in %."""
    before, after = line["build"]["before"], line["build"]["after"]
    return pd.DataFrame(
        [
            {
                "run": name,
                "epochs": line["recipes"][name]["epochs"],
                "in the build": " and ".join(
                    when for when, names in (("before", before), ("after", after)) if name in names
                ),
                "CPU s": run["cpu seconds"],
                "wall s": run["wall seconds"],
                "final test (%)": 100 * run["final accuracy"],
            }
            for name, run in _built(line).items()
        ]
    ).set_index("run")


def build_report(line: Mapping, convolutions_floor: float) -> dict[str, object]:
    """What halving ``Net``'s recipe did to the build's training, from a build line: CPU
    seconds before and after (``build-before-cpu``, ``build-after-cpu``, ``build-share`` in %,
    and in words ``build-verdict``); whether the steps could close the gap, against
    ``convolutions_floor``, the seconds their convolutions alone take over every epoch
    (``build-floor``); and the build that trained the chapter's answer against the one that
    trained ``Tiny`` in its place (``build-answer-before-cpu``, ``build-answer-share`` in %)."""
    built, before, after = _built(line), line["build"]["before"], line["build"]["after"]

    def total(names: Sequence[str], column: str) -> float:
        return sum(built[name][column] for name in names)

    cpu_before, cpu_after = total(before, "cpu seconds"), total(after, "cpu seconds")
    share = cpu_after / cpu_before
    net_before, net_after = built[before[0]], built[after[0]]
    answer_before = sum(run["cpu seconds"] for run in _answer_before(line))
    halved = "halved" if share <= HALVED_TARGET_SHARE else "did not halve"
    return {
        "build-before-cpu": cpu_before,
        "build-after-cpu": cpu_after,
        "build-share": 100 * share,
        "build-verdict": Markdown(
            f"Halving `Net`'s recipe {halved} the build's training. `Net` went from "
            f"{net_before['cpu seconds']:.0f} to {net_after['cpu seconds']:.0f} CPU seconds, but "
            f'the networks of "How small can it go", whose recipes did not change, took '
            f"{total(after[1:], 'cpu seconds'):.0f} "
            f"in both, so the build's training went from {cpu_before:.0f} to "
            f"{cpu_after:.0f} CPU seconds ({total(before, 'wall seconds'):.0f} and "
            f"{total(after, 'wall seconds'):.0f} s on the clock): {100 * share:.0f} %, "
            f"{'within' if share <= HALVED_TARGET_SHARE else 'beyond'} the aim of "
            f"{100 * HALVED_TARGET_SHARE:.0f} % ({line['cpu']}, {line['threads']} threads, "
            f"{line['date']}, commit `{line['commit'][:7]}`)."
        ),
        "build-floor": _floor_verdict(
            budget=HALVED_TARGET_SHARE * total(before, "wall seconds") - net_after["wall seconds"],
            steps_wall=total(after[1:], "wall seconds"),
            floor=convolutions_floor,
        ),
        "build-answer-before-cpu": answer_before,
        "build-answer-share": 100 * cpu_after / answer_before,
    }


def _answer_before(line: Mapping) -> list[Mapping]:
    """The runs of the build as it was before it trained the chapter's answer (``Tiny`` in its
    place): each of them once."""
    if "answer" not in line:
        raise ValueError("the build line does not name the build before the answer")
    return [line["runs"][name][0] for name in line["answer"]["before"]]


def _floor_verdict(budget: float, steps_wall: float, floor: float) -> Markdown:
    """Whether faster steps could bring the build to the aim: the seconds the aim leaves them
    (``budget``), the seconds they took, and what their convolutions alone take."""
    reach = (
        "less than their convolutions alone take, so no tuning of the rest reaches the aim"
        if budget < floor
        else f"{budget / floor:.2f} times what their convolutions alone take"
    )
    return Markdown(
        f"Could those networks train faster and close the gap? For the build to take half its "
        f"time before, with `Net` as it is now, they would have {budget:.0f} s on the clock: "
        f"{reach} "
        f"({floor:.0f} s, every epoch's, from the speed record above on this kind of CPU). "
        f"They took {steps_wall:.0f} s on the clock, {steps_wall / floor:.2f} times their "
        "convolutions."
    )


def _gap(run: Mapping) -> float:
    """How much better a run did on its training set than on the test set, in points."""
    return 100 * (run["final train accuracy"] - run["final accuracy"])


def _shortened(line: Mapping, first_models: Sequence[str]) -> list[str]:
    """The names of a line's runs of the first steps in fewer epochs than the build's, in the
    order of ``first_models`` (the skeleton's first)."""
    names = [
        name
        for name in line["runs"]
        if line.get("models", {}).get(name) in first_models
        and line["recipes"][name]["epochs"] < FIRST_STEPS_EPOCHS
    ]
    return sorted(names, key=lambda name: first_models.index(line["models"][name]))


def _answer_gap(build: Mapping) -> float:
    """The answer's gap in the build, in its last epoch on augmented digits (where its chapter
    measures it: the clean last epochs see no augmentation)."""
    answer = build["build"]["after"][-1]
    run = build["runs"][answer][0]
    augmented = -build["recipes"][answer]["clean_last_epochs"] - 1
    return 100 * (
        run["train accuracy per epoch"][augmented] - run["accuracy per epoch"][augmented]
    )


def _lever_claims(skeleton: Mapping, normalised: Mapping, answer_gap: float) -> bool:
    """What the first steps' chapter asserts of them, on one seed: neither diverged; each
    learns its training set better than it predicts the test set, by more than the answer
    does; batch normalisation ends its first epoch ahead of the skeleton."""
    return (
        skeleton["final accuracy"] >= DIVERGED_BELOW
        and _gap(skeleton) > 0
        and _gap(normalised) > 0
        and answer_gap < _gap(normalised)  # augmentation closes the gap, later
        and normalised["accuracy per epoch"][0] > skeleton["accuracy per epoch"][0]
    )


def _lever_row(line: Mapping, epochs: int, skeleton: Mapping, normalised: Mapping) -> str:
    """One seed of the first steps in fewer epochs, in a sentence."""
    diverged = skeleton["final accuracy"] < DIVERGED_BELOW
    threads = threads_phrase([line["threads"]])
    return (
        f"- {epochs} epochs, seed {skeleton['seed']}, {threads} ({line['date']}): the skeleton "
        f"ended at {100 * skeleton['final accuracy']:.2f} % on the test set"
        + (" — it diverged" if diverged else f", {_gap(skeleton):+.2f} points on its training set")
        + f"; the normalised network at {100 * normalised['final accuracy']:.2f} %, "
        f"{_gap(normalised):+.2f} on its training set; after the first epoch "
        f"{100 * skeleton['accuracy per epoch'][0]:.2f} and "
        f"{100 * normalised['accuracy per epoch'][0]:.2f} %."
    )


def first_steps_lever(lines: Sequence[Mapping], first_models: Sequence[str]) -> Markdown:
    """The first steps (``first_models``: the skeleton, then the normalised network) trained
    in fewer epochs than the build's, on every seed the record holds: whether what their
    chapter asserts of them still holds, and what the shorter steps saved in the latest build
    that trained them; the steps keep their epochs unless the claims held on every seed."""
    build = latest_build(lines)
    answer_gap = _answer_gap(build)
    rows, kept = [], []
    for line in lines:
        if not (names := _shortened(line, first_models)):
            continue
        skeleton_name, normalised_name = names
        epochs = line["recipes"][skeleton_name]["epochs"]
        pairs = zip(line["runs"][skeleton_name], line["runs"][normalised_name], strict=True)
        for skeleton, normalised in pairs:
            kept.append(_lever_claims(skeleton, normalised, answer_gap))
            verdict = "The claims hold." if kept[-1] else "**Not every claim holds.**"
            rows.append(f"{_lever_row(line, epochs, skeleton, normalised)} {verdict}")
    with_lever = [line for line in lines if "build" in line and _shortened(line, first_models)]
    if not with_lever:
        raise ValueError("no build of the halve record trains the first steps in fewer epochs")
    lever_build = with_lever[-1]
    runs, models = lever_build["runs"], lever_build["models"]
    full = [name for name in lever_build["build"]["after"] if models[name] in first_models]
    shorter = _shortened(lever_build, first_models)
    saved = sum(runs[name][0]["cpu seconds"] for name in full) - sum(
        runs[name][0]["cpu seconds"] for name in shorter
    )
    decision = (
        "the lever pays."
        if all(kept)
        else "not a saving that is safe to take; the first steps keep their "
        f"{FIRST_STEPS_EPOCHS} epochs."
    )
    return Markdown(
        "\n".join(rows) + f"\n\nThe claims held in {sum(kept)} of {len(kept)} runs. In the "
        f"latest run of the build with them, the shorter first steps took {saved:.0f} CPU "
        f"seconds less: {decision}"
    )
