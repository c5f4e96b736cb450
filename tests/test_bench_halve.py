"""``bench/experiments/halve.py``: the recipes it sets side by side, and a run it times."""

import dataclasses

import pytest
from built_book import ROOT

from bench.experiments import halve as halve_script
from nnbook.mnist.hardware import bfloat16_in_hardware
from nnbook.mnist.recipes import DEFAULT_RECIPE, TWELVE_EPOCH_RECIPE


@pytest.fixture(scope="module")
def halve():
    return halve_script


def changed(recipe, base):
    return {
        field.name
        for field in dataclasses.fields(recipe)
        if getattr(recipe, field.name) != getattr(base, field.name)
    }


def test_before_and_after_are_the_package_recipes(halve):
    assert halve.RECIPES[halve.BEFORE] == TWELVE_EPOCH_RECIPE
    assert halve.RECIPES[halve.AFTER] == DEFAULT_RECIPE
    assert halve.SHORTER == dataclasses.replace(TWELVE_EPOCH_RECIPE, epochs=DEFAULT_RECIPE.epochs)


def test_each_lever_changes_one_thing_and_the_default_combines_them(halve):
    levers = {
        name: recipe
        for name, recipe in halve.RECIPES.items()
        if name not in (halve.BEFORE, halve.AFTER) and recipe != halve.SHORTER
    }
    assert {frozenset(changed(r, halve.SHORTER)) for r in levers.values()} == {
        frozenset({"dropout"}),
        frozenset({"ema_decay"}),
        frozenset({"cpu_bfloat16"}),
    }
    combined = dataclasses.replace(
        halve.SHORTER,
        **{
            name: getattr(DEFAULT_RECIPE, name)
            for r in levers.values()
            for name in changed(r, halve.SHORTER)
        },
    )
    assert combined == DEFAULT_RECIPE
    assert DEFAULT_RECIPE.cpu_bfloat16 == bfloat16_in_hardware()  # only where the CPU has it


def test_a_timed_run_reports_its_seconds_and_every_epochs_accuracy(halve, mnist):
    small = dataclasses.replace(mnist, train=mnist.train.subset(256), test=mnist.test.subset(128))
    recipe = dataclasses.replace(DEFAULT_RECIPE, epochs=2, cpu_bfloat16=False)
    run = halve.timed_fit(small, recipe, seed=4)
    assert run["seed"] == 4 and len(run["accuracy per epoch"]) == 2
    assert run["final accuracy"] == run["accuracy per epoch"][-1]
    assert 0 < run["cpu seconds"] and 0 < run["wall seconds"]


def test_the_build_is_what_the_chapters_train(halve):
    """Every network the book's chapters train, with the recipe the book trains it with."""
    from nnbook.mnist.recipes import BUILT_STEPS, STEPS, recipe_for

    assert list(halve.BUILD) == [halve.MODEL, *(step.model for step in BUILT_STEPS)]
    # before the answer was trained, the build trained the steps up to Tiny in its place
    assert list(halve.STEPS_BEFORE_ANSWER) == [halve.MODEL, *(step.model for step in STEPS[:3])]
    assert all(
        halve.STEPS_BEFORE_ANSWER[n] == (n, recipe_for(n)) for n in halve.STEPS_BEFORE_ANSWER
    )
    planned = halve.build_runs(None)
    assert set(planned) == {*halve.BUILD, halve.NET_BEFORE, *halve.STEPS_BEFORE_ANSWER}
    assert not any(every_seed for _, _, every_seed in planned.values())  # the build's seed only
    assert all(halve.BUILD[name] == (name, recipe_for(name)) for name in halve.BUILD)
    assert halve.BUILD_BEFORE[halve.MODEL] == (halve.MODEL, TWELVE_EPOCH_RECIPE)
    assert {k: v for k, v in halve.BUILD_BEFORE.items() if k != halve.MODEL} == {
        k: v for k, v in halve.BUILD.items() if k != halve.MODEL
    }


def test_the_first_steps_lever_changes_their_epochs_only(halve):
    lever = halve.first_steps_in(6)
    assert list(lever) == ["skeleton, 6 epochs", "normalised, 6 epochs"]
    for model, recipe in lever.values():
        assert changed(recipe, halve.BUILD[model][1]) == {"epochs"} and recipe.epochs == 6
    plan = halve.build_runs(6)
    assert [name for name, (_, _, every) in plan.items() if every] == list(lever)
    assert set(plan) == {*halve.BUILD, halve.NET_BEFORE, *halve.STEPS_BEFORE_ANSWER, *lever}
    assert halve.build_runs(6, build=False) == {n: plan[n] for n in lever}  # the lever alone


def one_epoch_of(recipe):
    """``recipe`` cut to one epoch (its clean last epochs, if any, to that one)."""
    clean = min(recipe.clean_last_epochs, 1)
    return dataclasses.replace(recipe, epochs=1, cpu_bfloat16=False, clean_last_epochs=clean)


def test_the_build_is_measured_and_recorded_as_one_line(halve, mnist, tmp_path, monkeypatch):
    """Each network once on the build's seed, the lever on every seed given; one line whose
    before and after name the runs they sum (the recipes cut to one epoch, on a few digits)."""
    import json

    from bench.provenance import provenance

    one_epoch = {
        name: (model, one_epoch_of(recipe), every)
        for name, (model, recipe, every) in halve.build_runs(2).items()
    }
    monkeypatch.setattr(halve, "build_runs", lambda epochs, build: one_epoch)
    small = dataclasses.replace(mnist, train=mnist.train.subset(128), test=mnist.test.subset(64))
    record = tmp_path / "halve.jsonl"
    halve.measure_build(small, 2, [1, 3], record, provenance("cpu"))
    (line,) = [json.loads(text) for text in record.read_text().splitlines()]
    assert line["build"]["after"] == list(halve.BUILD)
    assert line["build"]["before"] == [halve.NET_BEFORE, *list(halve.BUILD)[1:]]
    assert line["answer"] == {
        "after": list(halve.BUILD),
        "before": list(halve.STEPS_BEFORE_ANSWER),
    }
    for runs in line["runs"].values():  # the chapters' claims on the training set, every epoch
        assert all(len(run["train accuracy per epoch"]) == 1 for run in runs)
    assert set(line["runs"]) == set(one_epoch) == set(line["recipes"]) == set(line["models"])
    for name, (model, _, every) in one_epoch.items():
        assert [run["seed"] for run in line["runs"][name]] == ([1, 3] if every else [1])
        assert line["models"][name] == model and line["recipes"][name]["epochs"] == 1
        assert 0 <= line["runs"][name][0]["final train accuracy"] <= 1


def test_the_lever_alone_is_a_line_without_a_build(halve, mnist, tmp_path, monkeypatch):
    import json

    from bench.provenance import provenance

    one_epoch = {
        name: (model, dataclasses.replace(recipe, epochs=1), every)
        for name, (model, recipe, every) in halve.build_runs(2, build=False).items()
    }
    monkeypatch.setattr(halve, "build_runs", lambda epochs, build: one_epoch)
    small = dataclasses.replace(mnist, train=mnist.train.subset(128), test=mnist.test.subset(64))
    record = tmp_path / "halve.jsonl"
    halve.measure_build(small, 2, [2], record, provenance("cpu"), build=False)
    (line,) = [json.loads(text) for text in record.read_text().splitlines()]
    assert "build" not in line and line["first steps epochs"] == 2
    assert {name: [run["seed"] for run in runs] for name, runs in line["runs"].items()} == {
        "skeleton, 2 epochs": [2],
        "normalised, 2 epochs": [2],
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--threads", "0"], "--threads: must be a positive whole number, got 0"),
        (["--first-steps-epochs", "0"], "--first-steps-epochs: must be a positive whole number"),
    ],
)
def test_the_command_refuses_what_it_cannot_run(arguments, message):
    import subprocess
    import sys

    command = [sys.executable, "-m", "bench.experiments.halve", *arguments]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr
