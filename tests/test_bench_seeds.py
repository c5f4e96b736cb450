"""``bench/experiments/seeds.py``: seeds trained in worker processes give the runs trained one
by one."""

import dataclasses

import pytest
import torch

from bench.experiments import seeds as seeds_script
from nnbook.mnist.data import MNIST
from nnbook.mnist.recipes import recipe_for
from nnbook.mnist.targets import HELD_EPOCHS


@pytest.fixture(scope="module")
def seeds():
    return seeds_script


@pytest.fixture(scope="module")
def few(mnist):
    return dataclasses.replace(mnist, train=mnist.train.subset(512), test=mnist.test.subset(256))


def test_parallel_seeds_equal_seeds_one_after_another(seeds, few: MNIST):
    recipe = dataclasses.replace(recipe_for("skeleton"), epochs=HELD_EPOCHS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker process has it: the same round-off
    try:
        alone = seeds.train_seeds("skeleton", recipe, [1, 2], torch.device("cpu"), few)
    finally:
        torch.set_num_threads(threads)
    together = seeds.train_seeds("skeleton", recipe, [1, 2], torch.device("cpu"), few, jobs=2)
    assert together["accuracy per epoch"] == alone["accuracy per epoch"]
    first, second = alone["accuracy per epoch"]
    assert first != second  # two seeds, two runs: in the order of the seeds
    assert len(first) == HELD_EPOCHS
    assert together["final accuracy"] == [first[-1], second[-1]]
    assert together["best accuracy"] == [max(first), max(second)]
    assert together["seeds"] == [1, 2] and together["model"] == "skeleton"
    assert together["role"] == "selection"


def test_a_record_says_the_role_its_seeds_played(seeds, few: MNIST):
    recipe = dataclasses.replace(recipe_for("skeleton"), epochs=1)
    cpu = torch.device("cpu")
    assert seeds.train_seeds("skeleton", recipe, [101], cpu, few, role="evaluation")["role"] == (
        "evaluation"
    )
    with pytest.raises(ValueError, match="role"):
        seeds.train_seeds("skeleton", recipe, [101], cpu, few, role="test")
