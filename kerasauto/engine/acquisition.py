"""Tree-structured acquisition search: simulated annealing over sequences of morphs.

Starting from the trained architectures, repeatedly pop the most promising architecture, expand
it with its morph neighbours, and keep (by the annealing rule) those worth expanding further,
so sequences of several morphs arise. Returns the unseen architectures with the best UCB (as many
as asked for, distinct), each with the trained root it descends from and the ops to replay on
the root's weights. Candidates are valued at the training they will have received when scored.
"""
from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from kerasauto import morphism
from kerasauto.engine.gp import ArchitectureGP
from kerasauto.graph import Graph
from kerasauto.kernel import ArchitectureSummary, distance_matrix

BETA = 2.5
DUPLICATE_DISTANCE = 1e-6


@dataclass
class Candidate:
    """An architecture reachable from trained trial ``root`` by replaying ``ops``."""

    graph: Graph
    root: str
    ops: list[dict] = field(default_factory=list)
    acquisition: float = -math.inf


@dataclass(frozen=True)
class AnnealingSchedule:
    t_start: float = 1.0
    t_min: float = 1e-4
    cooling: float = 0.9
    branching: int = 6
    max_evaluations: int = 240
    #: Longest morph sequence proposed from one trained architecture: children stay close to
    #: weights that were actually trained, and the GP is not lured far away by its own uncertainty.
    max_ops: int = 3


def _ucb(gp: ArchitectureGP, distances: np.ndarray, beta: float,
         training: float | None) -> np.ndarray:
    mean, std = gp.predict(distances=distances, training=training)
    return mean + beta * std


def tree_search(roots: Sequence[tuple[Graph, str]], gp: ArchitectureGP,
                known: Sequence[ArchitectureSummary], known_keys: set[str],
                rng: np.random.Generator, limits: morphism.Limits = morphism.Limits(),
                beta: float = BETA, schedule: AnnealingSchedule = AnnealingSchedule(),
                count: int = 1, training: float | None = None) -> list[Candidate]:
    """The ``count`` best unseen candidates by UCB, best first (fewer, or none, when fewer new
    architectures are reachable).

    ``known`` lists the architectures already tried or running besides the GP's training set;
    a candidate within edit distance ~0 of any of them is a duplicate and never proposed.
    ``training``: the epochs a candidate will have been trained when it is scored.
    """
    order = itertools.count()
    scale = max(gp.score_scale, 1e-9)
    reference_set = gp.training_summaries + list(known)
    n_train = len(gp.training_summaries)
    root_distances = distance_matrix([ArchitectureSummary(g) for g, _ in roots],
                                     gp.training_summaries)
    queue: list = []
    for (graph, trial_id), value in zip(roots, _ucb(gp, root_distances, beta, training)):
        heapq.heappush(queue, (-value, next(order), Candidate(graph, trial_id, [], value)))
    found: list[Candidate] = []
    best: Candidate | None = None
    seen = set(known_keys)
    temperature, evaluations = schedule.t_start, 0
    while queue and temperature > schedule.t_min and evaluations < schedule.max_evaluations:
        temperature *= schedule.cooling
        _, _, parent = heapq.heappop(queue)
        children = [c for c in morphism.neighbours(parent.graph, rng, schedule.branching, limits)
                    if c.architecture_key() not in seen]
        if not children:
            continue
        distances = distance_matrix([ArchitectureSummary(c) for c in children], reference_set)
        evaluations += len(children)
        values = _ucb(gp, distances[:, :n_train], beta, training)
        for child, row, value in zip(children, distances, values):
            seen.add(child.architecture_key())
            if row.min() < DUPLICATE_DISTANCE:
                continue
            candidate = Candidate(child, parent.root, parent.ops + [child.last_op], float(value))
            found.append(candidate)
            reference = best.acquisition if best else -math.inf
            expandable = len(candidate.ops) < schedule.max_ops
            if expandable and (value > reference or
                               rng.random() < math.exp((value - reference) / scale / temperature)):
                heapq.heappush(queue, (-value, next(order), candidate))
            if value > reference:
                best = candidate
    found.sort(key=lambda c: -c.acquisition)  # stable: ties keep the order they were found in
    return found[:count]
