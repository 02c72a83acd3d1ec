"""The optimizer's state (Adam's moments, its step count) saved beside a trial's weights and carried
over to the trials that continue or morph that network, so that a child does not restart its
optimizer.

Slot variables are matched to the model's weights by layer and weight name (``conv2d_4/kernel``),
which morphs keep stable. A widened weight keeps its old entries' state; its new entries, and
the weights a morph adds, start like this: a signed slot (a first moment) at 0, a non-negative
one (a second moment) at the mean of the parent's values for that weight, or for weights of that
name (``kernel``, ``gamma``...) when the weight is new, so that new units take steps of the
usual size rather than Adam's outsized first steps with a second moment of 0.
"""
from __future__ import annotations

from io import BytesIO as _BytesIO

import numpy as np

from kerasauto.engine import io

ITERATIONS = "iterations"


def _weight_key(variable) -> str:
    """``layer/weight`` of a model variable (the model's own name left out)."""
    return "/".join(variable.path.split("/")[-2:])


def _slots(optimizer, variable) -> dict[str, object]:
    """The optimizer's slot variables of ``variable`` by slot name (e.g. momentum, velocity)."""
    prefix = variable.path.replace("/", "_") + "_"
    return {v.name[len(prefix):]: v for v in optimizer.variables if v.name.startswith(prefix)}


def save(path: str, model) -> None:
    """Write the compiled, trained ``model``'s optimizer state to ``path`` (HDF5, atomically)."""
    import h5py
    import tensorflow as tf

    optimizer = model.optimizer
    arrays = {}
    for variable in model.trainable_variables:
        for slot, value in _slots(optimizer, variable).items():
            arrays[f"{_weight_key(variable)}/{slot}"] = np.asarray(value)
    iterations = int(np.asarray(optimizer.iterations))

    buffer = _BytesIO()  # h5py needs a seekable file; tf.io.gfile (gs:// too) writes bytes
    with h5py.File(buffer, "w") as store:
        store.attrs[ITERATIONS] = iterations
        for key, value in arrays.items():
            store.create_dataset(key, data=value)

    def write(tmp: str) -> None:
        with tf.io.gfile.GFile(tmp, "wb") as handle:
            handle.write(buffer.getvalue())

    io.atomic_write(path, write, suffix=".h5")


def _read(path: str) -> tuple[int, dict[str, np.ndarray]]:
    import h5py
    import tensorflow as tf

    arrays: dict[str, np.ndarray] = {}
    with tf.io.gfile.GFile(path, "rb") as handle:
        buffer = _BytesIO(handle.read())
    with h5py.File(buffer, "r") as store:
        iterations = int(store.attrs.get(ITERATIONS, 0))
        store.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                         if isinstance(item, h5py.Dataset) else None)
    return iterations, arrays


def _fill_value(values: np.ndarray) -> float:
    return float(values.mean()) if values.size and values.min() >= 0 else 0.0


def load(path: str, model) -> int:
    """Set the compiled ``model``'s optimizer state from ``path`` (written by :func:`save` for the
    same network or its parent); returns how many of its weights found a saved state."""
    iterations, arrays = _read(path)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    optimizer.iterations.assign(iterations)
    by_name: dict[tuple[str, str], list[np.ndarray]] = {}
    for key, value in arrays.items():
        _, weight, slot = key.rsplit("/", 2)
        by_name.setdefault((weight, slot), []).append(value.reshape(-1))
    found = 0
    for variable in model.trainable_variables:
        key = _weight_key(variable)
        matched = False
        for slot, target in _slots(optimizer, variable).items():
            shape = tuple(target.shape)
            saved = arrays.get(f"{key}/{slot}")
            if saved is None:
                same_name = by_name.get((key.split("/")[-1], slot), [])
                fill = _fill_value(np.concatenate(same_name)) if same_name else 0.0
                target.assign(np.full(shape, fill, dtype=target.dtype))
                continue
            matched = True
            value = np.full(shape, _fill_value(saved), dtype=saved.dtype)
            if saved.ndim == len(shape):
                overlap = tuple(slice(0, min(a, b)) for a, b in zip(saved.shape, shape))
                value[overlap] = saved[overlap]
            target.assign(value)
        found += matched
    return found
