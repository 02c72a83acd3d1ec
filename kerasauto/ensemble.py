"""Several trained networks as ONE plain Keras model: the members side by side inside one
functional model, their outputs averaged by a built-in ``Average`` layer (class probabilities
for a classifier, predictions for a regressor). Loads with ``keras.models.load_model``."""
from __future__ import annotations

from typing import Sequence


def average_model(members: Sequence, name: str = "kerasauto_ensemble"):
    """A functional model whose output is the mean of ``members``' outputs on the same input.

    ``members`` are built models with one input of the same shape; one member is returned as
    it is. Each member is wrapped under a name of its own (``member_0``, ...), as members grown
    from one seed share their layer names.
    """
    import keras

    members = list(members)
    if not members:
        raise ValueError("average_model needs at least one member.")
    if len(members) == 1:
        return members[0]
    shape = tuple(members[0].input_shape[1:])
    if any(tuple(m.input_shape[1:]) != shape for m in members):
        raise ValueError(f"Every member must take inputs of shape {shape}.")
    inputs = keras.Input(shape=shape, name="images")
    outputs = [keras.Model(m.inputs, m.outputs[0], name=f"member_{i}")(inputs)
               for i, m in enumerate(members)]
    return keras.Model(inputs, keras.layers.Average(name="average")(outputs), name=name)
