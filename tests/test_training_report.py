"""The training chapter's figures, from recipes and histories made here with their figures
worked out by hand; the schedule's first step against OneCycleLR's documented defaults."""

from dataclasses import replace

import numpy as np
import pytest

from nnbook.mnist import DEFAULT_RECIPE
from nnbook.mnist.trainer import EpochResult
from nnbook.mnist.training_report import (
    commonest_mistake,
    first_copy_share,
    recipe_figures,
    run_figures,
    steps_per_epoch,
)

ONECYCLE = replace(
    DEFAULT_RECIPE, epochs=4, batch_size=32, lr=0.5, schedule="onecycle", momentum=0.9,
    ema_decay=0.99, dropout=0.0, cpu_bfloat16=False,
)  # fmt: skip


def test_the_recipe_as_the_chapter_states_it():
    figures = recipe_figures(ONECYCLE, model_dropout=0.3, device="cpu")
    assert {k: figures[k] for k in ("epochs", "batch-size", "peak-lr")} == {
        "epochs": 4,
        "batch-size": 32,
        "peak-lr": 0.5,
    }
    assert (figures["recipe-dropout"], figures["model-dropout"]) == (0.0, 0.3)
    assert (figures["ema-decay"], figures["ema-steps"]) == (0.99, 100)  # 1 / (1 − 0.99)
    # OneCycleLR's defaults: the rate starts at max_lr / 25, momentum at 0.95, its lowest 0.85
    assert figures["start-lr"] == pytest.approx(0.5 / 25)
    assert (figures["start-momentum"], figures["lowest-momentum"]) == (0.95, 0.85)
    assert figures["bf16-here"] == "This build's CPU has none, and trains in float32."
    bf16 = recipe_figures(replace(ONECYCLE, cpu_bfloat16=True), model_dropout=0.3, device="cpu")
    assert bf16["bf16-here"] == "This build's CPU has them, and trains so."
    on_gpu = recipe_figures(replace(ONECYCLE, cpu_bfloat16=True), 0.3, device="cuda")
    assert on_gpu["bf16-here"] == "This build trains on a GPU, in float32."


def test_an_average_over_fewer_steps_spans_its_steps_rounded():
    assert recipe_figures(replace(ONECYCLE, ema_decay=0.998), 0.3, "cpu")["ema-steps"] == 500
    assert recipe_figures(replace(ONECYCLE, ema_decay=0.9985), 0.3, "cpu")["ema-steps"] == 667


@pytest.mark.parametrize(
    ("examples", "batch", "steps"),
    [(60_000, 64, 938), (60_000, 100, 600), (1, 64, 1), (3, 1, 3)],
)
def test_an_epochs_steps_count_a_smaller_last_batch(examples, batch, steps):
    assert steps_per_epoch(examples, batch) == steps


def test_on_a_gpu_an_epoch_leaves_the_remainder_out():
    assert steps_per_epoch(60_000, 64, whole_batches_only=True) == 937
    assert steps_per_epoch(60_000, 100, whole_batches_only=True) == 600
    history = [epoch(1, 0.5, 0.9), epoch(2, 0.99, 0.99)]
    assert run_figures(history, ONECYCLE, 100, 100, "cuda")["epoch-steps"] == 3  # 100 // 32
    assert run_figures(history, ONECYCLE, 100, 100, "cpu")["epoch-steps"] == 4


def test_a_recipe_without_the_one_cycle_and_momentum_is_refused():
    for recipe in (replace(ONECYCLE, schedule="constant"), replace(ONECYCLE, momentum=0.0)):
        with pytest.raises(ValueError, match="states a one-cycle schedule with momentum"):
            recipe_figures(recipe, model_dropout=0.3, device="cpu")


@pytest.mark.parametrize(("examples", "batch"), [(0, 64), (100, 0), (-5, 64)])
def test_an_epoch_without_examples_or_batch_is_an_error(examples, batch):
    with pytest.raises(ValueError, match=f"got {examples} and {batch}$"):
        steps_per_epoch(examples, batch)


def test_the_first_copy_fades_as_the_average_is_updated():
    average, first_copy = None, 1.0  # follow the first copy's weight through the updates
    for update in range(1, 6):
        average = first_copy if average is None else 0.5 * average + 0.5 * 0.0
        assert first_copy_share(0.5, update) == average
    assert first_copy_share(0.5, 1) == 1.0 and first_copy_share(0.5, 3) == 0.25
    with pytest.raises(ValueError, match="after its first update, not after 0"):
        first_copy_share(0.5, 0)


def epoch(number, test, raw, seconds=10.0, threads=2):
    return EpochResult(number, 0.5, 0.9, 0.1, test, 0.1, seconds, threads, raw)


def test_the_run_as_the_chapter_states_it():
    history = [epoch(1, 0.5, 0.9, seconds=30.0), epoch(2, 0.995, 0.993), epoch(3, 0.994, 0.995)]
    figures = run_figures(history, replace(ONECYCLE, ema_decay=0.5), 100, 10_000, "cpu")
    assert figures == {
        "average-first": 50.0,
        "raw-first": 90.0,
        "average-final": pytest.approx(99.4),
        "raw-final": pytest.approx(99.5),
        "final-accuracy": pytest.approx(99.4),
        "best-accuracy": pytest.approx(99.5),
        "errors": 60,
        "seconds-per-epoch": pytest.approx(50 / 3),
        "minutes": pytest.approx(50 / 60),
        "device": "CPU, on 2 threads of it",
        "epoch-steps": 4,  # 100 examples in batches of 32
        "initial-share-1": 100 * 0.5**3,
        "initial-share-3": 100 * 0.5**11,
    }


def test_a_gpu_run_names_no_threads_and_a_cpu_names_each_count():
    history = [epoch(1, 0.5, 0.9, threads=1), epoch(2, 0.99, 0.99, threads=2)]
    assert run_figures(history, ONECYCLE, 64, 100, "cuda")["device"] == "CUDA"
    assert (
        run_figures(history, ONECYCLE, 64, 100, "cpu")["device"] == "CPU, on 1 or 2 threads of it"
    )


def test_a_run_without_epochs_is_an_error():
    with pytest.raises(ValueError, match=r"^the run has no epochs$"):
        run_figures([], ONECYCLE, 64, 100, "cpu")


def test_the_commonest_mistake_is_off_the_diagonal():
    counts = np.array([[50, 3, 0], [1, 60, 7], [7, 2, 40]])  # 1 read as 2, and 2 as 0: 7 each
    assert commonest_mistake(counts) == {"worst-true": 1, "worst-predicted": 2, "worst-count": 7}
    original = counts.copy()
    commonest_mistake(counts)
    np.testing.assert_array_equal(counts, original)  # the matrix itself is left as it was
    counts[2, 0] = 8
    assert commonest_mistake(counts) == {"worst-true": 2, "worst-predicted": 0, "worst-count": 8}
    with pytest.raises(ValueError, match=r"^the confusion matrix holds no mistake$"):
        commonest_mistake(np.diag([5, 5]))
    with pytest.raises(ValueError, match=r"is square, got the shape \(2, 3\)$"):
        commonest_mistake(np.ones((2, 3), dtype=int))
