"""The curves of the bridge chapter's figures are the functions they name: σ, ReLU and their
slopes against torch.autograd, the losses' gradients against SymPy's derivatives."""

import math
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import sympy as sp
import torch

from nnbook.mnist import derivations, plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


SCORES = np.array([-7.5, -3.0, -0.4, 0.3, 2.0, 6.5])  # away from ReLU's kink at 0


def _curves(figure):
    return {line.get_label(): line.get_ydata() for ax in figure.axes for line in ax.lines}


def test_the_activations_and_their_slopes_are_autograds():
    x = torch.tensor(SCORES, requires_grad=True)
    sigma = torch.sigmoid(x)
    (sigma_slope,) = torch.autograd.grad(sigma.sum(), x)
    relu = torch.relu(x)
    (relu_slope,) = torch.autograd.grad(relu.sum(), x)
    curves = _curves(plots.activations(SCORES))
    assert list(curves) == [
        "σ(x)", "ReLU(x) = max(x, 0)", "σ′(x) = σ(x)(1 − σ(x))", "ReLU′(x)"
    ]  # fmt: skip
    expected = [sigma, relu, sigma_slope, relu_slope]
    for (label, curve), reference in zip(curves.items(), expected, strict=True):
        np.testing.assert_allclose(curve, reference.detach().numpy(), rtol=1e-12, err_msg=label)


def test_the_gradients_of_the_losses_are_sympys():
    t, z = sp.symbols("t z", real=True)
    squared = sp.lambdify(z, derivations.squared_error_gradient().subs(t, 1).rewrite(sp.exp))
    two_classes = derivations.score_gradients(classes=2, label=0)[0]
    z_1, z_2 = sp.symbols("z_1 z_2", real=True)
    log_likelihood = sp.lambdify(z_1, two_classes.derived.subs(z_2, 0))
    squared_curve, nll_curve = _curves(plots.output_gradients(SCORES)).values()
    np.testing.assert_allclose(squared_curve, squared(SCORES), rtol=1e-12)
    np.testing.assert_allclose(nll_curve, log_likelihood(SCORES), rtol=1e-12)


def test_the_figures_cover_a_default_range_of_scores():
    (sigma, *_) = _curves(plots.activations()).values()
    (squared, *_) = _curves(plots.output_gradients()).values()
    assert len(sigma) == 601 and len(squared) == 801


def test_sympy_derives_p_minus_t_for_every_score():
    for classes, label in [(2, 1), (3, 0), (4, 2)]:
        gradients = derivations.score_gradients(classes, label)
        assert len(gradients) == classes and all(g.equal for g in gradients)
        p = sp.symbols(f"p_1:{classes + 1}", positive=True)
        assert [g.short for g in gradients] == [
            p[k] - (1 if k == label else 0) for k in range(classes)
        ]
        assert [g.score.name for g in gradients] == [f"z_{k + 1}" for k in range(classes)]
        # at numbers: the derived expression is torch's gradient of −log softmax
        scores = torch.tensor(
            [0.3 * k - 0.5 for k in range(classes)], dtype=torch.float64, requires_grad=True
        )
        loss = -torch.log_softmax(scores, dim=0)[label]
        (expected,) = torch.autograd.grad(loss, scores)
        values = dict(zip([g.score for g in gradients], scores.tolist(), strict=True))
        derived = [float(g.derived.subs(values)) for g in gradients]
        np.testing.assert_allclose(derived, expected.numpy(), rtol=1e-12)


def test_a_wrong_formula_is_not_equal():
    gradient = derivations.score_gradients(3, 0)[1]
    total = sum(sp.exp(z) for z in sp.symbols("z_1:4", real=True))
    assert sp.simplify(gradient.derived - sp.exp(gradient.score) / total) == 0
    assert sp.simplify(gradient.derived - (sp.exp(gradient.score) / total - 1)) != 0


@pytest.mark.parametrize(
    ("classes", "label", "message"),
    [
        (1, 0, "at least 2 classes, got 1"),
        (3.0, 0, "at least 2 classes, got 3.0"),
        (3, 3, r"the label must be one of 0 … 2, got 3"),
        (3, -1, r"one of 0 … 2, got -1"),
        (3, 1.0, r"one of 0 … 2, got 1.0"),
    ],
)
def test_score_gradients_refuse_bad_input(classes, label, message):
    with pytest.raises(ValueError, match=message):
        derivations.score_gradients(classes, label)


def test_the_squared_errors_gradient_carries_the_slope_of_sigma():
    t, z = sp.symbols("t z", real=True)
    a = 1 / (1 + sp.exp(-z))
    expected = (a - t) * a * (1 - a)
    assert sp.simplify(derivations.squared_error_gradient().rewrite(sp.exp) - expected) == 0


def test_a_score_gradient_writes_its_equation():
    first, second = derivations.score_gradients(classes=2, label=0)
    assert first.latex() == (
        r"\frac{\partial L}{\partial z_{1}} = "
        r"- \frac{e^{z_{2}}}{e^{z_{1}} + e^{z_{2}}} = p_{1} - 1"
    )
    assert second.latex().endswith(r"= p_{2}")


def test_the_training_curves_draw_every_epoch_as_loss_and_error_on_log_scales():
    from nnbook.mnist.trainer import EpochResult

    accuracies = [(0.80, 0.098), (0.97, 0.51), (0.99, 0.9941)]  # the first: an average near chance
    history = [
        EpochResult(epoch=k + 1, train_loss=1.0 / (k + 1), train_accuracy=train,
                    test_loss=2.0 / (k + 1), test_accuracy=test, seconds=1.0, lr=0.1, threads=2)
        for k, (train, test) in enumerate(accuracies)
    ]  # fmt: skip
    figure = plots.training_curves(history, target=0.994)
    loss_ax, error_ax = figure.axes
    assert loss_ax.get_yscale() == error_ax.get_yscale() == "log"
    curves = _curves(figure)
    np.testing.assert_allclose(curves["train"], [20.0, 3.0, 1.0], rtol=1e-12)  # error, %
    np.testing.assert_allclose(curves["test"], [90.2, 49.0, 0.59], rtol=1e-12)
    np.testing.assert_allclose(curves["target: 0.6 % error"], [0.6, 0.6], rtol=1e-12)
    low, high = error_ax.get_ylim()
    assert low < 0.59 and high > 90.2  # every point inside the frame
    np.testing.assert_allclose(
        [line.get_ydata() for line in loss_ax.lines], [[1, 0.5, 1 / 3], [2, 1, 2 / 3]]
    )


def test_beside_an_average_the_curves_draw_the_raw_weights_test_error_too():
    from nnbook.mnist.trainer import EpochResult

    rows = [(0.098, 0.95), (0.51, 0.98), (0.9941, 0.99)]  # (average, raw weights) test accuracy
    history = [
        EpochResult(epoch=k + 1, train_loss=0.1, train_accuracy=0.99, test_loss=0.1,
                    test_accuracy=average, seconds=1.0, lr=0.1, threads=1, raw_test_accuracy=raw)
        for k, (average, raw) in enumerate(rows)
    ]  # fmt: skip
    curves = _curves(plots.training_curves(history))
    np.testing.assert_allclose(curves["test"], [90.2, 49.0, 0.59], rtol=1e-12)
    np.testing.assert_allclose(curves["test, raw weights"], [5.0, 2.0, 1.0], rtol=1e-12)
    without = _curves(plots.training_curves([replace(r, raw_test_accuracy=None) for r in history]))
    assert "test, raw weights" not in without


def test_the_seed_curves_draw_each_runs_test_error_on_a_log_scale():
    import pandas as pd

    epochs = pd.DataFrame(
        {"epoch 1": [9.8, 11.35], "epoch 2": [99.0, 98.5], "epoch 3": [99.41, 99.5]},
        index=["seed 1", "seed 2"],
    )
    figure = plots.seed_curves(epochs, target=0.994)
    (ax,) = figure.axes
    assert ax.get_yscale() == "log"
    curves = _curves(figure)
    np.testing.assert_allclose(curves["seed 1"], [90.2, 1.0, 0.59], rtol=1e-12)  # error, %
    np.testing.assert_allclose(curves["seed 2"], [88.65, 1.5, 0.5], rtol=1e-12)
    np.testing.assert_allclose(curves["target: 0.6 % error"], [0.6, 0.6], rtol=1e-12)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    low, high = ax.get_ylim()
    assert low < 0.5 and high > 90.2  # every point inside the frame


def test_a_digit_grid_shows_each_digit_with_its_label_and_the_networks_answer():
    images = torch.arange(3 * 28 * 28, dtype=torch.float32).reshape(3, 1, 28, 28)
    labelled = plots.digit_grid(images, [7, 2, 1], columns=2)
    assert len(labelled.axes) == 4  # two rows of two; the last one empty
    shown = [ax for ax in labelled.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["7", "2", "1"]
    for ax, image in zip(shown, images, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), image[0].numpy())
    answered = plots.digit_grid(images, [7, 2, 1], [7, 3, 1])
    assert [ax.get_title() for ax in answered.axes if ax.images] == ["7 → 7", "2 → 3", "1 → 1"]
    assert all(not ax.axison for ax in answered.axes)  # digits, not plots: no axes drawn


def test_class_counts_draw_how_many_of_each_digit_each_set_holds():
    train = torch.tensor([0, 1, 1, 9, 9, 9])
    test = torch.tensor([1, 5])
    (ax,) = plots.class_counts(train, test).axes
    heights = {
        container.get_label(): [bar.get_height() for bar in container]
        for container in ax.containers
    }
    assert heights == {
        "train": [1, 2, 0, 0, 0, 0, 0, 0, 0, 3],
        "test": [0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
    }
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("digit", "examples")


def test_the_confusion_matrix_counts_true_digit_by_row_and_answer_by_column():
    labels = torch.tensor([3, 3, 3, 5, 0])
    predictions = torch.tensor([3, 5, 5, 5, 0])
    figure, counts = plots.confusion_matrix(labels, predictions)
    assert counts.shape == (10, 10) and counts.sum() == len(labels)
    assert (counts[3, 3], counts[3, 5], counts[5, 5], counts[0, 0]) == (1, 2, 1, 1)
    (ax,) = figure.axes
    written = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
               for t in ax.texts}  # fmt: skip
    assert written == {(3, 3): "1", (3, 5): "2", (5, 5): "1", (0, 0): "1"}  # (row, column)
    shaded = ax.images[0].get_array()
    assert shaded[3, 5] == 2 and np.trace(shaded) == 0  # only the mistakes are shaded
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted digit", "true digit")


def test_the_frontier_draws_each_familys_mean_lowest_and_last_epochs_and_the_target():
    family = pd.DataFrame(
        {"parameters": [300, 100], "mean final (%)": [99.5, 99.1], "min final (%)": [99.4, 98.8],
         "min of last 3 (%)": [99.3, 98.7]},
        index=["wide", "narrow"],
    )  # fmt: skip
    figure = plots.frontier({"toy": family}, 0.994, published=[("published", 200, 99.45)],
                            claim=("claimed", 50, 99.6, 99.0))  # fmt: skip
    (ax,) = figure.axes
    curves = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
              for line in ax.lines if not line.get_label().startswith("_")}  # fmt: skip
    assert curves["toy: mean final"] == ([100, 300], [99.1, 99.5])  # by parameters
    assert curves["toy: lowest final"] == ([100, 300], [98.8, 99.4])
    assert curves["toy: min of last 3 epochs"] == ([100, 300], [98.7, 99.3])
    target = next(line for line in ax.lines if line.get_label() == "99.4 %")
    assert list(target.get_ydata()) == [99.4, 99.4]
    names = {text.get_text() for text in ax.texts}
    assert {"wide", "narrow", "published", "claimed"} <= names
    assert (ax.get_xlabel(), ax.get_ylabel()) == (
        "trainable parameters",
        "final test accuracy (%)",
    )


# What a reader sees besides the numbers: which x each curve is drawn at, the words on the axes
# and in the legends (the chapters' prose names them), colours that tell things apart.


def _legend(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def _rgba(colour):
    return matplotlib.colors.to_rgba(colour)


def _history(test_accuracies):
    from nnbook.mnist.trainer import EpochResult

    return [
        EpochResult(epoch=k + 1, train_loss=0.1, train_accuracy=0.99, test_loss=0.2,
                    test_accuracy=test, seconds=1.0, lr=0.1, threads=1)
        for k, test in enumerate(test_accuracies)
    ]  # fmt: skip


def _assert_target_stands_apart(ax, label):
    (target,) = [line for line in ax.lines if line.get_label() == label]
    assert target.get_linestyle() == "--"
    data = [line for line in ax.lines if line is not target]
    assert data and all(_rgba(line.get_color()) != _rgba(target.get_color()) for line in data)
    r, g, b, _ = _rgba(target.get_color())
    assert r == g == b  # grey: not one of the data's colours


def _side_by_side(left, right):
    first, second = left.get_position(), right.get_position()
    return first.x1 <= second.x0 and first.y0 == second.y0


def test_the_activations_are_drawn_at_the_scores_with_named_panels():
    figure = plots.activations(SCORES)
    value_ax, slope_ax = figure.axes
    assert _side_by_side(value_ax, slope_ax)
    for line in value_ax.lines + slope_ax.lines:
        np.testing.assert_array_equal(line.get_xdata(), SCORES)
    assert (value_ax.get_title(), slope_ax.get_title()) == ("the function", "its slope")
    assert value_ax.get_xlabel() == slope_ax.get_xlabel() == "x"
    assert _legend(value_ax) == ["σ(x)", "ReLU(x) = max(x, 0)"]
    assert _legend(slope_ax) == ["σ′(x) = σ(x)(1 − σ(x))", "ReLU′(x)"]


def test_relus_slope_at_its_kink_is_torchs():
    x = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(torch.relu(x).sum(), x)
    relu_slope = plots.activations(x.detach().numpy()).axes[1].lines[1]
    np.testing.assert_array_equal(relu_slope.get_ydata(), slope.numpy())  # 0 at x = 0


def test_by_default_the_curves_run_symmetrically_to_where_sigma_saturates():
    value_ax, _ = plots.activations().axes
    z, sigma = value_ax.lines[0].get_xdata(), value_ax.lines[0].get_ydata()
    assert z[0] == -z[-1] and z[len(z) // 2] == 0
    assert sigma[0] < 0.01 and sigma[-1] > 0.99
    (ax,) = plots.output_gradients().axes
    z, squared = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    assert z[0] == -z[-1] and z[len(z) // 2] == 0
    assert abs(squared[0]) < 1e-3 < abs(ax.lines[1].get_ydata()[0])  # sure and wrong: vanishes


def test_sigmas_range_is_inside_the_frame_and_not_dwarfed_by_relu():
    value_ax, _ = plots.activations().axes
    low, high = value_ax.get_ylim()
    assert low < 0 and 1 < high
    assert 1 / (high - low) >= 0.25  # σ's (0, 1) takes a quarter of the height at least


def test_the_losses_gradients_are_drawn_at_the_scores_and_named():
    (ax,) = plots.output_gradients(SCORES).axes
    for line in ax.lines:
        np.testing.assert_array_equal(line.get_xdata(), SCORES)
    assert _legend(ax) == [
        "squared error: (σ(z) − 1)·σ′(z)", "negative log-likelihood: p − t = σ(z) − 1"
    ]  # fmt: skip
    assert ax.get_xlabel() == "score z of the correct class (the other's 0)"
    assert ax.get_ylabel() == "∂(loss)/∂z"


def test_the_training_curves_name_each_panel_and_mark_every_epoch():
    history = [replace(row, raw_test_accuracy=0.95) for row in _history([0.1, 0.9, 0.99])]
    loss_ax, error_ax = plots.training_curves(history, target=0.994).axes
    assert _side_by_side(loss_ax, error_ax)
    assert _legend(loss_ax) == ["train", "test"]
    assert _legend(error_ax) == ["train", "test", "test, raw weights", "target: 0.6 % error"]
    assert loss_ax.get_ylabel() == "NLL loss (log scale)"
    assert error_ax.get_ylabel() == "error (%) = 100 − accuracy (log scale)"
    assert loss_ax.get_xlabel() == error_ax.get_xlabel() == "epoch"
    for line in loss_ax.lines + error_ax.lines[:3]:
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        assert line.get_marker() not in ("None", "", None)  # each epoch a point
    test, raw = error_ax.lines[1:3]
    assert raw.get_marker() != test.get_marker() and raw.get_linestyle() != test.get_linestyle()
    assert raw.get_markerfacecolor() == "none"  # open: the weights the book does not keep
    _assert_target_stands_apart(error_ax, "target: 0.6 % error")


def test_the_seed_curves_mark_every_epoch_and_name_their_axes():
    epochs = pd.DataFrame({"epoch 1": [9.8, 11.35], "epoch 2": [99.0, 98.5]}, index=["a", "b"])
    (ax,) = plots.seed_curves(epochs, target=0.994).axes
    assert all(line.get_marker() == "o" for line in ax.lines[:2])
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "test error (%) = 100 − accuracy (log scale)"
    assert _legend(ax) == ["a", "b", "target: 0.6 % error"]
    _assert_target_stands_apart(ax, "target: 0.6 % error")


def test_a_digit_grid_is_ten_across_in_dark_ink_on_white_and_wrong_answers_are_red():
    images = torch.rand(20, 1, 28, 28)
    grid = plots.digit_grid(images, list(range(10)) * 2, [0, 5] + list(range(2, 10)) * 2 + [9, 9])
    assert len(grid.axes) == 20 and grid.axes[0].get_subplotspec().get_geometry()[:2] == (2, 10)
    colourmap = grid.axes[0].images[0].get_cmap()
    assert colourmap(0.0)[:3] == (1.0, 1.0, 1.0) and colourmap(1.0)[:3] == (0.0, 0.0, 0.0)
    right, wrong = grid.axes[0].title, grid.axes[1].title
    assert (right.get_text(), wrong.get_text()) == ("0 → 0", "1 → 5")
    assert _rgba(right.get_color()) == _rgba("black") and _rgba(wrong.get_color()) == _rgba("C3")
    labelled = plots.digit_grid(images[:2], [4, 4])
    assert all(_rgba(ax.title.get_color()) == _rgba("black") for ax in labelled.axes)


def test_each_digits_two_bars_stand_side_by_side_around_it_without_touching_the_next():
    train = torch.tensor([0, 1, 1, 8])  # no 9 in the training labels: still ten bars
    test = torch.tensor([9])
    (ax,) = plots.class_counts(train, test).axes
    train_bars, test_bars = ax.containers
    assert len(train_bars) == len(test_bars) == 10
    for digit, (left, right) in enumerate(zip(train_bars, test_bars, strict=True)):
        left_centre = left.get_x() + left.get_width() / 2
        right_centre = right.get_x() + right.get_width() / 2
        assert digit - left_centre == pytest.approx(right_centre - digit) and left_centre < digit
        assert left.get_x() + left.get_width() <= right.get_x() + 1e-12  # side by side
        assert left.get_x() > digit - 0.5 and right.get_x() + right.get_width() < digit + 0.5
    assert _legend(ax) == ["train", "test"]
    assert list(ax.get_xticks()) == list(range(10))


def test_the_confusion_matrix_leaves_no_mistake_white_and_writes_right_answers_apart():
    labels = torch.tensor([3, 3, 5])
    predictions = torch.tensor([3, 5, 5])
    figure, _ = plots.confusion_matrix(labels, predictions)
    (ax,) = figure.axes
    colourmap = ax.images[0].get_cmap()
    assert colourmap(0.0)[:3] == pytest.approx((1.0, 1.0, 1.0), abs=0.07)  # none: white
    assert colourmap(1.0)[0] > 2 * colourmap(1.0)[2]  # many: red
    colours = {(round(t.get_position()[1]), round(t.get_position()[0])): _rgba(t.get_color())
               for t in ax.texts}  # fmt: skip
    assert colours[(3, 3)] == colours[(5, 5)] == _rgba("C2")
    assert colours[(3, 5)] == _rgba("black")
    assert {(t.get_ha(), t.get_va()) for t in ax.texts} == {("center", "center")}  # mid-cell
    assert not any(line.get_visible() for line in ax.get_xgridlines() + ax.get_ygridlines())
    assert list(ax.get_xticks()) == list(ax.get_yticks()) == list(range(10))


def test_the_frontier_tells_families_apart_by_colour_and_their_lines_by_style():
    def family(parameters):
        return pd.DataFrame(
            {"parameters": parameters, "mean final (%)": [99.5, 99.1],
             "min final (%)": [99.4, 98.8], "min of last 3 (%)": [99.3, 98.7]},
            index=[f"n{p}" for p in parameters],
        )  # fmt: skip

    figure = plots.frontier({"one": family([300, 100]), "two": family([400, 200])}, 0.994,
                            published=[("elsewhere", 150, 99.2)],
                            claim=("claimed", 50, 99.6, 99.0))  # fmt: skip
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.lines}
    for name in ("one", "two"):
        three = [line for label, line in lines.items() if label.startswith(f"{name}:")]
        assert len(three) == 3 and len({_rgba(line.get_color())[:3] for line in three}) == 1
        assert len({(line.get_linestyle(), line.get_marker()) for line in three}) == 3
    one, two = (_rgba(lines[f"{name}: mean final"].get_color()) for name in ("one", "two"))
    assert one != two
    _assert_target_stands_apart(ax, "99.4 %")
    (arrow,) = [text for text in ax.texts if text.get_text() == ""]
    assert arrow.xy == (50, 99.0) and arrow.xyann == (50, 99.6)  # from what it says to its log
    (named,) = [text for text in ax.texts if text.get_text() == "claimed"]
    assert named.xy == (50, 99.6) and _rgba(named.get_color()) == _rgba("C3")
    names = {text.get_text(): text for text in ax.texts}
    assert all(
        names[name].anncoords == "offset points" for name in ("n100", "elsewhere", "claimed")
    )
    assert names["n100"].xyann[1] > 0 > names["elsewhere"].xyann[1]  # book: above; others: below
    assert names["claimed"].xyann[1] > 0
    assert all(max(map(abs, names[name].xyann)) <= 20 for name in names if name)  # beside it
    (star,) = [line for line in ax.lines if line.get_marker() == "*"]
    assert (list(star.get_xdata()), list(star.get_ydata())) == ([150], [99.2])
    assert arrow.arrow_patch is not None  # an arrow, not only a name


def test_the_frontier_marks_each_network_and_draws_the_ones_the_text_names_larger():
    family = pd.DataFrame(
        {"parameters": [300, 100], "mean final (%)": [99.5, 99.1], "min final (%)": [99.4, 98.8],
         "min of last 3 (%)": [99.3, 98.7]},
        index=["wide", "narrow"],
    )  # fmt: skip
    figure = plots.frontier({"toy": family}, 0.994, published=[("elsewhere", 150, 99.2)],
                            claim=("claimed", 50, 99.6, 99.0))  # fmt: skip
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.lines}
    family_lines = [lines[f"toy: {kind}"] for kind in ("mean final", "lowest final")]
    family_lines.append(lines["toy: min of last 3 epochs"])
    assert all(line.get_marker() not in ("None", "", None) for line in family_lines)
    assert lines["toy: lowest final"].get_markerfacecolor() == "none"  # open: the lowest seed
    assert lines["toy: mean final"].get_markerfacecolor() != "none"
    singles = [line for line in ax.lines if line.get_label().startswith("_")]
    star, claimed, logged = (line for line in singles if line.get_xdata().size == 1)
    assert star.get_marker() == "*" and (claimed.get_marker(), logged.get_marker()) == ("o", "X")
    largest = max(line.get_markersize() for line in family_lines)
    assert min(line.get_markersize() for line in (star, claimed, logged)) > largest
    assert (claimed.get_xdata()[0], claimed.get_ydata()[0]) == (50, 99.6)
    assert (logged.get_xdata()[0], logged.get_ydata()[0]) == (50, 99.0)
    assert claimed.get_markerfacecolor() == "none"  # what it says: open; what its log shows: full
    assert _rgba(claimed.get_markeredgecolor()) == _rgba(logged.get_color()) == _rgba("C3")


def _one_cycle(step, total, start, peak, end, pct=0.3):
    """PyTorch's documented one-cycle curve: cosine from ``start`` to ``peak`` over the first
    ``pct`` of the steps, then from ``peak`` to ``end``."""

    def cosine(a, b, share):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * share))

    turn = pct * total - 1
    if step <= turn:
        return cosine(start, peak, step / turn)
    return cosine(peak, end, (step - turn) / (total - 1 - turn))


def test_the_schedule_is_the_one_cycle_curve_step_by_step():
    from nnbook.mnist.recipes import DEFAULT_RECIPE

    recipe = replace(DEFAULT_RECIPE, epochs=3, lr=0.2)
    figure = plots.schedule(recipe, steps_per_epoch=10)
    rate_ax, momentum_ax = figure.axes
    assert _side_by_side(rate_ax, momentum_ax)
    (rates,), (momenta,) = rate_ax.lines, momentum_ax.lines
    for line in (rates, momenta):  # in epochs, every step
        np.testing.assert_allclose(line.get_xdata(), np.arange(30) / 10)
    peak = recipe.lr  # OneCycleLR's defaults: from peak / 25 up, and down to peak / 25 / 10⁴
    expected = [_one_cycle(t, 30, peak / 25, peak, peak / 25 / 1e4) for t in range(30)]
    np.testing.assert_allclose(rates.get_ydata(), expected, rtol=1e-6)
    expected = [_one_cycle(t, 30, 0.95, 0.85, 0.95) for t in range(30)]  # the other way
    np.testing.assert_allclose(momenta.get_ydata(), expected, rtol=1e-6)
    assert (rate_ax.get_ylabel(), momentum_ax.get_ylabel()) == ("learning rate η", "momentum α")
    assert rate_ax.get_xlabel() == momentum_ax.get_xlabel() == "epoch"
    assert _rgba(rates.get_color()) != _rgba(momenta.get_color())


def test_the_schedule_leaves_the_callers_network_alone():
    from nnbook.mnist.recipes import DEFAULT_RECIPE

    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    plots.schedule(replace(DEFAULT_RECIPE, epochs=1), steps_per_epoch=4)
    assert torch.equal(torch.rand(2), expected)  # its throwaway layer drew no random numbers
