"""A lineage graph laid out for an SVG drawn on the server: no script, readable without one.

Nodes are placed in columns by their longest path from a root (what is read
sits left of what it is written into), sorted by name within a column; each
edge is a curve from the right side of what is read to the left side of what
is written. The template draws the boxes as links, so following the lineage
upstream or downstream is a click (and a Tab key) away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from weir.governance.catalog import LineageGraph

BOX_W, BOX_H = 250, 40
GAP_X, GAP_Y = 70, 14
MARGIN = 10
MAX_LABEL = 34  # characters of a box's line before it is cut (the full name is its title)


@dataclass(frozen=True)
class Box:
    name: str  # layer.table or layer.table.column
    table: str
    column: str | None
    x: int
    y: int
    focus: bool
    href: str

    @property
    def top_line(self) -> str:
        return _cut(self.table)

    @property
    def bottom_line(self) -> str:
        return _cut(self.column) if self.column else ""


@dataclass(frozen=True)
class Wire:
    source: str
    target: str
    d: str  # the SVG path


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    boxes: tuple[Box, ...]
    wires: tuple[Wire, ...]
    box_w: int = BOX_W
    box_h: int = BOX_H


def draw(graph: LineageGraph, href: Callable[[str], str]) -> Drawing:
    """The graph laid out left (read) to right (written); ``href`` links each node."""
    level = _levels(graph)
    columns: dict[int, list[str]] = {}
    for node in sorted(graph.nodes):
        columns.setdefault(level[node], []).append(node)
    place: dict[str, tuple[int, int]] = {}
    tallest = max((len(names) for names in columns.values()), default=1)
    for index, column in enumerate(sorted(columns)):
        names = columns[column]
        offset = (tallest - len(names)) * (BOX_H + GAP_Y) // 2  # centred in the column
        for row, name in enumerate(names):
            place[name] = (
                MARGIN + index * (BOX_W + GAP_X),
                MARGIN + offset + row * (BOX_H + GAP_Y),
            )
    boxes = []
    for name in sorted(graph.nodes):
        parts = name.split(".")
        x, y = place[name]
        boxes.append(
            Box(
                name,
                ".".join(parts[:2]),
                ".".join(parts[2:]) or None,
                x,
                y,
                name == graph.focus,
                href(name),
            )
        )
    wires = []
    for source, target in graph.edges:
        (x1, y1), (x2, y2) = place[source], place[target]
        x1, y1, y2 = x1 + BOX_W, y1 + BOX_H // 2, y2 + BOX_H // 2
        bend = max((x2 - x1) // 2, 20)
        path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
        wires.append(Wire(source, target, path))
    width = 2 * MARGIN + len(columns) * BOX_W + max(len(columns) - 1, 0) * GAP_X
    height = 2 * MARGIN + tallest * BOX_H + max(tallest - 1, 0) * GAP_Y
    return Drawing(width, height, tuple(boxes), tuple(wires))


def _levels(graph: LineageGraph) -> dict[str, int]:
    """Each node's longest path from a node nothing feeds (the graph has no cycle)."""
    before: dict[str, list[str]] = {node: [] for node in graph.nodes}
    for source, target in graph.edges:
        before[target].append(source)
    level: dict[str, int] = {}

    def of(node: str, seen: frozenset[str]) -> int:
        if node not in level:
            inputs = [n for n in before[node] if n not in seen]  # a cycle would stop here
            level[node] = 1 + max((of(n, seen | {node}) for n in inputs), default=-1)
        return level[node]

    for node in graph.nodes:
        of(node, frozenset())
    return level


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"
