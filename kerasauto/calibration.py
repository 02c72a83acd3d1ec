"""Data-dependent set-up of the identity BatchNormalization layers that 'deeper' inserts.

An inserted BatchNormalization is the identity in inference mode whatever its moving statistics,
as long as gamma = sqrt(moving_variance + epsilon) and beta = moving_mean. Setting those statistics
to the real mean and variance of the layer's input makes it (nearly) the identity in training mode
too, so the first training steps of a child do not scramble what it inherited.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def calibrate_batchnorms(model, layer_names: Sequence[str], x: np.ndarray,
                         batch_size: int = 256) -> None:
    """Set the named BatchNormalization layers of ``model`` to identities matched to data ``x``."""
    import keras

    names = [n for n in layer_names if n in {layer.name for layer in model.layers}]
    if not names or len(x) == 0:
        return
    layers = [model.get_layer(n) for n in names]
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    activations = probe.predict(x, batch_size=batch_size, verbose=0)
    if len(layers) == 1:
        activations = [activations]
    for layer, values in zip(layers, activations):
        axes = tuple(range(values.ndim - 1))
        mean = values.mean(axis=axes).astype(np.float32)
        variance = values.var(axis=axes).astype(np.float32)
        gamma = np.sqrt(variance + layer.epsilon).astype(np.float32)
        layer.set_weights([gamma, mean, mean, variance])
