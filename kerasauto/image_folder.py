"""Images from a folder: one sub-folder per class (labels are the folder names), or any folder of
image files to predict on. Read with ``keras.utils.image_dataset_from_directory``.

The images are read into one ``uint8`` array, resized to a common size: the size the estimator
was fitted on, or, when fitting, the size of the folder's first image. (Streaming folders larger
than memory is not done yet.)
"""
from __future__ import annotations

import os
from typing import Any, NamedTuple, Sequence

import numpy as np

#: File types ``image_dataset_from_directory`` reads.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}
_BATCH = 256


class ImageFolder(NamedTuple):
    """What :func:`read_image_folder` read: images (N, H, W, C) uint8, their labels (the class
    folder names, or None), the files in the same order, and the class names found."""

    images: np.ndarray
    labels: np.ndarray | None
    paths: list[str]
    class_names: list[str]


def is_folder_input(x: Any) -> bool:
    """Whether ``x`` names a folder (a ``str`` or path), rather than holding images."""
    return isinstance(x, (str, os.PathLike))


def _image_files(root: str) -> list[str]:
    found = []
    for folder, _, names in os.walk(root):
        found += [os.path.join(folder, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def _first_image_shape(path: str) -> tuple[int, int, int]:
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    return tuple(int(v) for v in image.shape)


def read_image_folder(path: Any, name: str = "x", image_shape: Sequence[int] | None = None,
                      labelled: bool = True) -> ImageFolder:
    """Read the images under ``path`` into memory.

    ``labelled``: ``path`` holds one sub-folder per class (at least two), and the labels are
    the sub-folders' names; otherwise every image file under ``path`` is read, without labels.
    ``image_shape`` (height, width, channels) is the size and colour mode to read the images
    in; by default the first image's. Raises ``ValueError`` naming ``name`` when the folder is
    missing, has no images, or (labelled) fewer than two class folders.
    """
    import keras

    root = os.fspath(path)
    if not os.path.isdir(root):
        raise ValueError(f"{name} is {root!r}, which is not a directory; give a folder of images "
                         "(one sub-folder per class) or an array of images.")
    files = _image_files(root)
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if labelled and len(classes) < 2:
        raise ValueError(f"{name}: {root!r} must hold one sub-folder of images per class (at "
                         f"least two), found {len(classes)} sub-folder(s).")
    if not files:
        raise ValueError(f"{name}: {root!r} holds no image files ({', '.join(IMAGE_EXTENSIONS)}).")
    height, width, channels = image_shape if image_shape is not None else _first_image_shape(files[0])
    if channels not in _COLOR_MODES:
        raise ValueError(f"{name}: images with {channels} channels cannot be read from a folder "
                         "(1, 3 or 4 are).")
    dataset = keras.utils.image_dataset_from_directory(
        root, labels="inferred" if labelled else None, label_mode="int",
        color_mode=_COLOR_MODES[channels], image_size=(height, width), batch_size=_BATCH,
        shuffle=False, verbose=False)
    images, labels = [], []
    for batch in dataset:
        batch_images, batch_labels = batch if labelled else (batch, None)
        images.append(np.clip(np.round(batch_images.numpy()), 0, 255).astype(np.uint8))
        if labelled:
            labels.append(batch_labels.numpy())
    class_names = list(dataset.class_names) if labelled else []
    named = np.asarray(class_names)[np.concatenate(labels)] if labelled else None
    return ImageFolder(np.concatenate(images), named, list(dataset.file_paths), class_names)
