"""Device discovery through tf.config only (no shelling out to vendor tools)."""
from __future__ import annotations


def default_strategy():
    """MirroredStrategy over all visible GPUs when there are several, else ``None`` (default strategy)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return None
