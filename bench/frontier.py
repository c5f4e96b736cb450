"""The frontier of "How small can it go": Tiny narrower and narrower, each on seeds 1-3.

Trains every network of ``nnbook.mnist.networks.FRONTIER``, largest first, with the last step's
recipe (``recipe_for``), once per seed, and appends one line per network to the seeds record,
as ``bench/seeds.py`` does. It stops after the first network that misses the target on some
seed's final epoch: the record then shows where the frontier ends.

    MNIST_ROOT=../shared/mnist python bench/frontier.py --record bench/results/seeds.jsonl
    MNIST_ROOT=../shared/mnist python bench/frontier.py --models tiny-6 tiny-5 --seeds 1
    MNIST_ROOT=../shared/mnist python bench/frontier.py --jobs 2  # two seeds at a time
    MNIST_ROOT=../shared/mnist python bench/frontier.py --family separable --jobs 3

``--evaluation-seeds`` (by themselves: ``EVALUATION_SEEDS``, 101 to 110) trains networks already
chosen on evaluation seeds instead, to judge them (``bench/seeds.py`` tells the roles apart):
every network named is trained, none stops the frontier, and each line records ``"role":
"evaluation"``.

    MNIST_ROOT=../shared/mnist python bench/frontier.py --models separable-19 --evaluation-seeds

``--family separable`` trains the answer's frontier instead (``SEPARABLE_FRONTIER``:
``separable-31`` narrower and narrower after the pool, with the answer's recipe).

Each network of the frontier costs less than Tiny (whose 15 epochs take about 3 minutes on one
thread of a 2-core AMD EPYC with AVX-512); the whole frontier on three seeds about half an hour.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from provenance import append_record, provenance
from seeds import add_seed_arguments, chosen_seeds, train_seeds

from nnbook.mnist import load
from nnbook.mnist.environment import pick_device
from nnbook.mnist.networks import FRONTIER, SEPARABLE_FRONTIER
from nnbook.mnist.recipes import recipe_for
from nnbook.mnist.targets import FINAL_SEEDS, TARGET_ACCURACY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    families = {"tiny": FRONTIER, "separable": SEPARABLE_FRONTIER}
    parser.add_argument("--family", choices=tuple(families), default="tiny")
    parser.add_argument(
        "--models", nargs="+", choices=(*FRONTIER, *SEPARABLE_FRONTIER),
        help="these networks of either family, in this order (default: the whole family)",
    )  # fmt: skip
    add_seed_arguments(parser, default=list(FINAL_SEEDS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=1, help="seeds at a time (one thread each)")
    parser.add_argument(
        "--keep-going", action="store_true",
        help="train every network, even below one that misses the target",
    )  # fmt: skip
    parser.add_argument(
        "--record", type=Path, metavar="JSONL",
        help="append one line per network to this file (bench/results/seeds.jsonl)",
    )  # fmt: skip
    args = parser.parse_args()
    models = args.models or list(families[args.family])
    role, chosen = chosen_seeds(parser, args)
    if args.jobs < 1:
        parser.error(f"--jobs must be 1 or more, got {args.jobs}")
    if args.jobs > 1:
        torch.set_num_threads(1)  # each process's, as the record's provenance says
    device = pick_device(args.device)
    origin = provenance(device)  # the commit and tree that run, before any of it
    print(f"{device}, {torch.get_num_threads()} threads")
    data = load()
    for model in models:
        line = train_seeds(
            model, recipe_for(model), chosen, device, data, TARGET_ACCURACY, args.jobs, role
        )
        if args.record:
            append_record(args.record, origin | line)
        if role == "evaluation" or args.keep_going:
            continue  # evaluation seeds choose nothing: not even where the frontier ends
        if min(line["final accuracy"]) < TARGET_ACCURACY:
            print(f"{model} misses {100 * TARGET_ACCURACY:.1f} % on some seed: the frontier ends")
            break


if __name__ == "__main__":
    main()
