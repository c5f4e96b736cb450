"""Training runs kept on disk: a chapter executed twice (the build, then nbval) trains once.

A run's folder is named by everything that decides its result: the model, the recipe, the seed,
the device type, the sizes of the data, the versions of PyTorch and Python, the network's own
definition (its layers' settings, its initial weights for a fixed seed, the code of its classes
and of the helpers they name) and the code that trains (``trainer`` and the modules it imports;
not the other networks, the recipes' catalogue or the book's targets), comments and docstrings
aside. Change any of them and the next call trains afresh; leave them alone and it
loads the finished run (or resumes an interrupted one from its checkpoint). A kept file that
cannot be read (a half-copied folder, a full disk) is not trusted: the run is trained afresh,
with a ``RunFileWarning``. The folder is ``$NNBOOK_RUNS``, else ``~/.cache/nnbook/runs``;
``.ci/run`` points it into the fresh clone, so CI's build trains every network once and nbval
re-runs the chapters on those runs.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import multiprocessing
import os
import shutil
import sys
import textwrap
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path

import torch
from torch import nn

from nnbook.mnist.checkpoints import CHECKPOINT, HISTORY, MODEL, RunFileError, load_run_file
from nnbook.mnist.data import MNISTTensors
from nnbook.mnist.environment import pick_device
from nnbook.mnist.networks import DEFAULT_MODEL, build_model
from nnbook.mnist.recipes import DEFAULT_RECIPE, Recipe
from nnbook.mnist.trainer import EpochResult, FitOptions, FitResult, fit

RUNS_VARIABLE = "NNBOOK_RUNS"


def runs_root(environ: Mapping[str, str] = os.environ) -> Path:
    """Where finished runs are kept: ``$NNBOOK_RUNS``, else ``~/.cache/nnbook/runs``."""
    folder = environ.get(RUNS_VARIABLE, "").strip()
    return Path(folder) if folder else Path.home() / ".cache" / "nnbook" / "runs"


class RunFileWarning(UserWarning):
    """A kept run's file could not be read; the run is trained afresh."""


#: The module that trains; the digest covers it and what it imports.
TRAINING_MODULE = "nnbook.mnist.trainer"
#: Modules the trainer imports whose whole source does not decide a run: the networks (a run
#: covers its own network with ``network_digest``, and no other), the recipes (a run covers its
#: recipe's values), what the book aims for, and the packages' ``__init__`` (re-exports). What
#: the trainer imports from them by name, a function or a class, is covered (``set_dropout``,
#: ``Recipe`` with its methods); the modules they import are not followed.
NOT_TRAINING_CODE = frozenset(
    {
        "nnbook", "nnbook.mnist", "nnbook.mnist.networks", "nnbook.mnist.networks.base",
        "nnbook.mnist.networks.net", "nnbook.mnist.networks.steps",
        "nnbook.mnist.networks.candidates", "nnbook.mnist.networks.frontier",
        "nnbook.mnist.networks.registry", "nnbook.mnist.recipes", "nnbook.mnist.targets",
    }
)  # fmt: skip


def _module_file(name: str) -> Path | None:
    """The source of module ``name``; None for a name that is no module (a class imported from
    one)."""
    try:
        spec = find_spec(name)
    except ModuleNotFoundError:
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None


def _imports(tree: ast.Module) -> tuple[list[str], list[tuple[str, str]]]:
    """The ``nnbook`` modules a module's code imports (inside functions too), and the names it
    takes from them (``from M import a`` gives M and (M, a))."""
    modules: list[str] = []
    names: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise ValueError(
                f"relative import of {node.module!r}: the digest follows absolute ones"
            )
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nnbook"):
            modules.append(node.module)
            names += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            modules += [a.name for a in node.names if a.name.startswith("nnbook")]
    return modules, names


def training_code(module: str = TRAINING_MODULE) -> tuple[set[str], set[tuple[str, str]]]:
    """The modules whose code trains: ``module`` and every ``nnbook`` module it imports, directly
    or through another, except ``NOT_TRAINING_CODE``; and the names they import from those."""
    modules: set[str] = set()
    borrowed: set[tuple[str, str]] = set()
    waiting = [module]
    while waiting:
        name = waiting.pop()
        if name in modules or name in NOT_TRAINING_CODE or _module_file(name) is None:
            continue
        modules.add(name)
        found, names = _imports(ast.parse(_module_file(name).read_text(encoding="utf-8")))
        for origin, attribute in names:
            if _module_file(f"{origin}.{attribute}") is not None:
                found.append(f"{origin}.{attribute}")  # ``from package import module``
            elif origin in NOT_TRAINING_CODE:
                borrowed.add((origin, attribute))
        waiting += found
    return modules, borrowed


def normalised_code(source: str) -> str:
    """``source`` (a module, or one class or function) as the code it runs: its syntax tree
    without docstrings, comments and layout; the source of one class or function also without
    its name (the registry's name of a network is part of a run's key already)."""
    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = node.body[1:] or [ast.Pass()]
    if len(tree.body) == 1 and isinstance(
        tree.body[0], ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    ):
        tree.body[0].name = ""
    return ast.dump(tree)


def _referenced_code(value: object, seen: set[object]) -> list[str]:
    """The code of ``value`` (a class or function of the package) and of every module-level
    function, class or constant of the package its code names, followed through those in turn:
    a network's ``conv_bn``, ``set_dropout``'s checks, ``Recipe``'s methods."""
    if value in seen:
        return []
    seen.add(value)
    code = normalised_code(inspect.getsource(value))
    found = [code]  # not its module's name: a class moved elsewhere runs the same
    scope = vars(inspect.getmodule(value))
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(value)))):
        named = scope.get(node.id) if isinstance(node, ast.Name) else None
        if named is None or named is value:
            continue
        if inspect.isfunction(named) or inspect.isclass(named):
            if named.__module__.startswith("nnbook"):
                found += _referenced_code(named, seen)
        elif not inspect.ismodule(named) and node.id.isupper():  # a constant: DROPOUT
            found.append(f"{node.id} = {named!r}")
    return found


def source_digest() -> str:
    """SHA-256 of the code that trains (``training_code``): what it computes, not its comments,
    docstrings or layout; a module training never runs (a plot, a report, a target's wording,
    another network) is not part of it."""
    modules, borrowed = training_code()
    digest = hashlib.sha256()
    for name in sorted(modules):
        code = normalised_code(_module_file(name).read_text(encoding="utf-8"))
        digest.update(name.encode() + b"\0" + code.encode() + b"\0")
    seen: set[object] = set()
    for origin, attribute in sorted(borrowed):
        value = getattr(import_module(origin), attribute)
        if inspect.isfunction(value) or inspect.isclass(value):
            codes = _referenced_code(value, seen)
        else:  # a constant the trainer uses
            codes = [repr(value)]
        digest.update(f"{origin}.{attribute}".encode() + b"\0" + "\0".join(codes).encode())
    return digest.hexdigest()


def _settings(module: nn.Module) -> str:
    """A layer's settings: every public attribute PyTorch keeps on it (channels, kernel,
    padding, groups, ``eps``, ``momentum``, ``ceil_mode``, ``inplace``, ``p``, …)."""
    public = {
        key: value
        for key, value in vars(module).items()
        if not key.startswith("_") and key != "training"
    }
    return repr(sorted(public.items()))


def _initial_state(network: nn.Module) -> bytes:
    """Every parameter and buffer of ``network`` freshly initialised from a fixed seed, with
    its name, dtype, shape and ``requires_grad``: the initialisation, its order and precision."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fresh = type(network)()
    parts = []
    for name, tensor in [*fresh.named_parameters(), *fresh.named_buffers()]:
        parts.append(f"{name} {tensor.dtype} {tuple(tensor.shape)} {tensor.requires_grad}")
        parts.append(tensor.detach().cpu().contiguous().numpy().tobytes().hex())
    return "\n".join(parts).encode()


def _kind(layer: nn.Module) -> str:
    """A layer's class: PyTorch's by name; the package's all alike, their code being in the
    digest by itself (so that a class renamed or moved to another module, its code unchanged,
    keeps its runs)."""
    cls = type(layer)
    return (
        "nnbook" if cls.__module__.startswith("nnbook") else f"{cls.__module__}.{cls.__qualname__}"
    )


def network_digest(network: nn.Module) -> str:
    """SHA-256 of a network's own definition: each layer's place, class (``_kind``) and settings
    (``_settings``: channels, kernel, padding, …, and a memory format set on the network), its
    initial weights for a fixed seed (``_initial_state``), and the code of the package's classes
    it is made of and derives from (its memory format among them), with the package's
    functions, classes and constants they name (``_referenced_code``)."""
    layers = [f"{name}: {_kind(m)} {_settings(m)}" for name, m in network.named_modules()]
    seen: set[object] = set()
    codes = sorted(
        code
        for module in network.modules()
        for cls in type(module).__mro__
        if cls.__module__.startswith("nnbook")
        for code in _referenced_code(cls, seen)
    )
    digest = hashlib.sha256("\0".join([*layers, *codes]).encode())
    digest.update(_initial_state(network))
    return digest.hexdigest()


def _unseeded(model: str) -> nn.Module:
    """``model`` built without touching the caller's random numbers."""
    with torch.random.fork_rng(devices=[]):
        return build_model(model)


def run_folder(
    model: str,
    recipe: Recipe,
    seed: int,
    device: torch.device,
    sizes: tuple[int, int],
    root: Path,
) -> Path:
    """``root/MODEL-seedN-KEY``, KEY a digest of everything that decides the run's result."""
    decided_by = {
        "model": model,
        "recipe": asdict(recipe),
        "seed": seed,
        "device": device.type,
        "sizes": list(sizes),
        "torch": torch.__version__,
        "python": list(sys.version_info[:2]),  # the syntax trees of the code differ between them
        "network": network_digest(_unseeded(model)),
        "source": source_digest(),
    }
    key = hashlib.sha256(json.dumps(decided_by, sort_keys=True).encode()).hexdigest()[:16]
    return root / f"{model}-seed{seed}-{key}"


def _kept(path: Path) -> object | None:
    """A kept run's file, or None (with a ``RunFileWarning``) when it cannot be read."""
    try:
        return load_run_file(path)
    except RunFileError as error:
        warnings.warn(f"{error}; training this run afresh", RunFileWarning, stacklevel=3)
        return None


def _finished(folder: Path, model: str, recipe: Recipe, target: torch.device) -> FitResult | None:
    """The finished run kept in ``folder``, if every file of it reads and it is whole."""
    if not ((folder / MODEL).is_file() and (folder / HISTORY).is_file()):
        return None
    rows, weights = _kept(folder / HISTORY), _kept(folder / MODEL)
    if rows is None or weights is None:
        return None
    try:
        history = [EpochResult(**row) for row in rows]
        network = build_model(model, target)
        network.load_state_dict(weights)
    except (TypeError, RuntimeError) as error:
        warnings.warn(
            f"{folder} holds files of another run ({type(error).__name__}); training it afresh",
            RunFileWarning,
            stacklevel=3,
        )
        return None
    return FitResult(network, history) if len(history) == recipe.epochs else None


def trained(
    train: MNISTTensors,
    test: MNISTTensors,
    recipe: Recipe = DEFAULT_RECIPE,
    seed: int = 1,
    device: str = "auto",
    model: str = DEFAULT_MODEL,
    on_epoch: Callable[[EpochResult], None] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> FitResult:
    """``fit``'s result for these arguments: loaded when this run has finished before, else
    trained (resumed from its checkpoint when an earlier try was interrupted). A kept file that
    cannot be read is never used: the run is trained afresh, with a ``RunFileWarning``.

    ``on_epoch`` sees every epoch's row either way, so a log printed from it is the same.
    """
    target = pick_device(device)
    base = Path(root) if root is not None else runs_root()
    folder = run_folder(model, recipe, seed, target, (len(train), len(test)), base)
    finished = _finished(folder, model, recipe, target)
    if finished is not None:
        for row in finished.history if on_epoch is not None else ():
            on_epoch(row)
        return finished
    resume = (folder / CHECKPOINT).is_file()  # an interrupted earlier try: continue it
    if resume and _kept(folder / CHECKPOINT) is None:
        resume = False
    done = _kept(folder / HISTORY) if resume and (folder / HISTORY).is_file() else []
    if done is None:
        resume, done = False, []
    if not resume and folder.exists():
        shutil.rmtree(folder)  # whatever is left of an unreadable or unfinished run
    for row in done if on_epoch is not None else ():
        on_epoch(EpochResult(**row))
    return fit(
        train,
        test,
        recipe,
        seed=seed,
        model=model,
        options=FitOptions(device=str(target), out=folder, resume=resume, on_epoch=on_epoch),
    )


def train_together(
    train: MNISTTensors,
    test: MNISTTensors,
    runs: Sequence[tuple[str, Recipe]],
    seed: int,
    jobs: int,
    device: str = "auto",
    root: str | os.PathLike[str] | None = None,
) -> list[list[EpochResult]]:
    """``trained`` for each (model, recipe) of ``runs``, ``jobs`` at a time, each in a process
    of its own that computes on an equal share of PyTorch's threads; the histories, in the order
    of ``runs``. A run kept before is loaded, not trained.

    On a CPU two small networks trained side by side on one thread each finish sooner than one
    after the other on two (a batch of a small network gives two threads too little to share).
    The longest runs (by epochs) start first, so that the last to finish is not one begun late.
    A run's kept folder does not depend on its threads: ``trained`` later loads it whatever
    threads the caller has, and each epoch's row says the threads it had.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs!r}")
    pick_device(device)  # an unknown device fails here, not in a worker
    for k, (model, recipe) in enumerate(runs):
        if (model, recipe) in runs[:k]:  # both would write one folder
            raise ValueError(f"{model} is asked for twice with the same recipe")
    if not runs:
        return []
    base = str(root) if root is not None else str(runs_root())
    order = sorted(range(len(runs)), key=lambda k: -runs[k][1].epochs)
    histories: list[list[EpochResult]] = [[] for _ in runs]
    threads = max(1, torch.get_num_threads() // jobs)
    context = multiprocessing.get_context("spawn")  # no forked copy of torch's thread pools
    with ProcessPoolExecutor(
        min(jobs, len(runs)), mp_context=context,
        initializer=_start_worker, initargs=(train, test, threads),
    ) as pool:  # fmt: skip
        futures = {k: pool.submit(_train_in_worker, *runs[k], seed, device, base) for k in order}
        for k, future in futures.items():
            histories[k] = future.result()
    return histories


_WORKER_DATA: list[MNISTTensors] = []  # a worker process's copy of the data, sent once


def _start_worker(train: MNISTTensors, test: MNISTTensors, threads: int) -> None:
    """A worker process of ``train_together``: its share of the threads, and the data."""
    torch.set_num_threads(threads)
    _WORKER_DATA[:] = [train, test]


def _train_in_worker(
    model: str, recipe: Recipe, seed: int, device: str, root: str
) -> list[EpochResult]:
    """``trained`` in a worker process, each epoch printed with the network's name."""
    train, test = _WORKER_DATA

    def log(row: EpochResult) -> None:
        print(f"{model} {row.summary()}", flush=True)

    return trained(train, test, recipe, seed, device, model, log, root).history
