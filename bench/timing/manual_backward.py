"""Backpropagation by hand against PyTorch: one batch forward and backward through a network.

Times ``nnbook.mnist.manual.loss_and_gradients`` (NumPy, float64: im2col and one matrix product
per convolution; Part 2's network, not Part 1's ``nnbook.backprop``) and PyTorch's forward and
``backward()`` on the same batch of random images, in float64 and in float32, best of
``--repeats`` after a warm-up (``speed.best_seconds``), in one process.

    python -m bench.timing.manual_backward  # net, batch 64
    python -m bench.timing.manual_backward --models net tiny --record bench/results/backprop.jsonl

``--record`` appends one line per call (where it ran, ``provenance.py``, and the seconds of
each); the chapter "Backpropagation through the network" reads that file (its record keeps the
name ``backprop``, which this script had before).
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from bench.common import (
    add_record_flag,
    add_threads_flag,
    best_seconds,  # one timing loop for every bench script
    positive_int,
    use_threads,
)
from bench.provenance import append_record, provenance
from nnbook.mnist.manual import loss_and_gradients
from nnbook.mnist.networks import MODELS, build_model


def timings(model: str, batch_size: int, repeats: int) -> dict[str, float]:
    """Seconds of one forward and backward pass of ``model`` on a batch, three ways."""
    torch.manual_seed(0)
    network = build_model(model).train()
    images = torch.randn(batch_size, 1, 28, 28)
    labels = torch.randint(0, 10, (batch_size,))
    images_np, labels_np = images.double().numpy(), labels.numpy()
    cpu = torch.device("cpu")
    seconds = {"numpy float64": best_seconds(
        lambda: loss_and_gradients(network, images_np, labels_np), repeats, cpu
    )}  # fmt: skip
    for name, dtype in (("pytorch float64", torch.float64), ("pytorch float32", torch.float32)):
        typed = build_model(model).to(dtype).train()
        typed.load_state_dict(network.state_dict())
        batch = images.to(dtype).contiguous(memory_format=typed.memory_format)

        def step(typed=typed, batch=batch) -> None:
            typed.zero_grad(set_to_none=True)
            F.nll_loss(typed(batch), labels).backward()

        seconds[name] = best_seconds(step, repeats, cpu)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=["net"])
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--repeats", type=positive_int, default=10)
    add_threads_flag(parser)
    add_record_flag(parser, "bench/results/backprop.jsonl")
    args = parser.parse_args()
    use_threads(args)
    if args.batch_size < 1 or args.repeats < 1:
        parser.error("--batch-size and --repeats must be positive whole numbers")
    origin = provenance("cpu")
    rows = []
    for model in args.models:
        seconds = timings(model, args.batch_size, args.repeats)
        rows.append({"model": model, "batch size": args.batch_size, "seconds": seconds})
        ratio = seconds["numpy float64"] / seconds["pytorch float64"]
        shown = ", ".join(f"{name} {1000 * s:.1f} ms" for name, s in seconds.items())
        print(f"{model}, batch {args.batch_size}: {shown}; NumPy/PyTorch (float64) {ratio:.1f}")
    if args.record:
        append_record(args.record, origin | {"repeats": args.repeats, "runs": rows})


if __name__ == "__main__":
    main()
