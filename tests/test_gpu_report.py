"""``nnbook.mnist.gpu_report``: what the GPU record says, on lines made here from the package's
GPU recipe, their figures worked out by hand in the comments."""

import pytest

from nnbook.mnist import gpu_report
from nnbook.mnist.recipes import GPU_RECIPE, TWELVE_EPOCH_RECIPE
from nnbook.mnist.targets import GPU_TARGET_ACCURACY, GPU_TARGET_DEVICE, GPU_TARGET_SECONDS

H100 = f"NVIDIA {GPU_TARGET_DEVICE} 80GB HBM3"


def recipe_run(seed, seconds, final, gpu=H100, batch=None, lr=None, epochs=None, det=False):
    epochs = GPU_RECIPE.epochs if epochs is None else epochs
    return {
        "kind": "recipe",
        "gpu": gpu,
        "batch_size": GPU_RECIPE.batch_size if batch is None else batch,
        "lr": GPU_RECIPE.lr if lr is None else lr,
        "epochs": epochs,
        "deterministic": det,
        "seed": seed,
        "seconds": seconds,
        "epoch_seconds": [seconds / epochs] * epochs,
        "final_accuracy": final,
    }


def twelve_epochs(seed, final, batch=None, seconds=12.0, gpu=H100):
    return recipe_run(seed, seconds, final, gpu, batch, epochs=TWELVE_EPOCH_RECIPE.epochs)


RECORD = [
    {"kind": "eager", "gpu": H100, "epoch_seconds": [4.0, 5.0]},
    {"kind": "eager", "gpu": "NVIDIA A100-SXM4-40GB", "epoch_seconds": [9.0]},
    *(recipe_run(seed, 8.0 + seed / 10, 0.995 + seed / 1000) for seed in (1, 2, 3)),
    *(recipe_run(seed, 7.0, 0.996, gpu="NVIDIA H200") for seed in (1, 2, 3)),
    recipe_run(1, 9.0, 0.9952, det=True),
    twelve_epochs(1, 0.9949),  # at twelve epochs one run misses
    twelve_epochs(2, 0.9953),
    # half the batch: 12 epochs in 24 s, 2 s an epoch, against 1 s at the full batch
    twelve_epochs(1, 0.995, batch=GPU_RECIPE.batch_size // 2, seconds=24.0),
    {"kind": "repeat", "gpu": H100, "deterministic": True, "equal": True},
    {"kind": "repeat", "gpu": H100, "deterministic": False, "equal": False},
    {"kind": "resume", "gpu": H100, "equal": True},
]


def test_a_gpu_by_its_short_name():
    assert gpu_report.short_name("NVIDIA H100 80GB HBM3") == "H100"
    assert gpu_report.short_name("NVIDIA A100-SXM4-40GB") == "A100-SXM4-40GB"
    assert gpu_report.short_name("Tesla T4") == "Tesla"


def test_the_runs_and_their_table():
    runs = gpu_report.recipe_runs(RECORD)
    assert len(runs) == 10 and set(runs["gpu"]) == {GPU_TARGET_DEVICE, "H200"}
    table = gpu_report.runs_table(runs)
    assert list(table.columns) == [
        "batch", "peak learning rate", "epochs", "deterministic", "runs", "seconds",
        "final accuracy (%)",
    ]  # fmt: skip
    assert list(table.index) == [GPU_TARGET_DEVICE] * 4 + ["H200"]
    first = table.iloc[0]  # the H100's: nondeterministic first, the smaller batch first
    assert (first["batch"], first["epochs"], first["runs"]) == (GPU_RECIPE.batch_size // 2, 12, 1)
    h100 = table.loc[GPU_TARGET_DEVICE]
    recipe = h100[(h100["batch"] == GPU_RECIPE.batch_size) & (h100["deterministic"] == "")]
    assert list(recipe["seconds"]) == ["12.0, 12.0", "8.1, 8.2, 8.3"]
    assert list(recipe["final accuracy (%)"]) == ["99.49, 99.53", "99.60, 99.70, 99.80"]
    assert list(recipe["peak learning rate"]) == [GPU_RECIPE.lr] * 2
    assert list(table["deterministic"]) == ["", "", "", "yes", ""]
    message = "^the gpu record holds no run: bench/timing/gpu.py writes them$"
    with pytest.raises(ValueError, match=message):
        gpu_report.recipe_runs(RECORD[:2])


def test_recipes_that_differ_in_rate_alone_keep_the_record_s_order():
    higher = recipe_run(1, 8.0, 0.995, lr=0.3)
    lower = recipe_run(1, 8.0, 0.995, lr=0.2)
    table = gpu_report.runs_table(gpu_report.recipe_runs([higher, lower]))
    assert list(table["peak learning rate"]) == [0.3, 0.2]


def test_the_figures_of_the_gpu_recipe():
    figures = gpu_report.gpu_figures(RECORD)
    assert figures["gpu-runs"] == 7 and figures["gpu-target-runs"] == 4  # deterministic too
    assert figures["gpu-min-accuracy"] == pytest.approx(99.52)
    assert figures["gpu-max-seconds"] == 9.0
    assert figures["gpu-within"] == ("within" if 9.0 <= GPU_TARGET_SECONDS else "beyond")
    assert figures["gpu-eager-epoch"] == 4.5  # the H100's eager epochs only
    assert figures["gpu-epoch"] == pytest.approx((8.1 + 8.2 + 8.3 + 9.0) / (4 * GPU_RECIPE.epochs))
    assert figures["gpu-speedup"] == pytest.approx(4.5 / figures["gpu-epoch"])
    assert (figures["gpu-short-runs"], figures["gpu-short-misses"]) == (2, 1)
    at_target = gpu_report.gpu_figures([*RECORD, twelve_epochs(3, GPU_TARGET_ACCURACY)])
    assert (at_target["gpu-short-runs"], at_target["gpu-short-misses"]) == (3, 1)
    assert (figures["gpu-repeat-checks"], figures["gpu-resume-checks"]) == (2, 1)
    assert figures["gpu-compared"] == GPU_TARGET_DEVICE
    assert figures["gpu-half-batch"] == GPU_RECIPE.batch_size // 2
    assert type(figures["gpu-half-batch"]) is int and type(figures["gpu-factor"]) is int
    assert figures["gpu-half-lr"] == GPU_RECIPE.lr
    assert (figures["gpu-epoch-half"], figures["gpu-epoch-full"]) == (2.0, 1.0)
    assert figures["gpu-factor"] == GPU_RECIPE.batch_size // TWELVE_EPOCH_RECIPE.batch_size
    assert figures["gpu-rate-factor"] == GPU_RECIPE.lr / TWELVE_EPOCH_RECIPE.lr
    assert (figures["gpu-batch"], figures["gpu-lr"]) == (GPU_RECIPE.batch_size, GPU_RECIPE.lr)
    assert (figures["gpu-epochs"], figures["gpu-name"]) == (GPU_RECIPE.epochs, GPU_TARGET_DEVICE)
    assert figures["gpu-target-accuracy"] == 100 * GPU_TARGET_ACCURACY
    assert figures["gpu-target-seconds"] == GPU_TARGET_SECONDS


def test_a_slow_run_is_beyond_the_target():
    slow = recipe_run(4, GPU_TARGET_SECONDS + 0.1, 0.996)
    figures = gpu_report.gpu_figures([*RECORD, slow])
    assert figures["gpu-within"] == "beyond"
    assert figures["gpu-max-seconds"] == GPU_TARGET_SECONDS + 0.1
    on_time = recipe_run(4, GPU_TARGET_SECONDS, 0.996)
    assert gpu_report.gpu_figures([*RECORD, on_time])["gpu-within"] == "within"


def test_figures_need_the_recipe_on_the_target_gpu_and_a_run_at_half_the_batch():
    elsewhere = [line for line in RECORD if line.get("gpu") != H100 or line["kind"] == "eager"]
    with pytest.raises(ValueError, match=f"on a {GPU_TARGET_DEVICE}"):
        gpu_report.gpu_figures(elsewhere)
    full_only = [line for line in RECORD if line.get("batch_size") != GPU_RECIPE.batch_size // 2]
    with pytest.raises(ValueError, match=f"at batch {GPU_RECIPE.batch_size // 2}"):
        gpu_report.gpu_figures(full_only)


def test_the_checks_hold_only_when_every_repeat_and_resume_says_so():
    assert gpu_report.checks_hold(RECORD)
    unequal = {"kind": "repeat", "gpu": H100, "deterministic": True, "equal": False}
    assert not gpu_report.checks_hold([*RECORD, unequal])
    equal_by_chance = {"kind": "repeat", "gpu": H100, "deterministic": False, "equal": True}
    assert not gpu_report.checks_hold([*RECORD, equal_by_chance])
    assert not gpu_report.checks_hold([*RECORD, {"kind": "resume", "equal": False}])
