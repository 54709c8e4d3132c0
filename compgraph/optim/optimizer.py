"""The Optimizer base class: parameters, their gradients, per-parameter state, state dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from compgraph._checks import number
from compgraph.core import Variable, changed_in_place


def hyperparameter(owner: str, name: str, value: Any, low: float = 0.0, high: float | None = None) -> float:
    """``value`` as a Python float in [low, high) (high exclusive; None for no bound).

    Hyperparameters are kept as Python floats on purpose: NumPy treats those as "weak" and
    keeps float32 arrays float32, where a 0-d float64 array would silently promote them.
    """
    value = number(owner, name, value)
    if not np.isfinite(value) or value < low or (high is not None and value >= high):
        bound = f"in [{low:g}, {high:g})" if high is not None else f">= {low:g}"
        raise ValueError(f"{owner}: {name} must be a finite number {bound}, got {value}")
    return value


class Optimizer:
    """Updates Parameters from their ``.grad``; subclasses define ``update``.

    ``step()`` updates every parameter that has a gradient (parameter arrays are updated in
    place; gradient arrays are never written to, since a user may hold them and one gradient
    array may be shared by several parameters). ``zero_grad()`` clears the gradients.
    ``state_dict()`` / ``load_state_dict()`` save and restore the per-parameter state
    (momentum buffers, moment estimates, step counts) so training can resume exactly.
    """

    def __init__(self, params: Iterable[Variable], lr: float):
        name = type(self).__name__
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list (did you pass model.parameters()?)")
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Variable):
                raise TypeError(
                    f"{name}: parameter {i} is a {type(p).__name__}, expected a Parameter or Variable"
                )
            if p.data.dtype.kind != "f" or not p.requires_grad:
                raise ValueError(
                    f"{name}: parameter {i} ({p.shape} {p.dtype}) does not require a gradient, so it "
                    "cannot be trained"
                )
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {i} appears twice in the list; pass each once")
            seen.add(id(p))
        self.params: list[Variable] = params
        self.lr = hyperparameter(name, "lr", lr)
        self.state: list[dict[str, Any]] = [{} for _ in params]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set ``.grad`` to None)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update each parameter that has a gradient, once.

        A graph recorded before the step can no longer backpropagate through the updated
        parameters (it would use their new values): its ``backward()`` raises.
        """
        updated = []
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            data = p.data
            g = p.grad.data if isinstance(p.grad, Variable) else np.asarray(p.grad)
            if g.shape != data.shape:
                raise ValueError(
                    f"{type(self).__name__}: a gradient of shape {g.shape} for a parameter of shape "
                    f"{data.shape}; they must match"
                )
            if g.dtype != data.dtype:
                g = g.astype(data.dtype)
            if not data.flags.writeable:  # e.g. a read-only array the parameter was made from
                data = p.data = data.copy()
            state["step"] = state.get("step", 0) + 1
            self.update(data, g, state)
            updated.append(p)
        changed_in_place(*updated)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        """Update ``p`` in place from its gradient ``g`` (never modify ``g``); ``state`` persists."""
        raise NotImplementedError(f"{type(self).__name__} must define update(self, p, g, state)")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the per-parameter state as arrays named "<index>.<slot>" ("0.m", "0.step")."""
        out: dict[str, np.ndarray] = {}
        for i, state in enumerate(self.state):
            for key, value in state.items():
                out[f"{i}.{key}"] = np.array(value, copy=True)
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore the state saved by ``state_dict`` for the same parameters (checked first)."""
        name = type(self).__name__
        new: list[dict[str, Any]] = [{} for _ in self.params]
        problems = []
        for key, value in state.items():
            index, _, slot = key.partition(".")
            if not index.isdigit() or not slot or int(index) >= len(self.params):
                problems.append(f"unexpected entry {key!r}")
                continue
            p = self.params[int(index)]
            value = np.asarray(value)
            if slot == "step":
                if value.shape != () or value.dtype.kind not in "iu":
                    problems.append(f"{key}: expected an integer step count, got {value.dtype} {value.shape}")
                    continue
                new[int(index)][slot] = int(value)
            elif value.shape != p.shape or value.dtype != p.dtype:
                problems.append(
                    f"{key}: {value.shape} {value.dtype} in the state, but parameter {index} is "
                    f"{p.shape} {p.dtype}"
                )
            else:
                new[int(index)][slot] = np.array(value, copy=True)
        if problems:
            raise ValueError(
                f"{name}.load_state_dict: the state does not fit these parameters; nothing was "
                "loaded:\n  " + "\n  ".join(problems)
            )
        self.state = new

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters)"
