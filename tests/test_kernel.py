import numpy as np

from kerasauto import generators, kernel, morphism


def _chain(seed, steps):
    rng = np.random.default_rng(seed)
    graph = generators.cnn((28, 28, 1), 10)
    graphs = [graph]
    while len(graphs) <= steps:
        try:
            graph = morphism.apply(graph, morphism.MORPHISMS[int(rng.integers(4))], rng)
        except ValueError:
            continue
        graphs.append(graph)
    return graphs


def test_distance_is_zero_to_itself_and_symmetric():
    graphs = _chain(0, 6) + _chain(1, 6)
    d = kernel.distance_matrix(graphs)
    assert np.allclose(np.diag(d), 0)
    assert np.allclose(d, d.T)
    assert (d >= 0).all()


def test_one_morph_is_close_and_more_morphs_are_further():
    totals = np.zeros(8)
    for seed in range(6):
        graphs = _chain(seed, 7)
        totals += [kernel.edit_distance(graphs[0], g) for g in graphs]
    means = totals / 6
    assert 0 < means[1] <= 2.0
    assert means[7] > means[1]
    # d grows with the number of morphs on average (allowing noise between neighbours).
    assert np.corrcoef(np.arange(8), means)[0, 1] > 0.9


def test_different_widths_are_closer_than_different_kinds():
    conv = ("Conv2D", 32.0, 3.0, 1.0)
    assert kernel.layer_distance(conv, ("Conv2D", 64.0, 3.0, 1.0)) < 1.0
    assert kernel.layer_distance(conv, ("Dense", 32.0, 1.0, 1.0)) == 1.0
    # Dense widths count too (the original forgot them).
    assert kernel.layer_distance(("Dense", 64.0, 1.0, 1.0), ("Dense", 128.0, 1.0, 1.0)) > 0
