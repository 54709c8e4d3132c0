"""Long runs of a repeated pattern along a chain, drawn as one node (``tanh ×998``)."""

from __future__ import annotations

from collections.abc import Callable

from compgraph.core import Function, Variable

#: A run of at least this many functions that repeat a pattern is drawn as one node.
COLLAPSE = 10
#: The longest pattern (in functions) that collapsing looks for: ``(×, +, tanh) ×300``.
MAX_PERIOD = 4


def blocks(
    functions: list[Function],
    consumers: dict[Variable, list[tuple[Function, int]]],
    outputs: set[Variable],
    threshold: int,
    output_of: Callable[[Function], Variable | None],
) -> list[list[Function]]:
    """Runs of at least ``threshold`` functions that repeat one pattern along a chain.

    A chain links g to f when g's only output goes to f alone (and is not an output) and f's
    other inputs are leaves; both must be among ``functions`` (``consumers`` may name others).
    Along a chain, a pattern of up to ``MAX_PERIOD`` operations repeated back to back becomes
    one block (tanh ×998, or (×, +) ×400).
    """
    following = _links(functions, consumers, outputs, output_of)
    has_previous = set(following.values())
    blocks: list[list[Function]] = []
    for head in functions:
        if head in has_previous or head not in following:
            continue
        chain = [head]
        while chain[-1] in following:
            chain.append(following[chain[-1]])
        blocks.extend(_repeats(chain, threshold))
    return blocks


def _links(
    functions: list[Function],
    consumers: dict[Variable, list[tuple[Function, int]]],
    outputs: set[Variable],
    output_of: Callable[[Function], Variable | None],
) -> dict[Function, Function]:
    """The function that follows each one along a chain, for those that have one."""
    following: dict[Function, Function] = {}
    among = set(functions)  # a run stays among them (out of the module boxes drawn)
    for g in functions:
        v = output_of(g)
        if v is None or v in outputs:
            continue
        uses = consumers.get(v)
        if not uses or len(uses) != 1:
            continue
        f, i = uses[0]
        if f in among and all(x.creator is None for j, x in enumerate(f.inputs) if j != i):
            following[g] = f
    return following


def _repeats(chain: list[Function], threshold: int) -> list[list[Function]]:
    labels = [f.label for f in chain]
    n = len(labels)
    runs = []
    i = 0
    while i + threshold <= n:
        best, best_len = 0, 0
        for p in range(1, MAX_PERIOD + 1):
            if i + 2 * p > n:
                break
            length = p
            while i + length + p <= n and labels[i + length : i + length + p] == labels[i : i + p]:
                length += p
            if length // p >= 2 and length > best_len:
                best, best_len = p, length
        if best and best_len >= threshold:
            runs.append(chain[i : i + best_len])
            i += best_len
        else:
            i += 1
    return runs


def _period(labels: list[str]) -> int:
    for p in range(1, MAX_PERIOD + 1):
        if len(labels) % p == 0 and labels == labels[:p] * (len(labels) // p):
            return p
    return len(labels)


def chain_label(block: list[Function]) -> str:
    labels = [f.label for f in block]
    p = _period(labels)
    pattern = labels[0] if p == 1 else "(" + ", ".join(labels[:p]) + ")"
    return f"{pattern} ×{len(block) // p}"


def chain_title(
    block: list[Function], names: dict[Variable, str], output_of: Callable[[Function], Variable | None]
) -> str:
    first = names.get(output_of(block[0]), "?")
    last = names.get(output_of(block[-1]), "?")
    return f"{len(block)} functions drawn as one: {first} … {last}"
