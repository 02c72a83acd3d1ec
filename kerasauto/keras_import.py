"""Import a built Keras model (functional or ``Sequential``, built-in layers) into a Graph.

The graph keeps the model's layer names, configs and weights, so ``graph.build()`` computes the
same function. Read from ``model.get_config()`` (the public description of the layer graph),
which names every layer's inputs. A layer the graph cannot express raises ``ValueError`` naming
it and its class, never a different model.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from kerasauto import layer_specs

#: Config entries dropped when they hold Keras' defaults: they only restate them.
_DEFAULT_ENTRIES = {"trainable": True, "dtype": "float32"}


def _json_safe(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and tuples turned into JSON types."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dtype_name(dtype: Any) -> Any:
    if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicy":
        return dtype.get("config", {}).get("name")
    return dtype


def _layer_config(entry: dict) -> dict:
    config = dict(entry["config"])
    config.pop("name", None)
    for key, default in _DEFAULT_ENTRIES.items():
        value = _dtype_name(config.get(key)) if key == "dtype" else config.get(key)
        if value == default:
            config.pop(key, None)
    return _json_safe(config)


def _history(tensor: Any) -> list[str]:
    """The names of the layers producing the tensors in a serialised call argument."""
    if isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__":
        return [tensor["config"]["keras_history"][0]]
    if isinstance(tensor, (list, tuple)):
        return [name for item in tensor for name in _history(item)]
    return []


def _inputs_of(entry: dict) -> list[str]:
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1:
        raise ValueError(f"Layer {entry['config'].get('name')!r} ({entry['class_name']}) is "
                         f"called {len(nodes)} times; a graph holds layers called once.")
    node = nodes[0]
    if isinstance(node, dict):
        extra = [k for k, v in (node.get("kwargs") or {}).items()
                 if v is not None and k not in ("training", "mask")]
        if extra:
            raise ValueError(f"Layer {entry['config'].get('name')!r} ({entry['class_name']}) "
                             f"is called with arguments {extra}, which a graph cannot express.")
        return _history(node.get("args", []))
    return _history(node)  # an older list format


def _entries(model) -> tuple[list[dict], str, str, tuple[int, ...]]:
    """(layer entries with their input names, input layer name, output layer name, shape)."""
    import keras

    config = model.get_config()
    layers = config.get("layers") or []
    if isinstance(model, keras.Sequential):
        if not layers or layers[0]["class_name"] != "InputLayer":
            raise ValueError("model must be built with a known input shape (keras.Input(...) "
                             "first) to be imported.")
        chained, previous = [], layers[0]["config"]["name"]
        for entry in layers[1:]:
            chained.append({**entry, "inputs": [previous]})
            previous = entry["config"]["name"]
        input_name, output_name, body = layers[0]["config"]["name"], previous, chained
        input_entry = layers[0]
    else:
        inputs, outputs = config["input_layers"], config["output_layers"]
        if inputs and isinstance(inputs[0], list):  # [[name, node, index], ...]
            if len(inputs) != 1:
                raise ValueError(f"model has {len(inputs)} inputs; a graph has one.")
            inputs = inputs[0]
        if len(model.outputs) != 1:
            raise ValueError(f"model has {len(model.outputs)} outputs; a graph has one.")
        outputs = outputs[0] if isinstance(outputs[0], list) else outputs
        input_name, output_name = inputs[0], outputs[0]
        input_entry = next(e for e in layers if e["config"]["name"] == input_name)
        body = [{**e, "inputs": _inputs_of(e)} for e in layers if e["class_name"] != "InputLayer"]
    shape = input_entry["config"].get("batch_shape") or input_entry["config"].get("batch_input_shape")
    if shape is None or any(d is None for d in shape[1:]):
        raise ValueError(f"model's input shape {shape} must be fully known (no None besides "
                         "the batch axis) to be imported.")
    return body, input_name, output_name, tuple(int(d) for d in shape[1:])


def graph_from_keras(model, graph_cls):
    """A ``graph_cls`` (Graph) with ``model``'s layers, configs and weights."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}.")
    body, input_name, output_name, shape = _entries(model)
    graph = graph_cls(input_shape=shape, name=model.name)
    renamed = {input_name: "input"}
    for entry in body:
        kind, name = entry["class_name"], entry["config"]["name"]
        if kind not in layer_specs.ALLOWED_KINDS or entry.get("module", "keras.layers") != "keras.layers":
            raise ValueError(f"Layer {name!r} ({kind}) cannot be expressed in a kerasauto graph; "
                             f"supported kinds: {', '.join(sorted(layer_specs.ALLOWED_KINDS))}.")
        if name == "input":
            raise ValueError("A layer named 'input' clashes with the graph's input node; "
                             "rename it before importing.")
        inputs = [renamed.get(i, i) for i in entry["inputs"]]
        kind_rules = layer_specs.KINDS[kind]
        if not kind_rules.merge and len(inputs) != 1:
            raise ValueError(f"Layer {name!r} ({kind}) has {len(inputs)} inputs; expected one.")
        role = "preprocess" if kind_rules.preprocessing and all(
            i == "input" or graph.spec(i).role == "preprocess" for i in inputs) else "body"
        graph.add(kind, inputs, role=role, name=name, **_layer_config(entry))
        weights = model.get_layer(name).get_weights()
        if weights:
            graph.weights[name] = [np.asarray(w) for w in weights]
    graph.output = renamed.get(output_name, output_name)
    graph.shapes()  # every shape rule agrees with the model, or this raises
    return graph
