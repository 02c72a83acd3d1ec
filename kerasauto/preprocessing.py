"""What goes in front of the searched network (inside the exported model) and training-time augmentation."""
from __future__ import annotations

import math

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


def augmentation_layers(image_shape: tuple[int, ...], flip: bool = False) -> list:
    """Training-time augmentation: small translations (and horizontal flips if ``flip``).

    These run on the training batches only; they never become part of an exported model.
    """
    import keras

    layers = [keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant")]
    if flip:
        layers.insert(0, keras.layers.RandomFlip("horizontal"))
    return layers
