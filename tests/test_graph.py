import json

import numpy as np
import pytest

from kerasauto import generators
from kerasauto.graph import Graph

GENERATORS = [generators.cnn, generators.resnet, generators.mlp]


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_num_params_matches_keras(generator, shape):
    graph = generator(shape, 10)
    assert graph.num_params() == graph.build().count_params()


@pytest.mark.parametrize("generator", GENERATORS)
def test_json_round_trip_is_exact(generator):
    graph = generator((8, 8, 1), 10)
    text = graph.to_json()
    again = Graph.from_json(text)
    assert again.to_json() == text
    assert json.loads(text)["layers"][0]["kind"]  # human-readable JSON, not a blob


def test_regression_head_is_linear():
    graph = generators.cnn((8, 8, 1), 1, head="linear")
    assert graph.spec(graph.output).kind == "Dense"
    with pytest.raises(ValueError, match="head"):
        generators.cnn((8, 8, 1), 1, head="sigmoid")


def test_from_json_rejects_unknown_layer_kinds():
    data = json.loads(generators.mlp((4,), 2).to_json())
    data["layers"][0]["kind"] = "Lambda"
    with pytest.raises(ValueError, match="Lambda"):
        Graph.from_dict(data)


def test_weights_round_trip_through_keras(digits_float):
    x, _ = digits_float
    graph = generators.cnn((8, 8, 1), 10)
    model = graph.build()
    graph.update_weights(model)
    rebuilt = graph.build()
    np.testing.assert_allclose(model.predict(x[:32], verbose=0),
                               rebuilt.predict(x[:32], verbose=0), atol=1e-6)
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]


def test_seed_cnn_is_fast_enough_to_train_on_a_cpu():
    # Sized for 2 cores: well under a million parameters on 28x28 inputs.
    assert generators.cnn((28, 28, 1), 10).num_params() < 300_000
    # The default seed (two convolutions per block) costs what the hand-written CNN does.
    assert generators.cnn((28, 28, 1), 10, convs_per_block=2).num_params() < 310_000
    assert generators.resnet((28, 28, 1), 10).num_params() < 300_000


def _text_spec(output_mode):
    spec = {"kind": "TextVectorization", "standardize": "lower", "split": "whitespace",
            "output_mode": output_mode, "vocabulary": ["cat", "dog", "fish", "bird"]}
    if output_mode == "int":
        spec["output_sequence_length"] = 12
    else:
        spec.update(ngrams=2, idf_weights=[1.0, 1.5, 2.0, 2.5])
    return spec


@pytest.mark.parametrize("output_mode", ["int", "tf_idf"])
def test_text_graph_takes_strings_and_keeps_its_vocabulary(output_mode):
    graph = generators.text_seed([_text_spec(output_mode)], 3)
    assert graph.input_dtype == "string" and graph.input_shape == ()
    model = graph.build()
    assert model.inputs[0].dtype == "string"
    assert graph.num_params() == model.count_params()
    again = Graph.from_json(graph.to_json())
    assert again.input_dtype == "string" and again.to_json() == graph.to_json()
    vectorizer = again.build().get_layer(graph.layers[0].name)
    assert vectorizer.get_vocabulary(include_special_tokens=False) == ["cat", "dog", "fish", "bird"]
    out = model(np.array(["cat dog", "a bird"]))
    assert tuple(out.shape) == (2, 3)


def test_image_graph_json_is_unchanged_by_the_input_dtype():
    assert "input_dtype" not in json.loads(generators.cnn((8, 8, 1), 10).to_json())
