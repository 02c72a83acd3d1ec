"""The layer kinds an architecture graph may contain: one registry entry per kind, holding its
shape, parameter and multiply-add rules and the properties the morphs rely on.

Every kind is a built-in Keras layer, so a built model needs no custom objects to load. Shapes
exclude the batch dimension. Adding a kind is one :func:`_register` call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

Shape = tuple[int, ...]
ShapeRule = Callable[[dict, list[Shape]], Shape]
CountRule = Callable[[dict, list[Shape], Shape], int]


def _same_shape(config: dict, shapes: list[Shape]) -> Shape:
    return shapes[0]


def _no_count(config: dict, shapes: list[Shape], out: Shape) -> int:
    return 0


@dataclass(frozen=True)
class LayerKind:
    """What the graph knows of one built-in Keras layer class."""

    name: str
    shape: ShapeRule = _same_shape
    #: Weights Keras allocates (trainable or not), given the config, input and output shapes.
    params: CountRule = _no_count
    #: Multiply-adds of the forward pass for one example (convolutions and dense layers): the
    #: cost that dominates training time on a CPU; other layers count as free.
    multiply_adds: CountRule = _no_count
    #: Takes several inputs (called on a list).
    merge: bool = False
    #: Has weights the graph carries (``layer.get_weights()`` order).
    weighted: bool = False
    #: Keeps the number of channels (last axis) of its single input, channel by channel.
    channel_preserving: bool = False
    #: Outputs are >= 0 whenever all inputs are.
    nonnegative_preserving: bool = False
    #: Allowed at the start of a graph, before the body.
    preprocessing: bool = False
    #: The dtype of the graph's input when this kind reads it first (e.g. ``"string"``).
    input_dtype: str | None = None


KINDS: dict[str, LayerKind] = {}


def _register(name: str, **rules) -> None:
    KINDS[name] = LayerKind(name, **rules)


# ---------------------------------------------------------------------- shape helpers
def _spatial(size: int, window: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - window) // stride + 1


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _window_shape(config: dict, shapes: list[Shape], channels: int) -> Shape:
    """Output of a 2-D convolution window (kernel with dilation, strides, padding)."""
    h, w = shapes[0][:2]
    kh, kw = _pair(config["kernel_size"])
    dh, dw = _pair(config.get("dilation_rate", 1))
    sh, sw = _pair(config.get("strides", 1))
    padding = config.get("padding", "valid")
    return (_spatial(h, (kh - 1) * dh + 1, sh, padding),
            _spatial(w, (kw - 1) * dw + 1, sw, padding), channels)


def _window_shape_1d(config: dict, shapes: list[Shape], channels: int) -> Shape:
    """Output of a 1-D convolution window over (steps, channels)."""
    size = _pair(config["kernel_size"])[0]
    dilation = _pair(config.get("dilation_rate", 1))[0]
    stride = _pair(config.get("strides", 1))[0]
    return (_spatial(shapes[0][0], (size - 1) * dilation + 1, stride,
                     config.get("padding", "valid")), channels)


def _pool_shape_1d(config: dict, shapes: list[Shape]) -> Shape:
    steps, channels = shapes[0]
    size = _pair(config.get("pool_size", 2))[0]
    stride = _pair(config.get("strides") or size)[0]
    return (_spatial(steps, size, stride, config.get("padding", "valid")), channels)


def _text_vectorization_shape(config: dict, shapes: list[Shape]) -> Shape:
    """Token ids (``int``: a fixed sequence length) or one value per vocabulary entry."""
    if config.get("output_mode", "int") == "int":
        return (int(config["output_sequence_length"]),)
    if config.get("pad_to_max_tokens") and config.get("max_tokens"):
        return (int(config["max_tokens"]),)
    return (len(config["vocabulary"]) + 1,)  # the OOV entry first


def text_vocabulary_size(config: dict) -> int:
    """Token ids a TextVectorization layer emits (padding and OOV included): an Embedding's input_dim."""
    return len(config["vocabulary"]) + (2 if config.get("output_mode", "int") == "int" else 1)


def _positions(shape: Shape) -> int:
    return math.prod(int(d) for d in shape[:-1])


def _bias(config: dict, units: int) -> int:
    return units if config.get("use_bias", True) else 0


def _pool_shape(config: dict, shapes: list[Shape]) -> Shape:
    h, w, c = shapes[0]
    ph, pw = _pair(config.get("pool_size", 2))
    sh, sw = _pair(config.get("strides") or (ph, pw))
    padding = config.get("padding", "valid")
    return (_spatial(h, ph, sh, padding), _spatial(w, pw, sw, padding), c)


def _global_pool_shape(config: dict, shapes: list[Shape]) -> Shape:
    channels = shapes[0][-1]
    return (1,) * (len(shapes[0]) - 1) + (channels,) if config.get("keepdims") else (channels,)


def _padding_shape(config: dict, shapes: list[Shape]) -> Shape:
    h, w, c = shapes[0]
    padding = config.get("padding", 1)
    if isinstance(padding, int):
        (top, bottom), (left, right) = (padding, padding), (padding, padding)
    else:
        rows, cols = padding
        top, bottom = _pair(rows)
        left, right = _pair(cols)
    return (h + top + bottom, w + left + right, c)


def _concat_shape(config: dict, shapes: list[Shape]) -> Shape:
    axis = config.get("axis", -1)
    if axis not in (-1, len(shapes[0])):  # batch axis is 0: the last axis is len(shape)
        raise ValueError(f"Concatenate on axis {axis} is not supported (only the last axis).")
    first = shapes[0]
    for shape in shapes[1:]:
        if shape[:-1] != first[:-1]:
            raise ValueError(f"Concatenate inputs differ in shape: {shapes}")
    return first[:-1] + (sum(s[-1] for s in shapes),)


def _add_shape(config: dict, shapes: list[Shape]) -> Shape:
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"Add inputs differ in shape: {shapes}")
    return shapes[0]


def _broadcast_shape(config: dict, shapes: list[Shape]) -> Shape:
    """Element-wise merge with broadcasting (e.g. a squeeze-and-excitation's scale)."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ValueError(f"Multiply inputs do not broadcast: {shapes}")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _reshape_shape(config: dict, shapes: list[Shape]) -> Shape:
    target = [int(d) for d in config["target_shape"]]
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = math.prod(shapes[0]) // known
    if math.prod(target) != math.prod(shapes[0]):
        raise ValueError(f"Reshape from {shapes[0]} to {tuple(target)} changes the size.")
    return tuple(target)


# ---------------------------------------------------------------------- the kinds
_register(
    "Conv2D",
    shape=lambda c, s: _window_shape(c, s, int(c["filters"])),
    params=lambda c, s, o: (math.prod(_pair(c["kernel_size"])) * s[0][-1] // int(c.get("groups", 1))
                            * int(c["filters"]) + _bias(c, int(c["filters"]))),
    multiply_adds=lambda c, s, o: (_positions(o) * math.prod(_pair(c["kernel_size"])) * s[0][-1]
                                   // int(c.get("groups", 1)) * int(c["filters"])),
    weighted=True)
_register(
    "SeparableConv2D",
    shape=lambda c, s: _window_shape(c, s, int(c["filters"])),
    params=lambda c, s, o: (math.prod(_pair(c["kernel_size"])) * s[0][-1] * int(c.get("depth_multiplier", 1))
                            + s[0][-1] * int(c.get("depth_multiplier", 1)) * int(c["filters"])
                            + _bias(c, int(c["filters"]))),
    multiply_adds=lambda c, s, o: _positions(o) * s[0][-1] * int(c.get("depth_multiplier", 1)) * (
        math.prod(_pair(c["kernel_size"])) + int(c["filters"])),
    weighted=True)
_register(
    "DepthwiseConv2D",
    shape=lambda c, s: _window_shape(c, s, s[0][-1] * int(c.get("depth_multiplier", 1))),
    params=lambda c, s, o: (math.prod(_pair(c["kernel_size"])) + int(c.get("use_bias", True))) * o[-1],
    multiply_adds=lambda c, s, o: _positions(o) * math.prod(_pair(c["kernel_size"])) * o[-1],
    weighted=True)
_register(
    "Dense",
    shape=lambda c, s: s[0][:-1] + (int(c["units"]),),
    params=lambda c, s, o: s[0][-1] * int(c["units"]) + _bias(c, int(c["units"])),
    multiply_adds=lambda c, s, o: _positions(o) * s[0][-1] * int(c["units"]) if len(o) > 1
    else s[0][-1] * int(c["units"]),
    weighted=True)
_register(
    "Conv1D",
    shape=lambda c, s: _window_shape_1d(c, s, int(c["filters"])),
    params=lambda c, s, o: (_pair(c["kernel_size"])[0] * s[0][-1] // int(c.get("groups", 1))
                            * int(c["filters"]) + _bias(c, int(c["filters"]))),
    multiply_adds=lambda c, s, o: (o[0] * _pair(c["kernel_size"])[0] * s[0][-1]
                                   // int(c.get("groups", 1)) * int(c["filters"])),
    weighted=True)
_register(
    "SeparableConv1D",
    shape=lambda c, s: _window_shape_1d(c, s, int(c["filters"])),
    params=lambda c, s, o: (_pair(c["kernel_size"])[0] * s[0][-1] * int(c.get("depth_multiplier", 1))
                            + s[0][-1] * int(c.get("depth_multiplier", 1)) * int(c["filters"])
                            + _bias(c, int(c["filters"]))),
    multiply_adds=lambda c, s, o: o[0] * s[0][-1] * int(c.get("depth_multiplier", 1)) * (
        _pair(c["kernel_size"])[0] + int(c["filters"])),
    weighted=True)
_register(
    "Embedding",
    shape=lambda c, s: tuple(s[0]) + (int(c["output_dim"]),),
    params=lambda c, s, o: int(c["input_dim"]) * int(c["output_dim"]),
    weighted=True)
_register(
    "BatchNormalization",
    params=lambda c, s, o: (2 + int(c.get("center", True)) + int(c.get("scale", True))) * s[0][-1],
    weighted=True, channel_preserving=True)
_register("ReLU", channel_preserving=True)
_register("Activation", channel_preserving=True)  # element-wise, whatever the function
#: Activation functions of the ReLU family (an ``Activation`` layer's, or a layer's fused
#: ``activation``): their output is >= 0, so a 'deeper' morph's ReLU after them is free, and they
#: end the blocks that skip connections join. (Sigmoid and softmax are left out: they end heads.)
RELU_ACTIVATIONS = frozenset({"relu", "relu6"})
_register("Dropout", channel_preserving=True, nonnegative_preserving=True)
for _kind in ("MaxPooling2D", "AveragePooling2D"):
    _register(_kind, shape=_pool_shape, channel_preserving=True, nonnegative_preserving=True)
_register("MaxPooling1D", shape=_pool_shape_1d, channel_preserving=True,
          nonnegative_preserving=True)
for _kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
              "GlobalMaxPooling1D"):
    _register(_kind, shape=_global_pool_shape, channel_preserving=True,
              nonnegative_preserving=True)
_register("Flatten", shape=lambda c, s: (math.prod(s[0]),), nonnegative_preserving=True)
_register("ZeroPadding2D", shape=_padding_shape)
_register("Reshape", shape=_reshape_shape)
_register("Add", shape=_add_shape, merge=True, nonnegative_preserving=True)
_register("Concatenate", shape=_concat_shape, merge=True, nonnegative_preserving=True)
_register("Multiply", shape=_broadcast_shape, merge=True)
_register("Rescaling", preprocessing=True)
_register("Normalization", preprocessing=True, weighted=True,
          params=lambda c, s, o: 2 * s[0][-1] + 1 if c.get("mean") is None else 0)
_register("Resizing", shape=lambda c, s: (int(c["height"]), int(c["width"]), s[0][-1]),
          preprocessing=True)
# Raw strings in: tokenisation inside the model, the vocabulary (and IDF weights) in the config.
_register("TextVectorization", shape=_text_vectorization_shape, preprocessing=True,
          input_dtype="string")
del _kind


def _kinds_where(flag: str) -> frozenset[str]:
    return frozenset(name for name, kind in KINDS.items() if getattr(kind, flag))


#: Layers that merge several inputs.
MERGE_KINDS = _kinds_where("merge")
#: Layers whose weights the graph stores (in ``layer.get_weights()`` order).
WEIGHTED_KINDS = _kinds_where("weighted")
#: Layers that keep the number of channels (last axis) of their single input.
CHANNEL_PRESERVING_KINDS = _kinds_where("channel_preserving")
#: Layers whose output is non-negative whenever all their inputs are.
NONNEGATIVE_PRESERVING_KINDS = _kinds_where("nonnegative_preserving")
#: Preprocessing layers allowed at the start of a graph.
PREPROCESSING_KINDS = _kinds_where("preprocessing")
#: Layers that convolve or densely connect channels: what "wider" widens and what absorbs it.
CONNECTING_KINDS = frozenset(("Conv2D", "Dense", "Conv1D", "SeparableConv1D"))
#: Every kind a graph may contain.
ALLOWED_KINDS = frozenset(KINDS)


def _rules(name: str) -> LayerKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"Layer kind {name!r} is not allowed in a graph.") from None


def output_shape(kind: str, config: dict, input_shapes: list[Shape]) -> Shape:
    """The output shape of a layer of ``kind`` given its input shapes."""
    return tuple(_rules(kind).shape(config, input_shapes))


def param_count(kind: str, config: dict, input_shapes: list[Shape]) -> int:
    """The number of weights Keras allocates for the layer (trainable or not)."""
    out = output_shape(kind, config, input_shapes)
    return int(_rules(kind).params(config, input_shapes, out))


def multiply_adds(kind: str, config: dict, input_shapes: list[Shape], output_shape: Shape) -> int:
    """Multiply-adds of the layer's forward pass for one example (convolutions and dense layers)."""
    return int(_rules(kind).multiply_adds(config, input_shapes, tuple(output_shape)))
