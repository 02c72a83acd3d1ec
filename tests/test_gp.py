"""The Bayesian optimiser: a valid kernel, honest uncertainty, training kept apart from the
architecture, and an acquisition that picks better children than chance."""
import numpy as np
import pytest

from kerasauto import generators, kernel, morphism
from kerasauto.engine import gp as gp_module
from kerasauto.engine.acquisition import tree_search
from kerasauto.engine.gp import ArchitectureGP
from kerasauto.graph import Graph
from kerasauto.kernel import ArchitectureSummary


def _random_architectures(count: int, seed: int, shape=(16, 16, 1)) -> list[Graph]:
    rng = np.random.default_rng(seed)
    graphs = [generators.cnn(shape, 10)]
    while len(graphs) < count:
        graphs += morphism.neighbours(graphs[int(rng.integers(len(graphs)))], rng, 1)
    return graphs


def conv_width(graph: Graph) -> float:
    """A known objective: the more convolution filters in the body, the better."""
    return float(np.log(sum(s.config["filters"] for s in graph.layers
                            if s.kind == "Conv2D" and s.role == "body")))


def test_the_embedded_kernel_is_positive_semidefinite_where_exp_of_d2_is_not():
    graphs = _random_architectures(30, seed=4)
    distances = kernel.distance_matrix(graphs)
    points = gp_module.embed(distances, gp_module.bourgain_subsets(len(graphs),
                                                                  np.random.default_rng(0)))
    for length_scale in (0.1, 0.5, 1.0, 3.0):
        squared = gp_module._squared_distances(points, points)
        matrix = np.exp(-squared / (2 * length_scale ** 2))
        assert np.linalg.eigvalsh(matrix).min() > -1e-9
    # The edit distance itself is not Euclidean: some rho makes exp(-rho d^2) indefinite here.
    worst = min(np.linalg.eigvalsh(np.exp(-rho * distances ** 2)).min()
                for rho in (0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0))
    assert worst < -1e-6


def test_an_unseen_architecture_is_uncertain_and_a_trained_one_is_not():
    graphs = _random_architectures(16, seed=1)
    scores = [conv_width(g) for g in graphs]
    gp = ArchitectureGP().fit(graphs[:12], scores[:12])
    _, std_trained = gp.predict(graphs[:12])
    far = generators.mlp((16, 16, 1), 10, layers=4)  # nothing like the CNNs it was fitted on
    _, std_far = gp.predict([far])
    assert std_far[0] > 0.5 * np.std(scores[:12])
    assert std_far[0] > 2 * std_trained.max()


def test_scores_explained_by_training_are_not_credited_to_the_architecture():
    """Along a lineage each trial is scored after more training; with that training as an input
    the GP predicts the first and the last architecture alike at equal training."""
    graphs = _random_architectures(8, seed=2)
    lineage = [graphs[0]]
    rng = np.random.default_rng(5)
    while len(lineage) < 8:
        lineage += morphism.neighbours(lineage[-1], rng, 1)
    training = 3.0 * np.arange(1, 9)
    scores = 0.80 + 0.01 * training  # the architecture does not matter at all
    aware = ArchitectureGP().fit(lineage, scores, training)
    blind = ArchitectureGP().fit(lineage, scores)
    first_last = [lineage[0], lineage[-1]]
    aware_mean, _ = aware.predict(first_last, training=24.0)
    blind_mean, _ = blind.predict(first_last)
    assert blind_mean[1] - blind_mean[0] > 0.1  # credited to the architecture
    assert abs(aware_mean[1] - aware_mean[0]) < 0.3 * (blind_mean[1] - blind_mean[0])


def test_fit_refuses_mismatched_inputs():
    graphs = _random_architectures(3, seed=0)
    with pytest.raises(ValueError, match="scores"):
        ArchitectureGP().fit(graphs, [0.1, 0.2])
    with pytest.raises(ValueError, match="training"):
        ArchitectureGP().fit(graphs, [0.1, 0.2, 0.3], training=[1.0, -1.0, 2.0])


def test_the_acquisition_picks_better_children_than_a_random_choice_among_them():
    """On an objective whose answer is known (more filters is better), the proposal beats the
    average of the very candidates it chose from, in nearly every repetition; a random pick
    lands in the top half of them half the time (12 or more of 16 by chance: ~4 %)."""
    gains, in_top_half = [], 0
    for repetition in range(16):
        trained = _random_architectures(10, seed=100 + repetition)
        scores = [conv_width(g) for g in trained]
        gp = ArchitectureGP().fit(trained, scores)
        best = int(np.argmax(scores))
        rng = np.random.default_rng(repetition)
        keys = {g.architecture_key() for g in trained}
        found = tree_search([(trained[best], "root")], gp, [], keys, rng, count=10_000)
        values = np.array([conv_width(c.graph) for c in found])
        assert len(values) >= 10
        gains.append(values[0] - values.mean())
        in_top_half += values[0] >= np.median(values)
    assert np.mean(gains) > 0.05, gains
    assert in_top_half >= 12, gains
