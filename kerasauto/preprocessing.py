"""What goes in front of the searched network (inside the exported model) and training-time augmentation."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Images with a side longer than this are resized down inside the model, keeping the aspect ratio.
MAX_IMAGE_SIDE = 64


def preprocessing_specs(x: np.ndarray) -> list[dict]:
    """Layer specs that turn raw images into network inputs: per-channel normalisation, then resizing.

    The statistics come from the training images, so the exported model takes raw pixels.
    """
    axes = tuple(range(x.ndim - 1))
    sample = x[: min(len(x), 20000)].astype(np.float64)
    mean = sample.mean(axis=axes)
    variance = np.maximum(sample.var(axis=axes), 1e-6)
    specs = [{"kind": "Normalization", "axis": -1,
              "mean": [float(v) for v in mean], "variance": [float(v) for v in variance]}]
    height, width = x.shape[1:3]
    if max(height, width) > MAX_IMAGE_SIDE:
        scale = MAX_IMAGE_SIDE / max(height, width)
        specs.append({"kind": "Resizing", "height": max(1, math.floor(height * scale)),
                      "width": max(1, math.floor(width * scale))})
    return specs


#: Training-time augmentations an estimator can be asked for.
AUGMENTATIONS = ("translate", "flip")


def augmentation_layers(augmentation: Sequence[str], seed: int = 0) -> list:
    """Training-time augmentation layers for the names in ``augmentation`` (flip before translate).

    These run on the training batches only; they never become part of an exported model. Their
    random draws come from ``seed``: unseeded, two searches with the same seed trained the same
    architecture to different scores.
    """
    import keras

    layers = []
    if "flip" in augmentation:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if "translate" in augmentation:
        layers.append(keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 1))
    return layers


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int,
                     augmentation: Sequence[str] = (), seed: int = 0):
    """A shuffled, batched ``tf.data`` pipeline of (float32 images, labels), augmented on the fly,
    repeated without end, and the number of its batches per pass over the data.

    ``augmentation`` names come from ``AUGMENTATIONS``; an empty one means no augmentation.
    Pass the count to ``model.fit`` as ``steps_per_epoch``. The pipeline runs without tf.data's
    autotuning: when a deadline stopped training, ``fit`` waited in the iterator's destructor
    for the autotuner's thread before it returned (2.4-3.9 s in 1-2 of every 6 trials on 20 000
    images; 25 s at the end of a 25-minute Fashion-MNIST search). Indices over all images are
    shuffled, and each batch is gathered from them.
    """
    import keras
    import tensorflow as tf

    layers = augmentation_layers(augmentation, seed)
    augmenter = keras.Sequential(layers) if layers else None
    images, labels = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    indices = tf.data.Dataset.range(len(x)).shuffle(len(x), seed=seed).batch(batch_size)
    steps_per_epoch = int(indices.cardinality())

    def gather(batch):
        batch_images = tf.gather(images, batch)
        if batch_images.dtype != tf.string:  # raw texts stay strings: the model tokenises them
            batch_images = tf.cast(batch_images, tf.float32)
        if augmenter is not None:
            batch_images = augmenter(batch_images, training=True)
        return batch_images, tf.gather(labels, batch)

    # Sequential map: the augmentation's random draws then happen in batch order, so the same
    # seed gives the same model (a parallel map reorders them between runs).
    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = indices.repeat().map(gather).prefetch(2).with_options(options)
    return dataset, steps_per_epoch
