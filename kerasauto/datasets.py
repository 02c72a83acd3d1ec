"""Small, dependency-light loaders for the image data sets used in tests and benchmarks.

Everything here works offline:

* :func:`load_fashion_mnist` reads the IDX files shipped by the Debian package
  ``dataset-fashion-mnist`` (or any directory holding the same four files).
* :func:`load_digits_images` turns scikit-learn's bundled 8x8 digits into a tiny
  image-classification problem with a fixed train/test split.

Images are returned as ``uint8`` arrays shaped ``(N, H, W, 1)`` and labels as
``int64`` arrays shaped ``(N,)``.
"""

from __future__ import annotations

import gzip
import os
from typing import BinaryIO

import numpy as np

__all__ = ["load_idx", "load_fashion_mnist", "load_digits_images", "FASHION_MNIST_DIR"]

#: Where the Debian package ``dataset-fashion-mnist`` installs its files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

Split = tuple[np.ndarray, np.ndarray]

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

_FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def _open_maybe_gzip(path: str) -> BinaryIO:
    """Open ``path`` for binary reading, transparently un-gzipping it if needed."""
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # type: ignore[return-value]


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST file format), gzip-compressed or plain.

    Args:
        path: Path to the file.

    Returns:
        An array with the file's shape and element type (native byte order).

    Raises:
        ValueError: If the file is not a valid IDX file (bad magic number,
            unknown type code, or a size that does not match its header).
    """
    path = os.fspath(path)
    try:
        with _open_maybe_gzip(path) as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot read IDX file ({exc})") from exc

    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (unknown type code 0x{type_code:02x})")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header_size != expected:
        raise ValueError(
            f"{path}: IDX payload has {len(data) - header_size} bytes, "
            f"header shape {shape} needs {expected}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def load_fashion_mnist(path: str | None = None) -> tuple[Split, Split]:
    """Load Fashion-MNIST from local IDX files.

    Args:
        path: Directory holding ``train-images-idx3-ubyte.gz``,
            ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
            ``t10k-labels-idx1-ubyte.gz``. Defaults to :data:`FASHION_MNIST_DIR`,
            where ``apt-get install dataset-fashion-mnist`` puts them.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``uint8`` images shaped
        ``(N, 28, 28, 1)`` and ``int64`` labels in ``0..9``.

    Raises:
        FileNotFoundError: If one of the four files is missing.
        ValueError: If a file is not a valid IDX file or the counts disagree.
    """
    directory = FASHION_MNIST_DIR if path is None else path
    paths = {key: os.path.join(directory, name) for key, name in _FASHION_FILES.items()}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found: {', '.join(missing)}. "
            "Install them with `apt-get install dataset-fashion-mnist` "
            "or pass the directory holding them as `path`."
        )
    arrays = {key: load_idx(p) for key, p in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{directory}: {split} images {images.shape} do not match labels {labels.shape}"
            )
    return (
        (_as_images(arrays["x_train"]), arrays["y_train"].astype(np.int64)),
        (_as_images(arrays["x_test"]), arrays["y_test"].astype(np.int64)),
    )


def load_digits_images(test_size: float = 0.25, random_state: int = 0) -> tuple[Split, Split]:
    """Load scikit-learn's 8x8 digits as a small image-classification data set.

    Pixel values ``0..16`` are rescaled to ``0..255`` (``round(v * 255 / 16)``).
    The split is stratified and fixed by ``random_state``.

    Args:
        test_size: Fraction of the 1797 samples held out for testing.
        random_state: Seed of the split.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``uint8`` images shaped
        ``(N, 8, 8, 1)`` and ``int64`` labels in ``0..9``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_size, random_state=random_state, stratify=labels
    )
    return (_as_images(x_train), y_train), (_as_images(x_test), y_test)


def _as_images(array: np.ndarray) -> np.ndarray:
    """Return ``array`` (N, H, W) as a contiguous ``uint8`` array shaped (N, H, W, 1)."""
    return np.ascontiguousarray(array, dtype=np.uint8)[..., np.newaxis]
