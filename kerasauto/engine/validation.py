"""Input validation in one place (scikit-learn style): clear errors naming the argument.

Every public entry point checks its arguments here before anything reaches TensorFlow.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

MAX_VALIDATION_SPLIT = 0.9
#: The shortest search worth starting, in seconds.
MIN_TIME_LIMIT = 1.0
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Integral float labels beyond this are not exactly representable as integers.
MAX_EXACT_INTEGER = 2.0 ** 53


def check_images(x: Any, name: str = "x", expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A numeric image array of shape (N, H, W, C); (N, H, W) gains a channel axis.

    A list of equally sized images is stacked; images of different sizes are refused (resize
    them first: the model resizes only as a whole, inside the exported graph).
    """
    if isinstance(x, (list, tuple)):
        if len(x) == 0:
            raise ValueError(f"{name} is empty: expected at least one image.")
        try:
            shapes = {np.shape(item) for item in x}
        except ValueError:
            raise ValueError(f"{name} contains ragged nested lists; give equally sized images.") from None
        if len(shapes) > 1:
            raise ValueError(f"{name} contains images of different sizes {sorted(shapes)[:3]}...; "
                             "resize them to one size before passing them.")
    try:
        array = np.asarray(x)
    except (ValueError, TypeError) as error:
        raise TypeError(f"{name} must be an array of images; could not convert it: {error}") from None
    if array.dtype.kind not in "iuf" or (array.dtype.kind == "f" and array.dtype.itemsize > 8):
        raise TypeError(f"{name} must hold real numbers (uint8/int or float16/32/64 pixels), "
                        f"got dtype {array.dtype}.")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise ValueError(f"{name} must have shape (N, height, width) or (N, height, width, channels), "
                         f"got shape {array.shape}.")
    if array.shape[0] == 0 or 0 in array.shape[1:]:
        raise ValueError(f"{name} is empty (shape {array.shape}).")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
        if np.abs(array).max() > FLOAT32_MAX:
            raise ValueError(f"{name} has values beyond float32's range (|v| > {FLOAT32_MAX:.3g}).")
    if expected_shape is not None and tuple(array.shape[1:]) != tuple(expected_shape):
        raise ValueError(f"{name} has images of shape {array.shape[1:]}, but the model was fitted "
                         f"on images of shape {tuple(expected_shape)}.")
    return array


def check_texts(x: Any, name: str = "x") -> np.ndarray:
    """Raw texts as a 1-D object array of ``str``: a list, tuple or array of strings (bytes are
    decoded as UTF-8); an (N, 1) array is flattened. Refuses non-strings, naming the first."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of texts, not a single {type(x).__name__}; "
                        f"wrap it in a list.")
    if not isinstance(x, (list, tuple, np.ndarray)) and not hasattr(x, "__array__"):
        raise TypeError(f"{name} must be a list or array of strings, got {type(x).__name__}.")
    array = np.asarray(x, dtype=object)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one text per entry), got shape {array.shape}.")
    if len(array) == 0:
        raise ValueError(f"{name} is empty: expected at least one text.")
    texts = np.empty(len(array), dtype=object)
    for index, value in enumerate(array):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{name}[{index}] is bytes that are not UTF-8.") from None
        if not isinstance(value, str):
            raise TypeError(f"{name} must hold strings; {name}[{index}] is "
                            f"{type(value).__name__} {value!r:.40}.")
        texts[index] = value
    return texts


def check_class_labels(y: Any, n_samples: int, name: str = "y", noun: str = "images") -> np.ndarray:
    """1-D class labels (ints, strings or bools, one type), as many as there are inputs."""
    labels = _as_1d(y, name)
    _check_length(labels, n_samples, name, noun)
    if labels.dtype == object:
        kinds = {type(v).__name__ for v in labels}
        kinds = {"int" if k.startswith("int") else k for k in kinds}
        if len(kinds) > 1:
            raise TypeError(f"{name} mixes label types {sorted(kinds)}; use one type.")
        try:
            labels = np.asarray(labels.tolist())
        except (ValueError, TypeError):
            raise TypeError(f"{name} holds labels that are not ints or strings.") from None
    if labels.dtype.kind not in "iubUSf":
        raise TypeError(f"{name} must hold int, string or bool class labels, got dtype {labels.dtype}.")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all():
            raise ValueError(f"{name} contains NaN or infinite labels.")
        if np.abs(labels).max() > MAX_EXACT_INTEGER:
            raise ValueError(f"{name} holds float labels too large to be exact integers (> 2**53).")
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"{name} holds non-integer floats; class labels must be discrete "
                             "(use ImageRegressor or TextRegressor for continuous targets).")
        labels = labels.astype(np.int64)
    return labels


def check_targets(y: Any, n_samples: int, name: str = "y", noun: str = "images") -> np.ndarray:
    """Regression targets as float32, shape (N,) or (N, k), finite."""
    try:
        targets = np.asarray(y)
    except (ValueError, TypeError):
        raise TypeError(f"{name} must be an array of numbers.") from None
    if targets.dtype == bool or targets.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {targets.dtype}.")
    if targets.ndim == 0 or targets.ndim > 2:
        raise ValueError(f"{name} must have shape (N,) or (N, k), got {targets.shape}.")
    _check_length(targets, n_samples, name, noun)
    targets = targets.astype(np.float32)
    if not np.isfinite(targets).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return targets


def check_classes(labels: np.ndarray, name: str = "y") -> np.ndarray:
    """The sorted distinct classes; at least two are needed to classify."""
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"{name} has only one class ({classes[0]!r}); at least two are needed.")
    return classes


def check_time_limit(value: Any, name: str = "time_limit") -> float | None:
    """None, or a positive finite number of seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}.")
    if not math.isfinite(value) or value < MIN_TIME_LIMIT:
        raise ValueError(f"{name} must be a finite number of seconds >= {MIN_TIME_LIMIT:g}, "
                         f"got {value!r}.")
    return float(value)


def check_positive_float(value: Any, name: str) -> float:
    """A positive, finite number (e.g. a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number, got {value!r}.")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """A number in (0, 1] (e.g. a factor applied to a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1], got {value!r}.")
    if not (0 < value <= 1):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}.")
    return float(value)


def check_positive_int(value: Any, name: str, allow_none: bool = True) -> int | None:
    """None (if allowed) or an integer >= 1."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_choice(value: Any, choices: tuple, name: str) -> Any:
    """One of ``choices``, compared by type and value (so ``1`` is not ``True``)."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}.")
    return value


def check_non_negative_float(value: Any, name: str) -> float:
    """A finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number >= 0, got {value!r}.")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def check_augmentation(value: Any, allowed: tuple[str, ...], name: str = "augmentation") -> tuple[str, ...]:
    """A tuple of augmentation names from ``allowed``; ``None`` or ``()`` means none."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a sequence of names from {allowed}, got {value!r}.")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise ValueError(f"{name} has unknown augmentations {unknown}; choose from {allowed}.")
    return tuple(dict.fromkeys(value))


def check_validation_split(value: Any, name: str = "validation_split") -> float:
    """A fraction strictly between 0 and MAX_VALIDATION_SPLIT."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number between 0 and 1, got {value!r}.")
    if not (0 < value < MAX_VALIDATION_SPLIT):
        raise ValueError(f"{name} must be in (0, {MAX_VALIDATION_SPLIT}), got {value!r}.")
    return float(value)


def _label_kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, (str, bytes)):
        return "string"
    return type(value).__name__


def _as_1d(y: Any, name: str) -> np.ndarray:
    if y is None:
        raise ValueError(f"{name} is required.")
    if isinstance(y, (list, tuple)):
        kinds = {_label_kind(v) for v in y}
        if len(kinds) > 1:
            raise TypeError(f"{name} mixes label types {sorted(kinds)}; use one type.")
    try:
        labels = np.asarray(y)
    except (ValueError, TypeError):
        raise TypeError(f"{name} must be a 1-D array of labels.") from None
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per image), got shape {labels.shape}.")
    if labels.dtype.kind == "c":
        raise TypeError(f"{name} must not hold complex numbers.")
    return labels


def _check_length(values: np.ndarray, n_samples: int, name: str, noun: str = "images") -> None:
    if len(values) == 0:
        raise ValueError(f"{name} is empty.")
    if len(values) != n_samples:
        raise ValueError(f"{name} has {len(values)} entries but x has {n_samples} {noun}; "
                         "they must match.")
