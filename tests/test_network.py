"""``nnbook.network``'s checks of what a reader passes in: the right type out, and for bad input
a ValueError whose message says what is wrong (the command line prints it as it is)."""

import numpy as np
import pytest

from nnbook import network


@pytest.mark.parametrize(
    ("convert", "values", "length"),
    [
        (network.as_weights, list(range(8)), 8),
        (network.as_biases, [1, 2], 2),
    ],
    ids=["weights", "biases"],
)
def test_whole_numbers_come_back_as_float64(convert, values, length):
    array = convert(values)
    assert array.dtype == np.float64 and array.shape == (length,)
    np.testing.assert_array_equal(array, np.arange(length) if length == 8 else [1.0, 2.0])


def test_split_trainable_gives_float64_weights_and_biases():
    weights, biases = network.split_trainable(list(range(10)))
    assert weights.dtype == biases.dtype == np.float64
    assert weights.tolist() == list(range(8)) and biases.tolist() == [8, 9]


BAD = [
    (network.as_weights, [1.0] * 7, r"expected 8 weights \(w1\.\.w8\), got shape \(7,\)"),
    (network.as_weights, 3.0, r"expected 8 weights \(w1\.\.w8\), got shape \(\)"),
    (network.as_weights, [1.0] * 7 + [np.inf], r"^weights must be finite numbers$"),
    (network.as_biases, [1.0, 2.0, 3.0], r"^expected 2 values \(b1, b2\), got 3$"),
    (network.as_biases, 1.0, r"^expected 2 values \(b1, b2\), got 1$"),
    (network.as_biases, ["a", "b"], r"^b1, b2 must be numbers, got \['a', 'b'\]$"),
    (network.as_biases, [1.0, np.nan], r"^b1, b2 must be finite numbers, got \[1\.0, nan\]$"),
    (network.split_trainable, [0.0] * 9, r"^expected 10 values \(w1\.\.w8, b1, b2\), got \(9,\)$"),
    (network.split_trainable, 0.0, r"^expected 10 values \(w1\.\.w8, b1, b2\), got \(\)$"),
    (network.check_iterations, 2.5, r"^iteration count must be a whole number, got 2\.5$"),
    (network.check_iterations, True, r"^iteration count must be a whole number, got True$"),
    (network.check_iterations, -1, r"^iteration count must be 0 or more, got -1$"),
]


@pytest.mark.parametrize(
    ("check", "value", "message"),
    BAD,
    ids=[f"{check.__name__}({value!r})"[:40] for check, value, _ in BAD],
)
def test_bad_input_is_a_value_error_that_says_what_is_wrong(check, value, message):
    with pytest.raises(ValueError, match=message):
        check(value)


def test_a_whole_iteration_count_is_an_int():
    assert network.check_iterations(3.0) == 3 and isinstance(network.check_iterations(3.0), int)
