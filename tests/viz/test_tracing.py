"""The backward pass step by step: the engine's steps, local derivatives, and the table."""

import numpy as np
import pytest

import compgraph as cg
import compgraph.functions as F
from compgraph import Function, Variable
from compgraph.notation import PRODUCT, Sym
from compgraph.viz import trace

NOTE_TABLE = """\
step  function    upstream        local           downstream
   0  z (output)                                  ∂z/∂z = 1
   1  z = t²      ∂z/∂z = 1       ∂z/∂t = 2t = 6  ∂z/∂t = 1 × 6 = 6
   2  t = x + y   ∂z/∂t = 2t = 6  ∂t/∂x = 1       ∂z/∂x = 6 × 1 = 6
                                  ∂t/∂y = 1       ∂z/∂y = 6 × 1 = 6

∂z/∂x = 2(x + y) = 6
∂z/∂y = 2(x + y) = 6
"""


def note_example():
    x, y = Variable(1.0, name="x"), Variable(2.0, name="y")
    z = (x + y) ** 2
    z.name = "z"
    return x, y, z


def test_the_table_shows_the_notes_reasoning_with_numbers():
    # ∂z/∂z = 1, times 2t gives ∂z/∂t, times 1 gives ∂z/∂x = 2(x + y)
    *_, z = note_example()
    t = trace(z)
    assert t.table() == NOTE_TABLE
    assert str(t) == NOTE_TABLE


def test_steps_record_upstream_local_and_downstream_in_engine_order():
    *_, z = note_example()
    t = trace(z)
    assert [(s.index, s.label, s.definition) for s in t.steps] == [
        (0, "", "z"),
        (1, "**2", "z = t²"),
        (2, "+", "t = x + y"),
    ]
    pow_step = t.steps[1]
    assert pow_step.upstream[0] == 1.0
    (d,) = pow_step.derivatives
    assert (d.input, d.local, d.local_value, d.grad) == ("t", "2t", 6.0, 6.0)
    add_step = t.steps[2]
    assert [(d.input, d.local, float(d.local_value), float(d.grad)) for d in add_step.derivatives] == [
        ("x", "1", 1.0, 6.0),
        ("y", "1", 1.0, 6.0),
    ]
    seen = []
    cg.backward(z, observer=lambda f, gys, gxs: seen.append(f))
    assert [s.function for s in t.steps[1:]] == seen


def test_gradients_and_formulas_of_the_leaves(ao):
    t = trace(ao["price"])
    assert {k: round(float(v), 10) for k, v in t.gradients.items()} == {
        "apple": 2.2,
        "apple_num": 110.0,
        "orange": 3.3,
        "orange_num": 165.0,
        "tax": 650.0,
    }
    assert t.formulas == {
        "apple": "tax·apple_num",
        "apple_num": "tax·apple",
        "orange": "tax·orange_num",
        "orange_num": "tax·orange",
        "tax": "apple·apple_num + orange·orange_num",
    }
    assert "∂price/∂apple = 1.1 × 2 = 2.2" in t.table()


def test_tracing_leaves_grad_untouched():
    x, y, z = note_example()
    x.grad = Variable(10.0)
    trace(z)
    assert x.grad.item() == 10.0 and y.grad is None


def test_a_value_used_twice_accumulates_and_its_formula_sums_the_paths():
    x = Variable(3.0, name="x")
    z = x * x + x
    t = trace(z)
    assert float(t.gradients["x"]) == 7.0
    assert t.formulas["x"] == "1 + x + x"
    table = t.table()
    assert "∂z/∂x += 1 × 3 = 3" in table and "∂z/∂x += 1 × 1 = 1" in table


def test_functions_of_one_input_show_their_local_derivative():
    x = Variable(0.5, name="x")
    z = F.exp(F.tanh(x) * 2)
    table = trace(z).table()
    assert "∂t/∂x = 1 − tanh²(x) = 0.786448" in table
    assert "∂z/∂t1 = exp(t1) = 2.51994" in table
    assert "∂z/∂x = exp(tanh(x)·2)·2·(1 − tanh²(x)) = 3.9636" in table


def test_tensor_steps_show_rules_and_summaries():
    x = Variable(np.arange(6.0).reshape(2, 3) / 10, name="x")
    W = Variable(np.full((3, 2), 0.5), name="W")
    L = F.sum(F.tanh(x @ W))
    t = trace(L)
    matmul = next(s for s in t.steps if s.label == "matmul")
    assert [(d.input, d.local) for d in matmul.derivatives] == [("x", "g @ Wᵀ"), ("W", "xᵀ @ g")]
    gx, gW = cg.grad(L, [x, W])
    np.testing.assert_allclose(t.gradients["x"], gx.data)
    np.testing.assert_allclose(t.gradients["W"], gW.data)
    assert "x: g @ Wᵀ" in t.table() and "(3, 2) float64" in t.table()


def test_constant_outputs_have_nothing_to_trace():
    t = trace(Variable(2.0, requires_grad=False) * 3)
    assert t.steps == [] and t.table() == "z: a constant, so no gradient flows back.\n"


def test_several_outputs_and_weights():
    x = Variable(2.0, name="x")
    a, b = x * 3, x * x
    a.name, b.name = "a", "b"
    t = trace(a, b, grad_outputs=[np.array(1.0), np.array(10.0)])
    assert t.objective == "(a + b)"
    assert float(t.gradients["x"]) == 3.0 + 40.0


class Cube(Function):
    def forward(self, x):
        return x**3

    def backward(self, gy):
        (x,) = self.inputs
        return 3 * x * x * gy


def test_user_functions_are_traced_through_their_backward():
    x = Variable(2.0, name="x")
    t = trace(Cube()(x))
    (step,) = t.steps[1:]
    assert step.label == "Cube" and step.definition == "z = Cube(x)"
    assert step.derivatives[0].local == "backward()" and float(t.gradients["x"]) == 12.0


class Twice(cg.Op):
    def forward(self, x):
        return 2 * x

    def vjp(self, gy, y, x):
        return 2 * gy


def test_an_op_without_a_rule_text_reads_vjp_rule():
    x = Variable(np.ones(3), name="x")
    t = trace(F.sum(Twice()(x)))
    assert t.steps[2].definition == "t = Twice(x)"
    assert t.steps[2].derivatives[0].local == "vjp rule"


class LabelledCube(Cube):
    label = "cube"

    def local_derivatives(self, x):
        return (Sym(f"3{x.text}²", PRODUCT),)


def test_a_user_function_is_traced_with_its_own_label_and_local_derivatives():
    x = Variable(2.0, name="x")
    z = LabelledCube()(x)
    z.name = "z"
    (step,) = trace(z).steps[1:]
    assert (step.label, step.definition) == ("cube", "z = cube(x)")
    (d,) = step.derivatives
    assert (d.local, d.local_value, d.elementwise) == ("3x²", None, True)
    assert "∂z/∂x = 3x²" in str(trace(z))


def test_a_20000_step_backward_pass_traces_without_recursion():
    x = Variable(0.1, name="x")
    y = x
    for _ in range(20_000):
        y = F.sin(y)
    t = trace(y)
    assert len(t.steps) == 20_001
    (gx,) = cg.grad(y, [x])
    assert float(t.gradients["x"]) == pytest.approx(gx.item())
    assert t.table().count("\n") > 20_000


def test_broadcasting_steps_say_the_gradient_is_summed_back():
    x = Variable(np.ones((2, 3)), name="x")
    b = Variable(np.arange(3.0), name="b")
    t = trace(F.sum(x * b))
    mul = next(s for s in t.steps if s.label == "×")
    assert [(d.input, d.local) for d in mul.derivatives] == [("x", "g·b"), ("b", "g·x summed to shape (3,)")]
    np.testing.assert_array_equal(t.gradients["b"], [2.0, 2.0, 2.0])
    assert "b" not in t.formulas  # a sum over axes is not a product of local derivatives
