"""The Optimizer base class: parameters, their gradients, per-parameter state, state dicts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from compgraph._checks import number
from compgraph.core import Variable, changed_in_place

#: A parameter group: ``{"params": [...], "weight_decay": 0.0}``, options overriding the optimizer's.
ParamGroup = Mapping[str, Any]
#: What an optimizer takes: parameters, or parameter groups (one dict per group).
Params = Iterable[Variable] | Iterable[ParamGroup]
#: Keys of a state dict left to an LR schedule (``schedule.step``); Optimizer.load_state_dict skips them.
SCHEDULE_PREFIX = "schedule."


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

    ``params`` is a list of parameters or, as in PyTorch, of parameter groups: dicts with a
    ``"params"`` list and any of ``group_options`` (``lr``, ``weight_decay`` for the built-in
    optimizers), which then hold for that group instead of the optimizer's own value.
    ``param_groups`` lists them (a plain list is one group); ``params`` and the state dict
    number the parameters through the groups in order, so the format does not change.
    """

    #: The hyperparameters a parameter group may set for itself.
    group_options: tuple[str, ...] = ("lr",)

    def __init__(self, params: Params, lr: float):
        name = type(self).__name__
        self.param_groups: list[dict[str, Any]] = _groups(name, params, self.group_options)
        params = [p for group in self.param_groups for p in group["params"]]
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
        states = iter(self.state)  # the state list runs through the groups in order
        for group in self.param_groups:
            with self._options_of(group):
                for p, state in zip(group["params"], states):
                    if p.grad is not None:
                        self._step_one(p, state)
                        updated.append(p)
        changed_in_place(*updated)

    def _step_one(self, p: Variable, state: dict[str, Any]) -> None:
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

    @contextlib.contextmanager
    def _options_of(self, group: Mapping[str, Any]) -> Iterator[None]:
        """Inside the block the group's own options stand in for the optimizer's attributes.

        ``update`` reads ``self.lr`` and the like, so a group's options are swapped in for
        the group's parameters and the optimizer's own values put back afterwards.
        """
        own = {key: value for key, value in group.items() if key != "params"}
        saved = {key: getattr(self, key) for key in own}
        self.__dict__.update(own)
        try:
            yield
        finally:
            self.__dict__.update(saved)

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
        """Restore the state saved by ``state_dict`` for the same parameters (checked first).

        Entries named ``schedule.*`` belong to an LR schedule saved in the same file (see
        compgraph.optim.schedule) and are skipped.
        """
        name = type(self).__name__
        new: list[dict[str, Any]] = [{} for _ in self.params]
        problems = []
        for key, value in state.items():
            if key.startswith(SCHEDULE_PREFIX):  # an LR schedule's, saved alongside
                continue
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
        groups = f", {len(self.param_groups)} groups" if len(self.param_groups) > 1 else ""
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters{groups})"


def _groups(owner: str, params: Params, options: tuple[str, ...]) -> list[dict[str, Any]]:
    """``params`` as a list of groups ``{"params": tuple, option: float}``, each checked."""
    if isinstance(params, Variable):
        raise TypeError(
            f"{owner}: params must be a list of parameters, got one {type(params).__name__}; wrap it "
            "in a list"
        )
    params = list(params)
    if not any(isinstance(item, Mapping) for item in params):
        return [{"params": tuple(params)}]
    groups = []
    for k, group in enumerate(params):
        if not isinstance(group, Mapping):
            raise TypeError(
                f"{owner}: params mixes parameter groups (dicts) with a {type(group).__name__} at "
                f"position {k}; give every parameter inside a group"
            )
        if "params" not in group:
            raise ValueError(f"{owner}: parameter group {k} has no 'params' entry: {sorted(group)}")
        unknown = sorted(set(group) - {"params", *options})
        if unknown:
            raise ValueError(
                f"{owner}: parameter group {k} sets {', '.join(map(repr, unknown))}; a group may set "
                f"{', '.join(options)}, the rest is the optimizer's (one value for all groups)"
            )
        members = group["params"]
        if isinstance(members, (Variable, Mapping, str)):
            raise TypeError(
                f"{owner}: parameter group {k}'s 'params' must be a list of parameters, got "
                f"{type(members).__name__}"
            )
        own = [key for key in options if key in group]
        checked = {key: hyperparameter(owner, f"group {k} {key}", group[key]) for key in own}
        groups.append({"params": tuple(members), **checked})
    return groups
