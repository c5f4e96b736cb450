"""``bench/halve.py``: the recipes it sets side by side, and a run it times."""

import dataclasses

import pytest
from bench_script import load_bench_script

from nnbook.mnist.hardware import bfloat16_in_hardware
from nnbook.mnist.recipes import DEFAULT_RECIPE, TWELVE_EPOCH_RECIPE


@pytest.fixture(scope="module")
def halve():
    return load_bench_script("halve")


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
