"""The seed's layers and the book's two shopping examples, exactly."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compgraph.naive import AddLayer, MulLayer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_mul_layer_swaps_inputs_in_backward():
    layer = MulLayer()
    assert layer.forward(100, 2) == 200
    assert layer.backward(1.1) == (2.2, 110.00000000000001)


def test_add_layer_passes_gradient_through():
    layer = AddLayer()
    assert layer.forward(200, 450) == 650
    assert layer.backward(1.1) == (1.1, 1.1)


def test_layers_work_on_arrays():
    mul, add = MulLayer(), AddLayer()
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    z = add.forward(mul.forward(x, y), x)
    np.testing.assert_array_equal(z, [4.0, 10.0])
    dout = np.array([1.0, 10.0])
    da, dx_add = add.backward(dout)
    dx, dy = mul.backward(da)
    np.testing.assert_array_equal(dx + dx_add, [4.0, 50.0])
    np.testing.assert_array_equal(dy, [1.0, 20.0])


def test_backward_does_not_write_into_dout():
    dout = np.array([1.0, 2.0])
    AddLayer().backward(dout)
    layer = MulLayer()
    layer.forward(np.array([3.0, 4.0]), np.array([5.0, 6.0]))
    layer.backward(dout)
    np.testing.assert_array_equal(dout, [1.0, 2.0])


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("buy_apple.py", "price: 220\ndApple: 2.2\ndApple_num: 110\ndTax: 200\n"),
        (
            "buy_apple_orange.py",
            "price: 715\ndApple: 2.2\ndApple_num: 110\ndOrange: 3.3000000000000003\n"
            "dOrange_num: 165\ndTax: 650\n",
        ),
    ],
)
def test_examples_print_the_books_numbers(script, expected):
    out = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, check=True)
    assert out.stdout == expected
