"""Function-preserving network morphisms: deeper, wider, and skip connections (add / concat),
on images (rank-3 tensors), sequences (rank 2: steps x channels, e.g. embedded texts) and vectors.

A morph op is a JSON dict naming its target, e.g. ``{"op": "wider", "layer": "conv2d_4",
"extra": 32, "seed": 7}``, so that a child can be rebuilt by replaying ops on its parent's
trained weights. When the parent carries weights, the child gets weights that compute the
same function (in inference mode); without weights only the architecture changes.
"""
from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from kerasauto import layer_specs
from kerasauto.graph import Graph, LayerSpec

MORPHISMS = ("deeper", "wider", "skip_add", "skip_concat")
DEEPER_KERNEL_SIZES = (1, 3, 5)
BN_EPSILON = 1e-3  # Keras' BatchNormalization default.
#: Relative size of the symmetry-breaking noise added to copied units.
NOISE_SCALE = 1e-4
MAX_POOLS_ON_SKIP = 4


@dataclass(frozen=True)
class Limits:
    """Bounds a child architecture must respect."""

    max_params: int = 4_000_000
    max_depth: int = 24
    max_width: int = 512
    #: Most multiply-adds per example (``Graph.multiply_adds``): bounds the training time.
    max_multiply_adds: float = math.inf


# ---------------------------------------------------------------------- candidates
def _body(graph: Graph, kind: str | None = None) -> list[LayerSpec]:
    return [s for s in graph.layers if s.role == "body" and (kind is None or s.kind == kind)]


def _channel_fanout(graph: Graph, name: str) -> tuple[list[LayerSpec], list[LayerSpec]] | None:
    """Layers carrying ``name``'s channels unchanged, and the convolutions / Dense layers consuming them.

    ``None`` when the channels reach a layer that cannot absorb new ones (Add, Concatenate,
    Flatten, an activation, or the model output).
    """
    passthrough: list[LayerSpec] = []
    absorbers: dict[str, LayerSpec] = {}
    frontier = [name]
    while frontier:
        node = frontier.pop()
        if node == graph.output:
            return None
        for consumer in graph.consumers(node):
            if consumer.kind in layer_specs.CHANNEL_PRESERVING_KINDS:
                passthrough.append(consumer)
                frontier.append(consumer.name)
            elif consumer.kind in layer_specs.CONNECTING_KINDS and _single_depth(consumer):
                absorbers[consumer.name] = consumer
            else:
                return None
    return passthrough, list(absorbers.values())


def _single_depth(spec: LayerSpec) -> bool:
    """Separable convolutions are morphed only with one depthwise filter per channel."""
    return int(spec.config.get("depth_multiplier", 1)) == 1


#: The pooling a skip connection uses to reach a smaller target, by tensor rank.
SKIP_POOLS = {2: "MaxPooling1D", 3: "MaxPooling2D"}


def _pools_between(source: tuple[int, ...], target: tuple[int, ...]) -> int | None:
    """How many 2x2 (or, on sequences, 2) 'same' poolings map ``source`` onto ``target``'s
    spatial size, if any."""
    if len(source) != len(target):
        return None
    if len(source) == 1:
        return 0
    if len(source) == 2:
        steps = source[0]
        for pools in range(MAX_POOLS_ON_SKIP + 1):
            if steps == target[0]:
                return pools
            steps = -(-steps // 2)
        return None
    height, width = source[:2]
    for pools in range(MAX_POOLS_ON_SKIP + 1):
        if (height, width) == tuple(target[:2]):
            return pools
        height, width = -(-height // 2), -(-width // 2)
    return None


def candidates(graph: Graph, op: str, limits: Limits = Limits()) -> list[dict]:
    """Every concrete morph of kind ``op`` applicable to ``graph`` (without a seed)."""
    shapes = graph.shapes()
    if op == "deeper":
        found = []
        for spec in _body(graph):
            rank = len(shapes[spec.name])
            if rank not in (1, 2, 3) or not graph.is_nonnegative(spec.name):
                continue
            if spec.name == graph.output or not graph.consumers(spec.name):
                continue
            sizes = DEEPER_KERNEL_SIZES if rank > 1 else (1,)
            found += [{"op": "deeper", "after": spec.name, "kernel_size": k} for k in sizes]
        return found
    if op == "wider":
        found = []
        for spec in _body(graph):
            if spec.kind not in layer_specs.CONNECTING_KINDS or not _single_depth(spec):
                continue
            width = shapes[spec.name][-1]
            if width >= limits.max_width or _channel_fanout(graph, spec.name) is None:
                continue
            extra = min(max(width // 2, 1), limits.max_width - width)
            found += [{"op": "wider", "layer": spec.name, "extra": extra}]
        return found
    if op in ("skip_add", "skip_concat"):
        relus = [s.name for s in _body(graph) if graph.is_nonnegative_activation(s.name)]
        existing = {(s["from"], s["to"]) for s in graph.skips}
        found = []
        for target in relus:
            ancestors = graph.ancestors(target)
            for source in relus:
                if source not in ancestors or (source, target) in existing:
                    continue
                if _pools_between(shapes[source], shapes[target]) is None:
                    continue
                found.append({"op": op, "from": source, "to": target})
        return found
    raise ValueError(f"op must be one of {MORPHISMS}, got {op!r}.")


# ---------------------------------------------------------------------- helpers
def _noise(rng: np.random.Generator, like: np.ndarray) -> np.ndarray:
    spread = float(np.max(like) - np.min(like)) if like.size else 0.0
    return (rng.standard_normal(like.shape) * NOISE_SCALE * spread).astype(like.dtype)


def _identity_bn_weights(channels: int) -> list[np.ndarray]:
    """gamma, beta, moving mean, moving variance making BatchNormalization the identity."""
    return [np.full(channels, np.sqrt(1.0 + BN_EPSILON), np.float32),
            np.zeros(channels, np.float32), np.zeros(channels, np.float32),
            np.ones(channels, np.float32)]


def _projection(graph: Graph, source: str, rank: int, inputs: int, outputs: int,
                kernel: np.ndarray | None) -> LayerSpec:
    """A bias-free 1x1 conv (images), width-1 conv (sequences) or dense layer (vectors), role ``skip``."""
    kind = {3: "Conv2D", 2: "Conv1D"}.get(rank, "Dense")
    config = ({"filters": outputs, "kernel_size": 1, "padding": "same", "use_bias": False}
              if rank > 1 else {"units": outputs, "use_bias": False})
    spec = LayerSpec(graph.new_name(kind), kind, config, [source], role="skip")
    if kernel is not None:
        shape = (1,) * (rank - 1) + (inputs, outputs)
        graph.weights[spec.name] = [kernel.reshape(shape).astype(np.float32)]
    return spec


# ---------------------------------------------------------------------- the four morphs
def _deeper(graph: Graph, op: dict) -> None:
    anchor = op["after"]
    shape = graph.shapes()[anchor]
    channels, size = shape[-1], int(op.get("kernel_size", 3))
    if len(shape) > 1:
        kind = "Conv2D" if len(shape) == 3 else "Conv1D"
        layer = LayerSpec(graph.new_name(kind), kind,
                          {"filters": channels, "kernel_size": size, "padding": "same",
                           "use_bias": False}, [anchor])
    else:
        layer = LayerSpec(graph.new_name("Dense"), "Dense",
                          {"units": channels, "use_bias": False}, [anchor])
    norm = LayerSpec(graph.new_name("BatchNormalization"), "BatchNormalization",
                      {"momentum": 0.9}, [layer.name])
    relu = LayerSpec(graph.new_name("ReLU"), "ReLU", {}, [norm.name])
    if graph.weights:
        eye = np.eye(channels, dtype=np.float32)
        if len(shape) == 3:
            kernel = np.zeros((size, size, channels, channels), np.float32)
            kernel[size // 2, size // 2] = eye
        elif len(shape) == 2:
            kernel = np.zeros((size, channels, channels), np.float32)
            kernel[size // 2] = eye
        else:
            kernel = eye
        graph.weights[layer.name] = [kernel]
        graph.weights[norm.name] = _identity_bn_weights(channels)
    graph.insert_after(anchor, [layer, norm, relu])
    graph.fresh_batchnorms.append(norm.name)


def _wider(graph: Graph, op: dict, rng: np.random.Generator) -> None:
    spec = graph.spec(op["layer"])
    fanout = _channel_fanout(graph, spec.name)
    if spec.kind not in layer_specs.CONNECTING_KINDS or not _single_depth(spec) or fanout is None:
        raise ValueError(f"Layer {spec.name!r} cannot be widened.")
    passthrough, absorbers = fanout
    key = "units" if spec.kind == "Dense" else "filters"
    old, extra = int(spec.config[key]), int(op["extra"])
    spec.config[key] = old + extra
    copied = rng.integers(0, old, size=extra)
    if not graph.weights:
        return
    values = graph.weights[spec.name]
    # A separable convolution's depthwise kernel (first) keeps its shape: its outputs are the
    # pointwise kernel's and the bias's last axis.
    fixed = values[:1] if spec.kind == "SeparableConv1D" else []
    graph.weights[spec.name] = fixed + [
        np.concatenate([w, w[..., copied] + _noise(rng, w[..., copied])], axis=-1)
        for w in values[len(fixed):]]
    for layer in passthrough:
        if layer.kind == "BatchNormalization":
            graph.weights[layer.name] = [np.concatenate([w, w[copied]])
                                         for w in graph.weights[layer.name]]
    for layer in absorbers:
        if layer.kind == "SeparableConv1D":
            # New input channels get depthwise filters (any: copies) and zero pointwise weights.
            depthwise, kernel, *rest = graph.weights[layer.name]
            depthwise = np.concatenate([depthwise, depthwise[:, copied]], axis=1)
            graph.weights[layer.name] = [depthwise, _zero_rows(kernel, extra), *rest]
        else:
            kernel, *rest = graph.weights[layer.name]
            graph.weights[layer.name] = [_zero_rows(kernel, extra), *rest]


def _zero_rows(kernel: np.ndarray, extra: int) -> np.ndarray:
    """``kernel`` with ``extra`` zero input channels (its axis -2) appended."""
    zeros_shape = list(kernel.shape)
    zeros_shape[-2] = extra
    return np.concatenate([kernel, np.zeros(zeros_shape, kernel.dtype)], axis=-2)


def _skip(graph: Graph, op: dict, merge_kind: str) -> None:
    source, target = op["from"], op["to"]
    shapes = graph.shapes()
    pools = _pools_between(shapes[source], shapes[target])
    if source not in graph.ancestors(target) or pools is None:
        raise ValueError(f"No skip connection possible from {source!r} to {target!r}.")
    rank, c_source, c_target = len(shapes[target]), shapes[source][-1], shapes[target][-1]
    branch: list[LayerSpec] = []
    node = source
    for _ in range(pools):
        pool = SKIP_POOLS[rank]
        branch.append(LayerSpec(graph.new_name(pool), pool,
                                {"pool_size": 2, "padding": "same"}, [node], role="skip"))
        node = branch[-1].name
    with_weights = bool(graph.weights)
    if merge_kind == "Add":
        zeros = np.zeros((c_source, c_target), np.float32) if with_weights else None
        branch.append(_projection(graph, node, rank, c_source, c_target, zeros))
        merge = LayerSpec(graph.new_name("Add"), "Add", {}, [target, branch[-1].name], role="skip")
        new_specs = branch + [merge]
        end = merge.name
    else:
        merge = LayerSpec(graph.new_name("Concatenate"), "Concatenate", {"axis": -1},
                          [target, node], role="skip")
        fuse_kernel = None
        if with_weights:
            fuse_kernel = np.zeros((c_target + c_source, c_target), np.float32)
            fuse_kernel[:c_target] = np.eye(c_target, dtype=np.float32)
        fuse = _projection(graph, merge.name, rank, c_target + c_source, c_target, fuse_kernel)
        new_specs = branch + [merge, fuse]
        end = fuse.name
    graph.redirect_consumers(target, end, except_names=[s.name for s in new_specs])
    graph.layers.extend(new_specs)
    graph.sort()
    graph.skips.append({"from": source, "to": target, "kind": merge_kind.lower()})


# ---------------------------------------------------------------------- public API
def apply(graph: Graph, op: str | dict, rng: np.random.Generator | None = None,
          limits: Limits = Limits()) -> Graph:
    """The child of ``graph`` after morph ``op`` (a name from MORPHISMS, or a concrete op dict).

    A name picks a random target with ``rng``. The concrete op actually applied, with its seed,
    is stored as ``child.last_op`` so that it can be replayed.
    """
    rng = rng if rng is not None else np.random.default_rng()
    if isinstance(op, str):
        options = candidates(graph, op, limits)
        if not options:
            raise ValueError(f"No {op!r} morph applies to this graph.")
        op = dict(options[int(rng.integers(len(options)))])
        op["seed"] = int(rng.integers(2**31))
    if not isinstance(op, dict) or op.get("op") not in MORPHISMS:
        raise ValueError(f"op must be one of {MORPHISMS} or a dict with such an 'op', got {op!r}.")
    child = graph.copy()
    kind = op["op"]
    if kind == "deeper":
        _deeper(child, op)
    elif kind == "wider":
        _wider(child, op, np.random.default_rng(int(op.get("seed", 0))))
    else:
        _skip(child, op, "Add" if kind == "skip_add" else "Concatenate")
    child.last_op = dict(op)
    return child


def replay(graph: Graph, ops: Sequence[dict]) -> Graph:
    """Apply concrete ops in order (e.g. to rebuild a child from its parent's trained weights)."""
    for op in ops:
        graph = apply(graph, op)
    return graph


def neighbours(graph: Graph, rng: np.random.Generator, n: int,
               limits: Limits = Limits(), ops: Sequence[str] = MORPHISMS) -> list[Graph]:
    """Up to ``n`` distinct valid children of ``graph``, each with its ``last_op``."""
    children: dict[str, Graph] = {}
    for _ in range(4 * n):
        if len(children) >= n:
            break
        op = ops[int(rng.integers(len(ops)))]
        try:
            child = apply(graph, op, rng, limits)
        except ValueError:
            continue
        if (child.num_params() > limits.max_params or child.depth() > limits.max_depth
                or child.multiply_adds() > limits.max_multiply_adds):
            continue
        children.setdefault(child.architecture_key(), child)
    return list(children.values())
