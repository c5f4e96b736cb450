"""``bench/experiments/small_models.py``: the line its ``--record`` appends for a run, without
training."""

import json
import sys
from types import SimpleNamespace

import pytest
from torch import nn

from bench.experiments import small_models as small_models_script
from bench.provenance import FIELDS, append_record, provenance
from nnbook.mnist import networks
from nnbook.mnist.recipes import SMALL_RECIPE
from nnbook.mnist.trainer import EpochResult, FitResult

ACCURACIES = [0.9812, 0.9901, 0.9937]  # made up: one per epoch


@pytest.fixture(scope="module")
def small_models():
    return small_models_script


def made_up_run(accuracies: list[float] = ACCURACIES) -> FitResult:
    """A ``fit`` result with these test accuracies, one epoch each, and no trained network."""
    history = [
        EpochResult(epoch=n, train_loss=0.1, train_accuracy=0.97, test_loss=0.05,
                    test_accuracy=accuracy, lr=0.1, seconds=1.0, threads=1)
        for n, accuracy in enumerate(accuracies, start=1)
    ]  # fmt: skip
    return FitResult(model=nn.Identity(), history=history)


def test_a_runs_line_names_the_network_recipe_seed_and_accuracies(small_models, tmp_path):
    origin = provenance("cpu")
    switches = {"kd": "0.5", "teacher": "teacher.pt"}
    line = small_models.record_line(origin, "deep10", SMALL_RECIPE, switches, 3, made_up_run())
    assert {key: line[key] for key in origin} == origin  # where it ran, first
    assert line["model"] == "deep10"
    assert line["parameters"] == networks.parameter_count(networks.MODELS["tiny"]())
    assert line["recipe"]["epochs"] == SMALL_RECIPE.epochs
    assert line["recipe"]["batch_size"] == SMALL_RECIPE.batch_size
    assert line["recipe"]["weight_decay"] == SMALL_RECIPE.weight_decay
    assert line["switches"] == switches and line["seed"] == 3
    assert line["accuracy per epoch"] == ACCURACIES
    assert line["final accuracy"] == ACCURACIES[-1]
    append_record(tmp_path / "small.jsonl", line)  # it names every field a record must
    assert json.loads((tmp_path / "small.jsonl").read_text()) == line


def test_record_appends_one_line_per_seed(small_models, tmp_path, monkeypatch, capsys):
    """``main`` with ``--record``: ``fit`` and ``load`` replaced, so nothing trains."""
    calls = []

    def fake_fit(train, test, recipe, seed, **options):
        calls.append((recipe, seed, options["options"].hooks))
        return made_up_run([accuracy - seed / 1000 for accuracy in ACCURACIES])

    monkeypatch.setattr(small_models, "fit", fake_fit)
    monkeypatch.setattr(small_models, "load", lambda: SimpleNamespace(train=None, test=None))
    record = tmp_path / "small.jsonl"
    argv = ["tiny12", "weight_decay=0.0001", "batch_size=128", "smoothing=0.1",
            "--seeds", "1", "2", "--record", str(record)]  # fmt: skip
    monkeypatch.setattr(sys, "argv", [small_models_script.__file__, *argv])
    small_models.main()
    lines = [json.loads(text) for text in record.read_text().splitlines()]
    assert [line["seed"] for line in lines] == [1, 2] == [seed for _, seed, _ in calls]
    for line, (recipe, seed, hooks) in zip(lines, calls, strict=True):
        assert all(line[field] for field in FIELDS)
        assert line["command"] == "python -m bench.experiments.small_models " + " ".join(argv)
        assert line["model"] == "tiny12"
        assert line["parameters"] == networks.parameter_count(small_models.Tiny12())
        assert line["recipe"]["weight_decay"] == recipe.weight_decay == 0.0001
        assert line["recipe"]["batch_size"] == recipe.batch_size == 128
        assert line["recipe"]["epochs"] == SMALL_RECIPE.epochs
        assert line["switches"] == {"smoothing": "0.1"}  # a switch, not a field of the recipe
        assert hooks.loss is not small_models.Hooks().loss  # the switch reached the training
        assert line["accuracy per epoch"] == [a - seed / 1000 for a in ACCURACIES]
        assert line["final accuracy"] == line["accuracy per epoch"][-1]
    printed = capsys.readouterr().out
    assert "tiny12 seed 2: final 99.17 %" in printed  # what it prints is what it records
