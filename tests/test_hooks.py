"""Variable.register_hook and Variable.retain_grad, against PyTorch's."""

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable

torch = pytest.importorskip("torch")


def _pair(values):
    return Variable(np.array(values)), torch.tensor(values, dtype=torch.float64, requires_grad=True)


def test_a_hook_on_an_intermediate_replaces_the_gradient_that_flows_on():
    x, tx = _pair([1.0, -2.0, 3.0])
    seen, tseen = [], []
    y, ty = x * x, tx * tx
    y.register_hook(lambda g: seen.append(g.data.copy()) or g * 2)
    ty.register_hook(lambda g: tseen.append(g.detach().numpy().copy()) or g * 2)
    F.sum(F.tanh(y)).backward()
    torch.tanh(ty).sum().backward()
    np.testing.assert_allclose(seen[0], tseen[0], rtol=1e-7, atol=1e-15)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-7, atol=1e-15)
    assert y.grad is None  # a hook alone does not keep an intermediate's gradient


def test_a_hook_on_a_leaf_sees_the_summed_gradient_before_it_reaches_grad():
    x, tx = _pair([2.0, 5.0])
    calls = []
    x.register_hook(lambda g: calls.append(g.data.copy()))
    tx.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: g + 1)
    (x * 3 + x * x).sum().backward()  # x is used twice: the hook runs once, on the sum
    (tx * 3 + tx * tx).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [7.0, 13.0])
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy())


def test_hooks_run_in_the_order_they_were_added_and_remove_takes_one_off():
    x = Variable(np.array([1.0]))
    first = x.register_hook(lambda g: g * 10)
    x.register_hook(lambda g: g + 1)
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [11.0])  # (1 * 10) + 1, not (1 + 1) * 10
    first.remove()
    first.remove()  # a second remove is harmless
    x.cleargrad()
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0])


def test_hooks_work_with_create_graph_and_their_math_is_differentiated():
    x, tx = _pair([0.5, 1.5])
    y, ty = x**3, tx**3
    y.register_hook(lambda g: g * y)  # what the hook computes is part of the new graph
    ty.register_hook(lambda g: g * ty)
    (gx,) = cg.grad(F.sum(y), [x], create_graph=True)
    (tgx,) = torch.autograd.grad(ty.sum(), [tx], create_graph=True)
    np.testing.assert_allclose(gx.data, tgx.detach().numpy(), rtol=1e-12)
    (ggx,) = cg.grad(F.sum(gx), [x])
    (tggx,) = torch.autograd.grad(tgx.sum(), [tx])
    np.testing.assert_allclose(ggx.data, tggx.numpy(), rtol=1e-12)


def test_a_hook_that_changes_the_shape_is_refused():
    x = Variable(np.array([1.0, 2.0]))
    x.register_hook(lambda g: np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(2,\) returned a gradient of shape \(3,\)"):
        (x * 2).sum().backward()


def test_register_hook_refuses_what_has_no_gradient():
    with pytest.raises(TypeError, match="expected a function"):
        Variable(1.0).register_hook(3)
    with pytest.raises(ValueError, match="does not require a gradient"):
        Variable(1.0, requires_grad=False).register_hook(print)


def test_retain_grad_keeps_one_intermediate_and_accumulates_like_pytorch():
    x, tx = _pair([1.0, 2.0])
    y, ty = x * 3, tx * 3
    z, tz = F.exp(y), torch.exp(ty)
    y.retain_grad()
    ty.retain_grad()
    for _ in range(2):  # a retained intermediate's .grad accumulates, as a leaf's does
        F.sum(z * z).backward()
        (tz * tz).sum().backward(retain_graph=True)
    np.testing.assert_allclose(y.grad.data, ty.grad.numpy(), rtol=1e-12)
    assert z.grad is None  # only the one asked for
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)


def test_a_retained_gradient_owns_its_array():
    a, b = Variable(np.array([1.0, 2.0])), Variable(np.array([3.0, 4.0]))
    s = a + b
    s.retain_grad()
    F.sum(s * 2).backward()  # Add hands its upstream gradient to s's inputs unchanged
    arrays = [s.grad.data, a.grad.data, b.grad.data]
    assert not any(np.shares_memory(p, q) for i, p in enumerate(arrays) for q in arrays[i + 1 :])


def test_hooks_go_with_their_variable():
    import gc

    from compgraph import core

    x = Variable(np.array([1.0]))
    x.register_hook(lambda g: None)
    key = id(x)
    assert key in core._hooks
    del x
    gc.collect()
    assert key not in core._hooks  # the table keeps neither the Variable nor its hooks alive
