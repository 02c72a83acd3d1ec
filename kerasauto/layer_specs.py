"""The layer kinds an architecture graph may contain, with their shape and parameter rules.

Every kind is a built-in Keras layer, so a built model needs no custom objects to load.
Shapes exclude the batch dimension.
"""
from __future__ import annotations

import math
from typing import Callable

Shape = tuple[int, ...]

#: Layers that merge several inputs.
MERGE_KINDS = frozenset({"Add", "Concatenate"})
#: Layers whose weights the graph stores (in ``layer.get_weights()`` order).
WEIGHTED_KINDS = frozenset({"Conv2D", "Dense", "BatchNormalization"})
#: Layers that keep the number of channels (last axis) of their single input.
CHANNEL_PRESERVING_KINDS = frozenset(
    {"BatchNormalization", "ReLU", "MaxPooling2D", "AveragePooling2D",
     "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dropout"}
)
#: Layers whose output is non-negative whenever all their inputs are.
NONNEGATIVE_PRESERVING_KINDS = frozenset(
    {"MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
     "GlobalMaxPooling2D", "Dropout", "Concatenate", "Add", "Flatten"}
)
#: Preprocessing layers allowed at the start of a graph.
PREPROCESSING_KINDS = frozenset({"Rescaling", "Normalization", "Resizing"})
#: Every kind a graph may contain.
ALLOWED_KINDS = frozenset(
    {"Conv2D", "Dense", "BatchNormalization", "ReLU", "Activation", "Flatten",
     "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
     "GlobalMaxPooling2D", "Dropout", "Add", "Concatenate"}
) | PREPROCESSING_KINDS


def _spatial(size: int, pool: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - pool) // stride + 1


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _conv_shape(config: dict, shapes: list[Shape]) -> Shape:
    h, w, _ = shapes[0]
    kh, kw = _pair(config["kernel_size"])
    sh, sw = _pair(config.get("strides", 1))
    padding = config.get("padding", "valid")
    return (_spatial(h, kh, sh, padding), _spatial(w, kw, sw, padding), int(config["filters"]))


def _pool_shape(config: dict, shapes: list[Shape]) -> Shape:
    h, w, c = shapes[0]
    ph, pw = _pair(config.get("pool_size", 2))
    strides = config.get("strides") or (ph, pw)
    sh, sw = _pair(strides)
    padding = config.get("padding", "valid")
    return (_spatial(h, ph, sh, padding), _spatial(w, pw, sw, padding), c)


def _concat_shape(config: dict, shapes: list[Shape]) -> Shape:
    first = shapes[0]
    for shape in shapes[1:]:
        if shape[:-1] != first[:-1]:
            raise ValueError(f"Concatenate inputs differ in shape: {shapes}")
    return first[:-1] + (sum(s[-1] for s in shapes),)


def _add_shape(config: dict, shapes: list[Shape]) -> Shape:
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"Add inputs differ in shape: {shapes}")
    return shapes[0]


_SHAPE_RULES: dict[str, Callable[[dict, list[Shape]], Shape]] = {
    "Conv2D": _conv_shape,
    "Dense": lambda c, s: s[0][:-1] + (int(c["units"]),),
    "MaxPooling2D": _pool_shape,
    "AveragePooling2D": _pool_shape,
    "GlobalAveragePooling2D": lambda c, s: (s[0][-1],),
    "GlobalMaxPooling2D": lambda c, s: (s[0][-1],),
    "Flatten": lambda c, s: (math.prod(s[0]),),
    "Resizing": lambda c, s: (int(c["height"]), int(c["width"]), s[0][-1]),
    "Concatenate": _concat_shape,
    "Add": _add_shape,
}


def output_shape(kind: str, config: dict, input_shapes: list[Shape]) -> Shape:
    """The output shape of a layer of ``kind`` given its input shapes."""
    rule = _SHAPE_RULES.get(kind)
    return tuple(rule(config, input_shapes)) if rule else tuple(input_shapes[0])


def param_count(kind: str, config: dict, input_shapes: list[Shape]) -> int:
    """The number of weights Keras allocates for the layer (trainable or not)."""
    if kind == "Conv2D":
        kh, kw = _pair(config["kernel_size"])
        filters = int(config["filters"])
        bias = filters if config.get("use_bias", True) else 0
        return kh * kw * input_shapes[0][-1] * filters + bias
    if kind == "Dense":
        units = int(config["units"])
        bias = units if config.get("use_bias", True) else 0
        return input_shapes[0][-1] * units + bias
    if kind == "BatchNormalization":
        per_channel = 2 + int(config.get("center", True)) + int(config.get("scale", True))
        return per_channel * input_shapes[0][-1]
    return 0


def multiply_adds(kind: str, config: dict, input_shapes: list[Shape], output_shape: Shape) -> int:
    """Multiply-adds of the layer's forward pass for one example (convolutions and dense layers).

    The cost that dominates training time on a CPU; other layers are counted as free.
    """
    if kind == "Conv2D":
        kh, kw = _pair(config["kernel_size"])
        positions = 1
        for dim in output_shape[:-1]:
            positions *= int(dim)
        return positions * kh * kw * input_shapes[0][-1] * int(config["filters"])
    if kind == "Dense":
        return input_shapes[0][-1] * int(config["units"])
    return 0
