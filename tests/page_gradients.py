"""The page's backward passes (``window.nnbookTraining`` of ``book/_static/layers.js``) against
``torch.autograd`` in float64, for any network the page knows: what ``test_train_page`` checks
on the built book and ``test_page_layers`` on the sources alone."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnbook.mnist.manual import largest_relative_difference

TOLERANCE = 1e-9  # float64 in both; the same sums in another order differ by ~1e-15


def as_page_state(network: nn.Module) -> dict[str, dict]:
    return {
        key: {"shape": list(value.shape), "data": value.double().flatten().tolist()}
        for key, value in network.state_dict().items()
        if value.is_floating_point()
    }


def randomised(network: nn.Module, seed: int) -> nn.Module:
    """``network`` in float64 with random weights and running statistics."""
    generator = torch.Generator().manual_seed(seed)
    network = network.double()
    with torch.no_grad():
        for key, value in network.state_dict().items():
            if key.endswith("running_var"):
                value.copy_(torch.rand(value.shape, generator=generator, dtype=value.dtype) + 0.5)
            elif value.is_floating_point():
                value.copy_(0.4 * torch.randn(value.shape, generator=generator, dtype=value.dtype))
    return network


def random_masks(network: nn.Module, count: int, seed: int) -> list[torch.Tensor]:
    """One mask per Dropout (0 or 1/(1 − p)) of its output's shape for ``count`` images."""
    shapes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: shapes.append((m.p, o.shape)))
        for m in network.modules()
        if isinstance(m, nn.Dropout)
    ]
    with torch.no_grad():
        network.eval()(torch.zeros(count, 1, 28, 28, dtype=torch.float64))
    for hook in hooks:
        hook.remove()
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(shape, generator=generator, dtype=torch.float64) >= p).double() / (1 - p)
        for p, shape in shapes
    ]


def autograd_loss_and_gradients(
    network: nn.Module,
    pixels: np.ndarray,
    labels: np.ndarray,
    masks: list[torch.Tensor],
    mean: float,
    std: float,
) -> tuple[float, dict[str, np.ndarray]]:
    """PyTorch's loss and gradients in training mode, each Dropout's output its input × mask."""
    dropouts = [m for m in network.modules() if isinstance(m, nn.Dropout)]
    hooks = [
        layer.register_forward_hook(lambda m, inputs, output, mask=mask: inputs[0] * mask)
        for layer, mask in zip(dropouts, masks, strict=True)
    ]
    network.train()
    images = ((torch.tensor(pixels) - mean) / std).reshape(-1, 1, 28, 28)
    loss = F.nll_loss(network(images), torch.tensor(labels))
    network.zero_grad()
    loss.backward()
    for hook in hooks:
        hook.remove()
    return loss.item(), {k: p.grad.numpy() for k, p in network.named_parameters()}


def page_loss_and_gradients(
    tab, name: str, network: nn.Module, pixels, labels, masks
) -> tuple[float, dict[str, np.ndarray]]:
    result = tab.evaluate(
        """([name, state, pixels, labels, masks]) => {
             const {loss, gradients} = nnbookTraining.lossAndGradients(
               name, state, pixels, labels, masks);
             return {loss, gradients: Object.fromEntries(Object.entries(gradients)
               .map(([k, g]) => [k, {shape: g.shape, data: Array.from(g.data)}]))};
           }""",
        [
            name,
            as_page_state(network),
            pixels.flatten().tolist(),
            labels.tolist(),
            None if masks is None else [m.flatten().tolist() for m in masks],
        ],
    )
    gradients = {
        key: np.array(value["data"]).reshape(value["shape"])
        for key, value in result["gradients"].items()
    }
    return result["loss"], gradients


def normalisation(tab, name: str) -> tuple[float, float]:
    """The mean and standard deviation the page normalises ``name``'s ink with."""
    return tab.evaluate(
        "name => [nnbookLayers.exported(name).mean, nnbookLayers.exported(name).std]", name
    )


def largest_gradient_difference(tab, name: str, network: nn.Module, seed: int) -> float:
    """The page's loss and gradients of ``network`` (random weights, seeded) on a random batch
    with random dropout masks (none without Dropout): the loss within ``TOLERANCE`` of
    autograd's (asserted), and the largest relative difference of the gradients returned."""
    network = randomised(network, seed)
    rng = np.random.default_rng(seed)
    count = 3
    pixels = rng.random((count, 784))
    labels = rng.integers(0, 10, count)
    masks = random_masks(network, count, seed)
    mean, std = normalisation(tab, name)
    loss, ours = page_loss_and_gradients(
        tab, name, network, pixels, labels, masks if masks else None
    )
    reference_loss, reference = autograd_loss_and_gradients(
        network, pixels, labels, masks, mean, std
    )
    assert list(ours) == [key for key, _ in network.named_parameters()]
    assert abs(loss - reference_loss) <= TOLERANCE * reference_loss
    return largest_relative_difference(ours, reference)


def page_state_dict(tab, name: str) -> dict[str, torch.Tensor]:
    """The weights the page holds for ``name`` (``nnbookLayers.stateDict``), float64."""
    state = tab.evaluate(
        """name => Object.fromEntries(Object.entries(nnbookLayers.stateDict(name))
             .map(([key, value]) => [key, {shape: value.shape, data: Array.from(value.data)}]))""",
        name,
    )
    return {k: torch.tensor(v["data"]).reshape(v["shape"]) for k, v in state.items()}


def input_gradients(
    tab, name: str, network: nn.Module, ink: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """∂ log p(digit) / ∂ ink of the predicted digit for 784 ink values: the page's
    (``nnbookTraining.inputGradient``, on the weights the page holds) and autograd's
    (``network`` given those weights, in evaluation mode, float64)."""
    network = network.double().eval()
    network.load_state_dict(page_state_dict(tab, name))
    mean, std = normalisation(tab, name)
    pixels = ink.clone().requires_grad_(True)
    log_p = network(((pixels - mean) / std).reshape(1, 1, 28, 28))[0]
    digit = int(log_p.argmax())
    log_p[digit].backward()
    ours = np.array(
        tab.evaluate(
            "([n, p, d]) => nnbookTraining.inputGradient(n, p, d)", [name, ink.tolist(), digit]
        )
    )
    return ours, pixels.grad.numpy()
