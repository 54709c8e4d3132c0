"""A small layered layout, left to right, for drawing without Graphviz.

The classic steps (Sugiyama's), each kept simple: columns by longest path from the inputs
(leaves moved next to their first use), a hidden point in every column a long edge crosses,
orders in each column from a few barycenter sweeps (keeping the order with the fewest
crossings), then heights that pull each node towards its neighbours while keeping the
column's order and spacing (an isotonic regression). Everything is iterative and close to
linear in the size of the graph.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]

SWEEPS = 8  # barycenter sweeps (down and up) when ordering the columns
NODE_GAP = 34.0  # vertical space between two nodes of a column (room for an edge's labels)
DUMMY_GAP = 20.0  # between the hidden points of long edges
MIN_COLUMN_GAP = 60.0  # horizontal space between columns, widened to fit the edge labels
MARGIN = 16.0


@dataclass
class Layout:
    """Node centres, each edge's polyline (source border to target border), label anchors."""

    width: float
    height: float
    centres: dict[str, Point] = field(default_factory=dict)
    routes: dict[str, list[Point]] = field(default_factory=dict)
    anchors: dict[str, Point] = field(default_factory=dict)


def layered(
    nodes: Sequence[tuple[str, float, float]],
    edges: Sequence[tuple[str, str, str, float] | tuple[str, str, str, float, float, float]],
) -> Layout:
    """Lay out ``nodes`` (id, width, height) joined by ``edges``.

    An edge is (id, source, target, label width), optionally with the height its label takes
    above and below the line. The graph must be acyclic (computational graphs are). Edges
    run left to right.
    """
    n = len(nodes)
    index = {node_id: i for i, (node_id, _, _) in enumerate(nodes)}
    width = [w for _, w, _ in nodes]
    height = [h for _, _, h in nodes]
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    pairs = []
    # room each node needs above and below it for the labels of the edges leaving it
    above = [0.0] * n
    below = [0.0] * n
    for edge in edges:
        a, b = index[edge[1]], index[edge[2]]
        succ[a].append(b)
        pred[b].append(a)
        pairs.append((a, b))
        if len(edge) == 6:
            above[a] = max(above[a], edge[4])
            below[a] = max(below[a], edge[5])

    rank = _ranks(n, succ, pred)

    # a hidden point in every column that a long edge crosses
    chains: list[list[int]] = []
    for a, b in pairs:
        chain = [a]
        for r in range(rank[a] + 1, rank[b]):
            rank.append(r)
            width.append(0.0)
            height.append(0.0)
            chain.append(len(rank) - 1)
        chain.append(b)
        chains.append(chain)
    total = len(rank)
    up: list[list[int]] = [[] for _ in range(total)]
    down: list[list[int]] = [[] for _ in range(total)]
    for chain in chains:
        for u, v in itertools.pairwise(chain):
            down[u].append(v)
            up[v].append(u)
    columns: list[list[int]] = [[] for _ in range(max(rank, default=0) + 1)]
    for u in range(total):
        columns[rank[u]].append(u)

    order = _order(columns, up, down)

    # Where along its first segment an edge's label sits: near the end that is alone, so the
    # labels of edges meeting at one node stay apart (0.5: the middle).
    at = []
    for a, b in pairs:
        many_out, many_in = len(succ[a]) > 1, len(pred[b]) > 1
        at.append(0.25 if many_in and not many_out else 0.75 if many_out and not many_in else 0.5)

    # x: column centres, gaps wide enough for the labels of the edges leaving each column
    column_width = [max((width[u] for u in column), default=0.0) for column in order]
    room = [MIN_COLUMN_GAP] * len(order)
    for edge, chain, t in zip(edges, chains, at):
        label_width = edge[3]
        fraction = _bezier_x(t)  # the share of the gap left of the label's centre
        r = rank[chain[0]]
        room[r] = max(room[r], (label_width / 2 + 10.0) / min(fraction, 1 - fraction))
    xs = []
    x = MARGIN + (column_width[0] if column_width else 0.0) / 2
    for r in range(len(order)):
        if r:
            x += column_width[r - 1] / 2 + room[r - 1] + column_width[r] / 2
        xs.append(x)

    above.extend([0.0] * (total - n))
    below.extend([0.0] * (total - n))
    ys = _heights(order, up, down, height, above, below)
    top = min((ys[u] - height[u] / 2 for u in range(total)), default=0.0)
    shift = MARGIN + 14.0 - top  # 14: room for the label of an edge along the top
    for u in range(total):
        ys[u] += shift

    layout = Layout(0.0, 0.0)
    for node_id, i in index.items():
        layout.centres[node_id] = (xs[rank[i]], ys[i])
    parallel: dict[tuple[int, int], int] = {}
    for edge, chain, t in zip(edges, chains, at):
        edge_id = edge[0]
        a, b = chain[0], chain[-1]
        k = parallel.get((a, b), 0)
        parallel[(a, b)] = k + 1
        points = [(xs[rank[a]] + width[a] / 2, ys[a])]
        points.extend((xs[rank[u]], ys[u]) for u in chain[1:-1])
        points.append((xs[rank[b]] - width[b] / 2, ys[b]))
        if k and len(points) == 2:  # a second edge between the same nodes bows away from the first
            (x0, y0), (x1, y1) = points
            bow = 22.0 * ((k + 1) // 2) * (1 if k % 2 else -1)
            points.insert(1, ((x0 + x1) / 2, (y0 + y1) / 2 + bow))
        layout.routes[edge_id] = points
        layout.anchors[edge_id] = points[1] if k and len(chain) == 2 else bezier(points[0], points[1], t)
    right = max((xs[rank[u]] + width[u] / 2 for u in range(total)), default=0.0)
    bottom = max((ys[u] + height[u] / 2 for u in range(total)), default=0.0)
    layout.width = right + MARGIN
    layout.height = bottom + MARGIN + 14.0
    return layout


def bezier(p0: Point, p1: Point, t: float) -> Point:
    """The point at ``t`` on the curve drawn from p0 to p1: a cubic leaving and entering level."""
    (x0, y0), (x1, y1) = p0, p1
    return x0 + (x1 - x0) * _bezier_x(t), y0 + (y1 - y0) * t * t * (3 - 2 * t)


def _bezier_x(t: float) -> float:
    # control points halfway across, at the heights of the ends
    return 1.5 * t * (1 - t) + t**3


def _ranks(n: int, succ: list[list[int]], pred: list[list[int]]) -> list[int]:
    """Columns: longest path from the sources; then each source moves next to its first use."""
    indegree = [len(p) for p in pred]
    queue = deque(u for u in range(n) if indegree[u] == 0)
    topo = []
    while queue:
        u = queue.popleft()
        topo.append(u)
        for v in succ[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                queue.append(v)
    if len(topo) != n:
        raise ValueError("layered layout: the graph has a cycle")
    rank = [0] * n
    for u in topo:
        for v in succ[u]:
            if rank[v] < rank[u] + 1:
                rank[v] = rank[u] + 1
    for u in range(n):
        if not pred[u] and succ[u]:
            rank[u] = min(rank[v] for v in succ[u]) - 1
    low = min(rank, default=0)
    return [r - low for r in rank]


def _crossings(upper: list[int], lower: list[int], down: list[list[int]]) -> int:
    """Edge crossings between two neighbouring columns (inversions, counted with a Fenwick tree)."""
    upper_pos = {u: i for i, u in enumerate(upper)}
    lower_pos = {u: i for i, u in enumerate(lower)}
    ends = sorted((upper_pos[u], lower_pos[v]) for u in upper for v in down[u])
    size = len(lower) + 1
    tree = [0] * (size + 1)
    count = 0
    for seen, (_, p) in enumerate(ends):
        # edges seen so far that end strictly below p cross this one
        i, below_or_at = p + 1, 0
        while i > 0:
            below_or_at += tree[i]
            i -= i & -i
        count += seen - below_or_at
        i = p + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def _total_crossings(order: list[list[int]], down: list[list[int]]) -> int:
    return sum(_crossings(order[r], order[r + 1], down) for r in range(len(order) - 1))


def _order(columns: list[list[int]], up: list[list[int]], down: list[list[int]]) -> list[list[int]]:
    order = [list(c) for c in columns]
    best = [list(c) for c in order]
    best_count = _total_crossings(order, down)
    for sweep in range(SWEEPS):
        if best_count == 0:
            break
        downward = sweep % 2 == 0
        ranks = range(1, len(order)) if downward else range(len(order) - 2, -1, -1)
        for r in ranks:
            fixed = order[r - 1] if downward else order[r + 1]
            fixed_pos = {u: i for i, u in enumerate(fixed)}
            neighbours = up if downward else down
            keys = {}
            for i, u in enumerate(order[r]):
                ps = [fixed_pos[v] for v in neighbours[u]]
                keys[u] = sum(ps) / len(ps) if ps else i
            order[r].sort(key=lambda u: keys[u])
        count = _total_crossings(order, down)
        if count < best_count:
            best, best_count = [list(c) for c in order], count
    return best


def _heights(
    order: list[list[int]],
    up: list[list[int]],
    down: list[list[int]],
    height: list[float],
    above: list[float],
    below: list[float],
) -> list[float]:
    def gap(a: int, b: int) -> float:
        if height[a] == 0.0 and height[b] == 0.0:  # two hidden points
            return DUMMY_GAP
        return max((height[a] + height[b]) / 2 + NODE_GAP, below[a] + above[b] + 20.0)

    ys = [0.0] * len(height)
    for column in order:
        y = 0.0
        for i, u in enumerate(column):
            if i:
                y += gap(column[i - 1], u)
            ys[u] = y
    for sweep in range(2 * SWEEPS):
        ranks = range(len(order)) if sweep % 2 == 0 else range(len(order) - 1, -1, -1)
        for r in ranks:
            column = order[r]
            wanted = []
            for u in column:
                near = up[u] + down[u]
                wanted.append(sum(ys[v] for v in near) / len(near) if near else ys[u])
            gaps = [gap(column[i - 1], column[i]) for i in range(1, len(column))]
            for u, y in zip(column, _isotonic(wanted, gaps)):
                ys[u] = y
    return ys


def _isotonic(wanted: list[float], gaps: list[float]) -> list[float]:
    """Heights closest to ``wanted`` (least squares) with y[i+1] − y[i] ≥ gaps[i]."""
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    blocks: list[list[float]] = []  # [mean, weight]
    for w, c in zip(wanted, offsets):
        blocks.append([w - c, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, n2 = blocks.pop()
            m1, n1 = blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    z = []
    for mean, weight in blocks:
        z.extend([mean] * int(weight))
    return [zi + c for zi, c in zip(z, offsets)]
