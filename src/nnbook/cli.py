"""``python -m nnbook``: the book's computations from the command line.

Every subcommand is a thin layer over the library; bad input ends with a message and status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence

from nnbook.network import (
    BIASES,
    DEFAULT_ITERATIONS,
    DEFAULT_LEARNING_RATE,
    INITIAL_WEIGHTS,
    INPUTS,
    LEARNING_RATES,
    TARGETS,
    WEIGHT_NAMES,
)


class UsageError(Exception):
    """Bad input from the command line: reported as ``nnbook: error: …``, exit status 2."""


def _backprop(args: argparse.Namespace) -> None:
    from nnbook.backprop import DivergenceError, train

    try:
        table = train(
            args.lr, args.iterations, args.weights, args.inputs, args.targets, args.biases,
            args.train_biases,
        )  # fmt: skip
    except (ValueError, DivergenceError) as error:
        raise UsageError(str(error)) from None
    if args.format == "json":
        json.dump(table.to_dict(orient="records"), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        table.to_csv(sys.stdout, index=False)


def _add_network_numbers(parser: argparse.ArgumentParser) -> None:
    """The flags that set the network's numbers, shared by ``backprop`` and ``spreadsheet``."""
    numbers = (
        ("--weights", "W", INITIAL_WEIGHTS, f"starting weights {' '.join(WEIGHT_NAMES)}"),
        ("--inputs", "I", INPUTS, "inputs i1 i2"),
        ("--targets", "T", TARGETS, "targets t1 t2"),
        ("--biases", "B", BIASES, "biases b1 (hidden units) b2 (output units)"),
    )
    for flag, metavar, default, what in numbers:
        parser.add_argument(
            flag, type=float, nargs="+", default=list(default), metavar=metavar,
            help=f"{what} (default: {' '.join(map(str, default))}, the class's)",
        )  # fmt: skip
    parser.add_argument(
        "--train-biases", action="store_true",
        help="update the biases too, b ← b − η·∂E_total/∂b (default: they stay fixed)",
    )  # fmt: skip


def _add_backprop(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "backprop",
        help="train the 2-2-2 network of Part 1 and print one row per iteration",
        description="Rows: the state after k updates (weights, biases, forward pass, "
        "gradients). Every number of the network can be set; the defaults are the class's.",
    )
    parser.add_argument(
        "--lr", type=float, default=DEFAULT_LEARNING_RATE,
        help=f"learning rate η (default {DEFAULT_LEARNING_RATE})",
    )  # fmt: skip
    parser.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help=f"number of updates T; rows 0..T are printed (default {DEFAULT_ITERATIONS})",
    )
    _add_network_numbers(parser)
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.set_defaults(run=_backprop)


def _recipe(args: argparse.Namespace) -> object:
    """The recipe ``train`` asked for: the model's (or the class's, or the GPU's), with the
    changes given on the command line."""
    import dataclasses

    from nnbook.mnist.recipes import CLASS_RECIPE, recipe_for

    if args.recipe == "class":
        base = CLASS_RECIPE
    else:
        base = recipe_for(args.model, gpu=args.recipe == "gpu")
    changes = {
        name: value
        for name, value in (
            ("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr),
            ("momentum", args.momentum), ("weight_decay", args.weight_decay),
            ("schedule", args.schedule), ("augment", args.augment),
            ("clean_last_epochs", args.clean_last_epochs),
        )
        if value is not None
    }  # fmt: skip
    if args.epochs is not None and args.clean_last_epochs is None:  # a shorter run of the answer
        changes["clean_last_epochs"] = min(base.clean_last_epochs, max(args.epochs, 0))
    return dataclasses.replace(base, **changes)


def _train(args: argparse.Namespace) -> None:
    import torch

    from nnbook.mnist.data import MNISTDataError, load
    from nnbook.mnist.environment import pick_device
    from nnbook.mnist.networks import check_model
    from nnbook.mnist.trainer import FitOptions, fit

    try:
        check_model(args.model)
        recipe = _recipe(args)
        pick_device(args.device)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        data = load(args.data)
    except (ValueError, MNISTDataError) as error:
        raise UsageError(str(error)) from None
    train, test = data.train, data.test
    if args.limit_train:
        train = train.subset(args.limit_train)
    if args.limit_test:
        test = test.subset(args.limit_test)
    options = FitOptions(
        device=args.device, out=args.out, resume=args.resume, progress=not args.quiet,
        on_epoch=lambda row: print(row.summary(), flush=True),
        deterministic=args.deterministic, cuda_graph=args.cuda_graph,
    )  # fmt: skip
    try:
        result = fit(train, test, recipe, seed=args.seed, model=args.model, options=options)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    print(f"final test accuracy {result.final_test_accuracy:.4f}; saved in {args.out}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


#: ``nnbook.mnist.networks.DEFAULT_MODEL``, repeated here so that building the parser (for the
#: commands of Part 1 too) does not load PyTorch; a test holds the two equal.
DEFAULT_MODEL = "net"


def _add_train(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train an MNIST network of Part 2",
        description="Per-epoch history in OUT/history.json, weights in OUT/model.pt, a "
        "checkpoint in OUT/checkpoint.pt after every epoch. "
        "Options left unset take the recipe's value. "
        "Repeatable: on the CPU the same seed gives the same history on the same machine and "
        "thread count, and --resume ends with the weights of an uninterrupted run. On CUDA "
        "that holds only with --deterministic (cuDNN otherwise picks the fastest kernels, "
        "some of which add in a varying order).",
    )
    parser.add_argument(
        "--model", default=DEFAULT_MODEL,
        help=f"the network (default {DEFAULT_MODEL}; `nnbook models` lists them)",
    )  # fmt: skip
    parser.add_argument(
        "--recipe", choices=("default", "gpu", "class"), default="default",
        help="the book's one-cycle recipe for that model; its GPU version (batch 256, the peak "
        "rate scaled by the square root of the batches' ratio; net: 16 epochs); or the class "
        "notes' constant-rate SGD",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", type=int,
        help="override the recipe's epochs (its clean last epochs, if more, become all of them)",
    )  # fmt: skip
    parser.add_argument(
        "--clean-last-epochs", type=int, help="how many last epochs see unaugmented digits"
    )
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, help="peak (one-cycle) or constant learning rate")
    parser.add_argument("--momentum", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--schedule", choices=("onecycle", "constant"))
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--threads", type=_positive_int, help="CPU threads for PyTorch")
    parser.add_argument("--data", help="MNIST root (default: $MNIST_ROOT, else data/)")
    parser.add_argument("--out", default="runs/mnist", help="output folder (default runs/mnist)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument(
        "--limit-train", type=_positive_int, help="use the first N training images"
    )
    parser.add_argument("--limit-test", type=_positive_int, help="use the first N test images")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--deterministic", action="store_true",
        help="deterministic algorithms only (CUDA: repeatable runs, somewhat slower steps; "
        "the CPU is repeatable without it)",
    )  # fmt: skip
    parser.add_argument(
        "--cuda-graph", action=argparse.BooleanOptionalAction, default=True,
        help="CUDA: record one training step as a CUDA graph and replay it for every batch, "
        "whole batches only (default); the CPU ignores it",
    )  # fmt: skip
    parser.set_defaults(run=_train)


def _book_runs(args: argparse.Namespace) -> None:
    from nnbook.mnist.data import MNISTDataError, load
    from nnbook.mnist.environment import seed_from_environment
    from nnbook.mnist.recipes import BUILD_RUNS
    from nnbook.mnist.runs import runs_root, train_together

    try:
        seed = seed_from_environment()
        data = load(args.data)
    except (ValueError, MNISTDataError) as error:
        raise UsageError(str(error)) from None
    print(f"training {len(BUILD_RUNS)} runs with seed {seed}, {args.jobs} at a time, into "
          f"{runs_root()}", flush=True)  # fmt: skip
    started = time.perf_counter()
    histories = train_together(data.train, data.test, BUILD_RUNS, seed, args.jobs)
    for (model, _), history in zip(BUILD_RUNS, histories, strict=True):
        print(f"{model}: final test accuracy {history[-1].test_accuracy:.4f}")
    print(f"{time.perf_counter() - started:.0f} s on the clock, loading kept runs included")


def _add_book_runs(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "book-runs",
        help="train the networks the book's chapters train, and keep them for its build",
        description="Train every run the chapters of Part 2 train (net, and the steps of 'How "
        "small can it go' the build trains), with the book's seed ($NNBOOK_SEED, else 1), "
        "JOBS at a time, each on its share of the CPU's threads, and keep them in $NNBOOK_RUNS "
        "(else ~/.cache/nnbook/runs): executing the chapters then loads them. Runs kept before "
        "are loaded, not trained.",
    )
    parser.add_argument("--jobs", type=_positive_int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--data", help="MNIST root (default: $MNIST_ROOT, else data/)")
    parser.set_defaults(run=_book_runs)


def _models(args: argparse.Namespace) -> None:
    from nnbook.mnist.summaries import model_summaries

    table = model_summaries()
    print(table.to_csv().rstrip("\n") if args.format == "csv" else table.to_string())


def _add_models(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "models",
        help="list the MNIST networks with parameters, MACs and receptive field",
        description="Every network `nnbook train --model` accepts, in the order the book meets "
        "them.",
    )
    parser.add_argument("--format", choices=("table", "csv"), default="table")
    parser.set_defaults(run=_models)


def _spreadsheet(args: argparse.Namespace) -> None:
    from nnbook.spreadsheet import SheetNumbers, write_workbook

    try:
        numbers = SheetNumbers(
            args.weights, args.inputs, args.targets, args.biases, args.train_biases
        )
        path = write_workbook(args.out, args.learning_rates, args.iterations, numbers)
    except ValueError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"cannot write {args.out}: {error.strerror or error}") from None
    print(f"wrote {path}")


def _add_spreadsheet(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "spreadsheet",
        help="write the class backprop workbook (.xlsx) with live formulas",
        description="One sheet per learning rate, every computed cell a formula printed from "
        "the SymPy derivation. An existing OUT is replaced only by a complete workbook.",
    )
    parser.add_argument("out", metavar="OUT.xlsx")
    parser.add_argument(
        "--iterations", type=int, default=DEFAULT_ITERATIONS,
        help=f"rows 0..T on each sheet (default {DEFAULT_ITERATIONS})",
    )  # fmt: skip
    parser.add_argument(
        "--learning-rates", type=float, nargs="+", default=list(LEARNING_RATES), metavar="ETA",
        help="one sheet per learning rate (default: " + " ".join(map(str, LEARNING_RATES)) + ")",
    )  # fmt: skip
    _add_network_numbers(parser)
    parser.set_defaults(run=_spreadsheet)


def _pdf(args: argparse.Namespace) -> None:
    from pathlib import Path

    from nnbook.pdf import build_pdf

    try:
        path = build_pdf(Path(args.html), Path(args.toc), Path(args.config))
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        raise UsageError(str(error)) from None
    print(f"wrote {path}")


def _add_pdf(commands: argparse._SubParsersAction) -> None:
    from nnbook.pdf import ROOT

    parser = commands.add_parser(
        "pdf",
        help="print the built book to one PDF (after jupyter-book build)",
        description="Joins every page of the built HTML book, in the order of _toc.yml, and has "
        "Chromium typeset and print it: HTML/nnbook.pdf. Nothing is executed again.",
    )
    parser.add_argument("--html", default=str(ROOT / "_build" / "html"), help="the built book")
    parser.add_argument("--toc", default=str(ROOT / "_toc.yml"))
    parser.add_argument("--config", default=str(ROOT / "_config.yml"))
    parser.set_defaults(run=_pdf)


#: Each subcommand registers itself with one of these.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_backprop, _add_train, _add_book_runs, _add_models, _add_spreadsheet, _add_pdf,
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnbook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except UsageError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return 0
