"""Writing a model for others: Keras files (.h5 / .keras) and TF-Serving SavedModels, atomically."""
from __future__ import annotations

import os
import shutil
import tempfile

from kerasauto.engine import io

KERAS_EXTENSIONS = (".h5", ".keras")


def save_keras_file(model, path: str) -> str:
    """Save ``model`` as ``.h5`` or ``.keras`` (by extension); loads with plain ``keras.models.load_model``."""
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in KERAS_EXTENSIONS:
        raise ValueError(f"path must end in .h5 or .keras, got {path!r}.")
    io.atomic_write(path, lambda tmp: model.save(tmp), suffix=extension)
    return path


def save_serving_model(model, directory: str, input_name: str = "images",
                       output_name: str = "probabilities") -> str:
    """A SavedModel whose ``serving_default`` signature maps raw inputs (float images, or
    ``tf.string`` texts) named ``input_name`` to the model's outputs.

    The directory is written beside the target and moved into place once complete.
    """
    import keras
    import tensorflow as tf

    directory = os.fspath(directory)
    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".tmp-savedmodel-", dir=parent)
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        dtype = tf.string if model.inputs[0].dtype == "string" else tf.float32
        spec = tf.TensorSpec((None,) + tuple(model.input_shape[1:]), dtype, name=input_name)
        archive.add_endpoint(name="serving_default",
                             fn=lambda images: {output_name: model(images, training=False)},
                             input_signature=[spec])
        archive.write_out(staging, verbose=False)
        if os.path.exists(directory):
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)
    return directory
