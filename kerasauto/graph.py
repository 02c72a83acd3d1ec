"""An architecture as a DAG of layer specs, optionally carrying trained weights.

Nodes are layers (each produces one tensor); the special node ``"input"`` is the model input.
The graph compiles to a Keras functional model made only of built-in layers whose names are the
node names, so weights can be matched between a parent and a child architecture.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from kerasauto import layer_specs

INPUT = "input"
DEFAULT_INPUT_DTYPE = "float32"
#: Roles a layer plays; only ``body`` layers are morphed.
ROLES = ("preprocess", "body", "skip", "head")


@dataclass
class LayerSpec:
    """One node: a built-in Keras layer ``kind`` with its ``config`` and input node names."""

    name: str
    kind: str
    config: dict
    inputs: list[str]
    role: str = "body"

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "config": self.config,
                "inputs": list(self.inputs), "role": self.role}


@dataclass
class Graph:
    """A neural architecture: layer specs in topological order, plus optional weights."""

    input_shape: tuple[int, ...]
    layers: list[LayerSpec] = field(default_factory=list)
    output: str = INPUT
    name: str = "kerasauto_model"
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)
    next_id: int = 0
    #: Skip connections added by morphs or seeds: ``{"from", "to", "kind"}`` dicts.
    skips: list[dict] = field(default_factory=list)
    #: BatchNormalization layers inserted as identities, to calibrate on data (not serialised).
    fresh_batchnorms: list[str] = field(default_factory=list, repr=False)
    #: The concrete morph op that produced this graph from its parent, if any (not serialised).
    last_op: dict | None = field(default=None, repr=False)
    #: The input's dtype: ``"float32"`` (images, vectors) or ``"string"`` (raw texts, shape ``()``).
    input_dtype: str = DEFAULT_INPUT_DTYPE

    # ------------------------------------------------------------------ construction
    def add(self, kind: str, inputs: str | Iterable[str], role: str = "body",
            name: str | None = None, **config) -> str:
        """Append a layer fed by ``inputs`` and make it the output; returns its name."""
        if kind not in layer_specs.ALLOWED_KINDS:
            raise ValueError(f"Layer kind {kind!r} is not allowed in a graph.")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        for parent in inputs:
            if parent != INPUT and parent not in self.names():
                raise ValueError(f"Unknown input node {parent!r}.")
        spec = LayerSpec(name or self.new_name(kind), kind, dict(config), inputs, role)
        self.layers.append(spec)
        self.output = spec.name
        return spec.name

    def new_name(self, kind: str) -> str:
        """A node name not used before in this graph (nor in any of its ancestors)."""
        prefix = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", kind).lower()
        taken = set(self.names())
        while True:  # an imported model may already use names of this form
            self.next_id += 1
            if f"{prefix}_{self.next_id}" not in taken:
                return f"{prefix}_{self.next_id}"

    def copy(self) -> "Graph":
        """A deep copy of the architecture; weight arrays are shared until replaced."""
        clone = copy.copy(self)
        clone.layers = [LayerSpec(s.name, s.kind, dict(s.config), list(s.inputs), s.role)
                        for s in self.layers]
        clone.weights = dict(self.weights)
        clone.skips = [dict(skip) for skip in self.skips]
        clone.fresh_batchnorms = list(self.fresh_batchnorms)
        return clone

    # ------------------------------------------------------------------ queries
    def names(self) -> list[str]:
        return [spec.name for spec in self.layers]

    def spec(self, name: str) -> LayerSpec:
        for spec in self.layers:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def consumers(self, name: str) -> list[LayerSpec]:
        """Layers that take ``name`` as an input."""
        return [spec for spec in self.layers if name in spec.inputs]

    def ancestors(self, name: str) -> set[str]:
        """All nodes ``name`` depends on (excluding itself)."""
        seen: set[str] = set()
        stack = [] if name == INPUT else list(self.spec(name).inputs)
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node != INPUT:
                stack.extend(self.spec(node).inputs)
        return seen

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The output shape of every node, batch dimension excluded."""
        shapes = {INPUT: tuple(self.input_shape)}
        for spec in self.layers:
            shapes[spec.name] = layer_specs.output_shape(
                spec.kind, spec.config, [shapes[i] for i in spec.inputs])
        return shapes

    def num_params(self) -> int:
        """The number of weights, counted as ``keras.Model.count_params`` counts them."""
        shapes = self.shapes()
        return sum(layer_specs.param_count(s.kind, s.config, [shapes[i] for i in s.inputs])
                   for s in self.layers)

    def multiply_adds(self) -> int:
        """Multiply-adds of one forward pass of one example: a machine-independent training cost."""
        shapes = self.shapes()
        return sum(layer_specs.multiply_adds(s.kind, s.config, [shapes[i] for i in s.inputs],
                                             shapes[s.name]) for s in self.layers)

    def depth(self) -> int:
        """The number of convolutions and Dense layers in the body."""
        return sum(1 for s in self.layers
                   if s.kind in layer_specs.CONNECTING_KINDS and s.role == "body")

    def is_nonnegative(self, name: str) -> bool:
        """Whether the node's output is provably >= 0 (a ReLU, or pooling of such)."""
        if name == INPUT:
            return False
        spec = self.spec(name)
        if self.is_nonnegative_activation(name):
            return True
        if spec.kind in layer_specs.NONNEGATIVE_PRESERVING_KINDS:
            return all(self.is_nonnegative(i) for i in spec.inputs)
        return False

    def is_nonnegative_activation(self, name: str) -> bool:
        """Whether the node ends in a ReLU: a ``ReLU`` layer, ``Activation("relu")``, or a layer
        with a fused ``activation="relu"`` (as imported models write them)."""
        spec = self.spec(name)
        return spec.kind == "ReLU" or spec.config.get("activation") in layer_specs.RELU_ACTIVATIONS

    # ------------------------------------------------------------------ editing
    def insert_after(self, anchor: str, new_specs: list[LayerSpec]) -> None:
        """Insert a chain of layers fed by ``anchor``; ``anchor``'s former consumers read the chain's end."""
        chain_end = new_specs[-1].name
        for spec in self.layers:
            spec.inputs = [chain_end if i == anchor else i for i in spec.inputs]
        if self.output == anchor:
            self.output = chain_end
        position = 0 if anchor == INPUT else self.names().index(anchor) + 1
        self.layers[position:position] = new_specs

    def redirect_consumers(self, old: str, new: str, except_names: Iterable[str] = ()) -> None:
        """Make every consumer of ``old`` (but those in ``except_names``) read ``new``."""
        skip = set(except_names)
        for spec in self.layers:
            if spec.name not in skip:
                spec.inputs = [new if i == old else i for i in spec.inputs]
        if self.output == old:
            self.output = new

    def sort(self) -> None:
        """Re-order layers topologically, keeping the current order where it is already valid."""
        placed = {INPUT}
        ordered: list[LayerSpec] = []
        pending = list(self.layers)
        while pending:
            for index, spec in enumerate(pending):
                if all(i in placed for i in spec.inputs):
                    ordered.append(pending.pop(index))
                    placed.add(spec.name)
                    break
            else:
                raise ValueError("The graph has a cycle or a dangling input.")
        self.layers = ordered

    # ------------------------------------------------------------------ Keras
    def build(self):
        """A Keras functional model of built-in layers, carrying this graph's weights."""
        import keras

        inputs = keras.Input(shape=self.input_shape, dtype=self.input_dtype, name=INPUT)
        tensors = {INPUT: inputs}
        for spec in self.layers:
            layer = getattr(keras.layers, spec.kind)(name=spec.name, **spec.config)
            args = [tensors[i] for i in spec.inputs]
            tensors[spec.name] = layer(args if spec.kind in layer_specs.MERGE_KINDS else args[0])
        model = keras.Model(inputs, tensors[self.output], name=self.name)
        for layer_name, values in self.weights.items():
            model.get_layer(layer_name).set_weights(values)
        return model

    def update_weights(self, model) -> None:
        """Take the (trained) weights of ``model``, built from this graph, back into the graph."""
        self.weights = {
            spec.name: [np.asarray(w) for w in model.get_layer(spec.name).get_weights()]
            for spec in self.layers if spec.kind in layer_specs.WEIGHTED_KINDS
        }

    def drop_weights(self) -> "Graph":
        """A copy of the architecture without weights."""
        clone = self.copy()
        clone.weights = {}
        return clone

    @classmethod
    def from_keras(cls, model) -> "Graph":
        """The graph of a built Keras model (functional or ``Sequential``), with its weights:
        ``build()`` computes the same function. ``ValueError`` names a layer it cannot express."""
        from kerasauto.keras_import import graph_from_keras

        return graph_from_keras(model, cls)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        data = {"name": self.name, "input_shape": list(self.input_shape),
                "output": self.output, "next_id": self.next_id,
                "skips": [dict(skip) for skip in self.skips],
                "layers": [spec.to_dict() for spec in self.layers]}
        if self.input_dtype != DEFAULT_INPUT_DTYPE:  # (float graphs keep their old JSON)
            data["input_dtype"] = self.input_dtype
        return data

    def to_json(self) -> str:
        """The architecture (not the weights) as human-readable, canonical JSON."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Graph":
        graph = cls(input_shape=tuple(int(d) for d in data["input_shape"]),
                    name=data.get("name", "kerasauto_model"),
                    next_id=int(data.get("next_id", 0)),
                    input_dtype=str(data.get("input_dtype", DEFAULT_INPUT_DTYPE)))
        for item in data["layers"]:
            if item["kind"] not in layer_specs.ALLOWED_KINDS:
                raise ValueError(f"Layer kind {item['kind']!r} is not allowed in a graph.")
            graph.layers.append(LayerSpec(item["name"], item["kind"], dict(item["config"]),
                                          list(item["inputs"]), item.get("role", "body")))
        graph.output = data["output"]
        graph.skips = [dict(skip) for skip in data.get("skips", [])]
        graph.sort()
        return graph

    @classmethod
    def from_json(cls, text: str) -> "Graph":
        """Parse an architecture written by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def architecture_key(self) -> str:
        """A string equal for two graphs exactly when their architectures are equal."""
        data = self.to_dict()
        data.pop("next_id")
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
