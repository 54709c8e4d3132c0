"""Numbers and arrays as label text, and the flags for NaN/Inf and vanishing/exploding gradients."""

import numpy as np
import pytest

from compgraph.viz import format as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (715.0000000000001, "715"),  # (100·2 + 150·3)·1.1 in floating point
        (3.3000000000000003, "3.3"),
        (110.00000000000001, "110"),
        (2.2, "2.2"),
        (1.1, "1.1"),
        (650.0, "650"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
        (1 / 3, "0.333333"),
        (2.5e-7, "2.5e-7"),
        (1e20, "1e20"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-float("inf"), "-inf"),
        (3, "3"),
        (np.int64(-4), "-4"),
        (True, "True"),
    ],
)
def test_scalars_print_compactly_without_rounding_noise(value, text):
    assert fmt.format_array(np.asarray(value)) == text


def test_float32_and_float16_show_the_digits_they_carry():
    assert fmt.format_array(np.float32(0.1)) == "0.1"
    assert fmt.format_array(np.float16(1 / 3)) == "0.333"


def test_arrays_show_shape_dtype_and_a_summary():
    a = np.array([[1.0, -1.0, 2.0], [0.0, 0.5, 3.5]])
    assert fmt.format_array(a) == "(2, 3) float64\nmean 1 [-1, 3.5]"
    assert fmt.format_array(np.arange(4, dtype=np.int32)) == "(4,) int32\nmean 1.5 [0, 3]"
    assert fmt.format_array(np.zeros((0, 3))) == "(0, 3) float64 (empty)"
    assert fmt.format_array(np.array([True, False, True])) == "(3,) bool, 2 true"


def test_array_summary_counts_nan_and_inf_and_summarizes_the_rest():
    a = np.array([1.0, np.nan, 3.0, np.inf, np.nan])
    assert fmt.format_array(a) == "(5,) float64\nmean 2 [1, 3] 2 nan, 1 inf"
    assert fmt.format_array(np.full(2, np.nan)) == "(2,) float64\n2 nan"


def test_value_flags_mark_nan_and_inf_only():
    assert fmt.value_flags(np.array(np.nan)) == ("nonfinite",)
    assert fmt.value_flags(np.array([1.0, -np.inf])) == ("nonfinite",)
    assert fmt.value_flags(np.array([1.0, 1e300])) == ()
    assert fmt.value_flags(np.array([1, 2])) == ()


@pytest.mark.parametrize(
    ("g", "flags"),
    [
        (np.array(1.0), ()),
        (np.array(1e-6), ("vanishing",)),  # at the threshold
        (np.array(2e-6), ()),
        (np.array(0.0), ("vanishing",)),
        (np.array([1e-9, -3e-8]), ("vanishing",)),
        (np.array([1e-9, 1.0]), ()),  # the largest magnitude decides
        (np.array(-1e6), ("exploding",)),
        (np.array([1.0, 5e7]), ("exploding",)),
        (np.array([1.0, np.nan]), ("nonfinite",)),
        (np.array(np.inf), ("nonfinite",)),
        (np.array([3, 4]), ()),
        (np.zeros(0), ()),
    ],
)
def test_gradient_flags_use_the_documented_thresholds(g, flags):
    assert fmt.grad_flags(g) == flags


def test_gradient_thresholds_are_options_and_can_be_switched_off():
    assert fmt.grad_flags(np.array(0.01), vanishing=0.1) == ("vanishing",)
    assert fmt.grad_flags(np.array(50.0), exploding=10.0) == ("exploding",)
    assert fmt.grad_flags(np.array(0.0), vanishing=None) == ()
    assert fmt.grad_flags(np.array(1e9), exploding=None) == ()


def test_marks_show_flags_without_colour():
    assert fmt.marked("nan", ("nonfinite",)) == "⚠ nan"
    assert fmt.marked("1e-9", ("vanishing",)) == "▼ 1e-9"
    assert fmt.marked("3e8", ("exploding",)) == "▲ 3e8"
    assert fmt.marked("2", ()) == "2"
