"""The frontier of "How small can it go": Tiny narrower and narrower, each on seeds 1-3.

Trains every network of ``nnbook.mnist.networks.FRONTIER``, largest first, with the last step's
recipe (``recipe_for``), once per seed, and appends one line per network to the seeds record, as
``bench/experiments/seeds.py`` does. It stops after the first network that misses the target on
some seed's final epoch: the record then shows where the frontier ends.

    python -m bench.experiments.frontier --record bench/results/seeds.jsonl
    python -m bench.experiments.frontier --models tiny-6 tiny-5 --seeds 1
    python -m bench.experiments.frontier --jobs 2  # two seeds at a time
    python -m bench.experiments.frontier --family separable --jobs 3

``--evaluation-seeds`` (by themselves: ``EVALUATION_SEEDS``, 101 to 110) trains networks already
chosen on evaluation seeds instead, to judge them (``bench/experiments/seeds.py`` tells the roles
apart): every network named is trained, none stops the frontier, and each line records ``"role":
"evaluation"``.

    python -m bench.experiments.frontier --models separable-19 --evaluation-seeds

``--family separable`` trains the answer's frontier instead (``SEPARABLE_FRONTIER``:
``separable-31`` narrower and narrower after the pool, with the answer's recipe).

Each network of the frontier costs less than Tiny (whose 15 epochs take about 3 minutes on one
thread of a 2-core AMD EPYC with AVX-512); the whole frontier on three seeds about half an hour.
"""

from __future__ import annotations

import argparse

import torch

from bench.common import (
    add_jobs_flag,
    add_record_flag,
    add_seed_flags,
    add_threads_flag,
    chosen_seeds,
    use_threads,
)
from bench.experiments.seeds import train_seeds
from bench.provenance import append_record, provenance
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
    add_seed_flags(parser, default=list(FINAL_SEEDS))
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--keep-going", action="store_true",
        help="train every network, even below one that misses the target",
    )  # fmt: skip
    add_jobs_flag(parser)
    add_threads_flag(parser)
    add_record_flag(parser, "bench/results/seeds.jsonl, one line per network")
    args = parser.parse_args()
    use_threads(args)
    models = args.models or list(families[args.family])
    role, chosen = chosen_seeds(parser, args)
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
