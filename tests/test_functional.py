"""compgraph.functional against torch.autograd.functional, in float64: values, shapes, nesting."""

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compgraph as cg
import compgraph.functions as F
from compgraph import Variable, functional
from tests.strategies import arrays, shapes

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _normal(*shape):
    return RNG.normal(size=shape)


def assert_like(ours, theirs, atol=1e-12):
    """``ours`` (ndarrays nested in tuples) equals torch's result, nesting and shapes included."""
    if isinstance(theirs, tuple):
        assert type(ours) is tuple and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_like(o, t, atol)
        return
    assert type(ours) is np.ndarray, type(ours)
    expected = theirs.detach().numpy()
    assert ours.shape == expected.shape and ours.dtype == expected.dtype == np.float64
    np.testing.assert_allclose(ours, expected, atol=atol, rtol=1e-10)


# pairs of the same function, for compgraph and for torch
def _pairs(torch):
    return {
        "elementwise": (lambda x: F.tanh(x) * F.exp(x) - x**3, lambda x: torch.tanh(x) * torch.exp(x) - x**3),
        "log_sum": (
            lambda x: F.sum(F.log(x * x + 1.0), axis=1),
            lambda x: torch.sum(torch.log(x * x + 1.0), 1),
        ),
        "scalar": (
            lambda x: F.sum(F.tanh(x) ** 2 * F.exp(-x)),
            lambda x: torch.sum(torch.tanh(x) ** 2 * torch.exp(-x)),
        ),
    }


@pytest.mark.parametrize("name", ["elementwise", "log_sum", "scalar"])
def test_jacobian_of_one_input_matches_torch(torch, name):
    ours, theirs = _pairs(torch)[name]
    x = _normal(2, 3)
    J = cg.jacobian(ours, x)
    assert_like(J, torch.autograd.functional.jacobian(theirs, torch.tensor(x)))
    assert J.shape == ours(Variable(x)).shape + (2, 3)


def test_jacobian_of_matmul_with_two_inputs_is_a_tuple(torch):
    W, x = _normal(3, 4), _normal(4)
    J = cg.jacobian(lambda W, x: W @ x, (W, x))
    assert_like(J, torch.autograd.functional.jacobian(lambda W, x: W @ x, (torch.tensor(W), torch.tensor(x))))
    assert J[0].shape == (3, 3, 4) and J[1].shape == (3, 4)
    np.testing.assert_array_equal(J[1], W)  # ∂(Wx)/∂x = W, exactly


def _two_in_two_out(F_or_torch, matmul_sum):
    def f(a, b):
        return F_or_torch.tanh(a @ b) * F_or_torch.exp(b[0]), matmul_sum(F_or_torch.log(a * a + 1.0))

    return f


def test_jacobian_of_several_inputs_and_outputs_nests_outputs_then_inputs(torch):
    a, b = _normal(2, 3), _normal(3)
    ours = _two_in_two_out(F, F.sum)
    theirs = _two_in_two_out(torch, torch.sum)
    J = cg.jacobian(ours, (a, b))
    assert_like(J, torch.autograd.functional.jacobian(theirs, (torch.tensor(a), torch.tensor(b))))
    assert [[block.shape for block in row] for row in J] == [[(2, 2, 3), (2, 3)], [(2, 3), (3,)]]
    np.testing.assert_array_equal(J[1][1], np.zeros(3))  # the log-sum does not depend on b


def test_jacobian_of_one_input_and_a_tuple_of_outputs(torch):
    x = _normal(3)
    J = cg.jacobian(lambda x: (x * 2.0, F.sum(F.exp(x))), x)
    assert_like(
        J, torch.autograd.functional.jacobian(lambda x: (x * 2.0, torch.exp(x).sum()), torch.tensor(x))
    )
    np.testing.assert_array_equal(J[0], 2 * np.eye(3))


def test_jacobian_of_0d_values_and_of_a_tuple_of_one():
    J = cg.jacobian(lambda x: x**3, np.array(2.0))
    assert J.shape == () and J.item() == pytest.approx(12.0)
    assert cg.jacobian(lambda x: x**3, 2.0).item() == pytest.approx(12.0)  # a Python float
    (Jt,) = cg.jacobian(lambda x: x**3, (np.array([2.0]),))  # a tuple of one input: a tuple
    np.testing.assert_allclose(Jt, [[12.0]])


def test_jacobian_of_an_output_that_ignores_the_input_is_zeros(torch):
    x, y = _normal(2), _normal(2)
    J = cg.jacobian(lambda x, y: (x * 1.0, Variable(np.ones(3))), (x, y))
    theirs = torch.autograd.functional.jacobian(
        lambda x, y: (x * 1.0, torch.ones(3, dtype=torch.float64)), (torch.tensor(x), torch.tensor(y))
    )
    assert_like(J, theirs)  # torch's strict=False: zeros
    assert J[0][1].shape == (2, 2) and J[1][0].shape == (3, 2)
    assert not J[0][1].any() and not J[1][0].any() and not J[1][1].any()


def test_results_are_ndarrays_and_the_given_variables_are_untouched():
    x = Variable(np.array([1.0, 2.0]))
    y = x * 3.0  # a non-leaf input: its graph stays as it was
    J = cg.jacobian(lambda v: v**2, y)
    assert type(J) is np.ndarray
    np.testing.assert_allclose(J, np.diag([6.0, 12.0]))
    assert x.grad is None and y.grad is None
    with cg.no_grad():  # the functions record the graph they need even inside no_grad
        np.testing.assert_allclose(cg.jacobian(lambda v: v**2, y), J)


def test_hessian_of_one_input_matches_torch(torch):
    x = _normal(2, 3)
    ours, theirs = _pairs(torch)["scalar"]
    H = cg.hessian(ours, x)
    assert_like(H, torch.autograd.functional.hessian(theirs, torch.tensor(x)))
    assert H.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(H.reshape(6, 6), H.reshape(6, 6).T, atol=1e-12)


def test_hessian_of_two_inputs_is_a_tuple_of_tuples(torch):
    W, x = _normal(3, 2), _normal(2)

    def ours(W, x):
        return F.sum(F.tanh(W @ x) ** 2) + F.sum(F.exp(x * 0.5))

    def theirs(W, x):
        return torch.sum(torch.tanh(W @ x) ** 2) + torch.sum(torch.exp(x * 0.5))

    H = cg.hessian(ours, (W, x))
    assert_like(H, torch.autograd.functional.hessian(theirs, (torch.tensor(W), torch.tensor(x))))
    assert [[b.shape for b in row] for row in H] == [[(3, 2, 3, 2), (3, 2, 2)], [(2, 3, 2), (2, 2)]]
    np.testing.assert_allclose(H[0][1], np.moveaxis(H[1][0], 0, -1), atol=1e-12)


def test_hessian_of_a_one_element_output_and_of_linear_parts():
    # an output of shape (1, 1) is one element, as in torch; x enters linearly, y not at all
    H = cg.hessian(lambda x, y: F.reshape(F.sum(x * 2.0), (1, 1)), (np.ones(2), np.ones(3)))
    assert [[b.shape for b in row] for row in H] == [[(2, 2), (2, 3)], [(3, 2), (3, 3)]]
    assert not any(b.any() for row in H for b in row)
    assert cg.hessian(lambda x: x**3, np.array(2.0)).item() == pytest.approx(12.0)


def test_vjp_matches_torch_for_tuples_of_inputs_and_outputs(torch):
    a, b = _normal(2, 3), _normal(3)
    v = (_normal(2), np.array(0.7))
    out, product = cg.vjp(_two_in_two_out(F, F.sum), (a, b), v)
    theirs = torch.autograd.functional.vjp(
        _two_in_two_out(torch, torch.sum), (torch.tensor(a), torch.tensor(b)), tuple(map(torch.tensor, v))
    )
    assert_like((out, product), theirs)
    J = cg.jacobian(_two_in_two_out(F, F.sum), (a, b))
    for i in range(2):  # vᵀJ, one input at a time
        expected = sum(np.tensordot(v[o], J[o][i], axes=v[o].ndim) for o in range(2))
        np.testing.assert_allclose(product[i], expected, atol=1e-12)


def test_vjp_of_a_scalar_output_without_v_is_the_gradient(torch):
    x = _normal(4)
    ours, theirs = _pairs(torch)["scalar"]
    out, g = cg.vjp(ours, x)
    assert_like((out, g), torch.autograd.functional.vjp(theirs, torch.tensor(x)))
    assert out.shape == () and g.shape == (4,)


def test_jvp_matches_torch_for_tuples_of_inputs_and_outputs(torch):
    a, b = _normal(2, 3), _normal(3)
    v = (_normal(2, 3), _normal(3))
    out, product = cg.jvp(_two_in_two_out(F, F.sum), (a, b), v)
    theirs = torch.autograd.functional.jvp(
        _two_in_two_out(torch, torch.sum), (torch.tensor(a), torch.tensor(b)), tuple(map(torch.tensor, v))
    )
    assert_like((out, product), theirs)
    J = cg.jacobian(_two_in_two_out(F, F.sum), (a, b))
    for o in range(2):  # J·v, one output at a time
        expected = sum(np.tensordot(J[o][i], v[i], axes=v[i].ndim) for i in range(2))
        np.testing.assert_allclose(product[o], expected, atol=1e-12)


def test_jvp_of_a_0d_input_without_v_and_of_outputs_that_ignore_it(torch):
    out, product = cg.jvp(lambda t: (F.sin(t) * 2.0, Variable(np.ones(2))), np.array(0.3))
    theirs = torch.autograd.functional.jvp(
        lambda t: (torch.sin(t) * 2.0, torch.ones(2, dtype=torch.float64)),
        torch.tensor(0.3, dtype=torch.float64),
    )
    assert_like((out, product), theirs)
    assert product[0].item() == pytest.approx(2 * np.cos(0.3))
    np.testing.assert_array_equal(product[1], [0.0, 0.0])


def test_jvp_of_the_identity_and_of_a_linear_map_is_exact():
    v = np.array([1.0, -2.0])
    out, product = cg.jvp(lambda x: x, np.array([3.0, 4.0]), v)
    np.testing.assert_array_equal(out, [3.0, 4.0])
    np.testing.assert_array_equal(product, v)
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(cg.jvp(lambda x: A @ x, np.zeros(2), v)[1], A @ v)


def test_hvp_matches_torch_and_the_hessian(torch):
    W, x = _normal(3, 2), _normal(2)
    v = (_normal(3, 2), _normal(2))

    def ours(W, x):
        return F.sum(F.tanh(W @ x) * F.exp(x[0]))

    def theirs(W, x):
        return torch.sum(torch.tanh(W @ x) * torch.exp(x[0]))

    out, product = cg.hvp(ours, (W, x), v)
    expected = torch.autograd.functional.hvp(
        theirs, (torch.tensor(W), torch.tensor(x)), tuple(map(torch.tensor, v))
    )
    assert_like((out, product), expected)
    H = cg.hessian(ours, (W, x))
    for i in range(2):
        np.testing.assert_allclose(
            product[i], sum(np.tensordot(H[i][j], v[j], axes=v[j].ndim) for j in range(2))
        )


def test_hvp_of_a_one_element_input_without_v():
    out, product = cg.hvp(lambda x: F.sum(x**4), np.array([2.0]))
    np.testing.assert_allclose(out, 16.0)
    np.testing.assert_allclose(product, [48.0])  # 12x²·1


def test_create_graph_gives_variables_that_differentiate_like_torch(torch):
    a = _normal(2, 3)
    x = Variable(a)
    J = cg.jacobian(lambda v: F.tanh(v) * v[0], x, create_graph=True)
    assert isinstance(J, Variable) and J.shape == (2, 3, 2, 3)
    (g,) = cg.grad(F.sum(J * J), [x])
    t = torch.tensor(a, requires_grad=True)
    tJ = torch.autograd.functional.jacobian(lambda v: torch.tanh(v) * v[0], t, create_graph=True)
    (tg,) = torch.autograd.grad((tJ * tJ).sum(), [t])
    np.testing.assert_allclose(J.data, tJ.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(g.data, tg.numpy(), atol=1e-12)


def test_create_graph_hessian_gives_third_derivatives(torch):
    b = _normal(3)
    x = Variable(b)
    H = cg.hessian(lambda y: F.sum(F.exp(y) * y[0] ** 2), x, create_graph=True)
    (g,) = cg.grad(F.sum(H**2), [x])
    t = torch.tensor(b, requires_grad=True)
    tH = torch.autograd.functional.hessian(
        lambda y: torch.sum(torch.exp(y) * y[0] ** 2), t, create_graph=True
    )
    (tg,) = torch.autograd.grad((tH**2).sum(), [t])
    np.testing.assert_allclose(g.data, tg.numpy(), atol=1e-12)


def test_create_graph_products_reach_the_inputs_and_v(torch):
    a, u = _normal(3), _normal(3)
    x, v = Variable(a), Variable(u)
    out, product = cg.vjp(lambda x: F.sin(x) * x, x, v, create_graph=True)
    assert isinstance(out, Variable) and isinstance(product, Variable)
    gx, gv = cg.grad(F.sum(product**2), [x, v])
    t, tv = torch.tensor(a, requires_grad=True), torch.tensor(u, requires_grad=True)
    _, tp = torch.autograd.functional.vjp(lambda x: torch.sin(x) * x, t, tv, create_graph=True)
    tgx, tgv = torch.autograd.grad((tp**2).sum(), [t, tv])
    np.testing.assert_allclose(gx.data, tgx.numpy(), atol=1e-12)
    np.testing.assert_allclose(gv.data, tgv.numpy(), atol=1e-12)
    for fn, tfn in ((cg.jvp, torch.autograd.functional.jvp), (cg.hvp, torch.autograd.functional.hvp)):
        _, product = fn(lambda x: F.sum(F.sin(x) * x), x, v, create_graph=True)
        (gx,) = cg.grad(F.sum(product**2), [x])
        _, tp = tfn(lambda x: torch.sum(torch.sin(x) * x), t, tv, create_graph=True)
        (tgx,) = torch.autograd.grad((tp**2).sum(), [t])
        np.testing.assert_allclose(gx.data, tgx.numpy(), atol=1e-12)


def test_one_variable_given_twice_gets_a_jacobian_per_position():
    x = Variable(np.array([1.0, 2.0]))
    for create_graph in (False, True):
        Ja, Jb = cg.jacobian(lambda a, b: a * b * b, (x, x), create_graph=create_graph)
        np.testing.assert_allclose(np.asarray(Ja), np.diag([1.0, 4.0]))  # b²
        np.testing.assert_allclose(np.asarray(Jb), np.diag([2.0, 8.0]))  # 2ab


# --- errors -----------------------------------------------------------------------------------


def test_f_returning_an_array_or_a_list_is_refused():
    with pytest.raises(TypeError, match=r"jacobian: f's output is an ndarray, not a Variable.*compgraph ops"):
        cg.jacobian(lambda x: np.sin(x.data), np.ones(2))
    with pytest.raises(TypeError, match=r"vjp: output 1 of f is a float, not a Variable"):
        cg.vjp(lambda x: (x * 2.0, 3.0), np.ones(2), (np.ones(2), np.ones(())))
    with pytest.raises(TypeError, match=r"jvp: f's output is a list.*return a tuple, not a list"):
        cg.jvp(lambda x: [x, x], np.ones(2), np.ones(2))


@pytest.mark.parametrize("fn", [cg.hessian, cg.hvp])
def test_hessian_and_hvp_need_a_scalar_output(fn):
    name = fn.__name__
    with pytest.raises(
        ValueError, match=rf"{name}: f must return a single Variable with one element.*shape \(3,\)"
    ):
        fn(lambda x: x * 2.0, np.ones(3), *([np.ones(3)] if fn is cg.hvp else []))
    with pytest.raises(ValueError, match=rf"{name}: .*a tuple of 1.*F.sum"):
        fn(lambda x: (F.sum(x),), np.ones(3), *([np.ones(3)] if fn is cg.hvp else []))


def test_v_of_the_wrong_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"vjp: v has shape \(2,\) but f's output has shape \(3,\)"):
        cg.vjp(lambda x: x * 2.0, np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"jvp: v\[1\] has shape \(3,\) but f's input 1 has shape \(2, 2\)"):
        cg.jvp(lambda a, b: a + F.sum(b), (np.ones(3), np.ones((2, 2))), (np.ones(3), np.ones(3)))
    with pytest.raises(
        ValueError, match=r"vjp: v has 1 array but f has 2 outputs, of shapes \(3,\), \(\); pass v as a tuple"
    ):
        cg.vjp(lambda x: (x * 2.0, F.sum(x)), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"hvp: v has shape \(2,\) but f's input has shape \(3,\)"):
        cg.hvp(lambda x: F.sum(x**3), np.ones(3), np.ones(2))


def test_v_may_be_left_out_only_for_one_element():
    with pytest.raises(
        ValueError, match=r"vjp: v can be left out only when f's output is a single element.*\(3,\)"
    ):
        cg.vjp(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"jvp: v can be left out only when f's input is a single element"):
        cg.jvp(lambda x: x * 2.0, np.ones(2))
    with pytest.raises(
        ValueError, match=r"hvp: v can be left out .* f has 2 inputs, of shapes \(1,\), \(1,\)"
    ):
        cg.hvp(lambda a, b: F.sum(a * b), (np.ones(1), np.ones(1)))


def test_bad_inputs_are_refused():
    with pytest.raises(
        TypeError, match=r"jacobian: the input is a list; pass several inputs as a tuple, one as an np.array"
    ):
        cg.jacobian(lambda x: x, [1.0, 2.0])
    with pytest.raises(TypeError, match=r"hessian: inputs\[1\] has int64 data.*astype\(np.float64\)"):
        cg.hessian(lambda x, y: F.sum(x), (np.ones(2), np.array([1, 2])))


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_products_agree_with_the_jacobian_and_with_torch(torch, data):
    shape = data.draw(shapes(max_dims=2), label="shape")
    x = data.draw(arrays(shape), label="x")
    v_in, v_out = data.draw(arrays(shape), label="v_in"), data.draw(arrays(shape[:1]), label="v_out")

    def ours(x):
        y = F.exp(F.tanh(x) * 0.5) * x
        return F.sum(y, axis=tuple(range(1, x.ndim))) if x.ndim > 1 else y

    def theirs(x):
        y = torch.exp(torch.tanh(x) * 0.5) * x
        return torch.sum(y, dim=tuple(range(1, x.ndim))) if x.ndim > 1 else y

    J = cg.jacobian(ours, x)
    tx = torch.tensor(x)
    assert_like(J, torch.autograd.functional.jacobian(theirs, tx))
    out_ndim = J.ndim - x.ndim
    np.testing.assert_allclose(cg.vjp(ours, x, v_out)[1], np.tensordot(v_out, J, axes=out_ndim), atol=1e-12)
    np.testing.assert_allclose(cg.jvp(ours, x, v_in)[1], np.tensordot(J, v_in, axes=x.ndim), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_hessian_is_symmetric_and_hvp_is_its_product(torch, data):
    shape = data.draw(shapes(max_dims=2), label="shape")
    x, v = data.draw(arrays(shape), label="x"), data.draw(arrays(shape), label="v")

    def ours(x):
        return F.sum(F.log(x * x + 1.0) * F.sin(x)) + F.sum(x) ** 2

    def theirs(x):
        return torch.sum(torch.log(x * x + 1.0) * torch.sin(x)) + torch.sum(x) ** 2

    H = cg.hessian(ours, x)
    assert_like(H, torch.autograd.functional.hessian(theirs, torch.tensor(x)))
    n = x.size
    np.testing.assert_allclose(H.reshape(n, n), H.reshape(n, n).T, atol=1e-12)
    _, product = cg.hvp(ours, x, v)
    np.testing.assert_allclose(product, np.tensordot(H, v, axes=x.ndim), atol=1e-12)


def test_doctests():
    result = doctest.testmod(functional)
    assert result.attempted >= 7 and result.failed == 0
