"""Learning-rate schedules: linear warm-up then cosine decay (nanoGPT's), and step decay.

A schedule sets ``optimizer.lr`` once per step, PyTorch's way: making it sets the lr of
step 0, and ``schedule.step()`` after each ``optimizer.step()`` sets the next step's lr.
``lr_at(step)`` is the same value as a pure function of the step number.

Its state (the step it has reached) is one array named ``schedule.step``, so it is saved
in the same file as the optimizer's state and restored from it: ``Optimizer.load_state_dict``
skips the ``schedule.*`` entries and the schedule reads only those.

>>> import compgraph.nn as nn
>>> from compgraph.optim import AdamW
>>> opt = AdamW(nn.MLP((2, 3), rng=0).parameters(), lr=1e-3)
>>> schedule = WarmupCosineLR(opt, warmup_steps=100, decay_steps=2000, min_lr=1e-4)
>>> opt.lr  # step 0: lr·1/101
9.900990099009901e-06
>>> state = {**opt.state_dict(), **schedule.state_dict()}  # one file, e.g. save_file(state, ...)
>>> opt.load_state_dict(state); schedule.load_state_dict(state)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from compgraph._checks import non_negative_int, positive_int
from compgraph.optim.optimizer import SCHEDULE_PREFIX, Optimizer, hyperparameter

STEP_KEY = SCHEDULE_PREFIX + "step"


def warmup_cosine_lr(step: int, lr: float, warmup_steps: int, decay_steps: int, min_lr: float) -> float:
    """nanoGPT's ``get_lr``: the lr of step ``step`` (counted from 0).

    Steps 0 .. warmup_steps − 1 rise linearly, lr·(step + 1)/(warmup_steps + 1); from
    warmup_steps to decay_steps the lr falls along half a cosine from lr to min_lr, which
    step ``decay_steps`` reaches; it stays min_lr after. A run that should end at min_lr
    passes its last step number (nanoGPT runs steps 0 .. max_iters with lr_decay_iters =
    max_iters).

    >>> warmup_cosine_lr(100, 1e-3, 100, 2000, 1e-4), warmup_cosine_lr(2000, 1e-3, 100, 2000, 1e-4)
    (0.001, 0.0001)
    """
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    if step > decay_steps:
        return min_lr
    ratio = (step - warmup_steps) / (decay_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


class LRSchedule:
    """Sets ``optimizer.lr`` to ``lr_at(step)`` for step 0 now and for the next step on ``step()``.

    Subclasses define ``lr_at``. ``lr`` is the peak (or starting) lr, by default the
    optimizer's lr when the schedule is made. ``last_step`` is the step whose lr is set.
    """

    def __init__(self, optimizer: Optimizer, lr: float | None = None):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer (e.g. AdamW), got {type(optimizer).__name__}")
        own = [k for k, group in enumerate(optimizer.param_groups) if "lr" in group]
        if own:
            raise ValueError(
                f"{name}: parameter group {own[0]} sets its own lr, which a schedule would not "
                "change; leave lr out of the groups (the schedule sets one lr for all of them)"
            )
        self.optimizer = optimizer
        self.lr = hyperparameter(name, "lr", optimizer.lr if lr is None else lr)
        self.last_step = 0

    def lr_at(self, step: int) -> float:
        """The lr of step ``step`` (0 is the first); a pure function of ``step``."""
        raise NotImplementedError(f"{type(self).__name__} must define lr_at(self, step)")

    def _apply(self) -> float:
        self.optimizer.lr = lr = float(self.lr_at(self.last_step))
        return lr

    def step(self) -> float:
        """Move on to the next step and set its lr on the optimizer; returns that lr."""
        self.last_step += 1
        return self._apply()

    def set_step(self, step: int) -> float:
        """Go to step ``step`` (e.g. where a run resumes) and set its lr; returns that lr."""
        self.last_step = non_negative_int(type(self).__name__, "step", step)
        return self._apply()

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"schedule.step": last_step}`` as an int64 array, to save beside the optimizer's state."""
        return {STEP_KEY: np.array(self.last_step, dtype=np.int64)}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Go back to the step saved by ``state_dict`` and set its lr; other entries are skipped.

        ``state`` may be the optimizer's state dict with the schedule's entries in it.
        """
        name = type(self).__name__
        if STEP_KEY not in state:
            raise ValueError(
                f"{name}.load_state_dict: no {STEP_KEY!r} entry (found {len(state)} others); the state "
                "was saved without a schedule; call schedule.set_step(step) with the step to resume at"
            )
        unknown = sorted(k for k in state if k.startswith(SCHEDULE_PREFIX) and k != STEP_KEY)
        value = np.asarray(state[STEP_KEY])
        if unknown or value.shape != () or value.dtype.kind not in "iu" or value < 0:
            raise ValueError(
                f"{name}.load_state_dict: expected {STEP_KEY!r}, a step count (an integer >= 0), "
                f"got {value.dtype} {value.shape} {value.tolist()!r}"
                + (f" and unexpected entries {unknown}" if unknown else "")
            )
        self.set_step(int(value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, last_step={self.last_step})"


class WarmupCosineLR(LRSchedule):
    """Linear warm-up for ``warmup_steps`` steps, then cosine decay to ``min_lr`` at ``decay_steps``.

    nanoGPT's schedule (``warmup_cosine_lr``, its warmup_iters, lr_decay_iters and min_lr);
    with ``warmup_steps=0`` it is PyTorch's CosineAnnealingLR(T_max=decay_steps,
    eta_min=min_lr) up to decay_steps, and min_lr after.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        decay_steps: int,
        min_lr: float = 0.0,
        lr: float | None = None,
    ):
        super().__init__(optimizer, lr)
        name = type(self).__name__
        self.warmup_steps = non_negative_int(name, "warmup_steps", warmup_steps)
        self.decay_steps = positive_int(name, "decay_steps", decay_steps)
        if self.decay_steps <= self.warmup_steps:
            raise ValueError(
                f"{name}: decay_steps ({decay_steps}) must be greater than warmup_steps "
                f"({warmup_steps}): the cosine runs from the end of the warm-up to decay_steps"
            )
        self.min_lr = hyperparameter(name, "min_lr", min_lr)
        if self.min_lr > self.lr:
            raise ValueError(f"{name}: min_lr ({min_lr}) must be at most lr ({self.lr})")
        self._apply()

    def lr_at(self, step: int) -> float:
        step = non_negative_int(type(self).__name__, "step", step)
        return warmup_cosine_lr(step, self.lr, self.warmup_steps, self.decay_steps, self.min_lr)


class StepLR(LRSchedule):
    """lr·gamma^(step // step_size): the lr is multiplied by ``gamma`` every ``step_size`` steps.

    As PyTorch's torch.optim.lr_scheduler.StepLR, counting in steps (or epochs, if ``step()``
    is called once per epoch).

    >>> import compgraph.nn as nn
    >>> from compgraph.optim import SGD
    >>> schedule = StepLR(SGD(nn.MLP((2, 3), rng=0).parameters(), lr=0.1), step_size=2, gamma=0.5)
    >>> [schedule.lr_at(s) for s in range(5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, lr: float | None = None):
        super().__init__(optimizer, lr)
        name = type(self).__name__
        self.step_size = positive_int(name, "step_size", step_size)
        self.gamma = hyperparameter(name, "gamma", gamma)
        self._apply()

    def lr_at(self, step: int) -> float:
        step = non_negative_int(type(self).__name__, "step", step)
        return self.lr * self.gamma ** (step // self.step_size)
