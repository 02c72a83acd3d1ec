import numpy as np
import pytest

from kerasauto import generators, morphism
from kerasauto.calibration import calibrate_batchnorms
from kerasauto.graph import Graph

PRE = [{"kind": "Rescaling", "scale": 1 / 255}]
GENERATORS = {"cnn": generators.cnn, "resnet": generators.resnet, "mlp": generators.mlp}
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def trained_parents(digits):
    """Each seed architecture trained for one epoch on real data (BN statistics have moved)."""
    x, y = digits
    parents = {}
    for name, generator in GENERATORS.items():
        graph = generator((8, 8, 1), 10, preprocessing=PRE)
        model = graph.build()
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        graph.update_weights(model)
        parents[name] = graph
    return parents


def _materialise(graph, x):
    """Build the child, calibrate its fresh BatchNorms on data, return (model, graph)."""
    model = graph.build()
    calibrate_batchnorms(model, graph.fresh_batchnorms, x[:256])
    graph.fresh_batchnorms = []
    graph.update_weights(model)
    return model


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("op", morphism.MORPHISMS)
def test_single_morph_preserves_function(trained_parents, digits, name, op):
    x, y = digits
    parent = trained_parents[name]
    if not morphism.candidates(parent, op):
        pytest.skip(f"{op} has no target in {name}")
    child = morphism.apply(parent, op, np.random.default_rng(0))
    assert child.architecture_key() != parent.architecture_key()
    model = _materialise(child, x)
    expected = parent.build().predict(x[:200], verbose=0)
    assert np.abs(model.predict(x[:200], verbose=0) - expected).max() <= TOLERANCE
    # The child trains, and its architecture survives JSON.
    model.compile("adam", "sparse_categorical_crossentropy")
    model.train_on_batch(x[:32], y[:32])
    assert Graph.from_json(child.to_json()).to_json() == child.to_json()


@pytest.mark.parametrize("name", GENERATORS)
def test_chain_of_twenty_morphs_preserves_function(trained_parents, digits, name):
    x, y = digits
    rng = np.random.default_rng(1)
    graph = trained_parents[name]
    expected = graph.build().predict(x[:200], verbose=0)
    applied = []
    while len(applied) < 20:
        op = morphism.MORPHISMS[int(rng.integers(4))]
        try:
            graph = morphism.apply(graph, op, rng)
        except ValueError:
            continue
        applied.append(graph.last_op)
    model = _materialise(graph, x)
    assert model.count_params() == graph.num_params()
    assert np.abs(model.predict(x[:200], verbose=0) - expected).max() <= TOLERANCE
    model.compile("adam", "sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x[:32], y[:32]))
    assert Graph.from_json(graph.to_json()).to_json() == graph.to_json()
    assert {op["op"] for op in applied} == set(morphism.MORPHISMS)


def test_replaying_ops_gives_the_same_child(trained_parents):
    parent = trained_parents["cnn"]
    rng = np.random.default_rng(2)
    child, ops = parent, []
    for op in ("wider", "deeper", "skip_concat", "wider"):
        child = morphism.apply(child, op, rng)
        ops.append(child.last_op)
    again = morphism.replay(parent, ops)
    assert again.to_json() == child.to_json()
    for name, values in child.weights.items():
        for a, b in zip(values, again.weights[name]):
            np.testing.assert_array_equal(a, b)


def test_neighbours_respect_limits_and_are_distinct(trained_parents):
    parent = trained_parents["cnn"].drop_weights()
    limits = morphism.Limits(max_params=parent.num_params() * 2, max_depth=6)
    children = morphism.neighbours(parent, np.random.default_rng(3), 12, limits)
    assert children
    keys = {c.architecture_key() for c in children}
    assert len(keys) == len(children)
    for child in children:
        assert child.num_params() <= limits.max_params
        assert child.depth() <= limits.max_depth
        assert child.last_op["op"] in morphism.MORPHISMS


def test_multiply_adds_count_convolutions_and_dense_layers():
    graph = generators.cnn((28, 28, 1), 10)  # 32-64-128 filters, 3x3, pooling after each block
    expected = (28 * 28 * 9 * 1 * 32) + (14 * 14 * 9 * 32 * 64) + (7 * 7 * 9 * 64 * 128) + 128 * 10
    assert graph.multiply_adds() == expected


def test_neighbours_respect_a_cost_limit(trained_parents):
    """A tight cost limit leaves only cheap morphs (skip connections with small projections)."""
    parent = trained_parents["cnn"].drop_weights()
    limit = 1.1 * parent.multiply_adds()
    children = morphism.neighbours(parent, np.random.default_rng(0), 12,
                                   morphism.Limits(max_multiply_adds=limit))
    assert children, "cheap morphs must stay possible"
    assert all(c.multiply_adds() <= limit for c in children)
    unlimited = morphism.neighbours(parent, np.random.default_rng(0), 12)
    assert any(c.multiply_adds() > limit for c in unlimited)


def test_apply_rejects_unknown_ops(trained_parents):
    with pytest.raises(ValueError, match="op must be one of"):
        morphism.apply(trained_parents["cnn"], "shallower")


# ---------------------------------------------------------------------- text models
def _text_corpus():
    import os

    path = os.path.join(os.path.dirname(__file__), "data", "english_topics.tsv")
    with open(path, encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    texts = np.array([text for _, text in rows], dtype=object)
    labels = np.unique([label for label, _ in rows], return_inverse=True)[1]
    return texts, labels


@pytest.fixture(scope="module")
def trained_text_parents():
    """The two text seeds (n-gram MLP, separable CNN on tokens) trained for a few epochs."""
    from kerasauto import text_preprocessing

    texts, labels = _text_corpus()
    parents = {}
    for model_kind in ("ngram", "sequence"):
        spec = text_preprocessing.vectorizer_spec(texts, model=model_kind)
        graph = generators.text_seed([spec], 3)
        model = graph.build()
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(texts, labels, epochs=3, batch_size=32, verbose=0)
        graph.update_weights(model)
        parents[model_kind] = graph
    return parents, texts, labels


@pytest.mark.parametrize("name", ["ngram", "sequence"])
@pytest.mark.parametrize("op", morphism.MORPHISMS)
def test_text_morph_preserves_function(trained_text_parents, name, op):
    parents, texts, labels = trained_text_parents
    parent = parents[name]
    if not morphism.candidates(parent, op):
        pytest.skip(f"{op} has no target in the {name} text seed")
    child = morphism.apply(parent, op, np.random.default_rng(0))
    assert child.architecture_key() != parent.architecture_key()
    assert child.input_dtype == "string"
    model = _materialise(child, texts)
    assert model.count_params() == child.num_params()
    expected = parent.build().predict(texts, verbose=0)
    assert np.abs(model.predict(texts, verbose=0) - expected).max() <= TOLERANCE
    model.compile("adam", "sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(texts[:32], labels[:32]))
    assert Graph.from_json(child.to_json()).to_json() == child.to_json()


def test_sequence_model_morphs_reach_its_convolutions(trained_text_parents):
    """On the separable CNN every morph applies; widening a separable convolution that feeds
    another one, then a chain of morphs, preserves the function."""
    parents, texts, labels = trained_text_parents
    graph = parents["sequence"]
    assert all(morphism.candidates(graph, op) for op in morphism.MORPHISMS)
    expected = graph.build().predict(texts, verbose=0)
    first = next(s for s in graph.layers if s.kind == "SeparableConv1D")
    graph = morphism.apply(graph, {"op": "wider", "layer": first.name, "extra": 8, "seed": 1})
    rng = np.random.default_rng(3)
    applied = []
    while len(applied) < 6:
        try:
            graph = morphism.apply(graph, morphism.MORPHISMS[len(applied) % 4], rng)
        except ValueError:
            continue
        applied.append(graph.last_op)
    model = _materialise(graph, texts)
    assert model.get_layer(first.name).filters >= first.config["filters"] + 8
    assert np.abs(model.predict(texts, verbose=0) - expected).max() <= TOLERANCE
