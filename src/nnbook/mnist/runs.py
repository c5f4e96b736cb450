"""Training runs kept on disk: a chapter executed twice (the build, then nbval) trains once.

A run's folder is named by everything that decides its result: the model, the recipe, the seed,
the device type, the sizes of the data, the versions of PyTorch and the source of the package's
MNIST modules. Change any of them and the next call trains afresh; leave them alone and it loads
the finished run (or resumes an interrupted one from its checkpoint). The folder is
``$NNBOOK_RUNS``, else ``~/.cache/nnbook/runs``; ``.ci/run`` points it into the fresh clone, so
CI's build trains every network once and nbval re-runs the chapters on those runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

import torch

import nnbook.mnist
from nnbook.mnist.data import MNISTTensors
from nnbook.mnist.models import DEFAULT_MODEL, build_model
from nnbook.mnist.trainer import (
    CHECKPOINT,
    DEFAULT_RECIPE,
    HISTORY,
    MODEL,
    EpochResult,
    FitResult,
    Recipe,
    fit,
    pick_device,
)

RUNS_VARIABLE = "NNBOOK_RUNS"


def runs_root(environ: Mapping[str, str] = os.environ) -> Path:
    """Where finished runs are kept: ``$NNBOOK_RUNS``, else ``~/.cache/nnbook/runs``."""
    folder = environ.get(RUNS_VARIABLE, "").strip()
    return Path(folder) if folder else Path.home() / ".cache" / "nnbook" / "runs"


def source_digest() -> str:
    """SHA-256 of the source of every module of ``nnbook.mnist``: a code change is a new run."""
    digest = hashlib.sha256()
    for path in sorted(Path(nnbook.mnist.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
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
    trained (resumed from its checkpoint when an earlier try was interrupted).

    ``on_epoch`` sees every epoch's row either way, so a log printed from it is the same.
    """
    target = pick_device(device)
    base = Path(root) if root is not None else runs_root()
    folder = run_folder(model, recipe, seed, target, (len(train), len(test)), base)
    history = folder / HISTORY
    if (folder / MODEL).is_file() and history.is_file():
        rows = [EpochResult(**row) for row in json.loads(history.read_text())]
        if len(rows) == recipe.epochs:
            network = build_model(model, target)
            network.load_state_dict(torch.load(folder / MODEL, map_location=target))
            for row in rows if on_epoch is not None else ():
                on_epoch(row)
            return FitResult(network, rows)
    resume = (folder / CHECKPOINT).is_file()  # an interrupted earlier try: continue it
    if resume and on_epoch is not None and history.is_file():
        for row in json.loads(history.read_text()):
            on_epoch(EpochResult(**row))
    return fit(
        train, test, recipe, seed=seed, device=str(target), out=folder, resume=resume,
        on_epoch=on_epoch, model=model,
    )  # fmt: skip
