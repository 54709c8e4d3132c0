"""compgraph: backpropagation over computational graphs, small, fast and visible.

>>> import compgraph as cg
>>> x = cg.Variable(2.0, name="x")
>>> y = x ** 2 + 3 * x
>>> y.backward()
>>> x.grad
Variable(7.0)
"""

from compgraph import functions
from compgraph.anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from compgraph.compiled import CompiledFunction, compile
from compgraph.core import (
    Function,
    HookHandle,
    Op,
    Variable,
    as_array,
    backward,
    changed_in_place,
    dispatch,
    enable_grad,
    grad,
    is_grad_enabled,
    no_grad,
)
from compgraph.functional import hessian, hvp, jacobian, jvp, vjp
from compgraph.gradient_check import GradcheckError, gradcheck, numerical_grad

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "CompiledFunction",
    "Function",
    "GradcheckError",
    "HookHandle",
    "Op",
    "Variable",
    "as_array",
    "backward",
    "changed_in_place",
    "compile",
    "detect_anomaly",
    "dispatch",
    "enable_grad",
    "functions",
    "grad",
    "gradcheck",
    "hessian",
    "hvp",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "no_grad",
    "numerical_grad",
    "vjp",
]
