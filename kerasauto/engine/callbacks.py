"""Keras callbacks a trial trains with: the deadline and step limit, the planned learning rate,
the NaN guard and the step timer."""
from __future__ import annotations

import math
import time

import keras

from kerasauto.engine.budget import LearningRatePlan, TrialBudget


class Deadline(keras.callbacks.Callback):
    """Stops training at a wall-clock time; an epoch cut short still validates.

    Checked after every batch, and after every epoch so that no epoch starts past the deadline
    (when validation crossed it, the next epoch would otherwise run one batch and validate again,
    reporting that one batch's loss and accuracy as the epoch's). With ``min_epoch_fraction``,
    an epoch starts only if that fraction of the previous epoch's duration is left: the epochs a
    trial reports, and keeps, are then means over at least that share of the data. Batches stop
    early enough for the validation pass that follows a cut (as long as the last one took), so
    that training ends at the deadline, not one validation after it. With ``max_steps``,
    training also stops after that many steps (the epoch cut short still validates).
    """

    def __init__(self, deadline: float | None, min_epoch_fraction: float = 0.0,
                 max_steps: int = 0):
        super().__init__()
        self.deadline = deadline or None
        self.max_steps = int(max_steps or 0)
        self.steps = 0
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
        self.steps += 1
        if self.max_steps and self.steps >= self.max_steps:
            self.model.stop_training = True
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


class PlannedLearningRate(keras.callbacks.Callback):
    """Sets the learning rate before every step from a :class:`LearningRatePlan`, at the progress
    the trial's :class:`TrialBudget` says it has reached (by its own clock and step count)."""

    def __init__(self, plan: LearningRatePlan, budget: TrialBudget,
                 progress_per_step: float = 0.0):
        super().__init__()
        self.plan, self.budget = plan, budget
        self.progress_per_step = progress_per_step
        self.started = 0.0
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.started, self.steps = time.time(), 0

    def progress(self) -> float:
        return (self.budget.progress_at(time.time() - self.started, 0)
                + self.progress_per_step * self.steps)

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.plan.rate(self.progress()))
        self.steps += 1
