"""Optimizers, learning-rate schedules and gradient clipping: ``import compgraph.optim as optim``.

>>> import compgraph.nn as nn
>>> model = nn.MLP((2, 8, 3), rng=0)
>>> opt = Adam(model.parameters(), lr=0.01)
>>> schedule = StepLR(opt, step_size=100, gamma=0.5)
"""

from compgraph.optim.adaptive import AdaGrad, Adam, AdamW, RMSProp, weight_decay_groups
from compgraph.optim.clip import clip_grad_norm, clip_grad_value
from compgraph.optim.optimizer import Optimizer
from compgraph.optim.schedule import LRSchedule, StepLR, WarmupCosineLR, warmup_cosine_lr
from compgraph.optim.sgd import SGD

__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "AdamW",
    "LRSchedule",
    "Optimizer",
    "RMSProp",
    "StepLR",
    "WarmupCosineLR",
    "clip_grad_norm",
    "clip_grad_value",
    "warmup_cosine_lr",
    "weight_decay_groups",
]
