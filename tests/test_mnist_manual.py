"""``nnbook.mnist.manual``: every layer's backward against autograd and central differences, every
network end to end against autograd, the SymPy proofs, one SGD step, and bad input."""

import copy
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchinfo
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from torch import nn

from nnbook.mnist import derivations, manual
from nnbook.mnist.networks import MODELS, build_model
from nnbook.mnist.networks.candidates import Separable

TOLERANCE = 1e-10  # float64: the same sums in another order differ by ~1e-16 relative
#: Through a whole network at its initial weights the gradients of some batch-norm scales (of
#: the separable networks' 1×1 convolutions) are ~1e-6, sums of larger terms that nearly cancel:
#: there the round-off reaches ~1e-10 of the result, so a whole network is held to 1e-9. A wrong
#: formula is off by about its whole size.
END_TO_END_TOLERANCE = 1e-9
STEP = 1e-6  # central differences: error ~ STEP² · f''' and round-off ~ 1e-16 / STEP
#: A layer linear in what is varied (a convolution in x, w or b; pooling, ReLU and dropout away
#: from their kinks, which the test values keep 0.025 or more away) has no truncation error,
#: so a larger step only divides the round-off by more.
LINEAR_STEP = 1e-3
EPSILON = float(np.finfo(np.float64).eps)


def rng_arrays(seed: int, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def central_differences(
    loss: Callable[[np.ndarray], float], x: np.ndarray, step: float = STEP
) -> np.ndarray:
    """∂loss/∂x element by element: (loss(x + h) − loss(x − h)) / 2h."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + step
        up = loss(x)
        x[index] = saved - step
        down = loss(x)
        x[index] = saved
        grad[index] = (up - down) / (2 * step)
    return grad


def autograd(layer: Callable, delta: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """∂(Σ δ · layer(*arrays))/∂(each array) by torch.autograd, float64."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    (layer(*tensors) * torch.tensor(delta)).sum().backward()
    return [t.grad.numpy() for t in tensors]


def assert_close(ours: np.ndarray, reference: np.ndarray, tolerance: float = TOLERANCE) -> None:
    scale = max(float(np.abs(reference).max()), 1e-300)
    assert float(np.abs(ours - reference).max()) / scale <= tolerance


def difference_round_off(loss_value: float) -> float:
    """The absolute error of one central difference from round-off alone: the two losses are
    each off by up to a few ε·|L|, and their difference is divided by 2·STEP. A gradient much
    smaller than this (a saturated softmax) cannot be checked more closely by differences."""
    return 4 * EPSILON * max(abs(loss_value), 1.0) / STEP


shapes = st.tuples(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(3, 7),
    st.integers(3, 7),
    st.integers(0, 2**32 - 1),
)


@settings(max_examples=25, deadline=None)
@given(shapes, st.integers(1, 3), st.sampled_from([1, 3]), st.integers(0, 1), st.booleans())
@example((2, 1, 6, 6, 10730), 1, 1, 0, True)  # small gradients: round-off beat a 1e-6 step
def test_convolution_backward(shape, out_channels, kernel, padding, with_bias):
    n, c, h, w, seed = shape
    assume(min(h, w) + 2 * padding >= kernel)
    x, weight, bias = rng_arrays(
        seed, (n, c, h, w), (out_channels, c, kernel, kernel), (out_channels,)
    )
    bias = bias if with_bias else None
    y, cache = manual.conv2d_forward(x, weight, bias, padding)
    torch_bias = None if bias is None else torch.tensor(bias)
    reference = F.conv2d(torch.tensor(x), torch.tensor(weight), torch_bias, padding=padding)
    assert_close(y, reference.numpy())
    (delta,) = rng_arrays(seed + 1, y.shape)
    grad_x, grad_w, grad_b = manual.conv2d_backward(delta, cache)
    ref_x, ref_w = autograd(
        lambda a, b: F.conv2d(a, b, torch_bias, padding=padding), delta, x, weight
    )
    assert_close(grad_x, ref_x)
    assert_close(grad_w, ref_w)
    assert_close(grad_b, delta.sum(axis=(0, 2, 3)))

    def loss_of_x(values):
        return float((manual.conv2d_forward(values, weight, bias, padding)[0] * delta).sum())

    def loss_of_w(values):
        return float((manual.conv2d_forward(x, values, bias, padding)[0] * delta).sum())

    assert_close(grad_x, central_differences(loss_of_x, x.copy(), LINEAR_STEP), 1e-7)
    assert_close(grad_w, central_differences(loss_of_w, weight.copy(), LINEAR_STEP), 1e-7)
    if bias is not None:

        def loss_of_b(values):
            return float((manual.conv2d_forward(x, weight, values, padding)[0] * delta).sum())

        assert_close(grad_b, central_differences(loss_of_b, bias.copy(), LINEAR_STEP), 1e-7)


@settings(max_examples=25, deadline=None)
@given(shapes)
def test_batch_norm_backward(shape):
    n, c, h, w, seed = shape
    assume(n * h * w >= 2)
    x, gamma, beta, delta = rng_arrays(seed, (n, c, h, w), (c,), (c,), (n, c, h, w))
    eps = 1e-5
    y, cache = manual.batchnorm_forward(x, gamma, beta, eps)

    def bn(a, g, b):
        return F.batch_norm(a, None, None, g, b, training=True, eps=eps)

    assert_close(y, bn(*map(torch.tensor, (x, gamma, beta))).numpy())
    grad_x, grad_gamma, grad_beta = manual.batchnorm_backward(delta, cache)
    for ours, reference in zip(
        (grad_x, grad_gamma, grad_beta), autograd(bn, delta, x, gamma, beta), strict=True
    ):
        assert_close(ours, reference)

    def loss_of(x=x, gamma=gamma, beta=beta):
        return float((manual.batchnorm_forward(x, gamma, beta, eps)[0] * delta).sum())

    # x: not linear, so the small step, and round-off's floor from the size of the loss's terms
    differences = central_differences(lambda v: loss_of(x=v), x.copy())
    floor = difference_round_off(float(np.abs(y * delta).sum()))
    assert np.abs(grad_x - differences).max() <= 1e-6 * np.abs(differences).max() + floor
    # γ and β: the loss is linear in them
    gamma_differences = central_differences(lambda v: loss_of(gamma=v), gamma.copy(), LINEAR_STEP)
    assert_close(grad_gamma, gamma_differences, 1e-7)
    assert_close(
        grad_beta, central_differences(lambda v: loss_of(beta=v), beta.copy(), LINEAR_STEP), 1e-7
    )


def distinct_values(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.1 apart and away from 0: no tie and no kink within a difference step."""
    values = np.random.default_rng(seed).permutation(int(np.prod(shape)))
    return (values - len(values) // 2 + 0.25).reshape(shape) / 10


@settings(max_examples=25, deadline=None)
@given(shapes, st.sampled_from(["max", "average"]), st.integers(1, 3))
def test_pooling_backward_odd_sizes_floor(shape, kind, size):
    n, c, h, w, seed = shape
    x = distinct_values(seed, (n, c, h, w))
    forward, backward, reference_pool = {
        "max": (manual.maxpool_forward, manual.maxpool_backward, F.max_pool2d),
        "average": (manual.avgpool_forward, manual.avgpool_backward, F.avg_pool2d),
    }[kind]
    y, cache = forward(x, size)
    assert_close(y, reference_pool(torch.tensor(x), size).numpy())
    (delta,) = rng_arrays(seed, y.shape)
    grad_x = backward(delta, cache)
    (reference,) = autograd(lambda a: reference_pool(a, size), delta, x)
    assert_close(grad_x, reference)
    assert_close(
        grad_x,
        central_differences(
            lambda v: float((forward(v, size)[0] * delta).sum()), x.copy(), LINEAR_STEP
        ),
        1e-7,
    )


def test_max_pooling_routes_a_tie_to_the_first_maximum_as_pytorch_does():
    x = np.zeros((1, 1, 4, 4))  # after a ReLU, whole windows are 0
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 2.0
    _, cache = manual.maxpool_forward(x, 2)
    delta = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    (reference,) = autograd(lambda a: F.max_pool2d(a, 2), delta, x)
    np.testing.assert_array_equal(manual.maxpool_backward(delta, cache), reference)


@settings(max_examples=25, deadline=None)
@given(shapes)
def test_relu_and_dropout_backward(shape):
    n, c, h, w, seed = shape
    x = distinct_values(seed, (n, c, h, w))
    (delta,) = rng_arrays(seed, x.shape)
    y, on = manual.relu_forward(x)
    np.testing.assert_array_equal(y, F.relu(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(manual.relu_backward(delta, on), autograd(F.relu, delta, x)[0])
    p = 0.3
    mask = (np.random.default_rng(seed).random(x.shape) > p) / (1 - p)
    y, kept = manual.dropout_forward(x, mask)
    np.testing.assert_array_equal(
        manual.dropout_backward(delta, kept),
        autograd(lambda a: a * torch.tensor(mask), delta, x)[0],
    )
    assert_close(
        manual.relu_backward(delta, on),
        central_differences(
            lambda v: float((manual.relu_forward(v)[0] * delta).sum()), x.copy(), LINEAR_STEP
        ),
        1e-7,
    )
    assert_close(
        manual.dropout_backward(delta, kept),
        central_differences(
            lambda v: float((manual.dropout_forward(v, mask)[0] * delta).sum()),
            x.copy(),
            LINEAR_STEP,
        ),
        1e-7,
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(2, 10), st.integers(0, 2**32 - 1))
@example(batch=1, classes=3, seed=7661)  # saturated: the true class's gradient is −6e-8
def test_log_softmax_nll_backward(batch, classes, seed):
    (scores,) = rng_arrays(seed, (batch, classes))
    scores *= 10
    labels = np.random.default_rng(seed).integers(0, classes, batch)
    loss, cache = manual.log_softmax_nll_forward(scores, labels)
    z = torch.tensor(scores, requires_grad=True)
    reference = F.nll_loss(F.log_softmax(z, dim=1), torch.tensor(labels))
    reference.backward()
    assert abs(loss - reference.item()) <= TOLERANCE * abs(reference.item()) + 1e-15
    grad = manual.log_softmax_nll_backward(cache)
    # (p − 1)/N for the true class: p is within ε of its exact value, so the difference is off
    # by ε/N absolutely however small it is — relative to a saturated gradient, that is large
    reference_grad = z.grad.numpy()
    allowed = TOLERANCE * float(np.abs(reference_grad).max()) + 2 * EPSILON / batch
    assert float(np.abs(grad - reference_grad).max()) <= allowed
    differences = central_differences(
        lambda v: manual.log_softmax_nll_forward(v, labels)[0], scores.copy()
    )
    # relative to the largest gradient, with round-off's absolute floor: saturated scores give
    # gradients of 1e-7 and less, below what a difference of two losses can resolve
    allowed = 1e-6 * float(np.abs(differences).max()) + difference_round_off(loss)
    assert float(np.abs(grad - differences).max()) <= allowed


def multiply_by(mask: torch.Tensor) -> Callable:
    """A forward hook that makes a Dropout's output its input times ``mask``."""
    return lambda module, inputs, output: inputs[0] * mask


def autograd_gradients(model, images, labels, masks=None):
    """Loss and gradients of the whole network by torch.autograd; with ``masks``, each Dropout
    multiplies by the given mask instead of drawing one."""
    handles = []
    if masks is not None:
        dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        for module, mask in zip(dropouts, masks, strict=True):
            handles.append(module.register_forward_hook(multiply_by(torch.tensor(mask))))
    model.zero_grad()
    loss = F.nll_loss(model(torch.tensor(images)), torch.tensor(labels))
    loss.backward()
    for handle in handles:
        handle.remove()
    return loss.item(), {name: p.grad.numpy().copy() for name, p in model.named_parameters()}


def random_masks(model, images, seed):
    """One random 0 or 1/(1 − p) mask per Dropout, of that layer's output shape."""
    rng = np.random.default_rng(seed)
    masks = []
    for step in manual.forward(model, images):
        if isinstance(step.module, nn.Dropout):
            p = step.module.p
            masks.append((rng.random(step.output.shape) >= p) / (1 - p))
    return masks


@pytest.mark.parametrize("name", list(MODELS))
def test_every_network_end_to_end_with_random_masks(name):
    torch.manual_seed(3)
    model = build_model(name).double().train()
    images, labels = rng_arrays(4, (6, 1, 28, 28))[0], np.arange(6) % 10
    masks = random_masks(model, images, seed=5)
    assert len(masks) == sum(isinstance(m, nn.Dropout) for m in model.modules())
    before = copy.deepcopy(model.state_dict())
    loss, grads = manual.loss_and_gradients(model, images, labels, masks)
    for key, value in model.state_dict().items():  # not even BatchNorm's running statistics
        assert torch.equal(value, before[key]), key
    reference_loss, reference = autograd_gradients(model, images, labels, masks)
    assert abs(loss - reference_loss) <= TOLERANCE * reference_loss
    assert list(grads) == [n for n, _ in model.named_parameters()]
    assert all(
        grads[n].shape == tuple(p.shape) and grads[n].dtype == np.float64
        for n, p in model.named_parameters()
    )
    assert sum(g.size for g in grads.values()) == sum(p.numel() for p in model.parameters())
    assert manual.largest_relative_difference(grads, reference) <= END_TO_END_TOLERANCE


def test_masks_recorded_from_pytorch_reproduce_its_gradients():
    torch.manual_seed(7)
    model = build_model("net").double().train()
    images = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    labels = torch.tensor([1, 2, 3, 4])
    with manual.recording_dropout_masks(model) as masks:
        loss = F.nll_loss(model(images), labels)
    loss.backward()
    assert len(masks) == 2
    p = model.block1[-1].p
    assert set(np.unique(masks[0].numpy())) == {0.0, 1 / (1 - p)}
    ours_loss, ours = manual.loss_and_gradients(
        model, images.numpy(), labels.numpy(), [m.numpy() for m in masks]
    )
    reference = {name: p.grad.numpy() for name, p in model.named_parameters()}
    assert abs(ours_loss - loss.item()) <= TOLERANCE * loss.item()
    assert manual.largest_relative_difference(ours, reference) <= TOLERANCE


def test_no_masks_means_no_unit_is_dropped():
    torch.manual_seed(8)
    model = build_model("net").double().train()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.eval()  # PyTorch's dropout off, batch norm still on the batch
    images, labels = rng_arrays(9, (5, 1, 28, 28))[0], np.array([0, 1, 2, 3, 9])
    _, grads = manual.loss_and_gradients(model, images, labels)
    _, reference = autograd_gradients(model, images, labels)
    assert manual.largest_relative_difference(grads, reference) <= TOLERANCE


def test_no_autograd_is_used(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("autograd was called")

    model = build_model("tiny").double()
    images, labels = rng_arrays(11, (2, 1, 28, 28))[0], np.array([3, 4])
    reference_loss, reference = autograd_gradients(copy.deepcopy(model), images, labels)
    monkeypatch.setattr(torch.autograd, "backward", refuse)
    monkeypatch.setattr(torch.autograd, "grad", refuse)
    monkeypatch.setattr(torch.Tensor, "backward", refuse)
    loss, grads = manual.loss_and_gradients(model, images, labels)
    assert abs(loss - reference_loss) <= TOLERANCE * reference_loss
    assert manual.largest_relative_difference(grads, reference) <= TOLERANCE
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "proof", [derivations.batchnorm_proof, derivations.softmax_nll_proof, derivations.conv2d_proof]
)
def test_sympy_proves_the_numpy_formula(proof):
    result = proof()
    assert result.proved and len(result.derived) == len(result.formula) > 0


def test_a_wrong_formula_is_not_proved(monkeypatch):
    right = manual.batchnorm_backward

    def without_the_variance_term(grad_out, cache):
        grad_x, *rest = right(grad_out, cache)
        return grad_x + cache.gamma[0] * cache.inv_std * cache.x_hat * (
            grad_out * cache.x_hat
        ).mean(), *rest

    monkeypatch.setattr(manual, "batchnorm_backward", without_the_variance_term)
    assert not derivations.batchnorm_proof(batch=2).proved


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_convolution_by_definition_is_pytorchs(with_bias, dtype):
    x, weight, bias = (a.astype(dtype) for a in rng_arrays(11, (2, 3, 5, 4), (2, 3, 3, 3), (2,)))
    bias = bias if with_bias else None
    reference = F.conv2d(
        torch.tensor(x),
        torch.tensor(weight),
        None if bias is None else torch.tensor(bias),
        padding=1,
    ).numpy()
    result = derivations.conv2d_by_definition(x, weight, bias, 1)
    assert result.dtype == reference.dtype  # float32 stays float32, as in PyTorch
    np.testing.assert_allclose(result, reference, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_each_proof_names_the_layer_it_proves():
    # the chapter shows these names: PyTorch's class names, and the loss as its functions
    assert derivations.batchnorm_proof().layer == nn.BatchNorm2d.__name__
    assert derivations.conv2d_proof().layer == nn.Conv2d.__name__
    assert derivations.softmax_nll_proof().layer == f"{F.log_softmax.__name__} + NLL"


@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_step_is_torch_optim_sgd(nesterov):
    rng = np.random.default_rng(12)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    optimizer = torch.optim.SGD(
        tensors.values(), lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=1e-4
    )
    momenta = None
    for step in range(4):
        lr, momentum = (
            0.05 + 0.01 * step,
            0.95 - 0.02 * step,
        )  # as the one-cycle schedule moves them
        optimizer.param_groups[0].update(lr=lr, momentum=momentum)
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        optimizer.step()
        params, momenta = manual.sgd_step(params, grads, momenta, lr, momentum, 1e-4, nesterov)
    for k, t in tensors.items():
        np.testing.assert_allclose(params[k], t.detach().numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", list(MODELS))
def test_layer_costs_count_the_multiply_adds_torchinfo_counts(name):
    model = build_model(name)
    rows = manual.layer_costs(model, (1, 1, 28, 28))
    ours = [row["forward MACs"] for row in rows if row["kind"] == "Conv2d"]
    stats = torchinfo.summary(model, input_size=(1, 1, 28, 28), verbose=0)
    theirs = [  # torchinfo counts a bias's additions as multiply-adds too
        layer.macs - (int(np.prod(layer.output_size)) if layer.module.bias is not None else 0)
        for layer in stats.summary_list
        if isinstance(layer.module, nn.Conv2d)
    ]
    assert ours == theirs


@pytest.mark.parametrize("name", list(MODELS))
def test_the_backward_multiply_adds_are_what_pytorchs_flop_counter_counts(name):
    """Forward and backward of each convolution, counted by torch.utils.flop_counter (two
    FLOPs a multiply-add): ∂w of every layer and ∂x of all but the first, whose input needs
    no gradient. Its backward formula ignores ``groups`` (a depthwise convolution's backward
    counts five times its forward in torch 2.14), so a grouped layer's backward is checked
    against twice the counter's forward of that layer, which does count the groups."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(name).eval()
    images = torch.zeros(2, 1, 28, 28)
    with FlopCounterMode(display=False, depth=None) as forward_only:
        model(images)
    with FlopCounterMode(display=False, depth=None) as both:
        model(images).sum().backward()
    forward_counts, all_counts = forward_only.get_flop_counts(), both.get_flop_counts()
    modules = dict(model.named_modules())
    every = manual.layer_costs(model, (2, 1, 28, 28))
    rows = [r for r in every if r["kind"] == "Conv2d"]
    for row in rows:
        key = f"{type(model).__name__}.{row['layer']}"
        forward = sum(forward_counts[key].values()) // 2
        backward = sum(all_counts[key].values()) // 2 - forward
        if modules[row["layer"]].groups > 1:
            backward = 2 * forward
        assert (row["forward MACs"], row["backward MACs"]) == (forward, backward), row["layer"]
        assert type(row["forward MACs"]) is int and type(row["backward MACs"]) is int
    assert sum(r["forward MACs"] for r in every) == forward_only.get_total_flops() // 2
    assert sum(r["backward MACs"] for r in every) == sum(r["backward MACs"] for r in rows)
    separable = issubclass(MODELS[name], Separable)
    assert any(modules[r["layer"]].groups > 1 for r in rows) == separable


BAD_INPUTS = [
    ("images", lambda m: (np.zeros((2, 28, 28)), np.array([1, 2]), None), "N × C × H × W"),
    ("channels", lambda m: (np.zeros((2, 3, 28, 28)), np.array([1, 2]), None), "features.0.0"),
    ("labels", lambda m: (np.zeros((2, 1, 28, 28)), np.array([1, 10]), None), "0..9"),
    ("label count", lambda m: (np.zeros((2, 1, 28, 28)), np.array([1]), None), "2 whole numbers"),
]


@pytest.mark.parametrize(("what", "make", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_a_clear_error(what, make, message):
    model = build_model("tiny").double()
    images, labels, masks = make(model)
    with pytest.raises(ValueError, match=message):
        manual.loss_and_gradients(model, images, labels, masks)


def test_bad_masks_name_their_layer():
    model = build_model("net").double()
    images, labels = np.zeros((2, 1, 28, 28)), np.array([1, 2])
    good = random_masks(model, images, seed=0)
    with pytest.raises(ValueError, match=r"'block1.4' \(Dropout\): its mask has shape"):
        manual.loss_and_gradients(model, images, labels, [good[0][:1], good[1]])
    with pytest.raises(ValueError, match=r"'block2.3' \(Dropout\): a mask holds 0 or"):
        manual.loss_and_gradients(model, images, labels, [good[0], good[1] * 0.5 + 0.1])
    with pytest.raises(ValueError, match="1 masks for the 2 Dropout layers"):
        manual.loss_and_gradients(model, images, labels, good[:1])


KNOWN = "Conv2d, ReLU, BatchNorm2d, MaxPool2d, Dropout, AvgPool2d"
REFUSED = [
    (nn.Linear(4, 4), f"is a layer nnbook.mnist.manual does not know (it knows {KNOWN})"),
    (nn.Conv2d(1, 2, 3, stride=2), "must have stride 1 and dilation 1"),
    (nn.Conv2d(1, 2, 3, dilation=2), "must have stride 1 and dilation 1"),
    (nn.Conv2d(1, 2, 3, padding="same"), "must pad with zeros by a number of pixels"),
    (nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), "must pad with zeros by a number"),
    (nn.Conv2d(1, 2, (3, 5)), "must have a square kernel and the same padding on every side"),
    (nn.Conv2d(1, 2, 3, padding=(1, 0)), "must have a square kernel and the same padding on"),
    (nn.MaxPool2d(3, stride=1), "must pool non-overlapping windows (stride = kernel), without"),
    (nn.MaxPool2d(2, padding=1), "must pool non-overlapping windows (stride = kernel), without"),
    (nn.AvgPool2d(2, ceil_mode=True), "must pool non-overlapping windows (stride = kernel), wi"),
    (nn.MaxPool2d(2, dilation=2), "must have dilation 1 and return no indices"),
    (nn.MaxPool2d(2, return_indices=True), "must have dilation 1 and return no indices"),
    (nn.AvgPool2d(2, divisor_override=3), "must divide by the window's size"),
]


@pytest.mark.parametrize(("layer", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_a_layer_it_cannot_compute_is_refused_by_name(layer, message):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), layer)
    with pytest.raises(ValueError) as error:
        manual.loss_and_gradients(model, np.zeros((1, 1, 8, 8)), np.array([0]))
    assert str(error.value).startswith(f"layer '2' ({type(layer).__name__}) {message}")


def test_the_known_layers_are_the_table_of_kinds():
    assert ", ".join(kind.__name__ for kind in manual.LAYER_KINDS) == KNOWN


def test_a_model_that_is_one_layer_is_named_as_such():
    with pytest.raises(ValueError, match=r"^layer 'the model itself' \(Conv2d\) must have"):
        manual.network_layers(nn.Conv2d(1, 10, 28, stride=2))
    with pytest.raises(ValueError, match=r"^layer 'the model itself' \(Sequential\) is a"):
        manual.network_layers(nn.Sequential())  # no layers: it is its own only one


def compare_with_autograd(model, images, labels, tolerance=TOLERANCE):
    """A network of plain layers whose output is N × 10 × 1 × 1 scores, against autograd."""
    model = model.double()
    loss, grads = manual.loss_and_gradients(model, images, labels)
    model.zero_grad()
    scores = model(torch.tensor(images)).flatten(1)
    reference_loss = F.nll_loss(F.log_softmax(scores, 1), torch.tensor(labels))
    reference_loss.backward()
    reference = {name: p.grad.numpy() for name, p in model.named_parameters()}
    reference_loss = reference_loss.item()
    assert abs(loss - reference_loss) <= tolerance * abs(reference_loss)
    assert grads.keys() == reference.keys()
    assert manual.largest_relative_difference(grads, reference) <= tolerance


def unusual_batch(seed, count=3, size=28):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, 1, size, size)), rng.integers(0, 10, count)


def test_a_model_that_is_one_convolution_has_its_gradients():
    torch.manual_seed(0)
    compare_with_autograd(nn.Conv2d(1, 10, 28), *unusual_batch(1))


def test_two_convolutions_in_a_row_pass_delta_between_them():
    # the second layer needs ∂x for the first: only the first layer may skip computing it
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 10, 26, bias=False))
    compare_with_autograd(model, *unusual_batch(2))


def test_batch_norm_with_its_own_scale_and_shift_and_without_them():
    torch.manual_seed(2)
    affine = nn.BatchNorm2d(4)
    with torch.no_grad():
        affine.weight.uniform_(0.5, 2)
        affine.bias.uniform_(-1, 1)
    for norm in (affine, nn.BatchNorm2d(4, affine=False)):
        # (no bias before batch norm: its gradient is 0, and round-off against 0 has no scale)
        first = nn.Conv2d(1, 4, 3, bias=False)
        model = nn.Sequential(first, norm, nn.ReLU(), nn.Conv2d(4, 10, 26))
        compare_with_autograd(model, *unusual_batch(3))


def test_batch_norm_needs_two_values_per_channel():
    model = nn.Sequential(nn.Conv2d(1, 3, 28, bias=False), nn.BatchNorm2d(3), nn.Conv2d(3, 10, 1))
    images, labels = unusual_batch(4, count=2)
    compare_with_autograd(model, images, labels)  # 2 images × 1 × 1: two values, enough
    with pytest.raises(ValueError) as error:
        manual.loss_and_gradients(model, images[:1], labels[:1])
    assert str(error.value) == (
        "layer '1' (BatchNorm2d) normalises 3 channels over more than one value each, got an "
        "input of shape (1, 3, 1, 1)"
    )
    wrong = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(4), nn.Conv2d(3, 10, 26))
    with pytest.raises(ValueError, match=r"layer '1' \(BatchNorm2d\) normalises 4 channels"):
        manual.loss_and_gradients(wrong.double(), images, labels)


def test_dropout_of_everything_passes_nothing():
    # p = 1: PyTorch's dropout zeroes every unit whatever the mask says
    model = nn.Sequential(nn.Conv2d(1, 10, 28), nn.Dropout(1.0))
    images, labels = unusual_batch(5, count=2)
    masks = [np.zeros((2, 10, 1, 1))]
    loss, grads = manual.loss_and_gradients(model.double(), images, labels, masks)
    assert loss == pytest.approx(np.log(10), rel=1e-12)  # uniform scores
    assert all(not grad.any() for grad in grads.values())


def test_a_pool_larger_than_its_input_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 10, 3), nn.MaxPool2d(8))
    with pytest.raises(ValueError) as error:
        manual.loss_and_gradients(model.double(), np.zeros((1, 1, 9, 9)), np.array([0]))
    assert str(error.value) == "layer '1' pools 8×8 windows of a (1, 10, 7, 7) input"
    fits = nn.Sequential(nn.Conv2d(1, 10, 3), nn.AvgPool2d(7))  # exactly one window: allowed
    compare_with_autograd(fits, *unusual_batch(6, size=9))


def test_a_parameter_outside_the_layers_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 10, 28))
    model.register_parameter("temperature", nn.Parameter(torch.ones(1)))
    with pytest.raises(ValueError) as error:
        manual.loss_and_gradients(model.double(), *unusual_batch(7))
    assert str(error.value) == "parameters outside the layers this module walks: ['temperature']"


def test_relu_passes_no_gradient_where_its_input_is_exactly_zero():
    x = np.array([-1.0, 0.0, 2.0])
    _, on = manual.relu_forward(x)
    reference = torch.tensor(x, requires_grad=True)
    torch.relu(reference).backward(torch.ones(3))
    np.testing.assert_array_equal(manual.relu_backward(np.ones(3), on), reference.grad.numpy())


def test_log_softmax_shifts_each_example_by_its_own_largest_score():
    scores = np.array([[0.0, 1.0, 2.0], [1000.0, 1001.0, 1003.0]])
    loss, _ = manual.log_softmax_nll_forward(scores, np.array([2, 0]))
    expected = F.nll_loss(F.log_softmax(torch.tensor(scores), 1), torch.tensor([2, 0])).item()
    assert loss == pytest.approx(expected, rel=1e-14)


def test_the_largest_relative_difference_of_parameters():
    reference = {"a": np.array([2.0, -4.0]), "z": np.zeros(2)}
    ours = {"a": np.array([2.0, -3.0]), "z": np.array([0.0, 1e-3])}
    assert manual.largest_relative_difference(ours, reference) == 0.25  # |1| / max|−4|
    ours["a"] = reference["a"]
    assert manual.largest_relative_difference(ours, reference) == 1e-3  # against 0: absolute
    with pytest.raises(ValueError, match=r"^different parameters: \['b', 'z'\]$"):
        manual.largest_relative_difference({"a": ours["a"], "b": 0}, reference)


def test_the_cost_table_names_its_columns_and_each_layers_output():
    model = build_model("net").eval()
    rows = manual.layer_costs(model, (2, 1, 28, 28))
    assert list(rows[0]) == [
        "layer", "kind", "output", "forward", "backward", "forward MACs", "backward MACs",
    ]  # fmt: skip
    first = model.block1[0](torch.zeros(2, 1, 28, 28))
    assert rows[0]["output"] == "×".join(map(str, first.shape[1:]))
    kind = manual.LAYER_KINDS[nn.Conv2d]
    assert rows[0]["forward"] == kind.forward_rule
    convolutions = [row for row in rows if row["kind"] == "Conv2d"]
    assert convolutions[1]["backward"] == kind.backward_rule
    # the first layer computes no ∂x (the next test counts it), and its row says so
    assert rows[0]["backward"] == "∂w = Σδ·x, ∂b = Σδ; no ∂x: the images need none"
    rules = {cls.__name__: kind.backward_rule for cls, kind in manual.LAYER_KINDS.items()}
    assert all(row["backward"] == rules[row["kind"]] for row in rows[1:])  # each its own rule


def test_the_first_layer_computes_no_delta_for_the_image():
    # backward: ∂w for every convolution, ∂x for every one but the first (the image's δ is not
    # needed), so the first costs one forward's multiply-adds and a later one two
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 10, 26))
    first, second = manual.layer_costs(model, (2, 1, 28, 28))
    assert first["backward MACs"] == first["forward MACs"] > 0
    assert second["backward MACs"] == 2 * second["forward MACs"] > 0


def test_a_network_that_does_not_end_in_scores_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 10, 3), nn.ReLU(), nn.Conv2d(10, 10, 1))
    with pytest.raises(ValueError) as error:
        manual.loss_and_gradients(model, np.zeros((1, 1, 8, 8)), np.array([0]))
    assert str(error.value) == (
        "the last layer '2' leaves (1, 10, 6, 6), not N × classes × 1 × 1 scores"
    )


def test_a_pool_is_checked_against_the_smaller_side():
    model = nn.Sequential(nn.Conv2d(1, 10, 3), nn.AvgPool2d(7))
    with pytest.raises(ValueError, match=r"pools 7×7 windows of a \(1, 10, 5, 9\) input"):
        manual.loss_and_gradients(model.double(), np.zeros((1, 1, 7, 11)), np.array([0]))


def test_dropout_of_everything_takes_no_mask_of_ones():
    model = nn.Sequential(nn.Conv2d(1, 10, 28), nn.Dropout(1.0))
    images, labels = np.zeros((2, 1, 28, 28)), np.array([0, 1])
    with pytest.raises(ValueError, match=r"a mask holds 0 or 1/\(1 − p\) = 0, nothing else"):
        manual.loss_and_gradients(model.double(), images, labels, [np.ones((2, 10, 1, 1))])


def test_each_layer_keeps_the_delta_autograd_gives_its_output():
    model = build_model("tiny").double()
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False  # each layer's output a tensor of its own, for autograd
    images, labels = unusual_batch(8, count=4)
    steps = manual.forward(model, images)
    scores = steps[-1].output.reshape(len(images), -1)
    _, cache = manual.log_softmax_nll_forward(scores, labels)
    manual.backward(steps, manual.log_softmax_nll_backward(cache))
    outputs = {}

    def keep(name):
        def hook(module, inputs, output):
            output.retain_grad()
            outputs[name] = output

        return hook

    for name, module in manual.network_layers(model):
        module.register_forward_hook(keep(name))
    scores = model.scores(torch.tensor(images)).flatten(1)
    F.nll_loss(F.log_softmax(scores, 1), torch.tensor(labels)).backward()
    for step in steps:
        reference = outputs[step.name].grad.numpy()
        np.testing.assert_allclose(
            step.delta, reference, rtol=1e-9, atol=1e-15 * abs(reference).max()
        )


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize(("in_channels", "out_channels", "groups"), [(4, 4, 4), (4, 6, 2)])
def test_a_grouped_convolution_is_pytorchs_forward_and_backward(
    in_channels, out_channels, groups, with_bias
):
    """A depthwise convolution (a group per channel) and one of two groups, in float64: the
    output is F.conv2d's with ``groups`` and ∂x, ∂w, ∂b are autograd's."""
    x, weight, bias, delta = rng_arrays(
        13,
        (2, in_channels, 6, 5),
        (out_channels, in_channels // groups, 3, 3),
        (out_channels,),
        (2, out_channels, 6, 5),
    )
    bias = bias if with_bias else None
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, weight)]
    bias_tensor = None if bias is None else torch.tensor(bias, requires_grad=True)
    reference = F.conv2d(*tensors, bias_tensor, padding=1, groups=groups)
    reference.backward(torch.tensor(delta))
    y, cache = manual.grouped_conv2d_forward(x, weight, bias, 1, groups)
    np.testing.assert_allclose(y, reference.detach().numpy(), rtol=0, atol=1e-12)
    grad_x, grad_w, grad_b = manual.grouped_conv2d_backward(delta, cache)
    np.testing.assert_allclose(grad_x, tensors[0].grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad_w, tensors[1].grad.numpy(), rtol=0, atol=1e-12)
    if with_bias:
        np.testing.assert_allclose(grad_b, bias_tensor.grad.numpy(), rtol=0, atol=1e-12)
    skipped, *_ = manual.grouped_conv2d_backward(delta, cache, need_input_grad=False)
    assert skipped is None
    _, one_group = manual.grouped_conv2d_forward(x[:, :1], weight[:1, :1], None, 1, 1)
    assert isinstance(one_group, manual.ConvCache)  # one group: the plain convolution
    skipped, *_ = manual.grouped_conv2d_backward(delta[:, :1], one_group, need_input_grad=False)
    assert skipped is None


def test_a_grouped_convolutions_weights_agree_with_central_differences():
    """∂L/∂w of a depthwise convolution by hand against the change in L = Σ δ·y itself."""
    x, weight, delta = rng_arrays(14, (1, 3, 5, 5), (3, 1, 3, 3), (1, 3, 3, 3))
    _, cache = manual.grouped_conv2d_forward(x, weight, None, 0, 3)
    _, grad_w, _ = manual.grouped_conv2d_backward(delta, cache)

    def loss(w):
        return float((manual.grouped_conv2d_forward(x, w, None, 0, 3)[0] * delta).sum())

    numeric = central_differences(loss, weight, LINEAR_STEP)
    np.testing.assert_allclose(grad_w, numeric, rtol=1e-7, atol=1e-9)


def test_a_backward_that_drops_its_last_gradients_is_not_proved(monkeypatch):
    """A backward that returns one gradient fewer than the layer has inputs: the gradients it
    does return may all be right, but the proof must not call the layer proved."""
    right = manual.batchnorm_backward

    def one_short(grad_out, cache):
        grad_x, *rest = right(grad_out, cache)
        return grad_x.reshape(-1)[:-1], *rest

    monkeypatch.setattr(manual, "batchnorm_backward", one_short)
    with pytest.raises(ValueError, match="shorter"):
        derivations.batchnorm_proof(batch=3)


def test_the_batch_norm_proof_differentiates_the_layer_pytorch_computes():
    """The proof's definition is PyTorch's BatchNorm2d in training mode (ε added to the biased
    variance under the root): its derivatives, at numbers, are autograd's. A proof of another
    layer (√(σ² − ε), say) would prove the backward of a layer the book does not train."""
    result = derivations.batchnorm_proof(batch=3)
    x, delta = [0.3, -1.2, 2.0], [0.5, -0.25, 1.5]
    gamma, beta, eps = 1.7, 0.4, 0.2  # an ε large enough for its sign to show
    values = {"gamma": gamma, "beta": beta, "epsilon": eps}
    values |= {f"x_{k}": v for k, v in enumerate(x)}
    values |= {f"delta_{k}": v for k, v in enumerate(delta)}
    inputs = torch.tensor(x, dtype=torch.float64).reshape(3, 1, 1, 1).requires_grad_()
    weight, bias = (torch.tensor([v], dtype=torch.float64) for v in (gamma, beta))
    y = F.batch_norm(inputs, None, None, weight, bias, training=True, eps=eps)
    (y.flatten() * torch.tensor(delta, dtype=torch.float64)).sum().backward()
    at_numbers = [
        float(d.subs({s: values[s.name] for s in d.free_symbols})) for d in result.derived
    ]
    np.testing.assert_allclose(at_numbers, inputs.grad.flatten().numpy(), rtol=1e-12)


def test_backward_gives_gradients_of_the_layers_own_parameters_only():
    """A convolution without a bias and a batch norm without scale and shift have no gradients
    of those: ``backward`` names exactly the model's parameters."""
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, bias=False), nn.BatchNorm2d(3, affine=False), nn.ReLU(),
        nn.Conv2d(3, 10, 26, bias=False),
    ).double()  # fmt: skip
    images, _ = unusual_batch(4)
    steps = manual.forward(model, images)
    grads = manual.backward(steps, np.ones((3, 10)) / 30)
    assert set(grads) == {name for name, _ in model.named_parameters()} == {"0.weight", "3.weight"}
