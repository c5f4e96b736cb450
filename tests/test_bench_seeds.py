"""``bench/seeds.py``: seeds trained in worker processes give the runs trained one by one."""

import dataclasses

import pytest
import torch
from bench_script import load_bench_script

from nnbook.mnist.data import MNIST
from nnbook.mnist.recipes import recipe_for
from nnbook.mnist.targets import EVALUATION_SEEDS, FINAL_SEEDS, HELD_EPOCHS, HOLD_SEEDS


@pytest.fixture(scope="module")
def seeds():
    return load_bench_script("seeds")


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


def test_evaluation_seeds_are_their_own_role(seeds):
    import argparse

    parser = argparse.ArgumentParser()
    seeds.add_seed_arguments(parser, default=[1, 2, 3])
    pick = lambda *argv: seeds.chosen_seeds(parser, parser.parse_args(argv))  # noqa: E731
    assert pick() == ("selection", [1, 2, 3])
    assert pick("--seeds", "4", "5") == ("selection", [4, 5])
    assert pick("--evaluation-seeds") == ("evaluation", list(EVALUATION_SEEDS))
    assert pick("--evaluation-seeds", "101", "102") == ("evaluation", [101, 102])
    with pytest.raises(SystemExit):  # an evaluation seed may not serve a choice
        pick("--seeds", "1", str(EVALUATION_SEEDS[0]))
    with pytest.raises(SystemExit):  # one role a call
        pick("--seeds", "1", "--evaluation-seeds", "101")
    assert not set(EVALUATION_SEEDS) & {*HOLD_SEEDS, *FINAL_SEEDS}
    assert len(EVALUATION_SEEDS) >= 10


def test_a_record_says_the_role_its_seeds_played(seeds, few: MNIST):
    recipe = dataclasses.replace(recipe_for("skeleton"), epochs=1)
    cpu = torch.device("cpu")
    assert seeds.train_seeds("skeleton", recipe, [101], cpu, few, role="evaluation")["role"] == (
        "evaluation"
    )
    with pytest.raises(ValueError, match="role"):
        seeds.train_seeds("skeleton", recipe, [101], cpu, few, role="test")
