"""A small layered layout, left to right, for drawing without Graphviz.

The classic steps (Sugiyama's), each kept simple and each a function below, in the order
``layered`` runs them: columns by longest path from the inputs (leaves moved next to their
first use), a hidden point in every column a long edge crosses, orders in each column from a
few barycenter sweeps (keeping the order with the fewest crossings), x from the widths of
the columns and of the edge labels between them, then heights that pull each node towards
its neighbours while keeping the column's order and spacing (an isotonic regression), and
last the edges' routes. Everything is iterative and close to linear in the size of the graph.
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
TOP_LABEL = 14.0  # room for the label of an edge along the top of the drawing, or the bottom


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
    index = {node_id: i for i, (node_id, _, _) in enumerate(nodes)}
    pairs = [(index[edge[1]], index[edge[2]]) for edge in edges]
    points = _points(nodes, edges, pairs)
    succ, pred = _neighbours(len(nodes), pairs)
    points.rank = _ranks(succ, pred)
    chains = [points.hidden_chain(a, b) for a, b in pairs]
    order = _order(points.columns(), points.up, points.down)
    at = _label_positions(pairs, succ, pred)
    xs = _column_xs(order, points, [edge[3] for edge in edges], chains, at)
    ys = _from_top(_heights(order, points), points.height)
    centres = [(xs[r], y) for r, y in zip(points.rank, ys)]
    routes, anchors = _routes([edge[0] for edge in edges], chains, at, centres, points.width)
    width, height = _extent(centres, points)
    return Layout(width, height, {node_id: centres[i] for node_id, i in index.items()}, routes, anchors)


@dataclass
class _Points:
    """What the layout knows of each point: the nodes first, then the hidden points that long
    edges pass through (no size), numbered in that order."""

    width: list[float]
    height: list[float]
    above: list[float]  # room each point needs above and below it for the labels of the
    below: list[float]  # edges leaving it
    rank: list[int] = field(default_factory=list)  # the column
    up: list[list[int]] = field(default_factory=list)  # neighbours in the previous column
    down: list[list[int]] = field(default_factory=list)  # and in the next one

    def hidden_chain(self, a: int, b: int) -> list[int]:
        """The points from ``a`` to ``b``: a new hidden point in every column between them."""
        chain = [a, *(self._hidden(r) for r in range(self.rank[a] + 1, self.rank[b])), b]
        for u, v in itertools.pairwise(chain):
            self.down[u].append(v)
            self.up[v].append(u)
        return chain

    def _hidden(self, rank: int) -> int:
        """A new hidden point in column ``rank``; its number."""
        for sizes in (self.width, self.height, self.above, self.below):
            sizes.append(0.0)
        self.up.append([])
        self.down.append([])
        self.rank.append(rank)
        return len(self.rank) - 1

    def columns(self) -> list[list[int]]:
        """The points of each column, in the order they are numbered."""
        columns: list[list[int]] = [[] for _ in range(max(self.rank, default=0) + 1)]
        for u, r in enumerate(self.rank):
            columns[r].append(u)
        return columns

    def gap(self, a: int, b: int) -> float:
        """The least distance between the centres of ``a`` and ``b`` (below it) in a column."""
        if self.height[a] == 0.0 and self.height[b] == 0.0:  # two hidden points
            return DUMMY_GAP
        return max((self.height[a] + self.height[b]) / 2 + NODE_GAP, self.below[a] + self.above[b] + 20.0)


def _points(
    nodes: Sequence[tuple[str, float, float]], edges: Sequence[tuple], pairs: list[tuple[int, int]]
) -> _Points:
    """The nodes' sizes, and the room that the labels of the edges leaving each one take."""
    n = len(nodes)
    points = _Points([w for _, w, _ in nodes], [h for _, _, h in nodes], [0.0] * n, [0.0] * n)
    points.up = [[] for _ in range(n)]
    points.down = [[] for _ in range(n)]
    for edge, (a, _) in zip(edges, pairs):
        if len(edge) == 6:
            points.above[a] = max(points.above[a], edge[4])
            points.below[a] = max(points.below[a], edge[5])
    return points


def _neighbours(n: int, pairs: list[tuple[int, int]]) -> tuple[list[list[int]], list[list[int]]]:
    """Each node's successors and predecessors, one entry per edge."""
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for a, b in pairs:
        succ[a].append(b)
        pred[b].append(a)
    return succ, pred


def _ranks(succ: list[list[int]], pred: list[list[int]]) -> list[int]:
    """Columns: longest path from the sources; then each source moves next to its first use."""
    rank = [0] * len(succ)
    for u in _topological(succ, pred):
        for v in succ[u]:
            if rank[v] < rank[u] + 1:
                rank[v] = rank[u] + 1
    for u, (before, after) in enumerate(zip(pred, succ)):
        if not before and after:
            rank[u] = min(rank[v] for v in after) - 1
    low = min(rank, default=0)
    return [r - low for r in rank]


def _topological(succ: list[list[int]], pred: list[list[int]]) -> list[int]:
    """The nodes, each after all its predecessors (Kahn's algorithm); ValueError on a cycle."""
    indegree = [len(p) for p in pred]
    queue = deque(u for u, d in enumerate(indegree) if d == 0)
    topo = []
    while queue:
        u = queue.popleft()
        topo.append(u)
        for v in succ[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                queue.append(v)
    if len(topo) != len(succ):
        raise ValueError("layered layout: the graph has a cycle")
    return topo


def _order(columns: list[list[int]], up: list[list[int]], down: list[list[int]]) -> list[list[int]]:
    """Each column's order from barycenter sweeps, down and up in turn: the one with the
    fewest crossings seen."""
    order = [list(c) for c in columns]
    best = [list(c) for c in order]
    best_count = _total_crossings(order, down)
    for sweep in range(SWEEPS):
        if best_count == 0:
            break
        if sweep % 2 == 0:
            for r in range(1, len(order)):
                _sort_by_barycenter(order[r], order[r - 1], up)
        else:
            for r in range(len(order) - 2, -1, -1):
                _sort_by_barycenter(order[r], order[r + 1], down)
        count = _total_crossings(order, down)
        if count < best_count:
            best, best_count = [list(c) for c in order], count
    return best


def _sort_by_barycenter(column: list[int], fixed: list[int], neighbours: list[list[int]]) -> None:
    """Sort ``column`` by the mean position of each point's neighbours in the ``fixed`` column
    (a point with none keeps its place as its key)."""
    fixed_pos = {u: i for i, u in enumerate(fixed)}
    keys = {}
    for i, u in enumerate(column):
        ps = [fixed_pos[v] for v in neighbours[u]]
        keys[u] = sum(ps) / len(ps) if ps else i
    column.sort(key=lambda u: keys[u])


def _total_crossings(order: list[list[int]], down: list[list[int]]) -> int:
    return sum(_crossings(order[r], order[r + 1], down) for r in range(len(order) - 1))


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


def _label_positions(
    pairs: list[tuple[int, int]], succ: list[list[int]], pred: list[list[int]]
) -> list[float]:
    """Where along its first segment each edge's label sits: near the end that is alone, so
    the labels of edges meeting at one node stay apart (0.5: the middle)."""
    at = []
    for a, b in pairs:
        many_out, many_in = len(succ[a]) > 1, len(pred[b]) > 1
        at.append(0.25 if many_in and not many_out else 0.75 if many_out and not many_in else 0.5)
    return at


def _column_xs(
    order: list[list[int]],
    points: _Points,
    label_widths: list[float],
    chains: list[list[int]],
    at: list[float],
) -> list[float]:
    """Column centres, the gaps wide enough for the labels of the edges leaving each column."""
    column_width = [max((points.width[u] for u in column), default=0.0) for column in order]
    room = [MIN_COLUMN_GAP] * len(order)
    for label_width, chain, t in zip(label_widths, chains, at):
        fraction = _bezier_x(t)  # the share of the gap left of the label's centre
        r = points.rank[chain[0]]
        room[r] = max(room[r], (label_width / 2 + 10.0) / min(fraction, 1 - fraction))
    xs = []
    x = MARGIN + (column_width[0] if column_width else 0.0) / 2
    for r in range(len(order)):
        if r:
            x += column_width[r - 1] / 2 + room[r - 1] + column_width[r] / 2
        xs.append(x)
    return xs


def _heights(order: list[list[int]], points: _Points) -> list[float]:
    """Heights that pull each point towards its neighbours, keeping each column's order and gaps."""
    ys = [0.0] * len(points.height)
    for column in order:
        y = 0.0
        for i, u in enumerate(column):
            if i:
                y += points.gap(column[i - 1], u)
            ys[u] = y
    for sweep in range(2 * SWEEPS):
        ranks = range(len(order)) if sweep % 2 == 0 else range(len(order) - 1, -1, -1)
        for r in ranks:
            column = order[r]
            wanted = []
            for u in column:
                near = points.up[u] + points.down[u]
                wanted.append(sum(ys[v] for v in near) / len(near) if near else ys[u])
            gaps = [points.gap(column[i - 1], column[i]) for i in range(1, len(column))]
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


def _from_top(ys: list[float], height: list[float]) -> list[float]:
    """Heights moved down so that the top of the drawing is at the margin."""
    top = min((y - h / 2 for y, h in zip(ys, height)), default=0.0)
    shift = MARGIN + TOP_LABEL - top
    return [y + shift for y in ys]


def _routes(
    edge_ids: list[str], chains: list[list[int]], at: list[float], centres: list[Point], width: list[float]
) -> tuple[dict[str, list[Point]], dict[str, Point]]:
    """Each edge's polyline, border to border through its hidden points, and its label anchor."""
    routes: dict[str, list[Point]] = {}
    anchors: dict[str, Point] = {}
    parallel: dict[tuple[int, int], int] = {}
    for edge_id, chain, t in zip(edge_ids, chains, at):
        a, b = chain[0], chain[-1]
        k = parallel.get((a, b), 0)
        parallel[(a, b)] = k + 1
        (xa, ya), (xb, yb) = centres[a], centres[b]
        points = [(xa + width[a] / 2, ya), *(centres[u] for u in chain[1:-1]), (xb - width[b] / 2, yb)]
        if k and len(points) == 2:  # a second edge between the same nodes bows away from the first
            (x0, y0), (x1, y1) = points
            bow = 22.0 * ((k + 1) // 2) * (1 if k % 2 else -1)
            points.insert(1, ((x0 + x1) / 2, (y0 + y1) / 2 + bow))
        routes[edge_id] = points
        anchors[edge_id] = points[1] if k and len(chain) == 2 else bezier(points[0], points[1], t)
    return routes, anchors


def _extent(centres: list[Point], points: _Points) -> tuple[float, float]:
    """The drawing's width and height: every point inside, with the margins."""
    right = max((x + w / 2 for (x, _), w in zip(centres, points.width)), default=0.0)
    bottom = max((y + h / 2 for (_, y), h in zip(centres, points.height)), default=0.0)
    return right + MARGIN, bottom + MARGIN + TOP_LABEL


def bezier(p0: Point, p1: Point, t: float) -> Point:
    """The point at ``t`` on the curve drawn from p0 to p1: a cubic leaving and entering level."""
    (x0, y0), (x1, y1) = p0, p1
    return x0 + (x1 - x0) * _bezier_x(t), y0 + (y1 - y0) * t * t * (3 - 2 * t)


def _bezier_x(t: float) -> float:
    # control points halfway across, at the heights of the ends
    return 1.5 * t * (1 - t) + t**3
