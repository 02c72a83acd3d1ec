"""The systems the benchmark compares, each as ``run(bench, clock, result)``.

Every runner fills ``result`` in place as it goes, so whatever was measured
before an exception survives into the results row. Fields:

``test_accuracy``, ``search_s``, ``final_s``, ``trials``, ``params``,
``curve`` (``[[seconds, best val accuracy], ...]``) and ``notes`` (list of str).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import numpy as np

from harness import Clock, FitIntervals, best_so_far

Result = dict[str, Any]

#: Maximum epochs of one Keras Tuner trial (early stopping usually ends it sooner).
TRIAL_MAX_EPOCHS = 20
#: Early-stopping patience (epochs without val_accuracy improvement) inside a trial.
TRIAL_PATIENCE = 5
#: Random trials before Bayesian optimisation starts fitting its Gaussian process.
BAYESIAN_INITIAL_POINTS = 5
#: Epoch cap for runs that train "until the deadline"; the deadline ends them first.
MAX_EPOCHS = 100_000


@dataclass
class Bench:
    """The data every system sees, plus where it may write files."""

    dataset: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    seed: int
    workdir: str

    @property
    def x_full(self) -> np.ndarray:
        """Training plus validation images (for final training)."""
        return np.concatenate([self.x_train, self.x_val])

    @property
    def y_full(self) -> np.ndarray:
        """Training plus validation labels (for final training)."""
        return np.concatenate([self.y_train, self.y_val])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, e.g. ``(28, 28, 1)``."""
        return tuple(int(d) for d in self.x_train.shape[1:])


def compute_test_accuracy(model, bench: Bench) -> float:
    """Accuracy of a Keras softmax classifier on the test set (computed from ``predict``)."""
    probabilities = model.predict(bench.x_test, batch_size=512, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=-1) == bench.y_test))


# --------------------------------------------------------------------------- hand-written CNN


def run_handwritten_cnn(bench: Bench, clock: Clock, result: Result) -> None:
    """Train the hand-written CNN on the training split for the whole budget.

    Validation accuracy is logged every epoch for the curve; the model at the
    deadline (not the best epoch) is tested. Learning rate: Adam 1e-3 with a
    wall-time cosine decay ending at the deadline.
    """
    import keras

    from training import (
        BATCH_SIZE,
        DeadlineCallback,
        TimeCosineSchedule,
        ValidationCurve,
        build_handwritten_cnn,
        compile_classifier,
    )

    flip = bench.dataset != "digits"
    if not flip:
        result["notes"].append("no horizontal flip on digits (mirrored digits are not digits)")
    model = compile_classifier(
        build_handwritten_cnn(bench.input_shape, bench.num_classes, flip), 1e-3
    )
    result["params"] = int(model.count_params())
    curve = ValidationCurve(clock)
    callbacks: list[keras.callbacks.Callback] = [
        TimeCosineSchedule(1e-3, clock.start, clock.deadline),
        curve,
        DeadlineCallback(lambda: clock.deadline),
    ]
    try:
        history = model.fit(
            bench.x_train,
            bench.y_train,
            validation_data=(bench.x_val, bench.y_val),
            batch_size=BATCH_SIZE,
            epochs=MAX_EPOCHS,
            callbacks=callbacks,
            verbose=2,
        )
        result["epochs"] = len(history.epoch)
    finally:
        result["curve"] = best_so_far(curve.points)
        result["search_s"] = 0.0
        result["final_s"] = round(clock.elapsed(), 2)
        result["trials"] = 1
    result["test_accuracy"] = compute_test_accuracy(model, bench)


# --------------------------------------------------------------------------- Keras Tuner baselines


def _timed_tuner_class(base: type) -> type:
    """Subclass a Keras Tuner tuner so its search ends at a wall-clock deadline.

    Keras Tuner 1.4.8 has no time limit. ``BaseTuner.search`` calls
    ``pre_create_trial()`` before asking the oracle for each trial, and the
    oracle returns a STOPPED trial once ``len(trials) >= max_trials``; so when
    the deadline has passed we lower ``max_trials`` to the number of trials
    already started. The trial in flight is cut by a :class:`DeadlineCallback`.
    ``on_trial_end`` records ``(seconds, score)`` of every completed trial.
    """

    class TimedTuner(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
            self.clock = clock
            self.trial_points: list[tuple[float, float]] = []
            self.search_ended_at: float | None = None
            super().__init__(*args, **kwargs)

        def pre_create_trial(self) -> None:
            super().pre_create_trial()
            if time.monotonic() >= self.clock.search_deadline:
                self.oracle.max_trials = max(1, len(self.oracle.trials))

        def on_trial_end(self, trial) -> None:
            super().on_trial_end(trial)
            stored = self.oracle.get_trial(trial.trial_id)
            if stored.status == "COMPLETED" and stored.score is not None:
                self.trial_points.append((self.clock.elapsed(), float(stored.score)))

    TimedTuner.__name__ = f"Timed{base.__name__}"
    return TimedTuner


def _make_tuner(kind: str, bench: Bench, clock: Clock):
    """Build the deadline-aware RandomSearch or BayesianOptimization tuner."""
    import keras_tuner as kt

    from training import make_conv_hypermodel

    common = dict(
        hypermodel=make_conv_hypermodel(bench.input_shape, bench.num_classes,
                                        flip=bench.dataset != "digits"),
        objective="val_accuracy",
        max_trials=10_000,
        seed=bench.seed,
        directory=bench.workdir,
        project_name=kind,
        overwrite=True,
        clock=clock,
    )
    if kind == "random_search":
        return _timed_tuner_class(kt.RandomSearch)(**common)
    if kind == "bayesian":
        return _timed_tuner_class(kt.BayesianOptimization)(
            num_initial_points=BAYESIAN_INITIAL_POINTS, **common
        )
    raise ValueError(f"unknown keras-tuner system {kind!r}")


def run_keras_tuner(kind: str, bench: Bench, clock: Clock, result: Result) -> None:
    """Search with Keras Tuner until 75% of the budget, then retrain the best config.

    The final model (best hyperparameters, fresh weights) trains on
    train+validation until the end of the budget with a wall-time cosine
    decay from the chosen learning rate.
    """
    import keras
    from keras import callbacks as keras_callbacks

    from training import BATCH_SIZE, DeadlineCallback, FitTimer, TimeCosineSchedule

    tuner = _make_tuner(kind, bench, clock)
    fits = FitIntervals()
    result["notes"].append(
        f"trial: <= {TRIAL_MAX_EPOCHS} epochs, early stop patience {TRIAL_PATIENCE}"
    )
    if kind == "bayesian":
        result["notes"].append(f"num_initial_points={BAYESIAN_INITIAL_POINTS}")
    try:
        tuner.search(
            bench.x_train,
            bench.y_train,
            validation_data=(bench.x_val, bench.y_val),
            epochs=TRIAL_MAX_EPOCHS,
            batch_size=BATCH_SIZE,
            callbacks=[
                keras_callbacks.EarlyStopping(monitor="val_accuracy", patience=TRIAL_PATIENCE),
                DeadlineCallback(lambda: clock.search_deadline),
                FitTimer.into(fits),
            ],
            verbose=2,
        )
    finally:
        result["search_s"] = round(clock.elapsed(), 2)
        result["outside_fit_s"] = fits.outside_fit_seconds(clock, result["search_s"])
        result["trials"] = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
        result["curve"] = best_so_far(tuner.trial_points)

    best_hp = tuner.get_best_hyperparameters(1)[0]
    result["best_hyperparameters"] = dict(best_hp.values)
    keras.backend.clear_session()
    model = tuner.hypermodel.build(best_hp)  # compiled with the chosen learning rate
    learning_rate = float(best_hp.get("learning_rate"))
    result["params"] = int(model.count_params())
    final_start = clock.elapsed()
    history = model.fit(
        bench.x_full,
        bench.y_full,
        batch_size=BATCH_SIZE,
        epochs=MAX_EPOCHS,
        callbacks=[
            TimeCosineSchedule(learning_rate, time.monotonic(), clock.deadline),
            DeadlineCallback(lambda: clock.deadline),
        ],
        verbose=2,
    )
    result["final_epochs"] = len(history.epoch)
    result["final_s"] = round(clock.elapsed() - final_start, 2)
    result["test_accuracy"] = compute_test_accuracy(model, bench)


# --------------------------------------------------------------------------- kerasauto


def _nested(obj: Any, *names: str) -> Any:
    """``obj.a.b.c`` for names ``a, b, c``, or ``None`` as soon as one is missing."""
    for name in names:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _trial_val_accuracy(trial: Any, objective_name: str | None) -> float | None:
    """Best validation accuracy of a finished Keras Tuner-style trial, if it can be found."""
    metrics = getattr(trial, "metrics", None)
    try:
        if metrics is not None and metrics.exists("val_accuracy"):
            return float(metrics.get_best_value("val_accuracy"))
    except Exception:  # noqa: BLE001 - third-party object of unknown shape
        pass
    score = getattr(trial, "score", None)
    if score is not None and objective_name and "acc" in objective_name:
        return float(score)
    return None


class TrialPoller:
    """Watch ``clf.tuner.oracle.trials`` from a thread and time-stamp finished trials.

    Used when the library does not record trial end times itself. Timing
    resolution is the polling interval.
    """

    def __init__(self, get_oracle: Callable[[], Any], clock: Clock, interval: float = 0.5) -> None:
        self.get_oracle = get_oracle
        self.clock = clock
        self.interval = interval
        self.points: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TrialPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        """Record every newly finished trial with the current elapsed time."""
        oracle = self.get_oracle()
        trials = getattr(oracle, "trials", None)
        if not isinstance(trials, dict):
            return
        objective_name = _nested(oracle, "objective", "name")
        try:
            items = list(trials.items())
        except RuntimeError:  # dict changed size while the search thread wrote to it
            return
        for trial_id, trial in items:
            if trial_id in self.points or str(getattr(trial, "status", "")) != "COMPLETED":
                continue
            value = _trial_val_accuracy(trial, objective_name)
            if value is not None:
                self.points[trial_id] = (self.clock.elapsed(), value)


def _accuracy_from_evaluate(value: Any) -> float:
    """Pull an accuracy out of whatever ``clf.evaluate`` returned (float, list, dict)."""
    if isinstance(value, dict):
        for key in ("accuracy", "acc", "compile_metrics"):
            if key in value:
                return float(value[key])
        raise ValueError(f"evaluate() returned a dict without accuracy: {value}")
    if isinstance(value, (list, tuple)):
        return float(value[-1])
    return float(value)


def _count_params(clf: Any) -> int | None:
    """Parameter count of the classifier's final Keras model, if reachable."""
    for getter in (lambda: clf.export_model(), lambda: clf.model, lambda: clf.best_model):
        try:
            model = getter()
        except Exception:  # noqa: BLE001
            continue
        if model is not None and hasattr(model, "count_params"):
            return int(model.count_params())
    return None


def kerasauto_augmentation(dataset: str) -> tuple[str, ...]:
    """The same augmentation as the hand-written CNN: flips only where mirrored images are valid."""
    return ("translate",) if dataset == "digits" else ("translate", "flip")


def run_kerasauto(bench: Bench, clock: Clock, result: Result, inherit_weights: bool = True,
                  final_fit_share: float = 0.0) -> None:
    """Network-morphism search with ``kerasauto.ImageClassifier``, optionally then its final fit.

    The search is one training run of a growing network, so by default it gets the whole
    budget (``fit(time_limit=budget)``) and its model is tested as it is, trained on the
    training split only, like the hand-written CNN. ``final_fit_share > 0``: the search gets
    the rest of the budget, and ``final_fit`` continues the best trial on training +
    validation data for that share. The test set is passed to ``final_fit`` because that is
    its signature; the library must not select on it (the harness only reports it).
    ``inherit_weights=False`` is the ablation: every child trains from scratch.
    """
    from kerasauto import ImageClassifier
    from training import FitTimer

    augmentation = kerasauto_augmentation(bench.dataset)
    clf = ImageClassifier(
        verbose=True,
        seed=bench.seed,
        directory=bench.workdir,
        project_name=f"bench_{bench.dataset}",
        inherit_weights=inherit_weights,
        augmentation=augmentation,
    )
    result["notes"].append(f"augmentation={'+'.join(augmentation)} in every trial")
    poller = TrialPoller(lambda: _nested(clf, "tuner", "oracle"), clock)
    fits = FitIntervals()
    try:
        with poller:
            clf.fit(
                bench.x_train,
                bench.y_train,
                time_limit=(1.0 - final_fit_share) * clock.budget,
                validation_data=(bench.x_val, bench.y_val),
                callbacks=[FitTimer.into(fits)],
            )
    finally:
        result["search_s"] = round(clock.elapsed(), 2)
        result["outside_fit_s"] = fits.outside_fit_seconds(clock, result["search_s"])
        result["curve"] = best_so_far(poller.points.values())
        trials = _nested(clf, "tuner", "oracle", "trials")
        result["trials"] = len(trials) if trials is not None else None
        oracle = _nested(clf, "tuner", "oracle")
        if oracle is not None and hasattr(oracle, "summary"):
            summary = oracle.summary()
            result["proposal_s"] = round(summary["proposal_seconds"], 2)
            result["growth_points"] = summary["growth_points"]
            result["losing_probe_share"] = round(summary["losing_probe_share"], 4)
            result["notes"].append(
                f"{summary['growth_points']} growth points; probes that lost: "
                f"{summary['losing_probe_seconds']:.0f} s "
                f"({100 * summary['losing_probe_share']:.1f} % of the trials' time)")

    final_start = clock.elapsed()
    if final_fit_share > 0:
        try:
            clf.final_fit(
                bench.x_full,
                bench.y_full,
                bench.x_test,
                bench.y_test,
                retrain=False,
                time_limit=max(1.0, clock.remaining()),
            )
        finally:
            result["final_s"] = round(clock.elapsed() - final_start, 2)
        result["notes"].append(
            f"final_fit continued the best trial on train+val for {100 * final_fit_share:.0f} % "
            "of the budget")
    else:
        result["final_s"] = 0.0
    result["params"] = _count_params(clf)
    result["test_accuracy"] = _accuracy_from_evaluate(clf.evaluate(bench.x_test, bench.y_test))
    _measure_ensemble(bench, result, f"bench_{bench.dataset}")


#: Members of the ensemble measured beside every kerasauto run.
ENSEMBLE_SIZE = 3


def _measure_ensemble(bench: Bench, result: Result, project_name: str) -> None:
    """The ``ensemble_size`` option on the same search, reported apart from the single model.

    It costs no search time (the project is reopened after the budget); only its prediction
    of the test set comes after the budget, so it is a note, never the row's accuracy.
    """
    from kerasauto import ImageClassifier

    try:
        ensemble = ImageClassifier(directory=bench.workdir, project_name=project_name,
                                   ensemble_size=ENSEMBLE_SIZE)
        accuracy = _accuracy_from_evaluate(ensemble.evaluate(bench.x_test, bench.y_test))
    except Exception as error:  # the single model's result stands
        result["notes"].append(f"ensemble not measured: {type(error).__name__}: {error}")
        return
    result["ensemble_test_accuracy"] = accuracy
    result["notes"].append(f"ensemble of the {ENSEMBLE_SIZE} best trials (after the budget): "
                           f"{accuracy:.4f}")


# --------------------------------------------------------------------------- AutoKeras


def run_autokeras(bench: Bench, clock: Clock, result: Result) -> None:
    """AutoKeras ``ImageClassifier`` with a wall-clock stop (run under its own interpreter).

    AutoKeras has no time limit either: the tuner instance's
    ``pre_create_trial`` is wrapped to end the search at the deadline, and a
    :class:`DeadlineCallback` whose deadline moves from the search deadline to
    the end of the budget cuts the trial in flight and AutoKeras' own final
    fit (which trains the best pipeline on the training split).
    """
    import autokeras as ak

    from training import DeadlineCallback, FitTimer

    fits = FitIntervals()
    clf = ak.ImageClassifier(
        max_trials=10_000,
        overwrite=True,
        directory=bench.workdir,
        project_name="autokeras",
        seed=bench.seed,
    )
    tuner = clf.tuner
    deadline = [clock.search_deadline]
    marks: dict[str, float] = {}
    points: list[tuple[float, float]] = []
    original_pre_create, original_trial_end = tuner.pre_create_trial, tuner.on_trial_end

    def pre_create_trial() -> None:
        original_pre_create()
        if time.monotonic() >= clock.search_deadline:
            tuner.oracle.max_trials = max(1, len(tuner.oracle.trials))
            deadline[0] = clock.deadline
            marks.setdefault("search_end", clock.elapsed())

    def on_trial_end(trial) -> None:
        original_trial_end(trial)
        value = _trial_val_accuracy(tuner.oracle.get_trial(trial.trial_id), "val_accuracy")
        if value is not None:
            points.append((clock.elapsed(), value))

    tuner.pre_create_trial, tuner.on_trial_end = pre_create_trial, on_trial_end
    result["notes"].append("AutoKeras selects on val_loss; the curve shows val_accuracy")
    try:
        clf.fit(
            bench.x_train,
            bench.y_train,
            validation_data=(bench.x_val, bench.y_val),
            callbacks=[DeadlineCallback(lambda: deadline[0]),
                       FitTimer.into(fits)],
            verbose=2,
        )
    finally:
        search_end = marks.get("search_end", clock.elapsed())
        result["search_s"] = round(search_end, 2)
        result["outside_fit_s"] = fits.outside_fit_seconds(clock, result["search_s"])
        result["final_s"] = round(clock.elapsed() - search_end, 2)
        result["trials"] = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
        result["curve"] = best_so_far(points)
    result["params"] = _count_params(clf)
    result["test_accuracy"] = _accuracy_from_evaluate(clf.evaluate(bench.x_test, bench.y_test))


SYSTEMS: dict[str, Callable[[Bench, Clock, Result], None]] = {
    "kerasauto": run_kerasauto,
    "kerasauto_no_inheritance": lambda b, c, r: run_kerasauto(b, c, r, inherit_weights=False),
    "kerasauto_final_fit": lambda b, c, r: run_kerasauto(b, c, r, final_fit_share=0.25),
    "random_search": lambda b, c, r: run_keras_tuner("random_search", b, c, r),
    "bayesian": lambda b, c, r: run_keras_tuner("bayesian", b, c, r),
    "handwritten_cnn": run_handwritten_cnn,
    "autokeras": run_autokeras,
}
