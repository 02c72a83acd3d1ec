"""Keras parts of the benchmark: time-aware callbacks, hand-written CNN, baseline hypermodel.

Only the public Keras 3 API is used, so this module also works under the
older Keras that an AutoKeras virtualenv pins.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras
from keras import layers

from harness import Clock, FitIntervals

Deadline = Callable[[], float]

#: Batch size used by every system the harness trains itself.
BATCH_SIZE = 128


class DeadlineCallback(keras.callbacks.Callback):
    """Stop training once ``time.monotonic()`` passes a deadline (checked after every batch).

    The deadline is read through a function, so it can move (e.g. from the end
    of the search to the end of the budget) even after Keras Tuner or AutoKeras
    deep-copied the callback: functions are copied by reference.
    """

    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def _check(self) -> None:
        if time.monotonic() >= self._deadline():
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._check()


class FitTimer(keras.callbacks.Callback):
    """Reports the wall interval of every ``model.fit`` it is passed to (steps and validation).

    ``record(started, ended)`` gets ``time.monotonic()`` values. Tuners deep-copy a trial's
    callbacks, and functions are copied by reference, so every copy reports to the same place.
    """

    def __init__(self, record: Callable[[float, float], None]) -> None:
        super().__init__()
        self._record = record
        self._started = 0.0

    @classmethod
    def into(cls, intervals: FitIntervals) -> "FitTimer":
        """A timer recording into ``intervals`` through a function: a bound method would be
        deep-copied along with its ``intervals``."""
        return cls(lambda started, ended: intervals.record(started, ended))

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._started = time.monotonic()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._record(self._started, time.monotonic())


class TimeCosineSchedule(keras.callbacks.Callback):
    """Cosine learning-rate decay driven by wall time instead of steps.

    Before every batch the learning rate is set to
    ``base * (floor + (1 - floor) * 0.5 * (1 + cos(pi * f)))`` where ``f`` is
    the fraction of ``[start, end]`` that has elapsed. This anneals fully in a
    fixed wall budget without knowing the epoch count in advance.
    """

    def __init__(self, base_lr: float, start: float, end: float, floor: float = 0.01) -> None:
        super().__init__()
        self.base_lr = base_lr
        self.start = start
        self.end = end
        self.floor = floor

    def current_lr(self) -> float:
        """Learning rate for the current wall time."""
        span = max(self.end - self.start, 1e-9)
        fraction = min(1.0, max(0.0, (time.monotonic() - self.start) / span))
        cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return self.base_lr * (self.floor + (1.0 - self.floor) * cosine)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate.assign(self.current_lr())


class ValidationCurve(keras.callbacks.Callback):
    """Record ``(seconds since clock start, val_accuracy)`` at the end of each epoch."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.points: list[tuple[float, float]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get("val_accuracy")
        if value is not None:
            self.points.append((self.clock.elapsed(), float(value)))


def compile_classifier(model: keras.Model, learning_rate: float) -> keras.Model:
    """Compile ``model`` with Adam, sparse categorical cross-entropy and accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


#: Batch-norm momentum. Keras' default 0.99 needs hundreds of steps before the
#: moving statistics are usable, so on small data sets (digits: 10 steps per
#: epoch) validation accuracy stays near chance for many epochs and early
#: stopping kills good trials. 0.9 fixes that at no cost on larger data.
BN_MOMENTUM = 0.9


def conv_bn_relu(x, filters: int):
    """3x3 convolution (no bias) -> batch norm -> ReLU."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return layers.ReLU()(x)


def augment(x, flip: bool):
    """The benchmark's training-time augmentation (inactive at inference): optional horizontal
    flip, +-10 % translation. Every system gets the same."""
    if flip:
        x = layers.RandomFlip("horizontal")(x)
    return layers.RandomTranslation(0.1, 0.1, fill_mode="constant")(x)


def build_handwritten_cnn(
    input_shape: tuple[int, ...], num_classes: int, flip: bool
) -> keras.Model:
    """The hand-written baseline: 3 blocks (32-64-128) of 2x conv-BN-ReLU + max-pool, GAP head.

    Augmentation (optional horizontal flip, +-10% translation) is active only
    while training. Pixels are expected as 0..255.
    """
    inputs = keras.Input(shape=input_shape)
    x = augment(layers.Rescaling(1.0 / 255.0)(inputs), flip)
    for filters in (32, 64, 128):
        x = conv_bn_relu(x, filters)
        x = conv_bn_relu(x, filters)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="handwritten_cnn")


def make_conv_hypermodel(input_shape: tuple[int, ...], num_classes: int,
                         flip: bool = False) -> Callable:
    """Return a Keras Tuner ``build(hp)`` function over a small conv-net space.

    Space: 1-3 conv blocks (conv-BN-ReLU, optionally doubled, then max-pool),
    filters 16-128 per block, dropout 0-0.5, dense head 32-256 units, Adam
    learning rate 1e-4..1e-2 (log). Training batches are augmented as the
    hand-written CNN's (``augment``), so that the search, not the data, differs.
    """

    def build(hp) -> keras.Model:
        inputs = keras.Input(shape=input_shape)
        x = augment(layers.Rescaling(1.0 / 255.0)(inputs), flip)
        double_conv = hp.Boolean("double_conv")
        for block in range(hp.Int("conv_blocks", 1, 3)):
            filters = hp.Int(f"filters_{block}", 16, 128, step=16)
            x = conv_bn_relu(x, filters)
            if double_conv:
                x = conv_bn_relu(x, filters)
            x = layers.MaxPooling2D(2, padding="same")(x)
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1))(x)
        x = layers.Dense(hp.Int("dense_units", 32, 256, step=32), activation="relu")(x)
        outputs = layers.Dense(num_classes, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        return compile_classifier(model, learning_rate)

    return build
