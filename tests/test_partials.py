"""differentiate: an expression's value and partial derivatives, and the views compgraph grad prints."""

import warnings

import pytest

from compgraph.expr import ExpressionError, parse
from compgraph.partials import (
    APPLE_ORANGE,
    APPLE_ORANGE_VALUES,
    apple_orange_intro,
    differentiate,
    format_value,
    unused,
)


def test_the_apple_orange_example():
    result = differentiate(APPLE_ORANGE, APPLE_ORANGE_VALUES, output="price")
    assert result.name == "price" and result.value == pytest.approx(715.0)
    assert result.gradients == pytest.approx(
        {"apple": 2.2, "apple_num": 110.0, "orange": 3.3, "orange_num": 165.0, "tax": 650.0}
    )
    assert list(result.gradients) == ["apple", "apple_num", "orange", "orange_num", "tax"]
    assert result.report().splitlines() == [
        "price = 715",
        "∂price/∂apple = 2.2",
        "∂price/∂apple_num = 110",
        "∂price/∂orange = 3.3",
        "∂price/∂orange_num = 165",
        "∂price/∂tax = 650",
    ]


def test_the_intro_lists_the_example_and_its_values():
    assert apple_orange_intro() == (
        "The apple/orange example (Deep Learning from Scratch, ch. 5):\n"
        "price = (apple * apple_num + orange * orange_num) * tax\n"
        "with apple = 100, apple_num = 2, orange = 150, orange_num = 3, tax = 1.1\n\n"
    )


def test_the_output_takes_the_first_name_the_expression_does_not_use():
    assert differentiate("x", {"x": 1.0}).name == "z"
    assert differentiate("z + f", {"z": 1.0, "f": 2.0}).name == "y"
    assert differentiate("z + f + y + out", dict.fromkeys(("z", "f", "y", "out"), 1.0)).name == "out1"


def test_a_parsed_expression_and_extra_values_are_accepted():
    expression = parse("x * 2")
    result = differentiate(expression, {"x": 3.0, "w": 5.0})
    assert (result.value, result.gradients) == (6.0, {"x": 2.0})
    assert unused(expression, {"x": 3.0, "w": 5.0}) == ["w"]


def test_without_names_there_is_nothing_to_differentiate():
    result = differentiate("2 ** 10", {})
    assert result.gradients == {} and result.report() == "z = 1024\n(no names: nothing to differentiate)\n"


def test_a_missing_value_points_at_its_first_use():
    with pytest.raises(ExpressionError, match="no value given for y") as info:
        differentiate("x + y * y", {"x": 1.0})
    assert (info.value.start, info.value.end) == (4, 5)


def test_nan_and_infinity_are_answers_in_every_view(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = differentiate("log(x) + 1/y", {"x": -1.0, "y": 0.0})
        assert result.report() == "z = nan\n∂z/∂x = -1\n∂z/∂y = -inf\n"
        assert "∂z/∂y = −1/y² = -inf" in result.steps()
        assert result.draw(tmp_path / "g.svg", engine="builtin").read_text().startswith("<svg")
        assert "<html" in result.to_html(tmp_path / "g.html").read_text()


def test_numbers_are_printed_with_12_significant_digits():
    assert [format_value(v) for v in (2.718281828459045, 1.1, 100.0, float("-inf"))] == [
        "2.71828182846",
        "1.1",
        "100",
        "-inf",
    ]
