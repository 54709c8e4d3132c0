"""Layers, models and their weights: ``import compgraph.nn as nn``.

>>> import compgraph.nn as nn
>>> model = nn.MLP((2, 16, 3), rng=0)
>>> len(model.parameters())
4
"""

from compgraph._files import atomic_write
from compgraph.nn import init
from compgraph.nn.language import CharGPT, CharLSTM
from compgraph.nn.layers import (
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Linear,
    MaxPool2d,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from compgraph.nn.models import MLP, SimpleConvNet
from compgraph.nn.module import Module, Parameter
from compgraph.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from compgraph.nn.serialization import load_file, save_file
from compgraph.nn.transformer import GELU, CausalSelfAttention, FeedForward, LayerNorm, TransformerBlock

__all__ = [
    "GELU",
    "GRU",
    "LSTM",
    "MLP",
    "RNN",
    "AvgPool2d",
    "BatchNorm",
    "CausalSelfAttention",
    "CharGPT",
    "CharLSTM",
    "Conv2d",
    "Dropout",
    "Embedding",
    "FeedForward",
    "Flatten",
    "GRUCell",
    "LSTMCell",
    "LayerNorm",
    "Linear",
    "MaxPool2d",
    "Module",
    "ModuleList",
    "Parameter",
    "RNNCell",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SimpleConvNet",
    "Tanh",
    "TransformerBlock",
    "atomic_write",
    "init",
    "load_file",
    "save_file",
]
