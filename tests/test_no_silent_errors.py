"""Ways a gradient or a value used to come out silently wrong, and what PyTorch users will try.

Each was found by hostile testing; PyTorch is the oracle where it has the same feature.
"""

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable
from compgraph.functions.math import Exp
from compgraph.optim import SGD, Adam

torch = pytest.importorskip("torch")


# --- values changed between forward and backward ------------------------------------------------
@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1), lambda p: Adam(p, lr=0.1)])
def test_backward_after_an_optimizer_step_raises_as_pytorchs_does(make):
    W = Variable(np.array([1.0, 2.0]), name="W")
    opt = make([W])
    loss1, loss2 = F.sum(W * W), F.sum(W * W * W)
    loss1.backward()
    opt.step()
    opt.zero_grad()
    with pytest.raises(RuntimeError, match=r"Mul: its input \d 'W' \(\(2,\) float64\) was changed in place"):
        loss2.backward()  # gave W.grad = [1, 4]; the true gradient at the forward values is [3, 12]
    assert W.grad is None

    tW = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([tW], lr=0.1)
    tloss1, tloss2 = (tW * tW).sum(), (tW * tW * tW).sum()
    tloss1.backward()
    topt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss2.backward()


def test_a_graph_recorded_after_the_step_backpropagates_as_usual():
    W = Variable(np.array([1.0, 2.0]))
    opt = SGD([W], lr=0.1)
    F.sum(W * W).backward()
    opt.step()
    opt.zero_grad()
    F.sum(W * W * W).backward()
    np.testing.assert_allclose(W.grad.data, 3 * np.array([0.8, 1.6]) ** 2)


def test_an_index_array_changed_after_indexing_does_not_retarget_the_gradient():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    idx = np.array([0, 0, 1])
    y = x[idx]
    idx[:] = 2  # used to send every gradient to x[2]
    F.sum(y).backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 1.0, 0.0])


def test_embedding_ids_changed_after_the_lookup_do_not_retarget_the_gradient():
    W = Variable(np.arange(6.0).reshape(3, 2))
    ids = np.array([[2, 0]])
    y = F.embedding(ids, W)
    ids[...] = 1
    F.sum(y).backward()
    np.testing.assert_array_equal(W.grad.data, [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])


# --- one Function instance called twice ----------------------------------------------------------
class Square(cg.Function):  # the README's
    def forward(self, x):
        return x**2

    def backward(self, gy):
        (x,) = self.inputs
        return 2 * x * gy


def test_calling_one_function_twice_makes_two_nodes():
    a, b = Variable(3.0), Variable(5.0)
    sq = Square()
    (sq(a) + sq(b)).backward()  # a.grad was None
    assert (a.grad.item(), b.grad.item()) == (6.0, 10.0)


def test_a_reused_builtin_op_gives_the_right_values_and_gradients():
    a, b = Variable(np.array([0.5, 1.0])), Variable(np.array([2.0, -1.0]))
    exp = Exp()
    y = exp(a) * exp(b)
    F.sum(y).backward()
    np.testing.assert_allclose(y.data, np.exp(a.data + b.data))
    np.testing.assert_allclose(a.grad.data, np.exp(a.data + b.data))
    np.testing.assert_allclose(b.grad.data, np.exp(a.data + b.data))


def test_state_a_forward_keeps_on_self_is_per_call():
    class Scale(cg.Function):
        def __init__(self, k):
            self.k = k

        def forward(self, x):
            self.seen = x.copy()
            return x * self.k

        def backward(self, gy):
            return gy * self.k + 0 * self.seen.sum()

    scale = Scale(3.0)
    a, b = Variable(1.0), Variable(2.0)
    ya, yb = scale(a), scale(b)
    assert ya.creator is not yb.creator and ya.creator.seen == 1.0 and yb.creator.seen == 2.0
    (ya + yb).backward()
    assert (a.grad.item(), b.grad.item()) == (3.0, 3.0)


# --- every .grad owns its array -----------------------------------------------------------------
def test_leaf_gradients_do_not_share_memory():
    W, b, c = (Variable(np.array(v)) for v in ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0]))
    F.sum((W + b) * c).backward()
    assert not np.shares_memory(W.grad.data, b.grad.data)
    W.grad.data *= 0.5  # gradient accumulation's habit: halves W's alone
    np.testing.assert_array_equal(W.grad.data, [2.5, 3.0])
    np.testing.assert_array_equal(b.grad.data, [5.0, 6.0])


def test_gradients_do_not_share_memory_with_the_callers_grad_outputs():
    W, b = Variable(np.array([1.0, 2.0])), Variable(np.array([3.0, 4.0]))
    seed = np.array([1.0, 1.0])
    cg.backward(W + b, seed)
    gW, gb = cg.grad(W + b, [W, b], grad_outputs=seed)
    arrays = [seed, W.grad.data, b.grad.data, gW.data, gb.data]
    assert not any(np.shares_memory(p, q) for i, p in enumerate(arrays) for q in arrays[i + 1 :])
    W.grad.data[...] = 0
    np.testing.assert_array_equal(seed, [1.0, 1.0])


def test_reshaped_views_of_one_gradient_are_not_shared_either():
    W = Variable(np.ones((2, 2)))
    v = Variable(np.ones(4))
    F.sum(W.reshape(4) + v).backward()  # both gradients view the same upstream array
    assert not np.shares_memory(W.grad.data, v.grad.data)


# --- dtypes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "other"),
    [
        (np.array([True, False]), 2),
        (np.array([True, False]), 2.5),
        (np.array([1, 2]), 2.5),
        (np.array([1, 2]), 3),
    ],
)
def test_a_python_number_meets_bools_and_ints_as_in_numpy(data, other):
    for y, expected in [(Variable(data) * other, data * other), (other - Variable(data), other - data)]:
        assert y.dtype == expected.dtype
        np.testing.assert_array_equal(y.data, expected)


# --- what PyTorch users will try -----------------------------------------------------------------
def test_equality_is_identity_between_variables_and_refuses_values():
    x, y = Variable(1.0), Variable(1.0)
    assert x == x and x != y and (x == y) is False
    assert [y, x].index(x) == 1 and x in {x} and x not in [y]
    assert x != None and None != x  # noqa: E711, SIM300 (what `x == None` answers, on purpose)
    with pytest.raises(TypeError, match=r"compare values with x\.data == value"):
        _ = x == 1.0  # would be False for a Variable that holds exactly 1.0
    with pytest.raises(TypeError, match="by identity"):
        _ = np.array(1.0) != x


def test_ordering_comparisons_give_constant_bool_variables_like_pytorchs():
    values = [-1.0, 0.0, 2.0]
    x, tx = Variable(np.array(values)), torch.tensor(values, requires_grad=True)
    for ours, theirs in [
        (x > 0, tx > 0),
        (x >= 0, tx >= 0),
        (x < 0, tx < 0),
        (0 >= x, 0 >= tx),  # noqa: SIM300 (the reflected comparison, on purpose)
        (x < x * 2, tx < tx * 2),
    ]:
        assert isinstance(ours, Variable) and ours.dtype == np.bool_
        assert not ours.requires_grad and ours.creator is None
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    y = x[x > 0]  # a mask selects, differentiably
    F.sum(y * y).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 4.0])


def test_float_and_int_of_one_element_as_in_pytorch():
    assert float(Variable(np.array([[2.5]]))) == 2.5 == float(torch.tensor([[2.5]]))
    assert int(Variable(np.array([7.9]))) == 7 == int(torch.tensor([7.9]))
    with pytest.raises(TypeError, match=r"float\(\) of a Variable of shape \(2,\)"):
        float(Variable(np.array([1.0, 2.0])))


def test_iterating_gives_rows_and_a_0d_variable_is_not_iterable():
    with pytest.raises(TypeError, match="iteration over a 0-d Variable"):
        list(Variable(2.0))  # was []
    with pytest.raises(TypeError, match="len"):
        len(Variable(2.0))
    with pytest.raises(TypeError):
        list(torch.tensor(2.0))
    x = Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    rows = list(x)
    assert len(rows) == 2 and all(isinstance(r, Variable) for r in rows)
    F.sum(rows[1] * 3).backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.0], [3.0, 3.0]])


def test_backward_on_a_non_scalar_seeds_ones_that_is_the_gradient_of_its_sum():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    (x * x).backward()  # PyTorch asks for a seed here; the book's DeZero seeds ones
    (g,) = cg.grad(F.sum(x * x), [x])
    np.testing.assert_array_equal(x.grad.data, g.data)
