"""The differentiable functions, by family; import as ``import compgraph.functions as F``."""

from compgraph.functions.activation import log_softmax, relu, sigmoid, softmax
from compgraph.functions.arithmetic import add, astype, div, mul, neg, pow, sub
from compgraph.functions.linear import linear, matmul
from compgraph.functions.loss import mean_squared_error, softmax_cross_entropy
from compgraph.functions.math import clip, cos, exp, log, sin, sqrt, tanh
from compgraph.functions.reduce import max, mean, min, sum
from compgraph.functions.shape import broadcast_to, flatten, get_item, reshape, sum_to, transpose

__all__ = [
    "add",
    "astype",
    "broadcast_to",
    "clip",
    "cos",
    "div",
    "exp",
    "flatten",
    "get_item",
    "linear",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "mean",
    "mean_squared_error",
    "min",
    "mul",
    "neg",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "sin",
    "softmax",
    "softmax_cross_entropy",
    "sqrt",
    "sub",
    "sum",
    "sum_to",
    "tanh",
    "transpose",
]
