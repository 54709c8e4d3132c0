"""Optimizers and gradient clipping: ``import compgraph.optim as optim``.

>>> import compgraph.nn as nn
>>> model = nn.MLP((2, 8, 3), rng=0)
>>> opt = Adam(model.parameters(), lr=0.01)
"""

from compgraph.optim.adaptive import AdaGrad, Adam, AdamW, RMSProp
from compgraph.optim.clip import clip_grad_norm, clip_grad_value
from compgraph.optim.optimizer import Optimizer
from compgraph.optim.sgd import SGD

__all__ = ["SGD", "AdaGrad", "Adam", "AdamW", "Optimizer", "RMSProp", "clip_grad_norm", "clip_grad_value"]
