"""The trainer on small subsets: determinism, resume, checkpoints, and the CLI's bad flags."""

import json
import warnings
from dataclasses import asdict, replace

import pytest
import torch
from cli_runner import run_nnbook

from nnbook.mnist import Net
from nnbook.mnist.checkpoints import CHECKPOINT, HISTORY, MODEL, RunFileError
from nnbook.mnist.environment import pick_device, seed_from_environment
from nnbook.mnist.networks.base import set_dropout
from nnbook.mnist.networks.net import DROPOUT
from nnbook.mnist.recipes import DEFAULT_RECIPE, TWELVE_EPOCH_RECIPE, Recipe
from nnbook.mnist.runs import (
    RUNS_VARIABLE,
    RunFileWarning,
    run_folder,
    train_together,
    trained,
)
from nnbook.mnist.trainer import FitOptions, evaluate, fit


#: The recipe the network's own dropout trains with, no average: each test adds what it tests.
def twelve_epochs_with(**changes) -> Recipe:
    return replace(TWELVE_EPOCH_RECIPE, **changes)


SMALL = twelve_epochs_with(epochs=3, batch_size=64)


@pytest.fixture(scope="module")
def small(mnist):
    return mnist.train.subset(640), mnist.test.subset(320)


def metrics(result):
    return [{k: v for k, v in asdict(row).items() if k != "seconds"} for row in result.history]


def test_a_recipe_with_an_average_keeps_and_evaluates_the_average(small):
    """Averaging changes no step of training: with a decay near 0 the average is the weights
    (to round-off), with 0.9 it lags them, and each epoch's test figures are the kept model's."""
    plain = fit(*small, SMALL, seed=6, options=FitOptions(device="cpu"))
    nearly = fit(*small, replace(SMALL, ema_decay=1e-12), seed=6, options=FitOptions(device="cpu"))
    lagging = fit(*small, replace(SMALL, ema_decay=0.9), seed=6, options=FitOptions(device="cpu"))
    assert [row.train_loss for row in nearly.history] == [row.train_loss for row in plain.history]
    assert [row.train_loss for row in lagging.history] == [row.train_loss for row in plain.history]
    for name, value in plain.model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(nearly.model.state_dict()[name], value, msg=name)
    differences = [
        (lagging.model.state_dict()[name] - value).abs().max().item()
        for name, value in plain.model.state_dict().items()
        if value.is_floating_point()
    ]
    assert max(differences) > 1e-3  # ten steps of memory are not the last step's weights
    loss, accuracy = evaluate(lagging.model, small[1])
    assert (loss, accuracy) == (lagging.history[-1].test_loss, lagging.history[-1].test_accuracy)
    # beside the average, each epoch's row holds the raw weights' test accuracy: the plain run's
    raws = [row.raw_test_accuracy for row in lagging.history]
    assert raws == [row.test_accuracy for row in plain.history]
    assert raws != [row.test_accuracy for row in lagging.history]
    assert [row.raw_test_accuracy for row in plain.history] == [None] * SMALL.epochs
    assert "raw weights" in lagging.history[0].summary()
    assert "raw" not in plain.history[0].summary()


def test_the_average_takes_in_every_step(small):
    """After each step: average ← d·average + (1 − d)·weights, the first step's copied; the
    weights seen by the batches' iterator, step by step, against the average kept."""
    from nnbook.mnist.trainer import average_of, make_optimizer, train_epoch

    torch.manual_seed(0)
    network = Net()
    recipe = replace(SMALL, batch_size=160)  # four steps over 640 images
    optimizer, scheduler = make_optimizer(network, recipe, 4)
    averaged = average_of(network, 0.5)
    seen = []

    def record(batches):
        for start in batches:
            seen.append([p.detach().clone() for p in network.parameters()])
            yield start
        seen.append([p.detach().clone() for p in network.parameters()])

    generator = torch.Generator().manual_seed(0)
    train_epoch(
        network, small[0], optimizer, scheduler, recipe, generator, record, averaged=averaged
    )
    expected = seen[1]  # after the first step
    for weights in seen[2:]:
        expected = [0.5 * a + 0.5 * w for a, w in zip(expected, weights, strict=True)]
    for ours, theirs in zip(averaged.module.parameters(), expected, strict=True):
        torch.testing.assert_close(ours, theirs)
    assert int(averaged.n_averaged) == 4


def test_same_seed_same_history(small):
    recipe = replace(SMALL, epochs=2)
    first = fit(*small, recipe, seed=3, options=FitOptions(device="cpu"))
    second = fit(*small, recipe, seed=3, options=FitOptions(device="cpu"))
    assert metrics(first) == metrics(second)
    assert metrics(first) != metrics(fit(*small, recipe, seed=4, options=FitOptions(device="cpu")))
    # it learns: the training loss falls from epoch to epoch
    losses = [row.train_loss for row in first.history]
    assert losses == sorted(losses, reverse=True)


@pytest.mark.parametrize(
    ("ema_decay", "dropout"),
    [(0.0, None), (0.9, None), (DEFAULT_RECIPE.ema_decay, DEFAULT_RECIPE.dropout)],
    ids=["weights", "their average", "the default's"],
)
def test_resume_gives_the_uninterrupted_weights(small, tmp_path, ema_decay, dropout):
    recipe = replace(SMALL, ema_decay=ema_decay, dropout=dropout)
    straight = fit(
        *small, recipe, seed=5, options=FitOptions(device="cpu", out=tmp_path / "straight")
    )

    class SimulatedCrashError(Exception):
        pass

    def stop_after_first(row):
        if row.epoch == 1:
            raise SimulatedCrashError

    with pytest.raises(SimulatedCrashError):
        fit(
            *small,
            recipe,
            seed=5,
            options=FitOptions(device="cpu", out=tmp_path / "cut", on_epoch=stop_after_first),
        )
    assert len(json.loads((tmp_path / "cut" / HISTORY).read_text())) == 1
    assert not (tmp_path / "cut" / MODEL).exists()
    resumed = fit(
        *small, recipe, seed=5, options=FitOptions(device="cpu", out=tmp_path / "cut", resume=True)
    )
    assert metrics(resumed) == metrics(straight)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    saved = torch.load(tmp_path / "cut" / MODEL, weights_only=True)
    assert torch.equal(saved["head.2.weight"], straight.model.state_dict()["head.2.weight"])
    assert [p.name for p in (tmp_path / "cut").iterdir() if p.name.startswith(".")] == []


def test_resume_refuses_another_recipe(small, tmp_path):
    fit(*small, replace(SMALL, epochs=1), seed=5, options=FitOptions(device="cpu", out=tmp_path))
    with pytest.raises(ValueError, match="another recipe or seed"):
        fit(*small, SMALL, seed=5, options=FitOptions(device="cpu", out=tmp_path, resume=True))
    with pytest.raises(FileNotFoundError):
        fit(
            *small,
            SMALL,
            seed=5,
            options=FitOptions(device="cpu", out=tmp_path / "none", resume=True),
        )


def test_evaluate_counts_correctly(small):
    model = fit(
        *small, replace(SMALL, epochs=1), seed=1, options=FitOptions(device="cpu")
    ).model.eval()
    test = small[1]
    # counted one image at a time, by hand: no batching, no shared code with evaluate
    correct, losses = 0, []
    with torch.no_grad():
        for image, label in zip(test.images, test.labels.tolist(), strict=True):
            log_probs = model(image[None])[0]
            correct += int(max(range(10), key=lambda digit: log_probs[digit].item()) == label)
            losses.append(-log_probs[label].item())
    loss, accuracy = evaluate(model, test)
    assert 0 < correct < len(test)  # a case where counting can go wrong either way
    assert accuracy == correct / len(test)
    assert loss == pytest.approx(sum(losses) / len(losses), rel=1e-5)


BAD_RECIPES = [
    ({"epochs": 0}, r"^epochs must be a positive whole number, got 0$"),
    ({"epochs": 2.0}, r"^epochs must be a positive whole number, got 2\.0$"),
    ({"batch_size": 0}, r"^batch size must be a positive whole number, got 0$"),
    ({"lr": 0.0}, r"^learning rate must be a finite positive number, got 0\.0$"),
    ({"lr": float("nan")}, r"^learning rate must be a finite positive number, got nan$"),
    ({"momentum": 1.0}, r"^momentum must be in \[0, 1\), got 1\.0$"),
    ({"momentum": 1.5}, r"^momentum must be in \[0, 1\), got 1\.5$"),
    ({"momentum": -0.1}, r"^momentum must be in \[0, 1\), got -0\.1$"),
    ({"weight_decay": -1e-4}, r"^weight decay must be 0 or more, got -0\.0001$"),
    ({"schedule": "cosine"}, r"^schedule must be 'onecycle' or 'constant', got 'cosine'$"),
    ({"ema_decay": 1.0}, r"^the average's decay must be in \[0, 1\), got 1\.0$"),
    ({"ema_decay": -0.5}, r"^the average's decay must be in \[0, 1\), got -0\.5$"),
    ({"dropout": 1.0}, r"^dropout must be None or in \[0, 1\), got 1\.0$"),
    ({"dropout": -0.1}, r"^dropout must be None or in \[0, 1\), got -0\.1$"),
    (
        {"clean_last_epochs": -1},
        r"^the clean last epochs must be a whole number from 0 to the 12 epochs, got -1$",
    ),
    (
        {"epochs": 3, "clean_last_epochs": 4},
        r"^the clean last epochs must be a whole number from 0 to the 3 epochs, got 4$",
    ),
    (
        {"clean_last_epochs": 1.0},
        r"^the clean last epochs must be a whole number from 0 to the 12 epochs, got 1\.0$",
    ),
]


@pytest.mark.parametrize(("fields", "message"), BAD_RECIPES, ids=lambda v: str(v)[:30])
def test_bad_recipe(fields, message):
    with pytest.raises(ValueError, match=message):
        twelve_epochs_with(**fields)


def dropout_shares(model):
    return {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}


@pytest.mark.parametrize(("dropout", "shares"), [(None, {DROPOUT}), (0.0, {0.0}), (0.5, {0.5})])
def test_a_recipe_sets_the_dropout_of_every_layer(small, dropout, shares):
    """None keeps the network's own; a share replaces it in every Dropout layer, and with 0 two
    passes in training mode give the same scores (no mask is drawn)."""
    result = fit(
        *small, replace(SMALL, epochs=1, dropout=dropout), seed=2, options=FitOptions(device="cpu")
    )
    assert dropout_shares(result.model) == shares
    images = small[1].images[:8]
    model = result.model.train()
    with torch.no_grad():
        same = torch.equal(model(images), model(images))
    assert same == (dropout == 0.0)


def test_set_dropout_refuses_a_share_outside_0_to_1():
    network = Net()
    with pytest.raises(ValueError, match=r"^dropout must be in \[0, 1\), got 1\.0$"):
        set_dropout(network, 1.0)
    assert dropout_shares(network) == {DROPOUT}  # nothing half-changed
    set_dropout(network, 0.0)
    assert dropout_shares(network) == {0.0}


def test_the_last_epochs_of_a_recipe_see_the_digits_as_they_are():
    recipe = twelve_epochs_with(epochs=5, clean_last_epochs=2)
    assert [recipe.of_epoch(e).augment for e in range(1, 6)] == [True, True, True, False, False]
    assert recipe.of_epoch(3) == recipe
    assert recipe.of_epoch(4) == replace(recipe, augment=False)  # nothing else changes
    assert recipe.of_epoch(5).augmentation() is None
    assert all(twelve_epochs_with(epochs=5).of_epoch(e).augment for e in range(1, 6))
    assert not any(
        twelve_epochs_with(epochs=2, clean_last_epochs=2).of_epoch(e).augment for e in (1, 2)
    )
    for epoch in (0, 6):
        with pytest.raises(ValueError, match=rf"^epoch must be from 1 to 5, got {epoch}$"):
            recipe.of_epoch(epoch)


def test_clean_last_epochs_train_as_the_unaugmented_recipe_in_them(small):
    """All epochs clean is the unaugmented recipe, step for step; the last one clean is the
    augmented run until then, and differs from it in the last epoch alone."""
    two = replace(SMALL, epochs=2)
    plain = fit(*small, replace(two, augment=False), seed=3, options=FitOptions(device="cpu"))
    all_clean = fit(
        *small, replace(two, clean_last_epochs=2), seed=3, options=FitOptions(device="cpu")
    )
    augmented = fit(*small, two, seed=3, options=FitOptions(device="cpu"))
    last_clean = fit(
        *small, replace(two, clean_last_epochs=1), seed=3, options=FitOptions(device="cpu")
    )
    assert metrics(all_clean) == metrics(plain)
    assert metrics(last_clean)[0] == metrics(augmented)[0]
    assert metrics(last_clean)[1] not in (metrics(augmented)[1], metrics(plain)[1])


def test_a_records_recipe_reads_back_and_a_field_it_predates_takes_its_value_before():
    from nnbook.mnist.recipes import ANSWER_RECIPE, recorded_recipe

    assert recorded_recipe(asdict(ANSWER_RECIPE)) == ANSWER_RECIPE
    before_averages = {k: v for k, v in asdict(DEFAULT_RECIPE).items() if k != "ema_decay"}
    assert recorded_recipe(before_averages) == replace(DEFAULT_RECIPE, ema_decay=0.0)
    old_line = {"epochs": 8, "lr": 0.2}  # written before every other field existed
    assert recorded_recipe(old_line) == twelve_epochs_with(epochs=8, lr=0.2)
    with pytest.raises(ValueError, match="names no such fields: momentum_decay, warmup"):
        recorded_recipe(asdict(DEFAULT_RECIPE) | {"warmup": 1, "momentum_decay": 0.1})
    with pytest.raises(TypeError):  # no recipe by default: each names every field
        Recipe()


def test_the_default_recipe_of_a_machine_with_bfloat16_or_without():
    from nnbook.mnist.hardware import bfloat16_in_hardware
    from nnbook.mnist.recipes import default_recipe_for

    assert default_recipe_for(bfloat16_in_hardware()) == DEFAULT_RECIPE  # this machine's
    for bfloat16 in (True, False):  # a record of either kind of CPU finds its default
        recipe = default_recipe_for(bfloat16)
        assert recipe.cpu_bfloat16 is bfloat16
        assert replace(recipe, cpu_bfloat16=DEFAULT_RECIPE.cpu_bfloat16) == DEFAULT_RECIPE


def test_the_edges_of_a_good_recipe():
    """No momentum and no weight decay are recipes too (the class's SGD without momentum)."""
    assert twelve_epochs_with(momentum=0.0, weight_decay=0.0, nesterov=False).momentum == 0.0
    assert twelve_epochs_with(momentum=0.999).momentum == 0.999
    assert twelve_epochs_with(batch_size=1).batch_size == 1  # one image a step: slow, but a recipe
    assert (
        twelve_epochs_with(epochs=3, clean_last_epochs=3).clean_last_epochs == 3
    )  # no epoch augmented


def test_devices(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; choose one of auto, cpu, cuda$"):
        pick_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^device 'cuda' was asked for, but no CUDA GPU is"):
        pick_device("cuda")
    assert pick_device("auto") == pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


def truncate(path, keep=0.5):
    """What a full disk or a half-finished copy leaves: the first part of the file."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


#: The broken-file tests need a run with a checkpoint, not a good one: the smallest network,
#: two short epochs.
BRIEF = replace(SMALL, epochs=2, batch_size=128)


@pytest.fixture(scope="module")
def brief(mnist):
    return mnist.train.subset(256), mnist.test.subset(128)


def cut_after_first_epoch(data, folder, seed):
    def stop(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(
            *data,
            BRIEF,
            seed=seed,
            model="tiny",
            options=FitOptions(device="cpu", out=folder, on_epoch=stop),
        )


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_a_truncated_checkpoint_is_a_clear_error(brief, tmp_path, keep):
    cut_after_first_epoch(brief, tmp_path, seed=6)
    truncate(tmp_path / CHECKPOINT, keep)
    with pytest.raises(RunFileError, match=f"{CHECKPOINT} is truncated or corrupt"):
        fit(
            *brief,
            BRIEF,
            seed=6,
            model="tiny",
            options=FitOptions(device="cpu", out=tmp_path, resume=True),
        )


def test_a_checkpoint_that_is_not_one_is_refused(brief, tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / CHECKPOINT)
    with pytest.raises(RunFileError, match="not a checkpoint"):
        fit(
            *brief,
            BRIEF,
            seed=6,
            model="tiny",
            options=FitOptions(device="cpu", out=tmp_path, resume=True),
        )


def test_cli_resume_of_a_truncated_checkpoint_exits_2_naming_it(tmp_path, mnist_root):
    out = tmp_path / "run"
    args = ["--model", "tiny", "--epochs", "1", "--limit-train", "128", "--limit-test", "64"]
    args += ["--quiet", "--data", str(mnist_root), "--out", str(out)]
    assert train_cli(*args).returncode == 0
    truncate(out / CHECKPOINT)
    result = train_cli(*args, "--resume")
    assert result.returncode == 2, result.stderr
    assert f"{out / CHECKPOINT} is truncated or corrupt" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("broken", [MODEL, HISTORY, CHECKPOINT])
def test_a_kept_run_with_a_broken_file_is_trained_afresh_with_a_warning(brief, tmp_path, broken):
    clean = fit(*brief, BRIEF, seed=7, model="tiny", options=FitOptions(device="cpu"))
    folder = run_folder("tiny", BRIEF, 7, torch.device("cpu"), (256, 128), tmp_path)
    if broken == CHECKPOINT:  # an interrupted run: its checkpoint is what a retry reads
        cut_after_first_epoch(brief, folder, seed=7)
    else:
        trained(*brief, BRIEF, seed=7, device="cpu", model="tiny", root=tmp_path)
    truncate(folder / broken)
    rows = []
    with pytest.warns(RunFileWarning, match=f"{broken} is truncated or corrupt") as caught:
        again = trained(
            *brief, BRIEF, seed=7, device="cpu", model="tiny", root=tmp_path, on_epoch=rows.append
        )
    # every warning is about the broken file (a broken history is read, and said, twice: by
    # the check for a finished run and by the one for an interrupted run)
    assert all(f"{broken} is truncated or corrupt" in str(w.message) for w in caught)
    assert [row.epoch for row in rows] == [1, 2]  # each epoch logged once, by the fresh run
    assert metrics(again) == metrics(clean)
    for key, value in clean.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    # the folder now holds the fresh run, which loads without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trained(*brief, BRIEF, seed=7, device="cpu", model="tiny", root=tmp_path)


def test_runs_trained_together_are_the_runs_trained_alone_and_are_kept(brief, tmp_path, capfd):
    """Each run in a process of its own, on its share of the threads: the histories come back
    in the order asked, the longest run starts first, and ``trained`` then loads every one of
    them with another thread count (it trains nothing: ``fit`` is not called). A worker starts
    afresh: what the caller has set in PyTorch (here its default dtype), which no run's folder
    records, does not reach the runs."""
    short, longer = replace(BRIEF, epochs=1), replace(BRIEF, epochs=2)
    runs = [("tiny", short), ("skeleton", longer)]
    torch.set_default_dtype(torch.float64)  # a forked worker would build float64 networks
    try:
        histories = train_together(*brief, runs, seed=7, jobs=1, device="cpu", root=tmp_path)
    finally:
        torch.set_default_dtype(torch.float32)
    printed = capfd.readouterr().out.splitlines()
    assert [line.split()[:3] for line in printed] == [
        ["skeleton", "epoch", "1:"], ["skeleton", "epoch", "2:"], ["tiny", "epoch", "1:"]
    ]  # fmt: skip
    assert [len(history) for history in histories] == [1, 2]
    assert {row.threads for history in histories for row in history} == {torch.get_num_threads()}
    alone = fit(*brief, longer, seed=7, model="skeleton", options=FitOptions(device="cpu"))
    assert [row.train_loss for row in histories[1]] == [row.train_loss for row in alone.history]
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("nnbook.mnist.runs.fit", lambda *args, **kwargs: pytest.fail("trained"))
        torch.set_num_threads(threads + 1)
        try:
            for (model, recipe), history in zip(runs, histories, strict=True):
                kept = trained(*brief, recipe, seed=7, device="cpu", model=model, root=tmp_path)
                assert kept.history == history
        finally:
            torch.set_num_threads(threads)


def test_two_jobs_share_the_threads_and_keep_their_runs_in_nnbook_runs(
    brief, tmp_path, monkeypatch
):
    runs = [("tiny", replace(BRIEF, epochs=1)), ("tiny", replace(BRIEF, epochs=1, lr=0.01))]
    monkeypatch.setenv(RUNS_VARIABLE, str(tmp_path))  # no root given: the runs' folder
    threads = torch.get_num_threads()
    torch.set_num_threads(4)  # what the caller has: each of two jobs gets half
    try:
        histories = train_together(*brief, runs, seed=3, jobs=2, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert [history[0].threads for history in histories] == [2, 2]
    assert histories[0][0].train_loss != histories[1][0].train_loss  # in the order asked
    assert sorted(folder.name.split("-")[0] for folder in tmp_path.iterdir()) == ["tiny", "tiny"]


@pytest.mark.parametrize(
    ("jobs", "device", "runs", "message"),
    [
        (0, "cpu", [("tiny", BRIEF)], "jobs must be at least 1, got 0"),
        (2, "tpu", [("tiny", BRIEF)], "unknown device 'tpu'"),
        (2, "cpu", [("tiny", BRIEF), ("tiny", BRIEF)], "tiny is asked for twice"),
    ],
)
def test_train_together_refuses_bad_input_before_training(brief, tmp_path, jobs, device, runs,
                                                          message):  # fmt: skip
    with pytest.raises(ValueError, match=message):
        train_together(*brief, runs, seed=1, jobs=jobs, device=device, root=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing begun


def test_train_together_with_nothing_to_train_starts_nothing(brief):
    assert train_together(*brief, [], seed=1, jobs=2) == []


def train_cli(*args):
    return run_nnbook("train", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "epochs must be a positive whole number"),
        (["--lr", "-0.1"], "learning rate must be a finite positive number"),
        (["--batch-size", "0"], "batch size must be a positive whole number"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_cli_bad_flags(args, message, tmp_path):
    result = train_cli(*args, "--out", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_missing_data(tmp_path):
    result = train_cli("--data", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "MNIST_ROOT" in result.stderr and "Traceback" not in result.stderr


def test_cli_book_runs_trains_what_the_chapters_train_with_the_books_seed(
    monkeypatch, capsys, mnist_root
):
    from nnbook.cli import main
    from nnbook.mnist.recipes import BUILD_RUNS
    from nnbook.mnist.trainer import EpochResult

    asked = []

    def train_together(train, test, runs, seed, jobs):
        asked.append((len(train), len(test), runs, seed, jobs))
        return [
            [EpochResult(1, 0.1, 0.9, 0.1, 0.99 - k / 100, 0.1, 1.0, 1)] for k in range(len(runs))
        ]

    monkeypatch.setattr("nnbook.mnist.runs.train_together", train_together)
    monkeypatch.setenv("NNBOOK_SEED", "5")
    assert main(["book-runs", "--jobs", "3", "--data", str(mnist_root)]) == 0
    assert asked == [(60_000, 10_000, BUILD_RUNS, 5, 3)]
    *finals, clock = capsys.readouterr().out.splitlines()[-len(BUILD_RUNS) - 1 :]
    assert clock.endswith(" s on the clock, loading kept runs included")
    assert finals == [
        f"{model}: final test accuracy {0.99 - k / 100:.4f}"
        for k, (model, _) in enumerate(BUILD_RUNS)
    ]


@pytest.mark.parametrize(
    ("args", "seed", "message"),
    [
        (["--jobs", "0"], "1", "must be a positive whole number, got 0"),
        ([], "two", "NNBOOK_SEED must be a whole number, got 'two'"),
    ],
)
def test_cli_book_runs_bad_input(args, seed, message, monkeypatch, tmp_path):
    monkeypatch.setenv("NNBOOK_SEED", seed)
    monkeypatch.setenv("NNBOOK_RUNS", str(tmp_path / "runs"))
    result = run_nnbook("book-runs", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


def test_cli_book_runs_without_data_names_it(tmp_path):
    result = run_nnbook("book-runs", "--data", str(tmp_path))
    assert result.returncode == 2 and "MNIST_ROOT" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_trains_and_writes_its_files(tmp_path, mnist_root):
    out = tmp_path / "run"
    args = ["--epochs", "2", "--limit-train", "256", "--limit-test", "128", "--batch-size", "64"]
    result = train_cli(*args, "--data", str(mnist_root), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    history = json.loads((out / HISTORY).read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert set(history[0]) >= {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}
    assert "final test accuracy" in result.stdout
    saved = torch.load(out / MODEL, weights_only=True)
    expected = Net().state_dict()
    assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in expected.items()}
    assert not torch.equal(saved["head.2.weight"], expected["head.2.weight"])  # it trained
    resumed = train_cli(
        *args, "--epochs", "3", "--resume", "--data", str(mnist_root), "--out", str(out)
    )
    assert resumed.returncode == 2 and "another recipe" in resumed.stderr


@pytest.mark.parametrize(("value", "seed"), [(None, 1), ("", 1), ("2", 2), (" 7 ", 7)])
def test_seed_from_environment(value, seed):
    environ = {} if value is None else {"NNBOOK_SEED": value}
    assert seed_from_environment(environ) == seed


def test_a_bad_seed_is_named():
    with pytest.raises(ValueError, match="NNBOOK_SEED must be a whole number, got 'two'"):
        seed_from_environment({"NNBOOK_SEED": "two"})


@pytest.mark.parametrize(
    ("text", "flags", "in_hardware"),
    [
        ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n", {"avx512_bf16"}, True),
        ("flags\t\t: fpu amx_tile amx_bf16\nflags\t\t: other\n", {"amx_bf16"}, True),
        ("processor\t: 0\nflags\t\t: fpu avx2 avx512f\nbugs\t\t: amx_bf16\n", set(), False),
        ("processor\t: 0\nFeatures\t: fp asimd bf16\n", None, False),
    ],
    ids=["AVX-512 BF16", "AMX, the first CPU's flags", "AVX-512 without", "no flags line"],
)
def test_bfloat16_in_hardware_reads_the_first_flags_line(tmp_path, text, flags, in_hardware):
    from nnbook.mnist.hardware import BFLOAT16_FLAGS, bfloat16_in_hardware, cpu_flags

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    if flags is not None:
        assert cpu_flags(cpuinfo) & BFLOAT16_FLAGS == flags
        assert "fpu" in cpu_flags(cpuinfo)
    else:
        assert cpu_flags(cpuinfo) == frozenset()
    assert bfloat16_in_hardware(cpuinfo) is in_hardware
    assert bfloat16_in_hardware(tmp_path / "absent") is False  # not Linux: no such file


def test_bfloat16_autocast_only_where_the_recipe_asks_and_on_a_cpu():
    from nnbook.mnist.trainer import bfloat16_on_cpu

    asked = replace(SMALL, cpu_bfloat16=True)
    for device, recipe, on in [
        (torch.device("cpu"), asked, True),
        (torch.device("cpu"), SMALL, False),
        (torch.device("cuda"), asked, False),  # a GPU trains in float32 regardless
    ]:
        with bfloat16_on_cpu(device, recipe):
            assert torch.is_autocast_enabled("cpu") is on
            assert torch.get_autocast_dtype("cpu") == torch.bfloat16 or not on


def test_a_bfloat16_run_keeps_float32_weights_and_repeats_itself(small):
    """Under bfloat16 the convolutions round differently, so the run differs from float32's, but
    it learns, keeps its weights in float32, is evaluated in float32, and repeats itself."""
    recipe = replace(SMALL, epochs=2, cpu_bfloat16=True)
    first = fit(*small, recipe, seed=3, options=FitOptions(device="cpu"))
    assert metrics(first) == metrics(fit(*small, recipe, seed=3, options=FitOptions(device="cpu")))
    float32 = fit(
        *small, replace(recipe, cpu_bfloat16=False), seed=3, options=FitOptions(device="cpu")
    )
    assert metrics(first) != metrics(float32)
    assert {p.dtype for p in first.model.parameters()} == {torch.float32}
    assert first.history[1].train_loss < first.history[0].train_loss
    # each epoch's test figures are the float32 network's, as everything that uses it sees it
    loss, accuracy = evaluate(first.model, small[1])
    assert (loss, accuracy) == (first.history[-1].test_loss, first.history[-1].test_accuracy)
