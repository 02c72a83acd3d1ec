"""Edit distance between architectures and the kernel the Bayesian optimiser uses.

d(g1, g2) = D_layers + LAMBDA * D_skips, where D_layers aligns the two main chains of
Conv2D / Dense / pooling layers (insert or delete: 1, substitute: the layer distance) and
D_skips optimally matches the two sets of skip connections (Hungarian assignment) plus the
difference in their numbers. The GP does not use exp(-rho * d^2) of it, which is not positive
definite in general: it embeds the distances first (``kerasauto.engine.gp``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from kerasauto.graph import Graph

LAMBDA = 1.0
_CHAIN_KINDS = ("Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D",
                "Conv1D", "SeparableConv1D", "MaxPooling1D")
LayerKey = tuple[str, float, float, float]


def _as_number(value) -> float:
    return float(value[0] if isinstance(value, (list, tuple)) else value)


def main_chain(graph: Graph) -> list[LayerKey]:
    """(kind, width, kernel size, stride) of each main-chain layer in topological order."""
    chain = []
    for spec in graph.layers:
        if spec.role != "body" or spec.kind not in _CHAIN_KINDS:
            continue
        config = spec.config
        width = config.get("filters", config.get("units", 0))
        size = config.get("kernel_size", config.get("pool_size", 1))
        stride = config.get("strides") or (size if "pool_size" in config else 1)
        chain.append((spec.kind, float(width), _as_number(size), _as_number(stride)))
    return chain


def skip_positions(graph: Graph) -> list[tuple[float, float, str]]:
    """(start position in the main chain, span, kind) of each skip connection."""
    body = [s.name for s in graph.layers if s.role == "body" and s.kind in _CHAIN_KINDS]

    def position(node: str) -> int:
        ancestors = graph.ancestors(node) | {node}
        return sum(1 for name in body if name in ancestors)

    result = []
    for skip in graph.skips:
        start, end = position(skip["from"]), position(skip["to"])
        result.append((float(start), float(end - start), skip["kind"]))
    return result


def layer_distance(a: LayerKey, b: LayerKey) -> float:
    """1 for different kinds; else the mean relative difference of width, kernel and stride."""
    return float(_substitution_costs(_encode([a]), _encode([b]))[0, 0])


def _encode(chain: Sequence[LayerKey]) -> tuple[np.ndarray, np.ndarray]:
    """A chain as (kind codes, attribute matrix) for vectorised distances."""
    kinds = np.array([_CHAIN_KINDS.index(k[0]) for k in chain], dtype=int)
    attributes = np.array([k[1:] for k in chain], dtype=float).reshape(len(chain), 3)
    return kinds, attributes


def _substitution_costs(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    kinds_a, attrs_a = a
    kinds_b, attrs_b = b
    high = np.maximum(attrs_a[:, None, :], attrs_b[None, :, :])
    valid = high > 0
    relative = np.where(valid, np.abs(attrs_a[:, None, :] - attrs_b[None, :, :]) / np.where(valid, high, 1), 0)
    same_kind_cost = relative.sum(-1) / np.maximum(valid.sum(-1), 1)
    return np.where(kinds_a[:, None] == kinds_b[None, :], same_kind_cost, 1.0)


def _chain_distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Levenshtein alignment cost; each DP row is computed at once with a running minimum."""
    n, m = len(a[0]), len(b[0])
    if n == 0 or m == 0:
        return float(n + m)
    costs = _substitution_costs(a, b)
    steps = np.arange(m + 1, dtype=float)
    row = steps.copy()
    for i in range(1, n + 1):
        candidate = np.empty(m + 1)
        candidate[0] = i
        candidate[1:] = np.minimum(row[1:] + 1, row[:-1] + costs[i - 1])
        row = np.minimum.accumulate(candidate - steps) + steps
    return float(row[m])


def _skip_distance(s1, s2) -> float:
    if not s1 or not s2:
        return float(len(s1) + len(s2))
    cost = np.array([[abs(a[0] - b[0]) + abs(a[1] - b[1]) + (a[2] != b[2]) for b in s2]
                     for a in s1])
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum() + abs(len(s1) - len(s2)))


class ArchitectureSummary:
    """What the distance needs of a graph, computed once."""

    __slots__ = ("chain", "skips")

    def __init__(self, graph: Graph):
        self.chain = _encode(main_chain(graph))
        self.skips = skip_positions(graph)


def _summary(g: Graph | ArchitectureSummary) -> ArchitectureSummary:
    return g if isinstance(g, ArchitectureSummary) else ArchitectureSummary(g)


def edit_distance(g1: Graph | ArchitectureSummary, g2: Graph | ArchitectureSummary) -> float:
    """The edit distance between two architectures (0 for equal ones, symmetric)."""
    a, b = _summary(g1), _summary(g2)
    return _chain_distance(a.chain, b.chain) + LAMBDA * _skip_distance(a.skips, b.skips)


def distance_matrix(rows: Sequence, cols: Sequence | None = None) -> np.ndarray:
    """Pairwise edit distances between graphs (or summaries)."""
    rows = [_summary(g) for g in rows]
    cols = rows if cols is None else [_summary(g) for g in cols]
    return np.array([[edit_distance(a, b) for b in cols] for a in rows], dtype=float)
