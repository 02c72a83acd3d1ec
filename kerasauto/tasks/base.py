"""The task-independent estimator: search, final training, prediction and export, for any
input kind (``kerasauto.tasks.image``, ``kerasauto.tasks.text``) and either head (the
classifier and regressor mixins below).

The project directory (``directory/project_name``) holds keras-tuner's JSON state, one weights
file per trial, ``kerasauto_task.json`` (labels, input description, preprocessing) and, after
``final_fit``, ``final_model/``. Running the same code again resumes; ``overwrite=True`` restarts.
"""
from __future__ import annotations

import contextlib
import io as _stdio
import math
import os
import shutil
import sys
import time
import warnings
from typing import Any

import keras
import numpy as np

from kerasauto import export as export_module
from kerasauto.engine import io, validation
from kerasauto.ensemble import average_model
from kerasauto.engine.budget import LearningRatePlan, TrialBudget
from kerasauto.engine.callbacks import Deadline, PlannedLearningRate
from kerasauto.graph import Graph
from kerasauto.preprocessing import training_dataset
from kerasauto.tuners.network_morphism import (MorphismTuner, NetworkMorphismOracle,
                                               last_metric, trial_graph)

DEFAULT_MAX_TRIALS = 10
DEFAULT_EPOCHS = 20
#: Upper bound on epochs when final_fit trains until a time limit.
MAX_FINAL_EPOCHS = 10_000
#: Seconds final_fit keeps, within its time limit, for writing the final model.
SAVE_SECONDS = 1.0
PREDICT_BATCH_SIZE = 256
#: final_fit times at least this much prediction to budget its evaluation of the test data.
TIMED_PREDICTION_SECONDS = 0.2
TASK_FILE = "kerasauto_task.json"
FINAL_DIR = "final_model"


class Estimator:
    """Shared machinery of every task; subclasses say how inputs are checked, preprocessed inside
    the model and fed to it (see ``_ImageEstimator``, ``_TextEstimator``).

    Args:
        max_trials: trials of a search (default: unlimited with a ``time_limit``, else 10).
        directory, project_name, overwrite: where the project lives; the same names resume it,
            ``overwrite=True`` starts over.
        seed: makes the search reproducible. verbose: one line per trial, and Keras' progress.
        max_model_size: the most parameters a proposed network may have (lowered automatically
            when a trial runs out of memory).
        batch_size, learning_rate: of every trial (the base rate of the search's plan).
        inherit_weights: ``False`` trains every trial from scratch (an ablation).
        ensemble_size: ``k > 1`` predicts and exports the average of the ``k`` best networks
            (the final model, if ``final_fit`` ran, in place of the best trial, then the next
            best trials), still one plain Keras model (``kerasauto.ensemble``).
    """

    task = ""
    default_objective = ""
    default_project = ""
    #: Training-time augmentations (names from ``kerasauto.preprocessing.AUGMENTATIONS``).
    augmentation: tuple[str, ...] = ()
    augment_search = True
    #: What one input is called in messages, and the SavedModel's input name.
    input_noun = "images"
    serving_input_name = "images"

    def __init__(self, max_trials: int | None = None, directory: str | None = None,
                 project_name: str | None = None, overwrite: bool = False, seed: int | None = None,
                 verbose: bool = False, objective: str | None = None, max_model_size: int = 3_000_000,
                 batch_size: int = 64, learning_rate: float = 1e-3, distribution_strategy: Any = "auto",
                 inherit_weights: bool = True, ensemble_size: int = 1):
        self.max_trials = validation.check_positive_int(max_trials, "max_trials")
        self.max_model_size = validation.check_positive_int(max_model_size, "max_model_size", False)
        self.batch_size = validation.check_positive_int(batch_size, "batch_size", False)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, got {seed!r}.")
        if project_name is not None and (not isinstance(project_name, str) or not project_name
                                         or os.sep in project_name):
            raise ValueError(f"project_name must be a non-empty name without '{os.sep}', "
                             f"got {project_name!r}.")
        self.directory = os.fspath(directory) if directory is not None else "."
        self.project_name = project_name or self.default_project
        self.overwrite = bool(overwrite)
        self.seed = 1 if seed is None else seed
        self.verbose = bool(verbose)
        self.objective = objective or self.default_objective
        self.learning_rate = validation.check_positive_float(learning_rate, "learning_rate")
        self.distribution_strategy = distribution_strategy
        self.inherit_weights = bool(inherit_weights)
        self.ensemble_size = validation.check_positive_int(ensemble_size, "ensemble_size", False)
        self.tuner: MorphismTuner | None = None
        self.meta: dict | None = None
        self._model = None

    # ------------------------------------------------------------------ paths and state
    @property
    def project_dir(self) -> str:
        return os.path.join(self.directory, self.project_name)

    def _task_file(self) -> str:
        return os.path.join(self.project_dir, TASK_FILE)

    def _load_meta(self) -> dict | None:
        if self.meta is None and not self.overwrite and os.path.exists(self._task_file()):
            self.meta = io.read_json(self._task_file())
        return self.meta

    def _quiet(self):
        return contextlib.nullcontext() if self.verbose else contextlib.redirect_stdout(_stdio.StringIO())

    def _make_tuner(self, time_limit: float | None) -> MorphismTuner:
        max_trials = self.max_trials or (None if time_limit else DEFAULT_MAX_TRIALS)
        oracle = NetworkMorphismOracle(objective=self.objective, max_trials=max_trials,
                                       seed=self.seed, max_params=self.max_model_size)
        with self._quiet():
            tuner = MorphismTuner(oracle=oracle, task=self.task, directory=self.directory,
                                  project_name=self.project_name, overwrite=self.overwrite,
                                  batch_size=self.batch_size, learning_rate=self.learning_rate,
                                  distribution_strategy=self.distribution_strategy,
                                  preprocessing=self.meta["preprocessing"],
                                  inherit_weights=self.inherit_weights,
                                  augmentation=self.augmentation if self.augment_search else ())
        self.overwrite = False  # Only the first search of this object starts over.
        return tuner

    def _ensure_tuner(self) -> MorphismTuner:
        """The tuner, reloaded from the project directory when this object has not searched."""
        if self.tuner is None:
            if self._load_meta() is None:
                raise RuntimeError(f"Nothing has been fitted yet (no {TASK_FILE} in "
                                   f"{self.project_dir!r}); call fit() first.")
            self.tuner = self._make_tuner(None)
        return self.tuner

    # ------------------------------------------------------------------ inputs (per input kind)
    def _check_x(self, x, name: str = "x", expected_shape=None) -> np.ndarray:
        """Validated inputs; ``expected_shape`` (per input) where the fitted shape is known."""
        raise NotImplementedError

    def _input_meta(self, x: np.ndarray) -> dict:
        """What ``kerasauto_task.json`` records of the training inputs (compared on resuming)."""
        return {"input_shape": list(x.shape[1:])}

    def _preprocessing_specs(self, x: np.ndarray) -> list[dict]:
        """Layer specs placed first in every network, fitted on the training inputs."""
        raise NotImplementedError

    def _model_input(self, x: np.ndarray):
        """Checked inputs as the model's ``predict`` takes them."""
        return x.astype(np.float32)

    def _inputs_and_labels(self, x, y, x_name: str, y_name: str, shape=None):
        """(x, y) as given; subclasses may read both from somewhere ``x`` names (a folder)."""
        if y is None:
            raise TypeError(f"{y_name} is missing: give the labels or targets of {x_name}.")
        return x, y

    def _names_labelled_inputs(self, x) -> bool:
        """Whether ``x`` names inputs that carry their own labels (e.g. a folder of class
        sub-folders), so that its labels argument stays None."""
        return False

    def _checked_inputs(self, x, name: str = "x") -> np.ndarray:
        """``x`` checked against what the estimator was fitted on."""
        self._ensure_tuner()
        return self._check_x(x, name, expected_shape=self.meta["input_shape"])

    # ------------------------------------------------------------------ labels (per task)
    def _check_y(self, y, n: int, name: str = "y", fitting: bool = False) -> np.ndarray:
        """Validated labels or targets; ``fitting`` adds the checks only fit's y needs."""
        raise NotImplementedError

    def _encode(self, y: np.ndarray) -> np.ndarray:
        return y

    def _describe_labels(self, y: np.ndarray) -> dict:
        return {}

    # ------------------------------------------------------------------ search
    def fit(self, x, y=None, time_limit: float | None = None, epochs: int | None = None,
            validation_split: float = 0.2, validation_data: tuple | None = None,
            callbacks: list | None = None, batch_size: int | None = None) -> "Estimator":
        """Search architectures on (x, y) within ``time_limit`` seconds and/or ``max_trials``.

        Without ``validation_data``, a seeded, stratified ``validation_split`` of the training
        data is held out. Returns ``self``; the best model so far is always kept. A final model
        from an earlier ``final_fit`` of this project is discarded: ``predict`` and the exports
        serve this search's best until ``final_fit`` runs again.
        """
        x, y = self._inputs_and_labels(x, y, "x", "y")
        x = self._check_x(x, "x")
        y = self._check_y(y, len(x), "y", fitting=True)
        time_limit = validation.check_time_limit(time_limit)
        epochs = validation.check_positive_int(epochs, "epochs") or DEFAULT_EPOCHS
        batch_size = validation.check_positive_int(batch_size, "batch_size") or self.batch_size
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a tuple (x_val, y_val).")
            x_val, y_val = self._inputs_and_labels(*validation_data, "validation_data[0]",
                                                   "validation_data[1]", shape=x.shape[1:])
            x_val = self._check_x(x_val, "validation_data[0]", expected_shape=x.shape[1:])
            y_val = self._check_y(y_val, len(x_val), "validation_data[1]")
            self._check_known_labels(y_val, y, "validation_data[1]")
            x_train, y_train = x, y
        else:
            validation.check_validation_split(validation_split)
            x_train, y_train, x_val, y_val = self._split(x, y, validation_split)
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError("callbacks must be a list of keras.callbacks.Callback.")
        self._set_meta(x_train, y)
        # A final model trained after an earlier search no longer describes this project.
        shutil.rmtree(os.path.join(self.project_dir, FINAL_DIR), ignore_errors=True)
        if self.tuner is None:
            self.tuner = self._make_tuner(time_limit)
        self._model = None
        keras_verbose = (1 if sys.stdout.isatty() else 2) if self.verbose else 0
        self.tuner.search(x_train, self._encode(y_train), validation_data=(x_val, self._encode(y_val)),
                          epochs=epochs, batch_size=batch_size, callbacks=list(callbacks or []),
                          verbose=keras_verbose, time_limit=time_limit)
        if self.verbose:
            print("[kerasauto] search report: " + ", ".join(self.search_report()), flush=True)
        return self

    def _check_known_labels(self, labels: np.ndarray, reference: np.ndarray, name: str) -> None:
        """Hook: refuse validation labels the training labels do not have (classification)."""

    def _split(self, x, y, fraction):
        from sklearn.model_selection import train_test_split

        n_val = math.ceil(len(x) * fraction)
        if n_val < 1 or len(x) - n_val < 1:
            raise ValueError(f"validation_split={fraction} leaves an empty training or validation "
                             f"set with {len(x)} {self.input_noun}; give more data or "
                             "validation_data.")
        stratify = None
        if self.task == "classification":
            classes, counts = np.unique(y, return_counts=True)
            if counts.min() >= 2 and min(n_val, len(x) - n_val) >= len(classes):
                stratify = y
        x_train, x_val, y_train, y_val = train_test_split(
            x, y, test_size=fraction, random_state=self.seed, stratify=stratify)
        return x_train, y_train, x_val, y_val

    def _set_meta(self, x, y) -> None:
        meta = {"task": self.task, **self._input_meta(x), **self._describe_labels(y)}
        existing = self._load_meta()
        if existing is not None:
            for key, value in meta.items():
                if existing.get(key) != value:
                    raise ValueError(f"This project was fitted on data with another {key} "
                                     f"({existing.get(key)!r} vs {value!r}); use another "
                                     "project_name or overwrite=True.")
            return
        meta["preprocessing"] = self._preprocessing_specs(x)
        if self.overwrite and os.path.exists(self.project_dir):
            shutil.rmtree(self.project_dir)
        self.overwrite = False  # Cleared once: the tuner must not delete what is written next.
        io.write_json(self._task_file(), meta)
        self.meta = meta

    # ------------------------------------------------------------------ final training
    def final_fit(self, x_train, y_train, x_test=None, y_test=None, retrain: bool = False,
                  epochs: int | None = None, time_limit: float | None = None,
                  augment: bool | None = None, batch_size: int | None = None,
                  trial_id: str | None = None):
        """Train the best architecture on all of (x_train, y_train).

        ``trial_id`` (e.g. ``"0003"``, a key of ``tuner.oracle.trials``) trains that completed
        trial's architecture instead of the best one, e.g. a smaller model to deploy.

        ``retrain=True`` starts from fresh weights, else from the search's trained ones.
        ``augment`` applies the classifier's ``augmentation``; by default it does when retraining
        or when the best search trial was augmented, so that training continued from the search's
        weights sees the data it was trained on (switching to augmented data for a short
        continuation cost a point of test accuracy on Fashion-MNIST). Training
        length is fixed in advance: ``epochs`` (default 30 with ``retrain``, else 10) with cosine
        learning-rate decay, or, given only ``time_limit``, until that many seconds with the
        decay spread over wall-clock time. A ``time_limit`` covers the whole call: training stops
        early enough to save the model and evaluate (x_test, y_test) within it. Nothing is
        selected on (x_test, y_test): they are only evaluated and reported. Returns the Keras
        History.
        """
        started = time.time()
        tuner = self._ensure_tuner()
        x_train, y_train = self._inputs_and_labels(x_train, y_train, "x_train", "y_train")
        if self._names_labelled_inputs(x_test):
            x_test, y_test = self._inputs_and_labels(x_test, y_test, "x_test", "y_test")
        x = self._check_x(x_train, "x_train", expected_shape=self.meta["input_shape"])
        y = self._check_y(y_train, len(x), "y_train")
        if (x_test is None) != (y_test is None):
            raise ValueError("Give both x_test and y_test, or neither.")
        if x_test is not None:
            x_test = self._check_x(x_test, "x_test", expected_shape=self.meta["input_shape"])
            y_test = self._check_y(y_test, len(x_test), "y_test")
        time_limit = validation.check_time_limit(time_limit)
        epochs = validation.check_positive_int(epochs, "epochs")
        batch_size = validation.check_positive_int(batch_size, "batch_size") or self.batch_size
        augment = validation.check_choice(augment, (True, False, None), "augment")
        best = self._chosen_trial(trial_id)
        if augment is None:
            augment = bool(retrain) or bool(last_metric(best, "augmented"))
        graph = trial_graph(best)
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.seed)  # the same call gives the same final model
        model = graph.build() if retrain else tuner.load_model(best)
        # A continuation restarts at the full rate, unlike the search's children: it is longer,
        # on more data, and in the 25-min Fashion runs it gained more so (benchmarks/RESULTS.md).
        until_deadline = time_limit is not None and epochs is None
        if until_deadline:
            epochs = MAX_FINAL_EPOCHS
            tuner.compile_model(model)
        else:
            epochs = epochs or (30 if retrain else 10)
            steps = epochs * math.ceil(len(x) / batch_size)
            tuner.compile_model(
                model, keras.optimizers.schedules.CosineDecay(self.learning_rate, steps))
        deadline = None
        if time_limit is not None:  # after compile(), which would drop the traced predict function
            reserve = SAVE_SECONDS + (_prediction_seconds(model, x_test) if x_test is not None else 0)
            # The whole reserve, even when it leaves no training time: the limit is the user's.
            # (Capping it at half the limit overran a 30 s limit by 6 s on a machine that took
            # 22 s to predict 600 000 test images.)
            deadline = started + time_limit - reserve
            if deadline <= time.time():
                warnings.warn(f"final_fit: saving and evaluating the test data are expected to take "
                              f"{reserve:.1f} s, more than time_limit={time_limit:g} leaves; "
                              "training stops after one batch.", RuntimeWarning, stacklevel=2)
        callbacks = [Deadline(deadline)]
        if until_deadline:
            # Train until the time limit, annealing the learning rate over wall-clock time.
            callbacks.append(PlannedLearningRate(
                LearningRatePlan(self.learning_rate, decay_fraction=1.0),
                TrialBudget(progress_per_second=1.0 / max(deadline - time.time(), 1e-9))))
        dataset, steps_per_epoch = training_dataset(x, self._encode(y), batch_size,
                                                    self.augmentation if augment else (),
                                                    seed=self.seed)
        history = model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                            callbacks=callbacks, shuffle=False,
                            verbose=(1 if sys.stdout.isatty() else 2) if self.verbose else 0)
        self._save_final(graph, model)
        # Its predict function is traced already: evaluation starts at once (an ensemble is
        # rebuilt around it from the saved files).
        self._model = model if self.ensemble_size == 1 else None
        if x_test is not None:
            score = self.evaluate(x_test, y_test)
            history.history["test_score"] = [score]
            if self.verbose:
                print(f"[kerasauto] final model: {self._score_name()} on the test data {score:.4f}")
        return history

    def _best_trial(self):
        best = self._ensure_tuner().oracle.get_best_trials(1)
        if not best or best[0].score is None:
            raise RuntimeError("The search has no completed trial yet; call fit() first.")
        return best[0]

    def _chosen_trial(self, trial_id: str | None):
        """The completed trial ``trial_id``, or the best trial if it is None."""
        if trial_id is None:
            return self._best_trial()
        if not isinstance(trial_id, str):
            raise TypeError(f"trial_id must be a trial's id string such as '0003', got {trial_id!r}.")
        trials = self._ensure_tuner().oracle.trials
        completed = sorted(key for key, trial in trials.items()
                           if trial.status == "COMPLETED" and trial.score is not None)
        if trial_id not in completed:
            raise ValueError(f"trial_id must name a completed trial of this search, one of "
                             f"{completed}; got {trial_id!r}.")
        return trials[trial_id]

    def _final_paths(self) -> tuple[str, str]:
        folder = os.path.join(self.project_dir, FINAL_DIR)
        return os.path.join(folder, "architecture.json"), os.path.join(folder, "final.weights.h5")

    def _save_final(self, graph: Graph, model) -> None:
        """Write the final architecture and ``model``'s weights (``model`` is built from ``graph``)."""
        arch_path, weights_path = self._final_paths()
        io.atomic_write(weights_path, model.save_weights, suffix=".weights.h5")
        io.write_json(arch_path, graph.to_dict())

    # ------------------------------------------------------------------ the model in use
    def _current_model(self):
        """The final model if final_fit ran (in any process), else the search's best model;
        with ``ensemble_size > 1``, the average of it and the next best trials."""
        if self._model is None:
            tuner = self._ensure_tuner()
            ranked = tuner.oracle.get_best_trials(self.ensemble_size)
            arch_path, weights_path = self._final_paths()
            if os.path.exists(arch_path) and os.path.exists(weights_path):
                model = Graph.from_dict(io.read_json(arch_path)).build()
                model.load_weights(weights_path)
            else:
                model = tuner.load_model(self._best_trial())
            others = [tuner.load_model(t) for t in ranked[1:self.ensemble_size]
                      if t.status == "COMPLETED"]
            self._model = average_model([model] + others) if others else model
        return self._model

    def _raw_predict(self, x) -> np.ndarray:
        x = self._checked_inputs(x)
        return self._current_model().predict(self._model_input(x), batch_size=PREDICT_BATCH_SIZE,
                                             verbose=0)

    def search_report(self, directory: str | None = None) -> list[str]:
        """Write ``trials.csv``, ``trials.md``, ``search_tree.png`` and ``best_so_far.png``
        (default: into the project directory); returns their paths."""
        from kerasauto.report import write_search_report

        return write_search_report(self._ensure_tuner().oracle, directory or self.project_dir)

    def export_model(self):
        """The best model as a plain ``keras.Model``: raw inputs in, predictions out (uncompiled)."""
        model = self._current_model()
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone

    def export_keras_model(self, path: str) -> str:
        """Write the model as ``.h5`` or ``.keras`` (by extension); no kerasauto needed to load it."""
        return export_module.save_keras_file(self.export_model(), path)

    def export_saved_model(self, directory: str) -> str:
        """Write a TF-Serving SavedModel (signature ``serving_default``: ``images`` or ``texts``
        -> ``probabilities`` or ``predictions``)."""
        return export_module.save_serving_model(self.export_model(), directory,
                                                input_name=self.serving_input_name,
                                                output_name=self._output_name())

    def _score_name(self) -> str:
        raise NotImplementedError

    def _output_name(self) -> str:
        raise NotImplementedError


class ClassifierMixin:
    """Classification: softmax head, labels of the user's own type, accuracy."""

    task = "classification"
    default_objective = "val_accuracy"

    def _check_y(self, y, n: int, name: str = "y", fitting: bool = False) -> np.ndarray:
        labels = validation.check_class_labels(y, n, name, self.input_noun)
        if fitting:
            validation.check_classes(labels, name)
        elif self.meta is not None and "classes" in self.meta:
            known_kind = np.asarray(self.meta["classes"]).dtype.kind
            if (labels.dtype.kind in "US") != (known_kind in "US"):
                raise TypeError(f"{name} holds {labels.dtype} labels but the classifier was fitted "
                                f"on labels like {self.meta['classes'][:3]}.")
        return labels

    def _check_known_labels(self, labels: np.ndarray, reference: np.ndarray, name: str) -> None:
        unknown = sorted(set(np.unique(labels).tolist()) - set(np.unique(reference).tolist()))
        if unknown:
            raise ValueError(f"{name} has labels {unknown[:5]} that y does not have.")

    def _describe_labels(self, y: np.ndarray) -> dict:
        return {"classes": [c.item() for c in np.unique(y)]}

    @property
    def classes_(self) -> np.ndarray:
        """The class labels seen by ``fit``, sorted; the columns of ``predict_proba``."""
        self._ensure_tuner()
        return np.asarray(self.meta["classes"])

    def _encode(self, y: np.ndarray) -> np.ndarray:
        classes = np.asarray(self.meta["classes"])
        index = np.searchsorted(classes, y)
        index = np.clip(index, 0, len(classes) - 1)
        if not np.all(classes[index] == y):
            unknown = sorted(set(np.asarray(y).tolist()) - set(classes.tolist()))[:5]
            raise ValueError(f"Labels {unknown} were not seen by fit(); known: {classes.tolist()[:10]}.")
        return index.astype(np.int64)

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return self._raw_predict(x)

    def predict(self, x) -> np.ndarray:
        """Predicted labels, of the same type as the labels given to ``fit``."""
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]

    def evaluate(self, x, y=None) -> float:
        """Accuracy on (x, y); image estimators take a folder of class sub-folders (``y=None``)."""
        x, y = self._inputs_and_labels(x, y, "x", "y")
        x = self._checked_inputs(x)
        labels = self._check_y(y, len(x), "y")
        return float(np.mean(self.predict(x) == labels))

    def _score_name(self) -> str:
        return "accuracy"

    def _output_name(self) -> str:
        return "probabilities"


class RegressorMixin:
    """Regression: linear head, ``evaluate`` returns the mean squared error."""

    task = "regression"
    default_objective = "val_loss"

    def _check_y(self, y, n: int, name: str = "y", fitting: bool = False) -> np.ndarray:
        return validation.check_targets(y, n, name, self.input_noun)

    def _describe_labels(self, y: np.ndarray) -> dict:
        return {"target_shape": list(y.shape[1:])}

    def predict(self, x) -> np.ndarray:
        """Predicted targets, shaped like the ``y`` given to ``fit``."""
        out = self._raw_predict(x)
        return out[:, 0] if not self.meta["target_shape"] else out

    def evaluate(self, x, y=None) -> float:
        """Mean squared error on (x, y)."""
        x, y = self._inputs_and_labels(x, y, "x", "y")
        x = self._checked_inputs(x)
        targets = self._check_y(y, len(x), "y")
        return float(np.mean((self.predict(x) - targets) ** 2))

    def _score_name(self) -> str:
        return "mean squared error"

    def _output_name(self) -> str:
        return "predictions"


def _prediction_seconds(model, x: np.ndarray, repeats: int = 3) -> float:
    """Seconds ``model.predict`` will take on ``x``, extrapolated from timing a part of it.

    The part grows fourfold until predicting it takes ``TIMED_PREDICTION_SECONDS`` (or it is
    all of ``x``): a batch or two of small images take milliseconds, and extrapolating such a
    timing to thousands of batches multiplies its noise as much. The fastest of a few timings
    counts, as a pause of the machine only ever adds time. The warm-up traces the model's
    predict function, which the evaluation then reuses.
    """
    total = math.ceil(len(x) / PREDICT_BATCH_SIZE)

    def fastest_seconds(batches: int) -> float:
        images = _as_model_input(x[:batches * PREDICT_BATCH_SIZE])
        timings = []
        for _ in range(repeats):
            timer = time.perf_counter()
            model.predict(images, batch_size=PREDICT_BATCH_SIZE, verbose=0)
            timings.append(time.perf_counter() - timer)
        return min(timings)

    model.predict(_as_model_input(x[:PREDICT_BATCH_SIZE]), batch_size=PREDICT_BATCH_SIZE,
                  verbose=0)
    one = seconds = fastest_seconds(1)
    batches = 1
    while seconds < TIMED_PREDICTION_SECONDS and batches < total:
        batches = min(4 * batches, total)
        seconds = fastest_seconds(batches)
    if batches == 1:  # one batch is slow enough to time (or all there is)
        return one * total
    # A call costs a fixed time besides its batches: a line through the two timings.
    per_batch = max(seconds - one, 0.0) / (batches - 1)
    return one + per_batch * (total - 1)


def _as_model_input(x: np.ndarray) -> np.ndarray:
    """Numbers as float32 (what the models take); strings as they are."""
    return x.astype(np.float32) if x.dtype.kind in "biuf" else x
