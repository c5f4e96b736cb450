"""Training runs kept on disk: a chapter executed twice (the build, then nbval) trains once.

A run's folder is named by everything that decides its result: the model, the recipe, the seed,
the device type, the sizes of the data, the versions of PyTorch and the source of the modules
that train (``trainer`` and every module of the package it imports). Change any of them and the
next call trains afresh; leave them alone and it loads the finished run (or resumes an
interrupted one from its checkpoint). A kept file that cannot be read (a half-copied folder, a
full disk) is not trusted: the run is trained afresh, with a ``RunFileWarning``. The folder is
``$NNBOOK_RUNS``, else ``~/.cache/nnbook/runs``; ``.ci/run`` points it into the fresh clone, so
CI's build trains every network once and nbval re-runs the chapters on those runs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict
from importlib.util import find_spec
from pathlib import Path

import torch

from nnbook.mnist.data import MNISTTensors
from nnbook.mnist.models import DEFAULT_MODEL, build_model
from nnbook.mnist.recipes import DEFAULT_RECIPE, Recipe
from nnbook.mnist.trainer import (
    CHECKPOINT,
    HISTORY,
    MODEL,
    EpochResult,
    FitResult,
    RunFileError,
    fit,
    load_run_file,
    pick_device,
)

RUNS_VARIABLE = "NNBOOK_RUNS"


def runs_root(environ: Mapping[str, str] = os.environ) -> Path:
    """Where finished runs are kept: ``$NNBOOK_RUNS``, else ``~/.cache/nnbook/runs``."""
    folder = environ.get(RUNS_VARIABLE, "").strip()
    return Path(folder) if folder else Path.home() / ".cache" / "nnbook" / "runs"


class RunFileWarning(UserWarning):
    """A kept run's file could not be read; the run is trained afresh."""


#: The module that trains; the digest covers it and what it imports.
TRAINING_MODULE = "nnbook.mnist.trainer"


def _imported_modules(module: str) -> set[str]:
    """``module`` and every ``nnbook`` module it imports, directly or through another, read from
    their import statements (those inside functions too) and their packages' ``__init__``."""

    def source(name: str) -> Path | None:  # None: not a module (a class imported from one)
        try:
            spec = find_spec(name)
        except ModuleNotFoundError:
            return None
        return Path(spec.origin) if spec is not None and spec.origin else None

    seen: set[str] = set()
    waiting = [module]
    while waiting:
        name = waiting.pop()
        if name in seen or source(name) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        waiting += [".".join(parts[:k]) for k in range(1, len(parts))]  # packages run first
        tree = ast.parse(source(name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nnbook"):
                waiting.append(node.module)
                waiting += [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                waiting += [a.name for a in node.names if a.name.startswith("nnbook")]
    return seen


def source_digest() -> str:
    """SHA-256 of the source of ``trainer`` and every module it imports: a change to any of them
    is a new run; a change to a module training never runs (a plot, the page export) is not."""
    digest = hashlib.sha256()
    for name in sorted(_imported_modules(TRAINING_MODULE)):
        digest.update(name.encode() + b"\0" + Path(find_spec(name).origin).read_bytes())
    return digest.hexdigest()


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
        train, test, recipe, seed=seed, device=str(target), out=folder, resume=resume,
        on_epoch=on_epoch, model=model,
    )  # fmt: skip
