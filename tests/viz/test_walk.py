"""Walking a graph: every function once, inputs first, stable names, no recursion."""

import compgraph.functions as F
from compgraph import Variable
from compgraph.viz.walk import walk
from tests.viz.conftest import chain


def test_unnamed_values_get_stable_names_in_evaluation_order():
    a, b = Variable(1.0), Variable(2.0)
    y = (a * b + F.exp(a)) / b
    w = walk([y])
    names = {w.names[v] for v in w.variables}
    assert names == {"v", "v1", "t", "t1", "t2", "z"}
    t = next(v for v in w.variables if w.names[v] == "t")
    assert type(t.creator).__name__ == "Mul"  # a·b comes first, as written
    assert [walk([y]).names[v] for v in w.variables] == [w.names[v] for v in w.variables]


def test_made_up_names_avoid_the_users_names_and_repeated_names_get_primes():
    t = Variable(1.0, name="t")
    other_t = Variable(2.0, name="t")
    y = (t + other_t) * t
    w = walk([y])
    assert sorted(w.names[v] for v in w.variables) == ["t", "t1", "t′", "z"]


def test_deep_graphs_walk_without_recursion():
    x, y = chain(20_000)  # twenty times Python's default recursion limit
    w = walk([y])
    assert len(w.functions) == 20_000 and max(w.depth.values()) == 19_999
    assert w.functions[0].inputs[0] is x
