"""Matrix products: matmul and the affine map linear(x, W, b)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compgraph import notation as nt
from compgraph.core import Op, Operand, Variable
from compgraph.functions.shape import _sum_to

# np.dot multiplies 2-D arrays with the same BLAS call as @, without the generalized-ufunc
# machinery that costs @ a third of a 16x16 product's time. Rules use it on arrays (plain
# backward passes) and the recorded op on Variables (create_graph).
_dot = np.dot


def _mT(a):
    """``a`` with its last two axes swapped (works on arrays and Variables)."""
    return a.T if a.ndim == 2 else a.transpose(tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2))


class MatMul(Op):
    __slots__ = ()
    label = "matmul"
    grad_rules = ("g @ {1}ᵀ", "{0}ᵀ @ g")

    def forward(self, x0, x1):
        if x1.ndim == 2 and x0.ndim > 2:  # (…, k) @ (k, n) as one (N, k) matrix: one GEMM
            return _dot(x0.reshape(-1, x0.shape[-1]), x1).reshape(*x0.shape[:-1], x1.shape[1])
        if x0.ndim == 2 and x1.ndim == 2:
            return _dot(x0, x1)
        return x0 @ x1

    def vjp(self, gy, y, x0, x1):
        # y = x0·x1:  ∂L/∂x0 = gy·x1ᵀ,  ∂L/∂x1 = x0ᵀ·gy
        need_x0, need_x1 = self.needs_grad(0), self.needs_grad(1)
        if x0.ndim == 2 and x1.ndim == 2:
            mm = matmul if isinstance(gy, Variable) else _dot
            return (mm(gy, x1.T) if need_x0 else None), (mm(x0.T, gy) if need_x1 else None)
        if x1.ndim == 2 and x0.ndim > 2:  # the rows of x0 against one matrix, as in forward
            rows = gy.reshape(-1, gy.shape[-1])
            gx0 = (rows @ x1.T).reshape(x0.shape) if need_x0 else None
            gx1 = x0.reshape(-1, x0.shape[-1]).T @ rows if need_x1 else None
            return gx0, gx1
        # 1-D operands are a row (x0) or a column (x1) whose new axis is dropped from y;
        # batch axes may broadcast and are summed back.
        a = x0 if x0.ndim > 1 else x0.reshape(1, x0.shape[0])
        b = x1 if x1.ndim > 1 else x1.reshape(x1.shape[0], 1)
        g = gy.reshape(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]))
        gx0 = _sum_to(g @ _mT(b), a.shape).reshape(x0.shape) if need_x0 else None
        gx1 = _sum_to(_mT(a) @ g, b.shape).reshape(x1.shape) if need_x1 else None
        return gx0, gx1

    def describe_error(self, xs: Sequence[Variable], exc: Exception) -> str:
        s0, s1 = xs[0].shape, xs[1].shape
        if not s0 or not s1:
            return (
                f"MatMul: operands must have at least one axis, got shapes {s0} and {s1}; use * for scalars"
            )
        k1_name = "first" if len(s1) == 1 else "second-to-last"
        k1 = s1[0] if len(s1) == 1 else s1[-2]
        if s0[-1] != k1:
            return (
                f"MatMul: shapes {s0} and {s1} are not aligned: x0's last axis ({s0[-1]}) must "
                f"equal x1's {k1_name} axis ({k1}); transpose one operand if that is what you meant"
            )
        return f"MatMul: batch axes of shapes {s0} and {s1} do not broadcast ({exc})"

    def formula(self, x0, x1):
        return nt.infix(x0, " @ ", x1, nt.PRODUCT)


def matmul(x0: Operand, x1: Operand) -> Variable:
    """The matrix product ``x0 @ x1`` (NumPy rules: 1-D operands and batch broadcasting)."""
    return MatMul()(x0, x1)


class Linear(Op):
    __slots__ = ()
    label = "linear"
    grad_rules = ("g @ {1}ᵀ", "{0}ᵀ @ g", "Σ g over the batch")

    def forward(self, x, W, b=None):
        if W.ndim != 2 or x.ndim == 0:
            raise ValueError("W must be 2-D and x at least 1-D")  # describe_error says more
        if x.ndim > 2:  # (…, in) as one (N, in) matrix: one GEMM, not one per leading index
            return self.forward(x.reshape(-1, x.shape[-1]), W, b).reshape(*x.shape[:-1], W.shape[1])
        y = _dot(x, W) if x.ndim == 2 else x @ W
        if b is not None:
            if b.dtype == y.dtype and b.ndim <= y.ndim:
                y += b  # in place: y is the new GEMM result, and the largest array here
            else:
                y = y + b
        return y

    def vjp(self, gy, y, x, W, b=None):
        # y = x·W + b:  ∂L/∂x = gy·Wᵀ,  ∂L/∂W = xᵀ·gy,  ∂L/∂b = Σ over the batch of gy
        need_x, need_W = self.needs_grad(0), self.needs_grad(1)  # the input batch needs none
        if x.ndim == 2:
            mm = matmul if isinstance(gy, Variable) else _dot
            gx = mm(gy, W.T) if need_x else None
            gW = mm(x.T, gy) if need_W else None
        else:  # a batch of any shape, as one matrix of rows: the weight's gradient sums over all of it
            rows = gy.reshape(-1, gy.shape[-1])
            gx = (rows @ W.T).reshape(x.shape) if need_x else None
            gW = x.reshape(-1, x.shape[-1]).T @ rows if need_W else None
        if b is None:
            return gx, gW
        return gx, gW, gy  # the engine sums gy over the batch

    def describe_error(self, xs: Sequence[Variable], exc: Exception) -> str:
        x, W = xs[0], xs[1]
        if W.ndim != 2 or x.ndim < 1 or x.shape[-1] != W.shape[0]:
            return (
                f"Linear: x of shape {x.shape} does not fit W of shape {W.shape}: W must be "
                f"(in_features, out_features) with in_features = x's last axis ({x.shape[-1:]})"
            )
        out = x.shape[:-1] + W.shape[1:]
        return f"Linear: b of shape {xs[2].shape} does not broadcast to the output shape {out}"


def linear(x: Operand, W: Operand, b: Operand | None = None) -> Variable:
    """The affine map ``x @ W + b`` (x: (..., in), W: (in, out), b: (out,) or None)."""
    return Linear()(x, W) if b is None else Linear()(x, W, b)
