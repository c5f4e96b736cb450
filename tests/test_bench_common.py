"""``bench/common.py``: the flags every bench script shares, its timing loop, its training step."""

import argparse
import dataclasses

import pytest
import torch

from bench import common
from nnbook.mnist.recipes import recipe_for
from nnbook.mnist.targets import EVALUATION_SEEDS, FINAL_SEEDS, HOLD_SEEDS
from nnbook.mnist.trainer import network_for


def parser_with(*adders) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    for add in adders:
        add(parser)
    return parser


def test_evaluation_seeds_are_their_own_role():
    parser = argparse.ArgumentParser()
    common.add_seed_flags(parser, default=[1, 2, 3])
    pick = lambda *argv: common.chosen_seeds(parser, parser.parse_args(argv))  # noqa: E731
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


def test_a_script_that_chooses_nothing_has_seeds_alone():
    parser = parser_with(lambda p: common.add_seed_flags(p, default=[1, 2], evaluation=False))
    assert parser.parse_args([]).seeds == [1, 2]
    assert parser.parse_args(["--seeds", "7"]).seeds == [7]
    with pytest.raises(SystemExit):
        parser.parse_args(["--evaluation-seeds"])


def test_the_shared_flags_and_their_defaults(tmp_path):
    parser = parser_with(
        lambda p: common.add_record_flag(p, "bench/results/x.jsonl"),
        common.add_jobs_flag,
        common.add_threads_flag,
    )
    none = parser.parse_args([])
    assert (none.record, none.jobs, none.threads) == (None, 1, None)
    given = parser.parse_args(["--record", str(tmp_path / "r.jsonl"), "--jobs", "2"])
    assert given.record == tmp_path / "r.jsonl" and given.jobs == 2
    assert "bench/results/x.jsonl" in parser.format_help()


@pytest.mark.parametrize("text", ["0", "-1", "x", "1.5"])
def test_counts_are_positive_whole_numbers(text):
    parser = parser_with(common.add_jobs_flag, common.add_threads_flag)
    for flag in ("--jobs", "--threads"):
        with pytest.raises((SystemExit, argparse.ArgumentError)):
            parser.parse_args([flag, text])


def test_threads_are_set_only_when_given():
    threads = torch.get_num_threads()
    try:
        common.use_threads(argparse.Namespace(threads=None))
        assert torch.get_num_threads() == threads
        common.use_threads(argparse.Namespace(threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_best_seconds_warms_up_then_keeps_the_shortest(monkeypatch):
    clock = iter([0.0, 5.0, 5.0, 9.0, 9.0, 10.0, 10.0, 12.0, 12.0, 12.5, 12.5, 20.0])
    monkeypatch.setattr(common.time, "perf_counter", lambda: next(clock))
    calls = []
    best = common.best_seconds(lambda: calls.append(1), 3, torch.device("cpu"))
    assert len(calls) == 3 + 3  # three calls warm up
    assert best == 0.5  # the shortest of all: 5, 4, 1, 2, 0.5 and 7.5 s


@pytest.mark.parametrize("model", ["skeleton", "tiny"])
def test_the_training_step_trains_on_one_fixed_batch_through_its_forward(model):
    torch.manual_seed(0)
    recipe = dataclasses.replace(recipe_for(model), cpu_bfloat16=False)
    network = network_for(model, recipe).train()
    calls = []

    class Counted(torch.nn.Module):  # a wrapper of the network, as torch.compile makes one
        def __init__(self):
            super().__init__()
            self.network = network

        def forward(self, images):
            calls.append(images)
            return self.network(images)

    step = common.training_step(network, recipe, batch_size=8, forward=Counted())
    before = [p.detach().clone() for p in network.parameters()]
    step()
    (images,) = calls
    assert images.shape == (8, 1, 28, 28)
    assert images.is_contiguous(memory_format=network.memory_format)
    assert any(not torch.equal(a, b) for a, b in zip(before, network.parameters(), strict=True))
    step()
    assert torch.equal(calls[1], images)  # one fixed batch, step after step
