"""Seed architectures: a plain CNN, a small ResNet, an MLP and, for texts, an n-gram MLP and a
separable 1-D CNN on embeddings, sized for a 2-core CPU."""
from __future__ import annotations

from typing import Sequence

from kerasauto import layer_specs
from kerasauto.graph import DEFAULT_INPUT_DTYPE, INPUT, Graph

HEADS = ("softmax", "linear")


def _check_head(head: str) -> None:
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}.")


def _start(input_shape: Sequence[int], preprocessing: Sequence[dict] | None,
           name: str) -> tuple[Graph, str]:
    """A graph holding only the preprocessing layers; returns it and its last node.

    The input's dtype is the one the first preprocessing layer reads (strings for
    ``TextVectorization``)."""
    first = layer_specs.KINDS.get(preprocessing[0]["kind"]) if preprocessing else None
    dtype = first.input_dtype if first is not None and first.input_dtype else DEFAULT_INPUT_DTYPE
    graph = Graph(input_shape=tuple(int(d) for d in input_shape), name=name, input_dtype=dtype)
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


def sepcnn(preprocessing: Sequence[dict], num_outputs: int, head: str = "softmax",
           blocks: int = 2, filters: int = 32, embedding_dim: int = 64, kernel_size: int = 5,
           dropout: float = 0.2) -> Graph:
    """Texts as token ids (a ``TextVectorization`` in ``int`` mode first in ``preprocessing``):
    an embedding, then blocks of two separable 1-D convolutions with batch norm, max pooling
    between blocks, global average pooling and a dense head (the sequence model of Google's
    text-classification guide, with batch norm so that "deeper" can insert identities)."""
    _check_head(head)
    vectorizer = preprocessing[0]
    if vectorizer.get("kind") != "TextVectorization" or vectorizer.get("output_mode") != "int":
        raise ValueError("sepcnn needs a TextVectorization with output_mode='int' first.")
    graph, node = _start((), preprocessing, "sepcnn")
    node = graph.add("Embedding", node, input_dim=layer_specs.text_vocabulary_size(vectorizer),
                     output_dim=embedding_dim)
    if dropout > 0:
        node = graph.add("Dropout", node, rate=dropout)
    for block in range(blocks):
        for _ in range(2):
            node = graph.add("SeparableConv1D", node, filters=filters * 2 ** block,
                             kernel_size=kernel_size, padding="same", use_bias=False)
            node = graph.add("BatchNormalization", node, momentum=0.9)
            node = graph.add("ReLU", node)
        if block < blocks - 1 and graph.shapes()[node][0] > 1:
            node = graph.add("MaxPooling1D", node, pool_size=2, padding="same")
    node = graph.add("GlobalAveragePooling1D", node)
    _head(graph, node, num_outputs, head, dropout)
    return graph


def text_seed(preprocessing: Sequence[dict], num_outputs: int, head: str = "softmax",
              small: bool = False) -> Graph:
    """The seed for raw texts: an MLP on n-gram vectors (TF-IDF / multi-hot vectorizer) or a
    separable CNN on token ids (``int`` vectorizer); ``small`` halves it (a fallback)."""
    if preprocessing[0].get("output_mode", "int") == "int":
        return sepcnn(preprocessing, num_outputs, head, filters=16 if small else 32,
                      embedding_dim=32 if small else 64)
    return mlp((), num_outputs, head, layers=2, units=32 if small else 64, dropout=0.2,
               preprocessing=preprocessing)
