"""Training the MNIST network: ``train_epoch``, ``evaluate``, ``fit`` (with checkpoints, resume).

Seed once, pick the device once; every function takes its inputs explicitly and returns numbers.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnbook.files import atomic_write
from nnbook.mnist.allocator import keep_freed_memory
from nnbook.mnist.course import DEFAULT_SEED, SEED_VARIABLE
from nnbook.mnist.data import MNISTTensors, random_affine
from nnbook.mnist.models import DEFAULT_MODEL, MODELS, build_model

DEVICES = ("auto", "cpu", "cuda")
#: Test-set batch: 256 images keep the largest activation (25.7 MB) on the reusable heap (see
#: ``nnbook.mnist.allocator``); batches of 1000 took twice as long to evaluate on the CPU.
EVAL_BATCH_SIZE = 256
#: On a GPU the whole test set fits in a few batches; fewer launches, the same numbers.
CUDA_EVAL_BATCH_SIZE = 2_500


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run besides the data and the seed."""

    epochs: int = 12
    #: 64, not 128: on a CPU an epoch takes the same time, with twice the updates. Final test
    #: accuracy, seeds 1-3, 12 epochs: 99.59, 99.54, 99.55 % (batch 128: 99.52, 99.49, 99.52 %).
    batch_size: int = 64
    lr: float = 0.1  #: the peak learning rate of the one-cycle schedule (or the constant rate)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    schedule: str = "onecycle"  #: "onecycle" (Smith & Topin 2019) or "constant"
    augment: bool = True  #: mild random rotation, shift and scale of every training batch
    max_degrees: float = 7.0
    max_translate: float = 0.05
    max_scale: float = 0.05

    def __post_init__(self) -> None:
        if not (isinstance(self.epochs, int) and self.epochs > 0):
            raise ValueError(f"epochs must be a positive whole number, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size > 0):
            raise ValueError(
                f"batch size must be a positive whole number, got {self.batch_size!r}"
            )
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be a finite positive number, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight decay must be 0 or more, got {self.weight_decay!r}")
        if self.schedule not in ("onecycle", "constant"):
            raise ValueError(f"schedule must be 'onecycle' or 'constant', got {self.schedule!r}")


#: The book's default recipe: one-cycle SGD with Nesterov momentum and mild affine augmentation.
DEFAULT_RECIPE = Recipe()
#: The batch a GPU trains with: at batch 64 it is mostly idle, and a step at 256 costs far less
#: than four at 64 (bench/gpu.py).
GPU_BATCH_SIZE = 256


def for_gpu(recipe: Recipe, batch_size: int = GPU_BATCH_SIZE) -> Recipe:
    """``recipe`` at ``batch_size``, its peak learning rate scaled by the square root of the ratio
    of the batches. In proportion to it, the rate made training diverge (bench/gpu.py)."""
    factor = batch_size / recipe.batch_size
    return replace(recipe, batch_size=batch_size, lr=round(recipe.lr * factor**0.5, 4))


#: The GPU's recipe for the default network: batch 256, peak rate 0.2, 16 epochs. At 12 epochs
#: 4 runs in 16 ended below 99.5 %; at 16, none of 9, 99.50 the lowest (bench/gpu.py, H100, H200).
GPU_RECIPE = replace(for_gpu(DEFAULT_RECIPE), epochs=16)
#: What the GPU path is for: the default network at this final-epoch test accuracy ...
GPU_TARGET_ACCURACY = 0.995
#: ... in at most this many seconds of ``fit`` (capture, epochs and evaluations) on an H100.
GPU_TARGET_SECONDS = 10.0
#: What a CPU epoch was to reach: this share of the machine's own float32 matmul rate, the work
#: counted from the network's multiply-adds (bench/speed.py measures both).
CPU_TARGET_SHARE = 0.60
#: The class notes' recipe: SGD with momentum 0.9 at a constant 0.1, batch 256, no augmentation.
CLASS_RECIPE = Recipe(
    epochs=19,
    batch_size=256,
    lr=0.1,
    momentum=0.9,
    nesterov=False,
    weight_decay=0.0,
    schedule="constant",
    augment=False,
)


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when there is a GPU, else the CPU. Unknown or absent devices: ValueError."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available here")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_from_environment(environ: Mapping[str, str] = os.environ) -> int:
    """The training seed: ``$NNBOOK_SEED`` when set (a whole number), else ``DEFAULT_SEED``."""
    text = environ.get(SEED_VARIABLE, "").strip()
    if not text:
        return DEFAULT_SEED
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{SEED_VARIABLE} must be a whole number, got {text!r}") from None


def use_deterministic() -> None:
    """Deterministic kernels only, for repeatable CUDA runs (cuDNN's fastest add in any order).

    An operation with no deterministic version warns instead of failing. cuBLAS needs its
    workspace fixed before its first use in the process.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch once, at the start of a run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class EpochResult:
    """One row of ``history.json``."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    lr: float
    seconds: float

    def summary(self) -> str:
        """One short line for a log: loss and accuracy (%) on the training and the test set, s."""
        train = f"{self.train_loss:.4f} {100 * self.train_accuracy:5.2f} %"
        test = f"{self.test_loss:.4f} {100 * self.test_accuracy:5.2f} %"
        return f"epoch {self.epoch:2d}: train {train}, test {test}, {self.seconds:5.1f} s"


def make_optimizer(model: nn.Module, recipe: Recipe, steps_per_epoch: int) -> tuple:
    """SGD and its learning-rate schedule, stepped once per batch."""
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay,
        foreach=True,  # one kernel per operation over all weights: on the CPU too, same numbers
    )
    if recipe.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=recipe.lr,
            epochs=recipe.epochs,
            steps_per_epoch=steps_per_epoch,
            cycle_momentum=recipe.momentum > 0,
        )
    else:
        scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    return optimizer, scheduler


def augmentation(recipe: Recipe) -> dict[str, float] | None:
    """``random_affine``'s limits from ``recipe``, or None when it does not augment."""
    if not recipe.augment:
        return None
    return {
        "max_degrees": recipe.max_degrees,
        "max_translate": recipe.max_translate,
        "max_scale": recipe.max_scale,
    }


def train_epoch(
    model: nn.Module,
    data: MNISTTensors,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    recipe: Recipe,
    generator: torch.Generator,
    progress: Callable | None = None,
) -> tuple[float, float]:
    """One pass over ``data`` in shuffled batches; returns (mean NLL loss, accuracy)."""
    model.train()
    order = torch.randperm(len(data), generator=generator).to(data.images.device)
    total_loss = torch.zeros((), device=data.images.device)
    correct = torch.zeros((), dtype=torch.long, device=data.images.device)
    batches = range(0, len(data), recipe.batch_size)
    for start in progress(batches) if progress else batches:
        index = order[start : start + recipe.batch_size]
        images, labels = data.images[index], data.labels[index]
        if recipe.augment:
            on_cpu = images.device.type == "cpu"
            images = random_affine(
                images, **augmentation(recipe), generator=generator if on_cpu else None
            )
        optimizer.zero_grad(set_to_none=True)
        log_probs = model(images)
        loss = F.nll_loss(log_probs, labels)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach() * len(labels)
        correct += (log_probs.argmax(1) == labels).sum()
    return total_loss.item() / len(data), correct.item() / len(data)


@torch.no_grad()
def predict(
    model: nn.Module, data: MNISTTensors, batch_size: int = EVAL_BATCH_SIZE
) -> torch.Tensor:
    """Log-probabilities for every example of ``data`` (evaluation mode)."""
    model.eval()
    return torch.cat(
        [model(data.images[s : s + batch_size]) for s in range(0, len(data), batch_size)]
    )


def evaluate(
    model: nn.Module, data: MNISTTensors, batch_size: int = EVAL_BATCH_SIZE
) -> tuple[float, float]:
    """(mean NLL loss, accuracy) of ``model`` on ``data``."""
    log_probs = predict(model, data, batch_size)
    loss = F.nll_loss(log_probs, data.labels, reduction="mean").item()
    accuracy = (log_probs.argmax(1) == data.labels).sum().item() / len(data)  # exact count
    return loss, accuracy


@dataclass
class FitResult:
    """What ``fit`` returns: the trained model and one ``EpochResult`` per epoch."""

    model: nn.Module
    history: list[EpochResult] = field(default_factory=list)

    @property
    def final_test_accuracy(self) -> float:
        return self.history[-1].test_accuracy


def _atomic_save(obj: object, path: Path) -> None:
    """Write ``obj`` (JSON or ``torch.save``) to ``path``; a crash never leaves half a file."""
    if path.suffix == ".json":
        atomic_write(
            path, lambda temporary: temporary.write_text(json.dumps(obj, indent=1) + "\n")
        )
    else:
        atomic_write(path, lambda temporary: torch.save(obj, temporary))


CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
MODEL = "model.pt"


def fit(
    train: MNISTTensors,
    test: MNISTTensors,
    recipe: Recipe = DEFAULT_RECIPE,
    seed: int = 1,
    device: str = "auto",
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = False,
    on_epoch: Callable[[EpochResult], None] | None = None,
    tune_malloc: bool = True,
    model: str = DEFAULT_MODEL,
    deterministic: bool = False,
    cuda_graph: bool = True,
) -> FitResult:
    """Train a fresh network (``model``: a name of ``nnbook.mnist.models.MODELS``) with ``recipe``;
    return it with its per-epoch history.

    With ``out``, each epoch appends to ``out/history.json`` and writes ``out/checkpoint.pt``
    (model, optimiser, schedule and random states) atomically; the final weights go to
    ``out/model.pt``. ``resume=True`` continues from the checkpoint and ends, on the CPU, with
    the same weights as an uninterrupted run. ``tune_malloc`` lets glibc's ``malloc`` keep
    freed memory on the CPU (``nnbook.mnist.allocator``): faster steps, the same numbers.
    ``deterministic`` makes CUDA runs repeatable (``use_deterministic``); the CPU already is.
    On CUDA, with ``cuda_graph``, each training step is one replay of a recorded CUDA graph
    (``nnbook.mnist.graphed``); every batch is then whole, and the remainder of each epoch's
    shuffled order sits that epoch out.
    """
    import time

    target = pick_device(device)
    if deterministic:
        use_deterministic()
    if tune_malloc and target.type == "cpu":
        keep_freed_memory()  # fewer page faults, faster steps; changes no numbers
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    train, test = train.to(target), test.to(target)
    network = build_model(model, target)
    graphed = cuda_graph and target.type == "cuda"
    if graphed and len(train) < recipe.batch_size:
        raise ValueError(
            f"{len(train)} training examples do not fill one batch of {recipe.batch_size}"
        )
    steps = len(train) // recipe.batch_size if graphed else -(-len(train) // recipe.batch_size)
    optimizer, scheduler = make_optimizer(network, recipe, steps)
    result = FitResult(network)
    folder = Path(out) if out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    if resume:
        if folder is None or not (folder / CHECKPOINT).is_file():
            raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {folder}")
        # Tensors load on the CPU: the random states must stay CPU ByteTensors, and
        # load_state_dict moves weights and optimiser state to the network's own device.
        state = torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True)
        if state["recipe"] != asdict(recipe) or state["seed"] != seed:
            raise ValueError("--resume: the checkpoint was made with another recipe or seed")
        if state.get("model_name", DEFAULT_MODEL) != model:
            raise ValueError(
                f"--resume: the checkpoint is of model {state.get('model_name')!r}, not {model!r}"
            )
        result.history = restore(state, network, optimizer, scheduler, generator)
    captured = None
    if graphed:
        from nnbook.mnist.graphed import CapturedStep

        captured = CapturedStep(network, optimizer, train, recipe.batch_size, augmentation(recipe))
    eval_batch = CUDA_EVAL_BATCH_SIZE if target.type == "cuda" else EVAL_BATCH_SIZE
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = lambda batches: tqdm(batches, leave=False, unit="batch")  # noqa: E731
    for epoch in range(len(result.history) + 1, recipe.epochs + 1):
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        if captured is not None:
            train_loss, train_accuracy = captured.train_epoch(scheduler, generator)
        else:
            train_loss, train_accuracy = train_epoch(
                network, train, optimizer, scheduler, recipe, generator, bar
            )
        test_loss, test_accuracy = evaluate(network, test, eval_batch)
        row = EpochResult(
            epoch,
            train_loss,
            train_accuracy,
            test_loss,
            test_accuracy,
            lr,
            time.perf_counter() - started,
        )
        result.history.append(row)
        if folder is not None:
            state = checkpoint(network, optimizer, scheduler, generator, result.history)
            state.update(recipe=asdict(recipe), seed=seed, model_name=model)
            _atomic_save(state, folder / CHECKPOINT)
            _atomic_save([asdict(r) for r in result.history], folder / HISTORY)
        if on_epoch is not None:
            on_epoch(row)
    if folder is not None:
        _atomic_save(network.state_dict(), folder / MODEL)
    return result


def checkpoint(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    history: list[EpochResult],
) -> dict:
    """Everything a resumed run needs to continue exactly: weights, optimiser, schedule, RNGs."""
    on_cuda = next(network.parameters()).device.type == "cuda"
    return {
        "model": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if on_cuda else torch.empty(0, dtype=torch.uint8),
        "generator": generator.get_state(),
        "history": [asdict(row) for row in history],
    }


def restore(
    state: Mapping,
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
) -> list[EpochResult]:
    """Load a ``checkpoint`` (its tensors on any device) into a run; returns its history."""
    network.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])  # moves the momenta to the network's device
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"].cpu())
    generator.set_state(state["generator"].cpu())
    if next(network.parameters()).device.type == "cuda" and len(state["cuda_rng"]):
        torch.cuda.set_rng_state(state["cuda_rng"].cpu())
    return [EpochResult(**row) for row in state["history"]]
