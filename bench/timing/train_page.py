"""How fast "Train it here" trains: a step in headless Chromium against PyTorch, and one pass.

Opens the built page from ``file://`` (build the book first) and measures, for each network
asked for (``--model``, any of ``page_training.TRAINED_MODELS``; ``tiny`` unless told), one
record line each, named by the network and its multiply-adds per image:

- one training step of a network at the page's batch (``nnbookTraining.lossAndGradients`` then
  ``sgdStep``, from the starting weights, on shipped test digits): median of ``--steps`` after
  a warm-up, in the page's own thread;
- the same step in PyTorch on the same CPU (forward, backward, ``torch.optim.SGD``), float64 and
  float32, on one thread as the page's Worker is;
- one pass of the page's own training (a click on Train, the digits loaded first, until the pass
  is done): its seconds, the accuracy on the shipped test digits at its end, and the longest
  task of the page's own thread from the first step on (what the reader waits for, at worst,
  when clicking while the Worker trains; the browser reports tasks over 50 ms).

    python -m bench.timing.train_page
    python -m bench.timing.train_page --record bench/results/train_page.jsonl
    python -m bench.timing.train_page --model separable-31 separable-19

The chapter quotes the latest line (``records.latest("train_page")``), which must be ``tiny``'s:
record another network before ``tiny``, never after it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.common import add_record_flag, best_seconds, positive_int
from bench.provenance import ROOT, append_record, provenance
from nnbook.browser import allow_files_only, chromium
from nnbook.mnist.data import read_raw
from nnbook.mnist.environment import seed_from_environment
from nnbook.mnist.page_training import (
    PAGE_BATCH_SIZE,
    TRAIN_DIGITS,
    TRAINED_MODELS,
    initial_network,
)
from nnbook.mnist.summaries import model_summaries

PAGE = ROOT / "_build" / "html" / "book" / "part2" / "digits.html"
STEP = """([name, rows, labels, steps]) => {
  const start = nnbookLayers.decodeState(nnbookTrainStart.networks[name].state);
  let state = start, buffers = null;
  const options = {lr: 0.01, momentum: 0.9, weightDecay: 0, nesterov: true};
  const times = [];
  for (let k = 0; k < steps + 3; k++) {
    const started = performance.now();
    const {gradients} = nnbookTraining.lossAndGradients(name, state, rows, labels, null);
    ({state, buffers} = nnbookTraining.sgdStep(state, gradients, buffers, options));
    if (k >= 3) times.push(performance.now() - started);  // after a warm-up of three
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}"""

LONG_TASKS = """() => {
  window.longTasks = [];
  new PerformanceObserver(list => window.longTasks.push(...list.getEntries().map(e => e.duration)))
    .observe({type: 'longtask'});
}"""


def page_step_ms(page, name: str, images: torch.Tensor, labels: torch.Tensor, steps: int) -> float:
    rows = (images[:PAGE_BATCH_SIZE].reshape(PAGE_BATCH_SIZE, -1).double() / 255).flatten()
    batch = labels[:PAGE_BATCH_SIZE].tolist()
    return page.evaluate(STEP, [name, rows.tolist(), batch, steps])


def torch_step_ms(
    name: str, images: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype, scale: tuple
) -> float:
    """PyTorch's step on the same batch, one thread: best of five timings of 10 steps."""
    network = initial_network(name, seed_from_environment()).to(dtype).train()
    mean, std = scale
    batch = ((images[:PAGE_BATCH_SIZE].to(dtype) / 255 - mean) / std).unsqueeze(1)
    target = labels[:PAGE_BATCH_SIZE]
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step() -> None:
        optimizer.zero_grad()
        F.nll_loss(network(batch), target).backward()
        optimizer.step()

    ten_steps = lambda: [step() for _ in range(10)]  # noqa: E731
    return 1000 * best_seconds(ten_steps, repeats=5, device=torch.device("cpu")) / 10


def one_pass(page, name: str) -> dict[str, object]:
    """Train, from a click to the end of one pass; the page's own figures at its end."""
    page.select_option("#nnbook-train-model", name)
    started = time.perf_counter()
    page.click('button[data-action="train"]')
    page.wait_for_function(
        "() => Number(document.querySelector('[data-training-steps]').dataset.trainingSteps) > 0"
    )
    page.evaluate(LONG_TASKS)
    page.wait_for_function(
        "() => /Pass 1 done/.test(document.querySelector('.nnbook-train-status').textContent)",
        timeout=900_000,
    )
    seconds = time.perf_counter() - started
    steps = int(page.locator("[data-training-steps]").get_attribute("data-training-steps"))
    accuracy = page.locator("[data-training-accuracy]").get_attribute("data-training-accuracy")
    long_tasks = page.evaluate("window.longTasks")
    return {
        "digits": TRAIN_DIGITS,
        "longest page task ms": max(long_tasks, default=0),
        "steps": steps,
        "seconds": seconds,
        "test accuracy": float(accuracy),
    }


def measure(page_path: Path, name: str, steps: int, images, labels) -> dict[str, object]:
    """One record line of ``name``: its step in a fresh page and PyTorch's, and one pass."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        blocked = allow_files_only(page)
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_function("() => window.nnbookTraining && window.nnbookTrainStart")
        # the normalisation of the network the page trains (drawn or not)
        scale = page.evaluate(
            "n => [nnbookLayers.exported(n).mean, nnbookLayers.exported(n).std]", name
        )
        in_page = page_step_ms(page, name, images, labels, steps)
        passed = one_pass(page, name)
        version = browser.version
    if blocked:
        raise RuntimeError(f"the page asked for {blocked}")
    return {
        "network": name,
        # the network's version: a chapter quotes only lines of today's network
        "multiply-adds per image": int(model_summaries().loc[name, "MACs per image"]),
        "batch": PAGE_BATCH_SIZE,
        "chromium": version,
        "page ms per step": in_page,
        "torch float64 ms per step": torch_step_ms(name, images, labels, torch.float64, scale),
        "torch float32 ms per step": torch_step_ms(name, images, labels, torch.float32, scale),
        "pass": passed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["tiny"], choices=TRAINED_MODELS)
    parser.add_argument("--steps", type=positive_int, default=20, help="timed steps in the page")
    parser.add_argument("--page", type=Path, default=PAGE, help="the built digits page")
    add_record_flag(parser, "bench/results/train_page.jsonl")
    args = parser.parse_args()
    if not args.page.is_file():
        parser.error(f"no {args.page}: build the book first")
    torch.set_num_threads(1)  # the page's Worker is one thread
    origin = provenance("cpu")
    _, _, images, labels = read_raw(download=False)
    for name in args.model:
        record = measure(args.page, name, args.steps, images, labels)
        passed = record["pass"]
        print(
            f"{name}, batch {PAGE_BATCH_SIZE}, {record['multiply-adds per image']:,} "
            f"multiply-adds per image: {record['page ms per step']:.1f} ms a step in the page, "
            f"{record['torch float64 ms per step']:.1f} ms PyTorch float64, "
            f"{record['torch float32 ms per step']:.1f} ms float32 (one thread); one pass: "
            f"{passed['steps']} steps in {passed['seconds']:.0f} s, "
            f"{100 * passed['test accuracy']:.1f} % of the shipped test digits; the page's "
            f"longest task meanwhile {passed['longest page task ms']:.0f} ms"
        )
        if args.record:
            append_record(args.record, origin | record)


if __name__ == "__main__":
    main()
