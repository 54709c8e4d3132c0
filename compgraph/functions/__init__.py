"""The differentiable functions, by family; import as ``import compgraph.functions as F``."""

from compgraph.functions.activation import (
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
)
from compgraph.functions.arithmetic import add, astype, div, mul, neg, pow, sub
from compgraph.functions.attention import scaled_dot_product_attention
from compgraph.functions.combine import concatenate, expand_dims, split, squeeze, stack
from compgraph.functions.conv import col2im, conv2d, im2col
from compgraph.functions.lookup import embedding, one_hot
from compgraph.functions.loss import (
    binary_cross_entropy_with_logits,
    mean_squared_error,
    softmax_cross_entropy,
)
from compgraph.functions.math import abs, clip, cos, exp, log, sin, sqrt, tanh
from compgraph.functions.matrix import linear, matmul
from compgraph.functions.normalization import batch_norm, layer_norm
from compgraph.functions.pooling import avg_pool2d, max_pool2d
from compgraph.functions.reduce import argmax, argmin, cumsum, logsumexp, max, mean, min, std, sum, var
from compgraph.functions.select import masked_fill, maximum, minimum, where
from compgraph.functions.shape import broadcast_to, flatten, get_item, reshape, sum_to, transpose
from compgraph.functions.stochastic import dropout, seed_dropout

__all__ = [
    "abs",
    "add",
    "argmax",
    "argmin",
    "astype",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "broadcast_to",
    "clip",
    "col2im",
    "concatenate",
    "conv2d",
    "cos",
    "cumsum",
    "div",
    "dropout",
    "embedding",
    "exp",
    "expand_dims",
    "flatten",
    "gelu",
    "get_item",
    "im2col",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "logsumexp",
    "masked_fill",
    "matmul",
    "max",
    "max_pool2d",
    "maximum",
    "mean",
    "mean_squared_error",
    "min",
    "minimum",
    "mul",
    "neg",
    "one_hot",
    "pow",
    "relu",
    "reshape",
    "scaled_dot_product_attention",
    "seed_dropout",
    "sigmoid",
    "silu",
    "sin",
    "softmax",
    "softmax_cross_entropy",
    "softplus",
    "split",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "sum_to",
    "tanh",
    "transpose",
    "var",
    "where",
]
