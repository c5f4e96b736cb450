"""``python -m nnbook``: the book's computations from the command line.

Every subcommand is a thin layer over the library; bad input ends with a message and status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from nnbook.network import DEFAULT_ITERATIONS, INITIAL_WEIGHTS, WEIGHT_NAMES


class UsageError(Exception):
    """Bad input from the command line: reported as ``nnbook: error: …``, exit status 2."""


def _backprop(args: argparse.Namespace) -> None:
    from nnbook.backprop import DivergenceError, train

    try:
        table = train(args.lr, args.iterations, args.weights)
    except (ValueError, DivergenceError) as error:
        raise UsageError(str(error)) from None
    if args.format == "json":
        json.dump(table.to_dict(orient="records"), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        table.to_csv(sys.stdout, index=False)


def _add_backprop(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "backprop",
        help="train the class network of Part 1 and print one row per iteration",
        description="Rows: the state after k updates (weights, forward pass, gradients).",
    )
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate η (default 0.5)")
    parser.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help=f"number of updates N; rows 0..N are printed (default {DEFAULT_ITERATIONS})",
    )
    parser.add_argument(
        "--weights",
        type=float,
        nargs="+",
        default=list(INITIAL_WEIGHTS),
        metavar="W",
        help=f"starting weights {' '.join(WEIGHT_NAMES)} (default: the class's)",
    )
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.set_defaults(run=_backprop)


#: Each subcommand registers itself with one of these.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_backprop]


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
