"""The benchmark workloads: compgraph computes the gradients that NumPy by hand does.

``python -m benchmarks`` refuses a library's time when its gradients differ from the
reference's; this checks compgraph's adapter against the by-hand one without timing anything.
"""

import pytest

from benchmarks import runner
from benchmarks import workloads as W
from benchmarks.libs import compgraph_lib, numpy_lib


@pytest.mark.parametrize("name", ["apple", "scalar", "matrix", "mlp", "cnn"])
def test_compgraph_matches_numpy_by_hand(name):
    ours = getattr(compgraph_lib, name)()(check=True)
    reference = getattr(numpy_lib, name)()(check=True)
    assert len(ours) == len(reference) > 0
    assert runner._close(ours, reference, W.WORKLOADS[name].rtol), (ours, reference)


def test_apple_orange_gradients_are_the_books():
    # dApple 2.2, dApple_num 110, dOrange 3.3, dOrange_num 165, dTax 650
    assert compgraph_lib.apple()(check=True) == pytest.approx([2.2, 110.0, 3.3, 165.0, 650.0])


def test_the_deep_chain_passes_the_gradient_through():
    assert compgraph_lib.deep()(check=True) == [1.0]  # d(x + 1e-6·n)/dx
