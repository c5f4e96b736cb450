"""Training the MNIST network: ``train_epoch``, ``evaluate``, then ``fit``, which runs them for
a recipe's epochs, as pytorch/examples' MNIST script reads ``Net`` → ``train`` → ``test`` →
``main``.

``fit`` sets its device and seed up once (``nnbook.mnist.environment``) and, given a folder,
keeps a checkpoint after every epoch (``nnbook.mnist.checkpoints``); every function here takes
its inputs explicitly and returns numbers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from nnbook.mnist.checkpoints import (
    CHECKPOINT,
    HISTORY,
    MODEL,
    RunFileError,
    checkpoint,
    load_run_file,
    restore,
    save_run_file,
)
from nnbook.mnist.data import MNISTTensors, random_affine
from nnbook.mnist.environment import DEFAULT_SEED, prepare_device, seed_everything
from nnbook.mnist.networks import DEFAULT_MODEL, build_model, check_model
from nnbook.mnist.networks.base import DigitClassifier, set_dropout
from nnbook.mnist.recipes import DEFAULT_RECIPE, Recipe

#: Test-set batch: 256 images keep the largest activation (25.7 MB) on the reusable heap (see
#: ``nnbook.mnist.allocator``); batches of 1000 took twice as long to evaluate on the CPU.
EVAL_BATCH_SIZE = 256
#: On a GPU the whole test set fits in a few batches; fewer launches, the same numbers.
CUDA_EVAL_BATCH_SIZE = 2_500


@dataclass
class EpochResult:
    """One row of ``history.json``. The test figures are those of the network the run keeps:
    the average of its weights, when the recipe keeps one."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    lr: float
    seconds: float
    #: the CPU threads PyTorch computed with (on a CPU the epoch's seconds depend on them)
    threads: int
    #: when the run keeps an average: the test accuracy of the raw weights, as the epoch's last
    #: step left them (the average starts from the initial weights, and lags them at first)
    raw_test_accuracy: float | None = None

    def summary(self) -> str:
        """One line for a log, each figure named: the loss and the accuracy on the training
        batches and on the test set (and the raw weights' test accuracy, beside an average's),
        and the epoch's seconds."""
        train = f"loss {self.train_loss:.4f} accuracy {100 * self.train_accuracy:5.2f} %"
        test = f"loss {self.test_loss:.4f} accuracy {100 * self.test_accuracy:5.2f} %"
        if self.raw_test_accuracy is not None:
            test = f"(average) {test}, raw weights {100 * self.raw_test_accuracy:5.2f} %"
        return f"epoch {self.epoch:2d}: train {train}; test {test}; {self.seconds:5.1f} s"


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


#: The loss a step minimises, from the batch's log-probabilities, its labels and which examples
#: of the training set it holds (``bench/`` distils from a teacher's outputs by that index).
LossFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def nll_loss(log_probs: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The book's loss: the mean negative log-likelihood of the correct digit."""
    return F.nll_loss(log_probs, labels)


@dataclass(frozen=True)
class Hooks:
    """What an experiment (``bench/experiments/small_models.py``) may change in a run: the loss
    and the optimiser; the defaults are the book's training."""

    loss: LossFunction = nll_loss
    optimizer: Callable[[nn.Module, Recipe, int], tuple] = make_optimizer


BOOK_HOOKS = Hooks()


def bfloat16_on_cpu(device: torch.device, recipe: Recipe) -> torch.autocast:
    """bfloat16 autocast where the recipe asks for it and the device is a CPU; else a context
    that changes nothing."""
    on = recipe.cpu_bfloat16 and device.type == "cpu"
    return torch.autocast("cpu", torch.bfloat16, enabled=on)


def train_step(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    recipe: Recipe,
    loss_of: LossFunction = nll_loss,
    index: torch.Tensor | None = None,
    averaged: AveragedModel | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of SGD on a batch already augmented: forward (in bfloat16 where the recipe
    asks for it on a CPU), the loss, backward, the update, and the average taking in the new
    weights; returns (log-probabilities, loss). ``index`` is where the batch lies in the
    training set (a loss may look its targets up by it). The benchmarks time this step."""
    optimizer.zero_grad(set_to_none=True)
    with bfloat16_on_cpu(images.device, recipe):
        log_probs = model(images).float()  # float32 already, unless under bfloat16
    loss = loss_of(log_probs, labels, index)
    loss.backward()  # every dL/dw
    optimizer.step()  # w ← w − η · (the optimiser's direction)
    if averaged is not None:
        averaged.update_parameters(model)
    return log_probs, loss


def train_epoch(
    model: nn.Module,
    data: MNISTTensors,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    recipe: Recipe,
    generator: torch.Generator,
    progress: Callable | None = None,
    loss_of: LossFunction = nll_loss,
    averaged: AveragedModel | None = None,
) -> tuple[float, float]:
    """One pass over ``data`` in shuffled batches; returns (mean NLL loss, accuracy). With
    ``averaged``, the average of the weights takes in every step's."""
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
                images, **recipe.augmentation(), generator=generator if on_cpu else None
            )
        log_probs, loss = train_step(
            model, images, labels, optimizer, recipe, loss_of, index, averaged
        )
        scheduler.step()
        nll = loss if loss_of is nll_loss else F.nll_loss(log_probs, labels)
        total_loss += nll.detach() * len(labels)
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
    """What ``fit`` returns: the trained model (the average of its weights, when the recipe
    keeps one) and one ``EpochResult`` per epoch."""

    model: nn.Module
    history: list[EpochResult] = field(default_factory=list)

    @property
    def final_test_accuracy(self) -> float:
        return self.history[-1].test_accuracy


# ---------------------------------------------------------------------------------------------
# fit, in the parts that have names


@dataclass
class RunInProgress:
    """A run in progress: its network and optimiser, the random stream of its batches, the
    epochs done so far, and the name its files give the model (a finished run is kept by
    ``nnbook.mnist.runs``)."""

    model_name: str
    network: DigitClassifier
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    history: list[EpochResult] = field(default_factory=list)
    #: The average of the weights, when the recipe keeps one (``Recipe.ema_decay``).
    averaged: AveragedModel | None = None

    @property
    def kept(self) -> nn.Module:
        """The network the run evaluates and keeps: the average of its weights, or the weights."""
        return self.averaged.module if self.averaged is not None else self.network


def average_of(network: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``network``'s weights and batch-norm statistics,
    ``average ← decay·average + (1 − decay)·current`` at every ``update_parameters``; the
    first update copies the network."""
    return AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def network_for(
    model: str | type[DigitClassifier], recipe: Recipe, device: torch.device | str = "cpu"
) -> DigitClassifier:
    """A fresh network (``build_model``) as ``recipe`` trains it: its dropout the recipe's."""
    network = build_model(model, device)
    if recipe.dropout is not None:
        set_dropout(network, recipe.dropout)
    return network


def start_run(
    model: str | type[DigitClassifier],
    recipe: Recipe,
    seed: int,
    train: MNISTTensors,
    steps_per_epoch: int,
    hooks: Hooks,
) -> RunInProgress:
    """Seed once, then a fresh network on ``train``'s device (``network_for``) and its
    optimiser."""
    name = check_model(model) if isinstance(model, str) else model.__name__
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    network = network_for(model, recipe, train.images.device)
    optimizer, scheduler = hooks.optimizer(network, recipe, steps_per_epoch)
    averaged = average_of(network, recipe.ema_decay) if recipe.ema_decay else None
    return RunInProgress(name, network, optimizer, scheduler, generator, averaged=averaged)


def resume_run(run: RunInProgress, folder: Path | None, recipe: Recipe, seed: int) -> None:
    """Continue ``run`` from ``folder/checkpoint.pt``: weights, optimiser, schedule, random
    states and history. A checkpoint of another run, or one that cannot be read, is refused."""
    path = None if folder is None else folder / CHECKPOINT
    if path is None or not path.is_file():
        raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {folder}")
    # Tensors load on the CPU: the random states must stay CPU ByteTensors, and
    # load_state_dict moves weights and optimiser state to the network's own device.
    state = load_run_file(path)
    if not isinstance(state, dict) or not {"recipe", "seed", "model"} <= state.keys():
        raise RunFileError(f"{path} is not a checkpoint of nnbook's trainer")
    if state["recipe"] != asdict(recipe) or state["seed"] != seed:
        raise ValueError("--resume: the checkpoint was made with another recipe or seed")
    if state.get("model_name", DEFAULT_MODEL) != run.model_name:
        raise ValueError(
            f"--resume: the checkpoint is of model {state.get('model_name')!r}, "
            f"not {run.model_name!r}"
        )
    try:
        rows = restore(
            state, run.network, run.optimizer, run.scheduler, run.generator, run.averaged
        )
        run.history = [EpochResult(**row) for row in rows]
    except (KeyError, TypeError, RuntimeError) as error:
        raise RunFileError(
            f"{path} does not hold a whole checkpoint ({type(error).__name__}: {error}); "
            "delete the run's folder to train afresh"
        ) from None


def epoch_trainer(
    run: RunInProgress,
    train: MNISTTensors,
    recipe: Recipe,
    graphed: bool,
    progress: bool,
    hooks: Hooks,
) -> Callable[[int], tuple[float, float]]:
    """The function that trains epoch k of ``run`` and returns its (loss, accuracy): a replayed
    CUDA graph, or ``train_epoch`` (with a progress bar on request)."""
    if graphed:
        from nnbook.mnist.graphed import CapturedStep

        if hooks != BOOK_HOOKS:
            raise ValueError("a recorded CUDA graph trains with the book's loss and SGD only")
        captured: dict[bool, CapturedStep] = {}  # one graph with augmentation, one without

        def graphed_epoch(epoch: int) -> tuple[float, float]:
            augmentation = recipe.of_epoch(epoch).augmentation()
            key = augmentation is not None
            if key not in captured:  # recorded when an epoch first needs it
                captured[key] = CapturedStep(
                    run.network, run.optimizer, train, recipe.batch_size, augmentation
                )
            return captured[key].train_epoch(run.scheduler, run.generator, run.averaged)

        return graphed_epoch
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = lambda batches: tqdm(batches, leave=False, unit="batch")  # noqa: E731

    def one_epoch(epoch: int) -> tuple[float, float]:
        return train_epoch(
            run.network, train, run.optimizer, run.scheduler, recipe.of_epoch(epoch),
            run.generator, bar, hooks.loss, run.averaged,
        )  # fmt: skip

    return one_epoch


def save_epoch(run: RunInProgress, folder: Path, recipe: Recipe, seed: int) -> None:
    """After each epoch: the checkpoint, then the history (each written atomically)."""
    rows = [asdict(row) for row in run.history]
    state = checkpoint(
        run.network, run.optimizer, run.scheduler, run.generator, rows, run.averaged
    )
    state.update(recipe=asdict(recipe), seed=seed, model_name=run.model_name)
    save_run_file(state, folder / CHECKPOINT)
    save_run_file(rows, folder / HISTORY)


@dataclass(frozen=True)
class FitOptions:
    """How ``fit`` runs, beside what decides its result (the data, the recipe, the seed, the
    network).

    ``out``: a folder where each epoch writes ``checkpoint.pt`` (model, optimiser, schedule and
    random states) and ``history.json`` atomically, and the end the final weights,
    ``model.pt``; ``resume`` continues from its checkpoint and ends, on the CPU, with the same
    weights as an uninterrupted run. ``tune_malloc`` lets glibc's ``malloc`` keep freed memory
    on the CPU (``nnbook.mnist.allocator``). ``deterministic`` makes CUDA runs repeatable
    (``use_deterministic``); the CPU already is. On CUDA, with ``cuda_graph``, each training
    step is one replay of a recorded CUDA graph (``nnbook.mnist.graphed``); every batch is then
    whole, and the remainder of each epoch's shuffled order sits that epoch out. ``hooks``: what
    an experiment changes (the loss, the optimiser).
    """

    device: str = "auto"
    out: str | os.PathLike[str] | None = None
    resume: bool = False
    progress: bool = False
    on_epoch: Callable[[EpochResult], None] | None = None
    tune_malloc: bool = True
    deterministic: bool = False
    cuda_graph: bool = True
    hooks: Hooks = BOOK_HOOKS


def fit(
    train: MNISTTensors,
    test: MNISTTensors,
    recipe: Recipe = DEFAULT_RECIPE,
    seed: int = DEFAULT_SEED,
    model: str | type[DigitClassifier] = DEFAULT_MODEL,
    options: FitOptions = FitOptions(),  # frozen: one shared default is safe
) -> FitResult:
    """Train a fresh network (``model``: a name of ``nnbook.mnist.networks.MODELS``, or a class)
    with ``recipe`` from ``seed``; return it with its per-epoch history. ``options``: how it
    runs (``FitOptions``: the device, a folder for its files, a resume, a callback per epoch)."""
    if isinstance(model, str):
        check_model(model)  # before anything is set up or moved
    target = prepare_device(options.device, options.deterministic, options.tune_malloc)
    train, test = train.to(target), test.to(target)
    graphed = options.cuda_graph and target.type == "cuda"
    if graphed and len(train) < recipe.batch_size:
        raise ValueError(
            f"{len(train)} training examples do not fill one batch of {recipe.batch_size}"
        )
    steps = len(train) // recipe.batch_size if graphed else -(-len(train) // recipe.batch_size)
    run = start_run(model, recipe, seed, train, steps, options.hooks)
    folder = Path(options.out) if options.out is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    if options.resume:
        resume_run(run, folder, recipe, seed)
    train_one = epoch_trainer(run, train, recipe, graphed, options.progress, options.hooks)
    eval_batch = CUDA_EVAL_BATCH_SIZE if target.type == "cuda" else EVAL_BATCH_SIZE
    for epoch in range(len(run.history) + 1, recipe.epochs + 1):
        started = time.perf_counter()
        lr = run.optimizer.param_groups[0]["lr"]
        train_loss, train_accuracy = train_one(epoch)
        # in float32 even after bfloat16 training: the figures of the network that is kept
        test_loss, test_accuracy = evaluate(run.kept, test, eval_batch)
        raw = evaluate(run.network, test, eval_batch)[1] if run.averaged is not None else None
        seconds = time.perf_counter() - started
        row = EpochResult(
            epoch, train_loss, train_accuracy, test_loss, test_accuracy, lr, seconds,
            torch.get_num_threads(), raw,
        )  # fmt: skip
        run.history.append(row)
        if folder is not None:
            save_epoch(run, folder, recipe, seed)
        if options.on_epoch is not None:
            options.on_epoch(row)
    if folder is not None:
        save_run_file(run.kept.state_dict(), folder / MODEL)
    return FitResult(run.kept, run.history)
