"""Seed architectures: a plain CNN, a small ResNet and an MLP, sized for a 2-core CPU."""
from __future__ import annotations

from typing import Sequence

from kerasauto.graph import INPUT, Graph

HEADS = ("softmax", "linear")


def _check_head(head: str) -> None:
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}.")


def _start(input_shape: Sequence[int], preprocessing: Sequence[dict] | None,
           name: str) -> tuple[Graph, str]:
    """A graph holding only the preprocessing layers; returns it and its last node."""
    graph = Graph(input_shape=tuple(int(d) for d in input_shape), name=name)
    node = INPUT
    for item in preprocessing or ():
        config = {k: v for k, v in item.items() if k != "kind"}
        node = graph.add(item["kind"], node, role="preprocess", **config)
    return graph, node


def _conv_bn_relu(graph: Graph, node: str, filters: int, kernel_size: int = 3) -> str:
    node = graph.add("Conv2D", node, filters=filters, kernel_size=kernel_size,
                     padding="same", use_bias=False)
    node = graph.add("BatchNormalization", node, momentum=0.9)
    return graph.add("ReLU", node)


def _head(graph: Graph, node: str, num_outputs: int, head: str, dropout: float) -> None:
    if dropout > 0:
        node = graph.add("Dropout", node, rate=dropout)
    node = graph.add("Dense", node, role="head", units=num_outputs)
    if head == "softmax":
        graph.add("Activation", node, role="head", activation="softmax")


def cnn(input_shape: Sequence[int], num_outputs: int, head: str = "softmax",
        blocks: int = 3, filters: int = 32, convs_per_block: int = 1,
        dropout: float = 0.25, preprocessing: Sequence[dict] | None = None) -> Graph:
    """Conv-BN-ReLU blocks each followed by 2x2 max pooling, global pooling and a dense head.

    Filters double at every block. ``preprocessing`` is a list of dicts
    ``{"kind": "Rescaling", "scale": 1 / 255}``-style placed first.
    """
    _check_head(head)
    graph, node = _start(input_shape, preprocessing, "cnn")
    for block in range(blocks):
        for _ in range(convs_per_block):
            node = _conv_bn_relu(graph, node, filters * 2 ** block)
        if min(graph.shapes()[node][:2]) > 1:
            node = graph.add("MaxPooling2D", node, pool_size=2, padding="same")
    node = graph.add("GlobalAveragePooling2D", node)
    _head(graph, node, num_outputs, head, dropout)
    return graph


def resnet(input_shape: Sequence[int], num_outputs: int, head: str = "softmax",
           stages: int = 2, blocks_per_stage: int = 1, filters: int = 16,
           dropout: float = 0.25, preprocessing: Sequence[dict] | None = None) -> Graph:
    """A small ResNet: a conv stem, then stages of residual blocks separated by pooling."""
    _check_head(head)
    graph, node = _start(input_shape, preprocessing, "resnet")
    node = _conv_bn_relu(graph, node, filters)
    for stage in range(stages):
        width = filters * 2 ** stage
        if stage > 0:
            if min(graph.shapes()[node][:2]) > 1:
                node = graph.add("MaxPooling2D", node, pool_size=2, padding="same")
            node = _conv_bn_relu(graph, node, width, kernel_size=1)
        for _ in range(blocks_per_stage):
            branch = _conv_bn_relu(graph, node, width)
            branch = graph.add("Conv2D", branch, filters=width, kernel_size=3,
                               padding="same", use_bias=False)
            branch = graph.add("BatchNormalization", branch, momentum=0.9)
            graph.skips.append({"from": node, "to": branch, "kind": "add"})
            node = graph.add("Add", [node, branch])
            node = graph.add("ReLU", node)
    node = graph.add("GlobalAveragePooling2D", node)
    _head(graph, node, num_outputs, head, dropout)
    return graph


def mlp(input_shape: Sequence[int], num_outputs: int, head: str = "softmax",
        layers: int = 2, units: int = 128, dropout: float = 0.25,
        preprocessing: Sequence[dict] | None = None) -> Graph:
    """Dense-BN-ReLU layers on the flattened input, then a dense head."""
    _check_head(head)
    graph, node = _start(input_shape, preprocessing, "mlp")
    if len(graph.shapes()[node]) > 1:
        node = graph.add("Flatten", node)
    for _ in range(layers):
        node = graph.add("Dense", node, units=units, use_bias=False)
        node = graph.add("BatchNormalization", node, momentum=0.9)
        node = graph.add("ReLU", node)
    _head(graph, node, num_outputs, head, dropout)
    return graph
