"""Graph.from_keras: a user's built Keras model (keras.applications included) as a graph."""
import json
import os

import keras
import numpy as np
import pytest

from kerasauto import Graph
from kerasauto.graph import INPUT

APPLICATIONS = {  # the smallest input each accepts; weights=None builds offline
    "Xception": 71, "ResNet50": 32, "ResNet50V2": 32, "MobileNetV2": 32, "DenseNet121": 32,
    "EfficientNetB0": 32,
}
#: Xception (the user's named baseline) and one inverted-residual family by default; every
#: application with KERASAUTO_LONG_TESTS=1 (each costs 8-10 s on 2 cores).
DEFAULT_APPLICATIONS = ("MobileNetV2", "Xception")
TESTED_APPLICATIONS = (sorted(APPLICATIONS) if os.environ.get("KERASAUTO_LONG_TESTS")
                       else DEFAULT_APPLICATIONS)


def _same_function(model, graph, side_shape):
    x = np.random.default_rng(0).uniform(0, 255, (3, *side_shape)).astype("float32")
    np.testing.assert_allclose(graph.build().predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", TESTED_APPLICATIONS)
def test_keras_applications_import_with_their_weights(name):
    side = APPLICATIONS[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(side, side, 3), classes=7)
    graph = Graph.from_keras(model)
    assert graph.num_params() == model.count_params()
    shapes = graph.shapes()
    for layer in model.layers[1:]:
        assert shapes[layer.name] == tuple(layer.output.shape[1:]), layer.name
    # The architecture survives its JSON form (configs are plain JSON), the weights travel apart.
    again = Graph.from_json(json.dumps(json.loads(graph.to_json())))
    again.weights = graph.weights
    _same_function(model, again, (side, side, 3))


def test_a_sequential_model_imports_and_new_names_do_not_clash():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(4, 3, name="conv2d_1"),
                              keras.layers.Activation("relu"), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    graph = Graph.from_keras(model)
    assert [s.kind for s in graph.layers] == ["Rescaling", "Conv2D", "Activation", "Flatten",
                                             "Dense"]
    assert graph.layers[0].role == "preprocess" and graph.layers[1].inputs == [graph.layers[0].name]
    _same_function(model, graph, (8, 8, 1))
    assert graph.new_name("Conv2D") not in graph.names()


def test_layers_a_graph_cannot_express_are_refused_by_name():
    inputs = keras.Input((6,))
    hidden = keras.layers.LayerNormalization(name="my_norm")(keras.layers.Dense(4)(inputs))
    with pytest.raises(ValueError, match=r"'my_norm' \(LayerNormalization\)"):
        Graph.from_keras(keras.Model(inputs, keras.layers.Dense(2)(hidden)))
    shared = keras.layers.Dense(6, name="shared")
    twice = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match="'shared' .* called 2 times"):
        Graph.from_keras(twice)
    a, b = keras.Input((3,)), keras.Input((3,))
    with pytest.raises(ValueError, match="2 inputs"):
        Graph.from_keras(keras.Model([a, b], keras.layers.Add()([a, b])))
    with pytest.raises(TypeError, match="keras.Model"):
        Graph.from_keras("model.h5")


def test_an_imported_graph_feeds_its_input_node():
    inputs = keras.Input((5,), name="pixels")
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
    graph = Graph.from_keras(model)
    assert graph.layers[0].inputs == [INPUT] and graph.output == "head"


def test_an_imported_model_writing_activation_relu_is_morphed_by_every_kind(digits_float):
    """A user's model in the usual Keras style (fused and separate ReLUs, no ReLU layers) gets
    children of every morph kind, each computing what the trained model computes."""
    from kerasauto import morphism

    x, y = digits_float
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(8, 3, padding="same"), keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, padding="same"), keras.layers.Activation("relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:256], y[:256], epochs=1, verbose=0)
    graph = Graph.from_keras(model)
    expected = model.predict(x[:64], verbose=0)
    rng = np.random.default_rng(0)
    for kind in morphism.MORPHISMS:
        options = morphism.candidates(graph, kind)
        assert options, kind
        assert all(graph.output not in (o.get("to"), o.get("after")) for o in options)
        child = morphism.apply(graph, kind, rng)
        np.testing.assert_allclose(child.build().predict(x[:64], verbose=0), expected,
                                   atol=1e-4, err_msg=kind)
