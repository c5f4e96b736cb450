"""Training on a GPU in seconds: one whole training step captured as a CUDA graph, then replayed.

On a GPU, a step of the book's small networks is a few hundred tiny kernels; launched one at a
time from Python they leave the GPU waiting on the CPU most of the time. ``CapturedStep`` records
one step (take the batch, augment it, forward, backward, the SGD update, the running loss and
accuracy) once with ``torch.cuda.graph`` and replays the recording for every batch: one launch
per step instead of hundreds.

A graph replays the same kernels on the same memory, which shapes the code:

- every batch has the same size: the ``len(data) % batch_size`` examples left over after the
  last whole batch sit out that epoch (different ones each epoch, as the order is reshuffled);
- the batch is chosen through a fixed index tensor, which the CPU refills before each replay;
- the one-cycle schedule changes the learning rate and the momentum every step, but
  ``torch.optim.SGD`` reads them as Python numbers, which a recording would freeze. The update
  is therefore written out (``sgd_update_``) on two device tensors that are refilled from the
  optimiser's own ``param_groups`` before each replay, so ``OneCycleLR``, ``state_dict()``,
  checkpoints and resume stay those of the CPU path. A test checks it against ``torch.optim.SGD``.

With ``capture=False`` the same step runs eagerly, on any device: that is how the CPU tests check
it against ``trainer.train_epoch``.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from nnbook.mnist.data import MNISTTensors, random_affine

#: Steps run before the capture, on a side stream, so that cuDNN and the autograd engine have
#: allocated their workspaces.
WARMUP_STEPS = 3


def sgd_update_(
    params: list[torch.Tensor],
    grads: list[torch.Tensor] | tuple[torch.Tensor, ...],
    momenta: list[torch.Tensor],
    lr: torch.Tensor,
    momentum: torch.Tensor,
    weight_decay: float,
    nesterov: bool,
) -> None:
    """One SGD step in place, as ``torch.optim.SGD`` takes it, with ``lr`` and ``momentum`` read
    from (0-dimensional) tensors at run time. ``momenta`` start at zero: then the first step's
    buffer equals the gradient, as SGD's ``clone`` of it does.
    """
    with torch.no_grad():
        for p, g, buf in zip(params, grads, momenta, strict=True):
            d = g.add(p, alpha=weight_decay)  # eq-sgd-step's g = ∂L/∂w + λ·w
            buf.mul_(momentum).add_(d)  # its velocity: u ← α·u + g
            d = d.add(buf * momentum) if nesterov else buf  # Nesterov: g + α·u
            p.sub_(d * lr)  # w ← w − η·(g + α·u)


class CapturedStep:
    """A training step of ``network`` on batches of ``data``, recorded once and replayed.

    ``optimizer`` is the ``torch.optim.SGD`` that ``make_optimizer`` built (its momentum buffers
    are created here, as zeros, if it has none yet); ``scheduler`` steps it as on the CPU.
    Capturing trains ``WARMUP_STEPS`` steps; the weights, buffers, momenta and the GPU's random
    state are put back afterwards, so the run starts exactly where it stood.
    """

    def __init__(
        self,
        network: nn.Module,
        optimizer: torch.optim.Optimizer,
        data: MNISTTensors,
        batch_size: int,
        augment: dict[str, float] | None,
        capture: bool = True,
    ) -> None:
        if len(data) < batch_size:
            raise ValueError(
                f"a captured step needs at least one whole batch: {len(data)} examples, "
                f"batch size {batch_size}"
            )
        if len(optimizer.param_groups) != 1:
            raise ValueError("a captured step takes an optimiser with one parameter group")
        if optimizer.param_groups[0].get("dampening", 0) or optimizer.param_groups[0].get(
            "maximize", False
        ):
            raise ValueError("a captured step takes SGD without dampening, minimising")
        self.network, self.optimizer, self.data = network, optimizer, data
        self.batch_size, self.augment = batch_size, augment
        group = optimizer.param_groups[0]
        self.params: list[torch.Tensor] = list(group["params"])
        self.momenta = [
            optimizer.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
            for p in self.params
        ]
        device, dtype = data.images.device, self.params[0].dtype
        self.lr = torch.tensor(float(group["lr"]), dtype=dtype, device=device)
        self.momentum = torch.tensor(float(group["momentum"]), dtype=dtype, device=device)
        self.index = torch.arange(batch_size, device=device)
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None
        if capture:
            self._capture()

    def step(self) -> None:
        """The step itself: what the graph records. Reads ``index``, ``lr`` and ``momentum``."""
        images = self.data.images[self.index]
        labels = self.data.labels[self.index]
        if self.augment is not None:
            images = random_affine(images, **self.augment)  # the device's own random stream
        log_probs = self.network(images)
        loss = F.nll_loss(log_probs, labels)
        grads = torch.autograd.grad(loss, self.params)
        group = self.optimizer.param_groups[0]
        sgd_update_(
            self.params,
            grads,
            self.momenta,
            self.lr,
            self.momentum,
            group["weight_decay"],
            group["nesterov"],
        )
        with torch.no_grad():
            self.loss_sum += loss * len(labels)
            self.correct += (log_probs.argmax(1) == labels).sum()

    def _capture(self) -> None:
        device = self.data.images.device
        saved_state = {k: v.clone() for k, v in self.network.state_dict().items()}
        saved_momenta = [m.clone() for m in self.momenta]
        saved_rng = torch.cuda.get_rng_state(device)
        self.network.train()
        # cuDNN picks its algorithms by heuristics (benchmark mode timed them for 4 s at every
        # new batch size and made the steps no faster, bench/timing/gpu.py).
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self.step()
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.step()
        # The warm-up trained the network: put weights, momenta and random state back.
        self.network.load_state_dict(saved_state)  # copies in place: the graph's memory
        for momentum, saved in zip(self.momenta, saved_momenta, strict=True):
            momentum.copy_(saved)
        torch.cuda.set_rng_state(saved_rng, device)

    def train_epoch(
        self,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        generator: torch.Generator,
        averaged: AveragedModel | None = None,
    ) -> tuple[float, float]:
        """One pass in shuffled whole batches; returns (mean NLL loss, accuracy) over them.
        With ``averaged``, the average of the weights takes in every step's (after the replay,
        outside the graph)."""
        self.network.train()
        order = torch.randperm(len(self.data), generator=generator).to(self.index.device)
        steps = len(self.data) // self.batch_size
        self.loss_sum.zero_()
        self.correct.zero_()
        group = self.optimizer.param_groups[0]
        with warnings.catch_warnings():
            # The update is sgd_update_, not optimizer.step(), which the scheduler looks for.
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            for step in range(steps):
                self._replay(step, order, group, scheduler)
                if averaged is not None:
                    averaged.update_parameters(self.network)
        seen = steps * self.batch_size
        return self.loss_sum.item() / seen, self.correct.item() / seen

    def _replay(
        self,
        step: int,
        order: torch.Tensor,
        group: dict,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
    ) -> None:
        self.index.copy_(order[step * self.batch_size : (step + 1) * self.batch_size])
        self.lr.fill_(group["lr"])  # this step's rate and momentum, from the schedule
        self.momentum.fill_(group["momentum"])
        if self.graph is not None:
            self.graph.replay()
        else:
            self.step()
        scheduler.step()
