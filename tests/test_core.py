"""The engine: Variables, Functions, backpropagation, grad mode, grad(), memory."""

import gc
import sys
import weakref

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Function, Variable


# --- Variable ------------------------------------------------------------------------------------
def test_python_numbers_become_0d_float64_arrays():
    for value in (3, 2.5):
        v = Variable(value)
        assert isinstance(v.data, np.ndarray)
        assert v.data.shape == () and v.data.dtype == np.float64
        assert v.item() == value


def test_arrays_are_kept_as_given():
    for a in (np.arange(6.0).reshape(2, 3), np.arange(3, dtype=np.float32), np.arange(4)):
        v = Variable(a)
        assert v.data is a
        assert v.dtype == a.dtype


@pytest.mark.parametrize("bad", [None, [1.0, 2.0], "1.0", (1, 2), True, 1 + 2j])
def test_non_numbers_are_a_type_error_naming_the_type(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Variable(bad)


def test_list_error_says_how_to_fix_it():
    with pytest.raises(TypeError, match=r"np\.array"):
        Variable([1.0, 2.0])


def test_array_attributes():
    v = Variable(np.zeros((2, 3, 4)), name="v")
    assert (v.shape, v.ndim, v.size, v.dtype, len(v), v.name) == ((2, 3, 4), 3, 24, np.float64, 2, "v")
    assert v.T.shape == (4, 3, 2)
    assert v.grad is None and v.creator is None


def test_repr_shows_value_dtype_and_name():
    assert repr(Variable(2.5)) == "Variable(2.5)"
    assert repr(Variable(np.array([1.0, 2.0], dtype=np.float32), name="w")) == (
        "Variable([1., 2.], dtype=float32, name='w')"
    )


def test_integer_leaves_need_no_gradient_and_cannot_ask_for_one():
    labels = Variable(np.array([0, 2]))
    assert not labels.requires_grad
    with pytest.raises(TypeError, match=r"int64.*floating-point"):
        Variable(np.array([0, 2]), requires_grad=True)


def test_data_can_be_reassigned_like_a_plain_sgd_step():
    p = Variable(np.array([1.0, 2.0]))
    (p * p).sum().backward()
    p.data = p.data - 0.1 * p.grad.data
    np.testing.assert_allclose(p.data, [0.8, 1.6])


def test_numpy_arrays_and_scalars_on_the_left_give_variables():
    x = Variable(np.array([1.0, 2.0]))
    for y in (np.array([3.0, 4.0]) + x, np.float64(2.0) * x, 3 - x, 1 / x, np.eye(2) @ x):
        assert isinstance(y, Variable)
    np.testing.assert_allclose((np.array([3.0, 4.0]) - x).data, [2.0, 2.0])


def test_methods_reshape_transpose_sum():
    x = Variable(np.arange(6.0))
    assert x.reshape(2, 3).shape == (2, 3) and x.reshape((3, 2)).shape == (3, 2)
    m = x.reshape(2, 3)
    assert m.transpose().shape == (3, 2) and m.transpose(1, 0).shape == (3, 2)
    assert m.transpose((1, 0)).shape == (3, 2)
    assert m.sum().item() == 15.0
    np.testing.assert_array_equal(m.sum(axis=0).data, [3.0, 5.0, 7.0])
    assert m.sum(axis=1, keepdims=True).shape == (2, 1)


# --- the seed's graph with Variables --------------------------------------------------------------
def test_apple_orange_gradients():
    apple, apple_num = Variable(100.0), Variable(2.0)
    orange, orange_num, tax = Variable(150.0), Variable(3.0), Variable(1.1)
    price = (apple * apple_num + orange * orange_num) * tax
    price.backward()
    assert price.item() == pytest.approx(715.0)
    assert apple.grad.item() == pytest.approx(2.2)
    assert apple_num.grad.item() == pytest.approx(110.0)
    assert orange.grad.item() == pytest.approx(3.3)
    assert orange_num.grad.item() == pytest.approx(165.0)
    assert tax.grad.item() == pytest.approx(650.0)


# --- accumulation, fan-out, generation order -----------------------------------------------------
def test_backward_twice_accumulates_and_cleargrad_resets():
    x = Variable(3.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad.item() == 12.0
    x.cleargrad()
    y.backward()
    assert x.grad.item() == 6.0


def test_a_value_used_twice_gets_the_sum_of_both_gradients():
    x = Variable(3.0)
    (x + x).backward()
    assert x.grad.item() == 2.0


def test_diamond_visits_each_node_once_after_all_its_consumers():
    # y = (x²)² + (x²)²: a is used twice; its creator must run once, with the summed gradient
    x = Variable(2.0)
    a = x**2
    y = a**2 + a**2
    y.backward()
    assert x.grad.item() == pytest.approx(64.0)  # d(2x⁴)/dx = 8x³


def test_generation_order_with_branches_of_different_depth():
    x = Variable(0.5)
    a = F.exp(x)
    deep = F.sin(F.cos(F.tanh(a)))
    y = deep * a
    y.backward()
    expected = cg.numerical_grad(lambda v: F.sin(F.cos(F.tanh(F.exp(v)))) * F.exp(v), np.array(0.5))[0]
    assert x.grad.item() == pytest.approx(expected.item(), rel=1e-6)
    assert (x.generation, a.generation, deep.generation, y.generation) == (0, 1, 4, 5)
    assert (a.creator.generation, y.creator.generation) == (0, 4)  # the newest input's
    assert (x * 2.0).creator.generation == 0  # constants don't count


def test_intermediate_gradients_are_freed_unless_retained():
    x = Variable(2.0)
    a = x * 3
    y = a * a
    y.backward()
    assert a.grad is None and y.grad is None
    y.backward(retain_grad=True)
    assert a.grad.item() == 12.0 and y.grad.item() == 1.0


def test_backward_on_a_leaf_sets_ones():
    x = Variable(np.zeros((2, 2)))
    x.backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 2)))


def test_gradients_have_no_creator_after_a_plain_backward():
    x = Variable(2.0)
    (x**3).backward()
    assert x.grad.creator is None


def test_gradients_of_0d_values_are_0d_arrays_in_every_mode():
    x = Variable(2.0)
    a = x * 3
    y = F.tanh(a) * a
    y.backward(retain_grad=True)
    (g,) = cg.grad(y, [x])
    (h,) = cg.grad(y, [x], create_graph=True)
    for grad in (x.grad, a.grad, y.grad, g, h):
        assert type(grad.data) is np.ndarray and grad.shape == () and grad.dtype == np.float64
    assert g.item() == pytest.approx(h.item())


def test_gradient_dtype_follows_the_input():
    x = Variable(np.ones(3, dtype=np.float32))
    y = x * Variable(np.float64(2.0), requires_grad=False)
    y.sum().backward()
    assert x.grad.dtype == np.float32
    z = Variable(np.ones(3, dtype=np.float32))
    (z * 2.0).sum().backward()
    assert (z * 2.0).dtype == np.float32 and z.grad.dtype == np.float32


def test_gradients_can_be_updated_in_place():
    x = Variable(np.ones((2, 3)))
    F.sum(x).backward()  # the gradient of a sum is a broadcast: it must still be writable
    x.grad.data *= 2
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


@pytest.mark.slow
def test_deep_chain_of_a_million_ops_backpropagates_without_recursion():
    x = Variable(1.0)
    y = x
    for _ in range(1_000_000):
        y = y + 1e-6
    y.backward()
    assert x.grad.item() == 1.0
    del y  # freeing the whole chain must not overflow the C stack either


# --- constants ----------------------------------------------------------------------------------
def test_arrays_and_scalars_given_to_ops_are_constants():
    x = Variable(np.ones((2, 2)))
    c = np.full((2, 2), 3.0)
    y = x * c
    y.sum().backward()
    assert y.creator.inputs[1].requires_grad is False
    assert y.creator.inputs[1].grad is None
    np.testing.assert_array_equal(x.grad.data, c)


def test_no_gradient_is_computed_for_a_constant_input_batch():
    batch = np.ones((100, 784))
    W = Variable(np.zeros((784, 10)))
    y = batch @ W
    f = y.creator
    gx, gW = f.vjp(np.ones((100, 10)), y.data, batch, W.data)
    assert gx is None and gW.shape == (784, 10)


def test_requires_grad_false_marks_a_constant():
    c = Variable(np.array([1.0, 2.0]), requires_grad=False)
    y = c * 2
    assert y.creator is None and not y.requires_grad


# --- no_grad ------------------------------------------------------------------------------------
def test_no_grad_records_nothing_and_restores_the_mode():
    x = Variable(2.0)
    with cg.no_grad():
        y = x * x
        assert not cg.is_grad_enabled()
    assert cg.is_grad_enabled()
    assert y.creator is None and y.item() == 4.0
    with pytest.raises(ValueError, match="no_grad"):
        y.backward()


def test_no_grad_restores_the_mode_after_an_error():
    with pytest.raises(RuntimeError), cg.no_grad():
        raise RuntimeError
    assert cg.is_grad_enabled()


def test_grad_mode_belongs_to_each_thread():
    import threading

    inside, other = threading.Event(), {}

    def record_in_another_thread():
        inside.wait(5)
        other["enabled"] = cg.is_grad_enabled()
        other["recorded"] = (Variable(2.0) * 3).creator is not None

    t = threading.Thread(target=record_in_another_thread)
    t.start()
    with cg.no_grad():
        inside.set()
        t.join(5)
        assert not cg.is_grad_enabled()
    assert other == {"enabled": True, "recorded": True}


# --- cg.grad ------------------------------------------------------------------------------------
def test_grad_returns_a_tuple_and_leaves_grad_untouched():
    x, y = Variable(2.0), Variable(5.0)
    z = x * y
    gx, gy = cg.grad(z, [x, y])
    assert (gx.item(), gy.item()) == (5.0, 2.0)
    assert x.grad is None and y.grad is None
    (gx_again,) = cg.grad([z], (x,))  # lists and tuples alike
    assert gx_again.item() == 5.0


def test_grad_gives_none_for_an_input_the_output_does_not_reach():
    x, unused = Variable(2.0), Variable(1.0)
    assert cg.grad(x * 3, [x, unused])[1] is None


def test_grad_of_an_intermediate():
    x = Variable(2.0)
    a = x * 3
    y = a * a
    (ga,) = cg.grad(y, [a])
    assert ga.item() == 12.0


def test_grad_with_grad_outputs_weights_the_outputs():
    x = Variable(np.array([1.0, 2.0]))
    y = x * x
    (gx,) = cg.grad(y, x, grad_outputs=np.array([1.0, 10.0]))
    np.testing.assert_array_equal(gx.data, [2.0, 40.0])


def test_grad_asked_for_an_integer_input_says_why_not():
    t = Variable(np.array([1, 2]))
    x = Variable(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"int64.*floating-point"):
        cg.grad(x * t, [t])


# --- higher order -------------------------------------------------------------------------------
def test_newtons_method_with_second_derivatives():
    # f(x) = x⁴ − 2x², from x = 2: Newton's method with f'' from a recorded backward pass
    x = Variable(2.0)
    path = []
    for _ in range(7):
        y = x**4 - 2 * x**2
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        gx.backward()
        gx2 = x.grad
        x.data = x.data - gx.data / gx2.data
        x.cleargrad()
        path.append(x.item())
    assert path[0] == pytest.approx(2 - 24 / 44)  # f'(2) = 24, f''(2) = 44
    assert abs(path[-1] - 1.0) < 1e-12


def test_third_derivative_of_sin():
    x = Variable(0.3)
    g = F.sin(x)
    for _ in range(3):
        (g,) = cg.grad(g, [x], create_graph=True)
    assert g.item() == pytest.approx(-np.cos(0.3))


def test_create_graph_records_the_backward_pass():
    x = Variable(3.0)
    (x**2).backward(create_graph=True)
    assert x.grad.creator is not None


# --- user-defined Functions ---------------------------------------------------------------------
class Square(Function):
    def forward(self, x):
        return x**2

    def backward(self, gy):
        (x,) = self.inputs
        return 2 * x * gy


def test_a_custom_function_backpropagates_and_reads_self_inputs():
    x = Variable(np.array([1.0, 3.0]))
    Square()(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 6.0])


def test_a_custom_function_supports_higher_order():
    x = Variable(3.0)
    (g,) = cg.grad(Square()(Square()(x)), [x], create_graph=True)  # d(x⁴) = 4x³
    (g2,) = cg.grad(g, [x])
    assert (g.item(), g2.item()) == (108.0, 108.0)


def test_a_custom_function_may_return_arrays_from_backward():
    class Double(Function):
        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            return 2 * gy.data

    x = Variable(1.0)
    Double()(x).backward()
    assert x.grad.item() == 2.0


class SplitSum(Function):
    """Two outputs: (x + y, x − y)."""

    def forward(self, x, y):
        return x + y, x - y

    def backward(self, ga, gb):
        return ga + gb, ga - gb


def test_several_outputs_come_back_as_a_tuple():
    a, b = SplitSum()(Variable(5.0), 3.0)
    assert (a.item(), b.item()) == (8.0, 2.0)


def test_an_output_without_gradient_receives_zeros():
    seen = []

    class Spy(SplitSum):
        def backward(self, ga, gb):
            seen.append((ga.data.copy(), gb.data.copy()))
            return super().backward(ga, gb)

    x = Variable(5.0)
    a, _ = Spy()(x, Variable(3.0))
    (a * 2).backward()
    assert seen == [(2.0, 0.0)]
    assert x.grad.item() == 2.0


def test_calling_a_function_on_arrays_and_scalars():
    y = Square()(np.array([2.0]))
    assert isinstance(y, Variable) and y.data[0] == 4.0
    assert Square()(3).item() == 9.0


# --- errors users hit ---------------------------------------------------------------------------
def test_matmul_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"MatMul.*\(2, 3\).*\(2, 3\)"):
        Variable(np.ones((2, 3))) @ Variable(np.ones((2, 3)))


def test_broadcast_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"Add.*\(2, 3\).*\(4,\)"):
        Variable(np.ones((2, 3))) + Variable(np.ones(4))


def test_backward_with_the_wrong_number_of_gradients_names_the_function():
    class Bad(Function):
        def forward(self, x, y):
            return x + y

        def backward(self, gy):
            return gy

    with pytest.raises(ValueError, match=r"Bad\.backward returned 1 gradient\(s\) for 2 input\(s\)"):
        Bad()(Variable(1.0), Variable(2.0)).backward()


def test_backward_with_the_wrong_shape_names_the_function_and_shapes():
    class Bad(Function):
        def forward(self, x):
            return x.sum()

        def backward(self, gy):
            return gy  # should be broadcast back to x's shape

    with pytest.raises(ValueError, match=r"Bad\.backward.*shape \(\).*input 0 of shape \(3,\)"):
        Bad()(Variable(np.ones(3))).backward()


def test_a_gradient_of_a_broadcast_shape_is_summed_back_to_the_input():
    class AddRow(Function):  # forward broadcasts b (3,) over x (2, 3); backward returns gy as is
        def forward(self, x, b):
            return x + b

        def backward(self, gy):
            return gy, gy

    x, b = Variable(np.ones((2, 3))), Variable(np.zeros(3))
    AddRow()(x, b).backward()
    np.testing.assert_array_equal(b.grad.data, [2.0, 2.0, 2.0])
    assert x.grad.shape == (2, 3)


def test_a_failed_backward_leaves_gradients_untouched():
    class Bad(Function):
        def forward(self, x):
            return x

        def backward(self, gy):
            raise RuntimeError("boom")

    x = Variable(1.0)
    y = Bad()(x) + x
    with pytest.raises(RuntimeError, match="boom"):
        y.backward()
    assert x.grad is None and cg.is_grad_enabled()


def test_backward_from_an_integer_output_says_why_not():
    with pytest.raises(TypeError, match="floating-point"):
        Variable(np.array([1, 2])).backward()


def test_unsupported_operand_names_the_op_and_type():
    with pytest.raises(TypeError, match="Mul: operand 1 is a str"):
        Variable(1.0) * "2"


def test_power_takes_a_scalar_exponent():
    with pytest.raises(TypeError, match="exponent"):
        Variable(2.0) ** Variable(2.0)
    with pytest.raises(TypeError, match=r"exp\(x \* log\(c\)\)"):
        2.0 ** Variable(2.0)


# --- memory -------------------------------------------------------------------------------------
def test_the_graph_is_freed_when_its_last_output_goes_away():
    gc.collect()
    gc.disable()
    try:
        x = Variable(np.ones(3))
        a = F.exp(x)
        b = a * 2
        y = F.sum(b + a)
        refs = [weakref.ref(o) for o in (a, a.creator, b, b.creator, y.creator)]
        del a, b
        assert all(r() is not None for r in refs)  # the output keeps its graph alive
        y.backward()
        del y
        assert all(r() is None for r in refs)  # freed by reference counting alone: no cycles
        assert x.grad is not None
    finally:
        gc.enable()


def test_a_function_holds_its_output_weakly():
    class Double(Function):
        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            return 2 * gy

    x = Variable(2.0)
    y = Double()(x)
    f = y.creator
    assert f.outputs[0]() is y
    del y
    assert f.outputs[0]() is None


def test_an_op_keeps_no_reference_to_its_output_and_says_where_to_look():
    x = Variable(2.0)
    y = x * 3
    f = y.creator
    assert sys.getrefcount(y) == 2  # the name y and getrefcount's argument: nothing else
    with pytest.raises(AttributeError, match=r"Mul is an Op.*outputs_of"):
        _ = f.outputs
    from compgraph.viz import walk

    assert walk.walk([y]).outputs_of[f] == (y,)
    y.backward()
    assert x.grad.item() == 3.0


def test_an_op_returning_several_values_is_refused_clearly():
    class Split(cg.Op):
        def forward(self, x):
            return x, x

    with pytest.raises(TypeError, match=r"Split\.forward returned 2 values: an Op has one output"):
        Split()(Variable(1.0))


# --- backward() of several outputs, and the step observer ----------------------------------------
def test_backward_of_several_outputs_accumulates_all():
    x = Variable(2.0)
    cg.backward([x * 3, x * x], grad_outputs=[np.array(1.0), np.array(10.0)])
    assert x.grad.item() == 3.0 + 40.0


def test_observer_sees_every_step_in_execution_order():
    x, y = Variable(1.0, name="x"), Variable(2.0, name="y")
    t = x + y
    z = t**2
    steps = []
    cg.backward(z, observer=lambda f, gys, gxs: steps.append((type(f).__name__, gys, gxs)))
    assert [name for name, _, _ in steps] == ["Pow", "Add"]
    (_, gys, gxs) = steps[0]
    assert gys[0] == 1.0 and gxs[0] == 6.0  # ∂z/∂z = 1, times 2t gives ∂z/∂t = 6
    (_, gys, gxs) = steps[1]
    assert gys[0] == 6.0 and gxs == (6.0, 6.0)  # times 1 gives ∂z/∂x = ∂z/∂y = 2(x + y)


def test_observer_sees_gradients_summed_back_to_each_inputs_shape():
    x, b = Variable(np.ones((2, 3))), Variable(np.zeros(3))
    c = np.ones((2, 3))  # a constant: no gradient
    seen = []
    cg.grad(F.sum(x + b) * c.sum(), [b], observer=lambda f, gys, gxs: seen.append(gxs))
    add_step = seen[-1]
    assert add_step[0].shape == (2, 3) and add_step[1].shape == (3,)
    np.testing.assert_array_equal(add_step[1], [12.0, 12.0, 12.0])


def test_python_numbers_become_shared_read_only_constants():
    x = Variable(1.0)
    a, b = x * 2.0, x * 2.0
    ca, cb = a.creator.inputs[1], b.creator.inputs[1]
    assert ca is cb and ca.item() == 2.0
    assert not ca.requires_grad and not ca.data.flags.writeable  # sharing it is safe
    assert (x.astype(np.float32) * 2.0).creator.inputs[1].dtype == np.float32  # one per dtype
    z0, z1 = (x * 0.0).creator.inputs[1], (x * -0.0).creator.inputs[1]
    assert np.signbit(z1.data) and not np.signbit(z0.data)  # 0.0 == -0.0, yet they differ


def test_shared_constants_keep_numpys_promotion_rules():
    ints = Variable(np.array([1, 2]))
    assert (ints * 1).dtype == np.int64 and (ints * 1).data.tolist() == [1, 2]
    halves = ints * 1.5  # a float meeting integers gives float64, even after the int 1 was cached
    assert halves.dtype == np.float64 and halves.data.tolist() == [1.5, 3.0]
    assert (ints * 1.0).dtype == np.float64
    x32 = Variable(np.ones(2, np.float32))
    assert (x32 * 1).dtype == (x32 * 1.0).dtype == np.float32


def test_leaf_sums_added_in_place_never_touch_a_gradient_shared_elsewhere():
    # Add hands the same upstream array to both inputs, so x's first term is also t's and s's
    # gradient; only the sums the engine allocated itself may be added to in place
    x, w = Variable(np.ones(3)), Variable(np.ones(3))
    s = x + w
    t = s + x
    u = t + x
    seed = np.array([1.0, 2.0, 3.0])
    cg.backward(u, seed)
    assert x.grad.data.tolist() == [3.0, 6.0, 9.0] and w.grad.data.tolist() == [1.0, 2.0, 3.0]
    assert seed.tolist() == [1.0, 2.0, 3.0]  # the caller's array is never written to
    W = Variable(np.eye(2))
    y = Variable(np.ones((1, 2)), requires_grad=False)
    for _ in range(5):
        y = y @ W
    y.sum().backward()
    assert W.grad.data.tolist() == [[5.0, 5.0], [5.0, 5.0]]


def test_rules_see_a_leafs_data_as_it_is_at_backward_time():
    # an op's output is handed to its rule as the forward pass computed it; a leaf (which an
    # optimizer updates in place) is read when the backward pass runs, as it always was
    x, w = Variable(3.0), Variable(np.array([1.0, 2.0]))
    y, z = x * x, F.sum(w * w)
    x.data[...] = 5.0
    w.data *= 10
    y.backward()
    z.backward()
    assert x.grad.item() == 10.0 and w.grad.data.tolist() == [20.0, 40.0]


def test_rules_read_every_value_at_backward_time_so_none_goes_stale():
    # an output's data replaced before backward is what its consumers' rules see: the engine
    # keeps no second copy of any value (once, a 0-d output's kept copy gave dz/dy = 12 here)
    x = Variable(2.0)
    y = x * 3.0
    y.data = np.array(10.0)
    z = y * y
    assert z.item() == 100.0
    (gy, gx) = cg.grad(z, [y, x])
    assert gy.item() == 20.0 and gx.item() == 60.0
    a = Variable(np.array([1.0, 2.0]))
    b = a * 3.0
    b.data = np.array([10.0, 20.0])
    (gb,) = cg.grad(F.sum(b * b), [b])
    assert gb.data.tolist() == [20.0, 40.0]


def test_a_shared_constant_always_holds_its_number():
    x = Variable(1.0)
    c = (x * 2.5).creator.inputs[1]
    with pytest.raises(ValueError):
        c.data[...] = 7.0  # read-only
    with pytest.raises(ValueError):
        c.data.flags.writeable = True  # and cannot be made writeable
    c.data = np.array(7.0)  # rebinding it only detaches this one Variable from the sharing
    y = x * 2.5
    assert y.item() == 2.5 and y.creator.inputs[1] is not c
    y.backward()
    assert x.grad.item() == 2.5


class _ForwardReturnsAFloat(cg.Op):
    def forward(self, x):
        return float(x) * 2

    def vjp(self, gy, y, x):
        assert y == 2 * x and np.ndim(y) == 0  # the output as computed, 0-d
        return gy * 2


def test_an_op_whose_forward_returns_a_python_number_backpropagates():
    x = Variable(1.5)
    y = _ForwardReturnsAFloat()(x)
    assert type(y.data) is np.ndarray and y.item() == 3.0
    (y * y).backward()
    assert x.grad.item() == 12.0  # d(4x²)/dx


def test_user_backwards_and_observers_run_unrecorded_in_a_plain_pass():
    modes = []

    class Twice(Function):
        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            modes.append(cg.is_grad_enabled())
            return gy * 2

    x = Variable(1.0)
    Twice()(x * 1.0).backward()
    cg.backward(Twice()(x), observer=lambda f, gys, gxs: modes.append(cg.is_grad_enabled()))
    Twice()(x).backward(create_graph=True)
    assert modes == [False, False, False, True] and cg.is_grad_enabled()
