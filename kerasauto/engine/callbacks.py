"""Keras callbacks a trial trains with: the wall-clock deadline, best-epoch keeping, NaN guard."""
from __future__ import annotations

import math
import time

import keras
import numpy as np


class Deadline(keras.callbacks.Callback):
    """Stops training at a wall-clock time; an epoch cut short still validates.

    Checked after every batch, and after every epoch so that no epoch starts past the deadline
    (when validation crossed it, the next epoch would otherwise run one batch and validate again,
    reporting that one batch's loss and accuracy as the epoch's). With ``min_epoch_fraction``,
    an epoch starts only if that fraction of the previous epoch's duration is left: the epochs a
    trial reports, and keeps, are then means over at least that share of the data. Batches stop
    early enough for the validation pass that follows a cut (as long as the last one took), so
    that training ends at the deadline, not one validation after it.
    """

    def __init__(self, deadline: float | None, min_epoch_fraction: float = 0.0):
        super().__init__()
        self.deadline = deadline or None
        self.min_epoch_fraction = min_epoch_fraction
        self.reached = False
        self._epoch_started = 0.0
        self._validation_started = 0.0
        self.validation_seconds = 0.0

    def _stop_if_within(self, seconds: float) -> None:
        if self.deadline and time.time() + seconds >= self.deadline:
            self.reached = True
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self._stop_if_within(self.validation_seconds)

    def on_test_begin(self, logs=None):
        self._validation_started = time.time()

    def on_test_end(self, logs=None):
        self.validation_seconds = time.time() - self._validation_started

    def on_epoch_end(self, epoch, logs=None):
        self._stop_if_within(self.min_epoch_fraction * (time.time() - self._epoch_started))


class NanGuard(keras.callbacks.Callback):
    """Stops training as soon as the loss is NaN or infinite, and remembers that it did."""

    def __init__(self):
        super().__init__()
        self.diverged = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = True
            self.model.stop_training = True


class StepTimer(keras.callbacks.Callback):
    """Measures seconds per training step, input pipeline included, leaving out each epoch's first,
    and what the first epoch cost beyond its steps.

    The first step of an epoch pays for tracing and filling the pipeline; the rest is the
    steady pace that decides how many epochs fit in a time budget. When training stopped
    before any steady step (a deadline right after the first), the first steps' pace is the
    estimate: too high, which errs on the side of smaller proposals.
    """

    def __init__(self):
        super().__init__()
        self.seconds, self.steps = 0.0, 0
        self.first_seconds, self.first_steps = 0.0, 0
        self._last: float | None = None
        self._first_of_epoch = True
        self.first_epoch_ended: float | None = None
        self.first_epoch_steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._last, self._first_of_epoch = None, True

    def on_train_batch_begin(self, batch, logs=None):
        if self._last is None:
            self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._first_of_epoch:
            self.first_seconds += now - self._last
            self.first_steps += 1
            self._first_of_epoch = False
        else:
            self.seconds += now - self._last
            self.steps += 1
        self._last = now

    def on_epoch_end(self, epoch, logs=None):
        if self.first_epoch_ended is None:  # after its validation pass
            self.first_epoch_ended = time.perf_counter()
            self.first_epoch_steps = self.steps + self.first_steps

    def startup_seconds(self, started: float) -> float:
        """Seconds from ``started`` (a ``time.perf_counter()``) to the end of the first epoch,
        less what that epoch's steps take at the steady pace: building, tracing, validating.

        Without a steady step (or a finished epoch) to tell them apart, all of it counts.
        """
        ended = self.first_epoch_ended if self.first_epoch_ended is not None else time.perf_counter()
        pace = self.seconds / self.steps if self.steps else 0.0
        return ended - started - pace * self.first_epoch_steps

    def seconds_per_step(self) -> float | None:
        if self.steps:
            return self.seconds / self.steps
        return self.first_seconds / self.first_steps if self.first_steps else None


class BestEpochKeeper(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by ``monitor`` and the history of all epochs.

    ``score()`` is the mean of the monitored value over the ``window`` epochs ending at the best
    one: ``1`` scores exactly the weights that are kept; a longer window smooths a noisy
    curve but also counts the earlier, worse weights.
    """

    def __init__(self, monitor: str, direction: str = "max", window: int = 1):
        super().__init__()
        self.monitor, self.direction, self.window = monitor, direction, window
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None

    def _better(self, value: float, best: float) -> bool:
        return value > best if self.direction == "max" else value < best

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.history.append(logs)
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if self.best_epoch is None or self._better(value, self.history[self.best_epoch][self.monitor]):
            self.best_epoch = len(self.history) - 1
            self.best_weights = self.model.get_weights()

    def best_logs(self) -> dict:
        """The metrics of the best epoch, with the monitored value replaced by ``score()``."""
        logs = dict(self.history[self.best_epoch])
        logs[self.monitor] = self.score()
        return logs

    def score(self) -> float:
        start = max(0, self.best_epoch - self.window + 1)
        values = [h[self.monitor] for h in self.history[start:self.best_epoch + 1]
                  if math.isfinite(h.get(self.monitor, math.nan))]
        return float(np.mean(values))


class WallClockCosine(keras.callbacks.Callback):
    """Cosine learning-rate decay from ``initial`` to ~0 by a wall-clock ``deadline``.

    For training that must end at a time rather than after a number of epochs: the learning
    rate is annealed whatever the speed of the machine. With ``total_steps`` too, the decay
    follows whichever of time and steps runs out first.
    """

    def __init__(self, initial: float, deadline: float | None, floor: float = 0.01,
                 total_steps: int | None = None):
        super().__init__()
        self.initial, self.deadline, self.floor = initial, deadline, floor
        self.total_steps = total_steps
        self.started = None
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.started, self.steps = time.time(), 0

    def progress(self) -> float:
        """How far training is, from 0 to 1, by time and by steps."""
        done = 0.0
        if self.deadline:
            done = (time.time() - self.started) / max(self.deadline - self.started, 1e-9)
        if self.total_steps:
            done = max(done, self.steps / self.total_steps)
        return min(max(done, 0.0), 1.0)

    def on_train_batch_begin(self, batch, logs=None):
        factor = self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * self.progress()))
        self.model.optimizer.learning_rate.assign(self.initial * factor)
        self.steps += 1
