"""The shared argument checks: TypeError for the wrong kind, ValueError for the wrong value."""

import numpy as np
import pytest

from compgraph._checks import (
    non_negative_int,
    number,
    one_of,
    positive_int,
    positive_number,
    wrong_kind_as_value_error,
)


def test_checks_return_plain_python_values():
    assert positive_int("f", "n", np.int64(3)) == 3 and type(positive_int("f", "n", np.int64(3))) is int
    assert non_negative_int("f", "n", 0) == 0
    assert number("f", "x", np.float32(0.5)) == 0.5 and type(number("f", "x", 1)) is float
    assert positive_number("f", "x", 2) == 2.0
    assert one_of("f", "mode", "b", ("a", "b")) == "b"


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (positive_int, 3.5, "f: n must be a positive int, got float 3.5"),
        (positive_int, True, "f: n must be a positive int, got bool True"),
        (non_negative_int, "1", "f: n must be a non-negative int, got str '1'"),
        (number, None, "f: n must be a number, got NoneType None"),
        (positive_number, np.float64, "f: n must be a positive number, got type <class 'numpy.float64'>"),
    ],
)
def test_the_wrong_kind_is_a_type_error_saying_what_came(check, value, message):
    with pytest.raises(TypeError) as info:
        check("f", "n", value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (positive_int, 0, "f: n must be a positive int, got 0"),
        (non_negative_int, -1, "f: n must be a non-negative int, got -1"),
        (positive_number, 0.0, "f: n must be a positive number, got 0.0"),
        (positive_number, float("inf"), "f: n must be a positive number, got inf"),
        (positive_number, float("nan"), "f: n must be a positive number, got nan"),
    ],
)
def test_the_wrong_value_is_a_value_error(check, value, message):
    with pytest.raises(ValueError) as info:
        check("f", "n", value)
    assert str(info.value) == message


def test_one_of_lists_the_choices():
    with pytest.raises(ValueError, match=r"^f: unknown mode 'c'; choose one of a, b$"):
        one_of("f", "mode", "c", ("a", "b"))


def test_wrong_kind_as_value_error_keeps_the_message():
    message = r"^f: n must be a positive int, got float 2\.5$"
    with pytest.raises(ValueError, match=message) as info, wrong_kind_as_value_error():
        positive_int("f", "n", 2.5)
    assert not isinstance(info.value, TypeError) and isinstance(info.value.__cause__, TypeError)
