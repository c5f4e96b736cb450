"""The NumPy backprop against independent references: autograd, finite differences, SymPy."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook import backprop
from nnbook.backprop import (
    ROUND_OFF_FLOOR,
    DivergenceError,
    forward,
    gradients,
    overshoots,
    rises,
    train,
    train_many,
)
from nnbook.gradcheck import autograd_gradients, finite_difference_gradients
from nnbook.network import (
    BIAS_GRADIENT_NAMES,
    BIAS_NAMES,
    COLUMNS,
    FORWARD_NAMES,
    GRADIENT_NAMES,
    INITIAL_WEIGHTS,
    LEARNING_RATES,
    WEIGHT_NAMES,
    Gradients,
)
from nnbook.symbolic import lambdified_gradients

weight_vectors = st.lists(
    st.floats(min_value=-3, max_value=3, allow_nan=False), min_size=8, max_size=8
)


def huge_gradients(weights: np.ndarray, *args: object) -> Gradients:
    """Gradients of 1e308 for every weight and bias: the update η·1e308 overflows for η > 1."""
    return Gradients(np.full_like(weights, 1e308), np.full((*weights.shape[:-1], 2), 1e308))


def test_forward_pass_by_hand():
    s = forward(INITIAL_WEIGHTS)
    h1 = 0.15 * 0.05 + 0.2 * 0.1
    a_h1 = 1 / (1 + np.exp(-h1))
    h2 = 0.25 * 0.05 + 0.3 * 0.1
    a_h2 = 1 / (1 + np.exp(-h2))
    a_o1 = 1 / (1 + np.exp(-(0.4 * a_h1 + 0.45 * a_h2)))
    a_o2 = 1 / (1 + np.exp(-(0.5 * a_h1 + 0.55 * a_h2)))
    assert s.h1 == pytest.approx(h1, rel=1e-15)
    assert s.a_h2 == pytest.approx(a_h2, rel=1e-15)
    assert s.E_total == pytest.approx(0.5 * (0.5 - a_o1) ** 2 + 0.5 * (0.5 - a_o2) ** 2, rel=1e-14)


@pytest.mark.parametrize("reference", [autograd_gradients, lambdified_gradients])
def test_gradients_match_reference_at_class_weights(reference):
    ours, theirs = gradients(INITIAL_WEIGHTS), reference(INITIAL_WEIGHTS)
    np.testing.assert_allclose(ours.weights, theirs.weights, rtol=1e-12)
    np.testing.assert_allclose(ours.biases, theirs.biases, rtol=1e-12)


def test_gradients_match_finite_differences_at_class_weights():
    ours, theirs = gradients(INITIAL_WEIGHTS), finite_difference_gradients(INITIAL_WEIGHTS)
    np.testing.assert_allclose(ours.weights, theirs.weights, rtol=1e-6)
    np.testing.assert_allclose(ours.biases, theirs.biases, rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(weight_vectors)
def test_gradients_match_references_at_random_weights(weights):
    ours = np.concatenate(gradients(weights))  # w1..w8, b1, b2
    for reference, rtol, atol in [
        (autograd_gradients, 1e-10, 1e-15),
        (lambdified_gradients, 1e-10, 1e-15),
        (finite_difference_gradients, 1e-5, 1e-9),
    ]:
        theirs = np.concatenate(reference(weights))
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def test_row_k_is_the_state_after_k_updates():
    lr = 0.5
    table = train(lr, iterations=5)
    assert list(table.columns) == list(COLUMNS)
    assert list(table["iteration"]) == [0, 1, 2, 3, 4, 5]
    weights = np.array(INITIAL_WEIGHTS)
    for k in range(6):
        row = table.iloc[k]
        np.testing.assert_array_equal(row[list(WEIGHT_NAMES)].to_numpy(float), weights)
        assert row["E_total"] == forward(weights).E_total
        weights = weights - lr * gradients(weights).weights  # all eight from one forward pass


def test_error_falls_for_every_class_learning_rate():
    for lr, table in train_many(LEARNING_RATES, 100).items():
        assert np.all(np.diff(table["E_total"]) < 0), lr


def test_vectorised_runs_equal_single_runs():
    together = train_many(LEARNING_RATES, 20)
    for lr in LEARNING_RATES:
        np.testing.assert_array_equal(together[lr].to_numpy(), train(lr, 20).to_numpy())


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), "fast"])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning rate"):
        train(lr, 3)


def test_bad_iterations_and_weights():
    with pytest.raises(ValueError, match="iteration count must be 0 or more"):
        train(0.5, -1)
    with pytest.raises(ValueError, match="expected 8 weights"):
        train(0.5, 3, weights=[0.1] * 7)
    with pytest.raises(ValueError, match="finite"):
        train(0.5, 3, weights=[0.1] * 7 + [float("nan")])


def test_divergence_names_the_iteration(monkeypatch):
    # The sigmoids saturate, so real gradients stay small; a gradient of 1e308 stands in for a
    # run whose update overflows: 0.15 − 10·1e308 is −inf after the first update.
    monkeypatch.setattr("nnbook.backprop.gradients", huge_gradients)
    with pytest.raises(DivergenceError, match=r"diverged at iteration 1.*learning rate 10\)"):
        train(10, 5)


def test_zero_iterations_gives_the_starting_row():
    table = train(0.5, 0)
    assert len(table) == 1
    assert table.loc[0, "E_total"] == forward(INITIAL_WEIGHTS).E_total


def test_rises_sees_only_rises_above_round_off():
    assert not rises([3.0, 2.0, 1.0])
    assert rises([3.0, 2.0, 2.5, 1.0])
    assert not rises([1e-3, 1e-31, 2e-31])  # round-off below the floor is not a rise
    # the class network within 100 updates: η = 2 falls at every step, a huge η overshoots
    assert not rises(train(2.0, 100)["E_total"])
    assert rises(train(100.0, 100)["E_total"])


def updates(*gradients, errors=(1.0, 0.5, 0.25), db1=(0.0, 0.0, 0.0)) -> pd.DataFrame:
    """Rows whose first gradients ∂E_total/∂w1, ∂E_total/∂w2 are ``gradients`` (the other
    weights' 0), with ∂E_total/∂b1 ``db1`` and ∂E_total/∂b2 0."""
    rows = np.zeros((len(gradients), 8))
    rows[:, :2] = gradients
    table = pd.DataFrame(rows, columns=GRADIENT_NAMES).assign(E_total=errors[: len(gradients)])
    return table.assign(dE_db1=db1[: len(gradients)], dE_db2=0.0)


def test_an_update_overshoots_when_the_gradient_it_lands_on_points_back():
    assert not overshoots(updates((1, 0), (0.5, 0), (0.1, 0)))
    assert overshoots(updates((1, 0), (0.5, 0), (-0.1, 0)))  # the second lands past the lowest
    assert overshoots(updates((1, 0), (-0.5, 0), (-0.1, 0)))
    # each update against the gradient it followed, not the first one
    assert overshoots(updates((1, 0), (0.1, 1), (0.5, -1)))
    assert not overshoots(updates((1, 0), (0, 1)))  # at the lowest point exactly: not past it
    # with trained biases their gradients are part of the step: here they turn it back
    with_biases = updates((1, 0), (0.1, 0), db1=(1.0, -1.0))
    assert not overshoots(with_biases) and overshoots(with_biases, trained_biases=True)


def test_an_overshoot_counts_only_from_above_the_floor():
    late = updates((1, 0), (0.5, 0), (-0.1, 0), errors=(1.0, ROUND_OFF_FLOOR, 1e-26))
    assert not overshoots(late)
    assert overshoots(late, floor=ROUND_OFF_FLOOR / 2)
    # the class network: η = 2 never overshoots; η = 60 does, yet E_total falls at every update
    assert not overshoots(train(2.0, 100))
    assert overshoots(train(60.0, 100)) and not rises(train(60.0, 100)["E_total"])


def test_the_default_difference_step_of_the_biases_is_small():
    """With its default step, the central differences of b1, b2 agree with autograd to the
    truncation error of a small step (~1e-10 here), not of a step of 1."""
    ours = finite_difference_gradients(INITIAL_WEIGHTS).biases
    reference = autograd_gradients(INITIAL_WEIGHTS).biases
    np.testing.assert_allclose(ours, reference, rtol=1e-7)


def test_the_gradient_table_holds_four_agreeing_methods_for_the_eight_weights():
    from nnbook.gradcheck import gradient_table

    table = gradient_table(INITIAL_WEIGHTS)
    assert list(table.index) == [f"∂E_total/∂{name}" for name in WEIGHT_NAMES]
    assert table.index.name == "gradient"  # the header of the derivatives chapter's table
    assert list(table.columns) == [
        "NumPy backprop", "SymPy (lambdified)", "torch.autograd", "finite differences"
    ]  # fmt: skip
    np.testing.assert_allclose(
        table["NumPy backprop"], gradients(INITIAL_WEIGHTS).weights, rtol=1e-15
    )
    for method in table.columns[1:]:
        np.testing.assert_allclose(table[method], table["NumPy backprop"], rtol=1e-7)


def test_relative_differences_are_the_largest_per_method():
    import pandas as pd

    from nnbook.gradcheck import relative_differences

    table = pd.DataFrame(
        {"NumPy backprop": [1.0, -2.0, 4.0], "a": [1.1, -2.0, 4.0], "b": [1.0, -2.5, 3.0]}
    )
    found = relative_differences(table)
    assert list(found.index) == ["a", "b"]
    np.testing.assert_allclose(found.to_numpy(), [0.1, 0.25])


# Edges that mutation testing (bench/mutation.py) found no test for -----------------------------


@pytest.mark.parametrize(
    "names", [WEIGHT_NAMES, BIAS_NAMES, FORWARD_NAMES, GRADIENT_NAMES, BIAS_GRADIENT_NAMES]
)
def test_each_group_of_columns_is_where_columns_names_it(names):
    assert COLUMNS[backprop._column_slice(names)] == tuple(names)


def test_a_curve_rises_only_by_an_increase_above_the_floor():
    assert not rises([0.3, 0.3])  # flat is no rise
    assert not rises([ROUND_OFF_FLOOR, 1.0])  # from the floor itself: round-off
    assert rises([2 * ROUND_OFF_FLOOR, 1.0])


def test_sigmoid_saturates_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backprop.sigmoid(np.array([-1000.0, 1000.0])).tolist() == [0.0, 1.0]


def test_biases_stay_fixed_unless_trained():
    run = train(0.5, 3, biases=(0.35, 0.6))
    assert (run[list(BIAS_NAMES)].to_numpy() == [0.35, 0.6]).all()
    assert (run[list(BIAS_GRADIENT_NAMES)].abs().to_numpy() > 0).all()
    trained = train(0.5, 3, biases=(0.35, 0.6), train_biases=True)
    assert (trained[list(BIAS_NAMES)].diff().iloc[1:].to_numpy() != 0).all()


def test_each_row_holds_the_gradients_of_its_own_weights():
    run = train(0.5, 2, biases=(0.35, 0.6))
    for _, row in run.iterrows():
        weights = row[list(WEIGHT_NAMES)].to_numpy()
        state = forward(weights, biases=(0.35, 0.6))
        ours = gradients(weights, state=state)
        np.testing.assert_array_equal(row[list(GRADIENT_NAMES)], ours.weights)
        expected = gradients(weights, biases=(0.35, 0.6)).biases
        np.testing.assert_array_equal(row[list(BIAS_GRADIENT_NAMES)], expected)
        np.testing.assert_array_equal(row[list(FORWARD_NAMES)], state.values())
    assert run["iteration"].dtype.kind == "i"


def test_one_forward_pass_stacks_to_one_row():
    assert forward(INITIAL_WEIGHTS).values().shape == (len(FORWARD_NAMES),)


def test_many_sets_of_starting_weights_are_refused_by_name():
    with pytest.raises(ValueError, match=r"one set of 8 starting weights, got shape \(2, 8\)"):
        backprop.train_array([0.5], 1, np.tile(INITIAL_WEIGHTS, (2, 1)))


@pytest.mark.parametrize("which", ["weights", "biases"])
def test_divergence_names_only_the_rates_that_diverged(monkeypatch, which):
    # an update of 1e308 per unit of η: −inf for η = 10 and 20, finite for η = 0.5; the weights
    # (or, trained, the biases) of those two runs alone stop being finite numbers
    def huge(w, *args):
        small = Gradients(np.zeros((len(w), 8)), np.zeros((len(w), 2)))
        return small._replace(**{which: np.full_like(getattr(small, which), 1e308)})

    monkeypatch.setattr("nnbook.backprop.gradients", huge)
    with pytest.raises(DivergenceError) as error:
        backprop.train_array([0.5, 10, 20], 5, train_biases=True)
    assert str(error.value).endswith(
        "iteration 1: the weights or E_total are no longer finite numbers (learning rate 10, 20)"
    )


@pytest.mark.filterwarnings("error")  # as a reader's notebook with warnings as errors runs it
def test_an_update_that_overflows_is_a_divergence_error_not_a_warning(monkeypatch):
    """The book promises ``DivergenceError`` for a run that diverges: the update that
    overflows (10·1e308 is ∞) must not stop the run first with NumPy's RuntimeWarning."""
    monkeypatch.setattr("nnbook.backprop.gradients", huge_gradients)
    with pytest.raises(DivergenceError, match="diverged at iteration 1"):
        backprop.train_array([10], 3)
    with pytest.raises(DivergenceError, match="diverged at iteration 1"):
        train(10, 3, train_biases=True)
