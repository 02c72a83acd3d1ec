"""Network-morphism search on keras-tuner: Bayesian optimisation over function-preserving morphs.

``NetworkMorphismOracle`` proposes architectures (seeds first, then morphs of trained trials chosen
by a GP with the edit-distance kernel and a simulated-annealing tree search). Each trial carries its
architecture JSON, the trained trial it descends from and the morph ops to replay on that trial's
weights, all as plain hyperparameter values, so trials survive keras-tuner's JSON files and its
gRPC transport unchanged. ``MorphismTuner`` rebuilds each child from its parent's saved weights and
trains it.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Sequence

import keras
import keras_tuner
import numpy as np
import tensorflow as tf
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.engine.tuner import maybe_distribute

from kerasauto import generators, morphism
from kerasauto.calibration import calibrate_batchnorms
from kerasauto.engine import io
from kerasauto.engine.acquisition import AnnealingSchedule, tree_search
from kerasauto.engine.callbacks import (BestEpochKeeper, Deadline, NanGuard, StepTimer,
                                        WallClockCosine)
from kerasauto.engine.devices import default_strategy
from kerasauto.engine.display import TrialLineDisplay
from kerasauto.engine.gp import ArchitectureGP
from kerasauto.engine.validation import (check_fraction, check_non_negative_float,
                                         check_positive_int)
from kerasauto.graph import Graph
from kerasauto.kernel import ArchitectureSummary
from kerasauto.preprocessing import training_dataset

TrialStatus = trial_module.TrialStatus
#: Substrings of a failed trial's message that mean it ran out of memory.
OOM_MARKERS = ("ResourceExhausted", "out of memory", "OOM")
#: Training-loss floor of the over-fitting test (a loss of 0 would make every ratio infinite).
MIN_TRAINING_LOSS = 1e-12
#: A search stops proposing when less than this many seconds remain.
MIN_SECONDS_LEFT = 1.0
#: With a time limit, a proposal must train at least this many epochs in a trial's time share.
MIN_EPOCHS_PER_TRIAL = 3
#: ...but a proposal may always cost this much more than the cheapest trained architecture.
MIN_COST_GROWTH = 1.25
#: A trial starts another epoch only if half an epoch's time is left before its deadline, so the
#: epoch it keeps reports means over at least half of the data (not the last batch's loss,
#: which the over-fitting rule of ``augment_loss_ratio`` would read), and near the deadline the
#: learning rate is ~0 anyway.
MIN_LAST_EPOCH_FRACTION = 0.5
#: With a time limit, a trial that would leave less than this many trial shares takes all the
#: time left (trials end early by up to half an epoch, and that time must not become a stub).
LAST_TRIAL_SHARES = 1.5


class NetworkMorphismOracle(keras_tuner.Oracle):
    """Proposes seed architectures, then morphs of trained ones chosen by Bayesian optimisation.

    Args:
        objective: what to optimise, e.g. ``"val_accuracy"`` (keras-tuner's objectives).
        max_trials: stop after this many trials.
        time_limit: seconds a ``search`` may run; the trial in flight is cut at the limit.
        seed: makes the sequence of proposals reproducible.
        seed_architectures: ``Graph`` objects to try first; default: a small CNN for images, an
            MLP for vectors, built when the tuner sees the data (see ``default_seeds``); if every
            seed fails (out of memory, say), smaller ``fallback_seeds`` are tried.
        max_params, max_depth, max_width: size limits of proposed architectures; ``max_params``
            is lowered automatically when a trial runs out of memory.
        beta: UCB exploration weight.
        trials_per_budget: with a time limit, each trial trains for at most
            ``time_limit / trials_per_budget`` seconds, so that several morphs happen; children
            continue from trained weights, so short trials still add up along a lineage. Trials
            report what an epoch cost, and proposals are kept cheap enough (in multiply-adds)
            to train ``MIN_EPOCHS_PER_TRIAL`` epochs in that time.
        augment_loss_ratio: when trials train on augmented data (the tuner's ``augmentation``).
            ``0``: every trial. Otherwise trials train on plain data until one over-fits (its
            validation loss reaches this many times its training loss); from then on the
            search is committed to augmented data: every new trial trains on it, morphs grow
            only from trials that trained on it (once there are some), and they rank above plain
            trials in ``get_best_trials``. Weights that still generalise learn faster on plain
            data, and an augmented trial scores below a plain one for its first epochs; left to
            that comparison, searches kept returning to the plain trial and its lineage never
            accumulated the augmented training that pays later (``benchmarks/RESULTS.md``).
    """

    def __init__(self, objective: Any = "val_accuracy", max_trials: int | None = 20,
                 time_limit: float | None = None, seed: int | None = None,
                 seed_architectures: Sequence[Graph] | None = None,
                 max_params: int = 3_000_000, max_depth: int = 24, max_width: int = 512,
                 beta: float = 2.5, trials_per_budget: int = 6,
                 augment_loss_ratio: float = 0.0, max_consecutive_failed_trials: int = 3,
                 **kwargs):
        super().__init__(objective=objective, max_trials=max_trials, seed=seed,
                         max_consecutive_failed_trials=max_consecutive_failed_trials, **kwargs)
        if seed is not None:  # keras-tuner replaces a seed of 0 by a random one
            self.seed = self._seed_state = int(seed)
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}.")
        self.time_limit = time_limit
        self.max_params, self.max_depth, self.max_width = int(max_params), max_depth, max_width
        self.beta = beta
        self.trials_per_budget = trials_per_budget
        self.augment_loss_ratio = check_non_negative_float(augment_loss_ratio, "augment_loss_ratio")
        self.trial_seconds: float | None = None
        self.schedule = AnnealingSchedule()
        self.problem: dict | None = None
        self.pending_seeds = [g.to_json() for g in seed_architectures or []]
        self.fallback_seeds: list[str] = []
        self.deadline: float | None = None
        self.proposal_seconds = 0.0
        self._graphs: dict[str, Graph] = {}
        self._summaries: dict[str, ArchitectureSummary] = {}
        self._display = TrialLineDisplay(oracle=self)

    # ------------------------------------------------------------------ set-up
    def configure(self, input_shape: Sequence[int], num_outputs: int, head: str = "softmax",
                  preprocessing: Sequence[dict] | None = None) -> None:
        """Tell the oracle the problem; creates the default seeds unless some were given."""
        problem = {"input_shape": [int(d) for d in input_shape], "num_outputs": int(num_outputs),
                   "head": head, "preprocessing": list(preprocessing or [])}
        if self.problem is not None and self.problem != problem and self.trials:
            raise ValueError("This project was searched on data of another shape or number of "
                             f"outputs ({self.problem}); use another project_name or overwrite=True.")
        self.problem = problem
        if not self.pending_seeds and not self.trials:
            self.pending_seeds = [g.to_json() for g in default_seeds(**problem)]
            self.fallback_seeds = [g.to_json() for g in fallback_seeds(**problem)]

    def start_clock(self, time_limit: float | None = None) -> None:
        """Start this search's time budget: ``time_limit`` seconds, else the constructor's."""
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}.")
        budget = time_limit or self.time_limit
        self.deadline = time.time() + budget if budget else None
        self.trial_seconds = budget / self.trials_per_budget if budget else None

    def seconds_left(self) -> float:
        return math.inf if self.deadline is None else self.deadline - time.time()

    # ------------------------------------------------------------------ proposals
    def populate_space(self, trial_id: str) -> dict:
        started = time.time()
        try:
            return self._populate(trial_id)
        finally:
            self.proposal_seconds += time.time() - started

    def create_trial(self, tuner_id: str):
        trial = super().create_trial(tuner_id)
        values = trial.hyperparameters.values
        if trial.status == TrialStatus.RUNNING and values.get("deadline") != float(self.deadline or 0.0):
            # A trial re-run after a crash carries the old search's deadline: give it this one's.
            values["deadline"] = float(self.deadline or 0.0)
            values["trial_seconds"] = self._trial_share()
            self._save_trial(trial)
        return trial

    def _populate(self, trial_id: str) -> dict:
        if self.seconds_left() < MIN_SECONDS_LEFT:
            return {"status": TrialStatus.STOPPED}
        if self.pending_seeds:
            graph = Graph.from_json(self.pending_seeds.pop(0))
            return self._values(graph, parent="", ops=[])
        completed = self._completed_trials()
        # A morph costs at least its parent: grow only the roots whose children could still
        # train an epoch; if none could, end the search.
        roots = [t for t in self._growth_roots(completed)
                 if self._trial_cost(t) <= self.seconds_left()]
        if completed and not roots:
            return {"status": TrialStatus.STOPPED}
        if not completed:
            # Seeds still training elsewhere: wait; every seed failed (out of memory, say): try a
            # smaller one; nothing left to try: give up.
            if self.ongoing_trials:
                return {"status": TrialStatus.IDLE}
            if self.fallback_seeds:
                return self._values(Graph.from_json(self.fallback_seeds.pop(0)), parent="", ops=[])
            return {"status": TrialStatus.STOPPED}
        rng = np.random.default_rng([self.seed, len(self.trials)])
        candidate = self._bayesian_proposal(completed, roots, rng)
        if candidate is None or self.seconds_left() < self._trial_cost(self.trials[candidate.root]):
            # (Proposing took time too: the child may no longer fit what is left.)
            return {"status": TrialStatus.STOPPED}
        return self._values(candidate.graph, parent=candidate.root, ops=candidate.ops)

    def _values(self, graph: Graph, parent: str, ops: list[dict]) -> dict:
        values = {"architecture": graph.to_json(), "parent_trial_id": parent,
                  "ops": json.dumps(ops), "num_params": int(graph.num_params()),
                  "deadline": float(self.deadline or 0.0), "trial_seconds": self._trial_share(),
                  "init_seed": int(self.seed + len(self.trials)),
                  "augment": self.committed_to_augmentation()}
        return {"status": TrialStatus.RUNNING, "values": values}

    # ------------------------------------------------------------------ augmented data
    def committed_to_augmentation(self) -> bool:
        """Whether new trials train on augmented data (see ``augment_loss_ratio``)."""
        if not self.augment_loss_ratio:
            return True
        return any(trained_augmented(t) or self._overfitted(t) for t in self._completed_trials())

    def _overfitted(self, trial) -> bool:
        loss, val_loss = last_metric(trial, "loss"), last_metric(trial, "val_loss")
        if loss is None or val_loss is None:
            return False
        return bool(val_loss >= self.augment_loss_ratio * max(loss, MIN_TRAINING_LOSS))

    def _prefers_augmented(self) -> bool:
        """Whether augmented trials come first (committed by over-fitting, not by ratio 0)."""
        return bool(self.augment_loss_ratio) and self.committed_to_augmentation()

    def _augmented_first(self, trials: list) -> list:
        """``trials`` in the same order, but augmented ones first once the search is committed."""
        if not self._prefers_augmented():
            return trials
        return sorted(trials, key=lambda t: not trained_augmented(t))  # sorted() is stable

    def get_best_trials(self, num_trials: int = 1) -> list:
        """The best trials by score; once committed to augmented data, augmented trials first."""
        return self._augmented_first(super().get_best_trials(len(self.trials)))[:num_trials]

    def _trial_share(self) -> float:
        """Seconds the next trial may train (0: no limit); the last one takes what is left.

        With less than ``LAST_TRIAL_SHARES`` shares left, the trial takes all of it, rather than
        leaving a stub too short for a child to catch up with its parent; so it does when what
        it would leave could not pay for the cheapest next trial (see ``_trial_cost``).
        """
        if not self.trial_seconds:
            return 0.0
        left = self.seconds_left()
        completed = self._completed_trials()
        next_trial = min(map(self._trial_cost, self._growth_roots(completed))) if completed else 0.0
        remainder = left - self.trial_seconds
        if remainder < (LAST_TRIAL_SHARES - 1) * self.trial_seconds or remainder < next_trial:
            return float(left)
        return float(self.trial_seconds)

    @staticmethod
    def _trial_cost(trial) -> float:
        """Seconds the shortest useful trial of this architecture takes: one epoch, plus what the
        trial measured outside its training steps (building, tracing, validating, saving).

        On a 2-core machine the overhead of a tiny model is 2-5 s: a trial started with less
        time left than that still takes it, and the search ends late.
        """
        return sum(last_metric(trial, name) or 0.0
                   for name in ("epoch_seconds", "overhead_seconds"))

    def _completed_trials(self) -> list:
        return [t for t in self.trials.values() if t.status == TrialStatus.COMPLETED
                and t.score is not None and math.isfinite(t.score)]

    def _graph(self, trial) -> Graph:
        """The trial's architecture, parsed once (trial architectures never change)."""
        if trial.trial_id not in self._graphs:
            self._graphs[trial.trial_id] = trial_graph(trial)
        return self._graphs[trial.trial_id]

    def _summary(self, trial) -> ArchitectureSummary:
        if trial.trial_id not in self._summaries:
            self._summaries[trial.trial_id] = ArchitectureSummary(self._graph(trial))
        return self._summaries[trial.trial_id]

    def limits(self, completed: Sequence = ()) -> morphism.Limits:
        """Size limits of proposals; with a time limit, also a cost limit from measured speed."""
        return morphism.Limits(self.max_params, self.max_depth, self.max_width,
                               self._max_multiply_adds(completed))

    def _max_multiply_adds(self, completed: Sequence) -> float:
        """The cost per example at which an epoch takes 1/MIN_EPOCHS_PER_TRIAL of a trial's time.

        Measured speeds (multiply-adds per epoch-second) of the completed trials give the rate;
        never below ``MIN_COST_GROWTH`` times the cheapest trained architecture, so that cheap
        morphs (skip connections, small widenings) stay possible on data too big for the budget.
        """
        if not self.trial_seconds:
            return math.inf
        rates, costs = [], []
        for trial in completed:
            seconds = last_metric(trial, "epoch_seconds")
            cost = self._graph(trial).multiply_adds()
            costs.append(cost)
            if seconds:
                rates.append(cost / seconds)
        if not rates:
            return math.inf
        affordable = float(np.median(rates)) * self.trial_seconds / MIN_EPOCHS_PER_TRIAL
        return max(affordable, MIN_COST_GROWTH * min(costs))

    def _bayesian_proposal(self, completed: list, roots: list, rng: np.random.Generator):
        """The child of one of ``roots`` with the best acquisition value (GP fitted on all
        ``completed`` trials), or None."""
        sign = 1.0 if self.objective.direction == "max" else -1.0
        gp = ArchitectureGP().fit([self._summary(t) for t in completed],
                                  [sign * t.score for t in completed])
        completed_ids = {t.trial_id for t in completed}
        known = [self._summary(t) for t in self.trials.values() if t.trial_id not in completed_ids]
        known_keys = {self._graph(t).architecture_key() for t in self.trials.values()}
        return tree_search([(self._graph(t), t.trial_id) for t in roots], gp, known, known_keys,
                           rng, self.limits(completed), self.beta, self.schedule)

    def _growth_roots(self, completed: list) -> list:
        """The trials morphs may grow from: all, or the augmented ones once committed to them."""
        if self._prefers_augmented():
            augmented = [t for t in completed if trained_augmented(t)]
            if augmented:
                return augmented
        return completed

    # ------------------------------------------------------------------ results
    def end_trial(self, trial) -> None:
        if trial.status == TrialStatus.FAILED and any(m in (trial.message or "") for m in OOM_MARKERS):
            size = int(trial.hyperparameters.values.get("num_params", self.max_params))
            self.max_params = min(self.max_params, int(size * 0.75))
        was_committed = self._prefers_augmented()
        super().end_trial(trial)
        if self.verbose and not was_committed and self._prefers_augmented():
            print(f"[kerasauto] trial {trial.trial_id} over-fitted its training data: the search "
                  "goes on with augmented data only.", flush=True)
        # keras-tuner saves before it forgets the trial as ongoing: save again, or a resumed
        # search would run this finished trial once more.
        self.save()

    # ------------------------------------------------------------------ resuming
    def reload(self) -> None:
        """Reload the project, reconciling what a kill between two writes can leave behind."""
        remove_stale_temporary_files(self._project_dir)
        super().reload()
        # keras-tuner reads the trial files in directory-listing order, which the file system
        # chooses: put them back in creation order, so that ties in score (the best trial among
        # equals is the first one) and the proposals of a resumed search do not depend on it.
        self.trials = dict(sorted(self.trials.items(), key=lambda item: _creation_order(item[0])))
        finished = (TrialStatus.COMPLETED, TrialStatus.FAILED)
        self._retry_queue = [t for t in dict.fromkeys(self._retry_queue)
                             if t in self.trials and self.trials[t].status not in finished]
        for trial_id, trial in self.trials.items():
            if trial.status in finished and trial_id not in self.end_order:
                self.end_order.append(trial_id)
            if trial.status not in finished and trial_id not in self._retry_queue:
                self._retry_queue.append(trial_id)  # started, never finished: run it again
            if trial_id not in self.start_order:
                self.start_order.append(trial_id)
        tried = {self._graph(t).architecture_key() for t in self.trials.values()}
        self.pending_seeds, self.fallback_seeds = (
            [s for s in seeds if Graph.from_json(s).architecture_key() not in tried]
            for seeds in (self.pending_seeds, self.fallback_seeds))

    # ------------------------------------------------------------------ state (JSON, atomic)
    def get_state(self) -> dict:
        state = super().get_state()
        state.update({
            "problem": self.problem, "pending_seeds": self.pending_seeds,
            "fallback_seeds": self.fallback_seeds,
            "max_params": self.max_params, "deadline": self.deadline,
            "proposal_seconds": self.proposal_seconds,
            "history": [self._history_row(t) for t in self.trials.values()],
        })
        return state

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.problem = state.get("problem")
        self.pending_seeds = list(state.get("pending_seeds", []))
        self.fallback_seeds = list(state.get("fallback_seeds", []))
        self.max_params = int(state.get("max_params", self.max_params))
        self.proposal_seconds = float(state.get("proposal_seconds", 0.0))

    @staticmethod
    def _history_row(trial) -> dict:
        values = trial.hyperparameters.values
        return {"trial_id": trial.trial_id, "status": trial.status, "score": trial.score,
                "parent_trial_id": values.get("parent_trial_id"),
                "ops": json.loads(values.get("ops", "[]")), "num_params": values.get("num_params")}

    def save(self) -> None:
        io.write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial) -> None:
        io.write_json(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                      trial.get_state())


def _creation_order(trial_id: str) -> tuple:
    """Sort key of keras-tuner's trial ids (zero-padded counters) in the order they were made."""
    return (0, int(trial_id), trial_id) if trial_id.isdigit() else (1, 0, trial_id)


def remove_stale_temporary_files(project_dir: str) -> None:
    """Delete temporary files that a kill in the middle of an atomic write left behind.

    Not in a distributed search, where a live worker may be writing one right now.
    """
    if "://" in project_dir or not os.path.isdir(project_dir) or "KERASTUNER_ORACLE_IP" in os.environ:
        return
    for folder, _, files in os.walk(project_dir):
        for name in files:
            if name.startswith(io.TEMPORARY_PREFIX):
                os.remove(os.path.join(folder, name))


def default_seeds(input_shape: Sequence[int], num_outputs: int, head: str = "softmax",
                  preprocessing: Sequence[dict] | None = None) -> list[Graph]:
    """The seed architecture suited to the input: a small CNN for images, an MLP for vectors.

    One seed: every morph of it inherits trained weights, whereas each further seed trains from
    scratch (a small ResNet as a second seed took a sixth of a 25-minute search and was never
    the best). Skip connections are reached by morphing; pass ``seed_architectures`` for more.
    """
    if len(input_shape) == 3:
        return [generators.cnn(input_shape, num_outputs, head=head, preprocessing=preprocessing)]
    return [generators.mlp(input_shape, num_outputs, head=head, preprocessing=preprocessing)]


def fallback_seeds(input_shape: Sequence[int], num_outputs: int, head: str = "softmax",
                   preprocessing: Sequence[dict] | None = None) -> list[Graph]:
    """Smaller seeds, tried only when every seed failed (e.g. out of memory): a small ResNet."""
    if len(input_shape) == 3:
        return [generators.resnet(input_shape, num_outputs, head=head, preprocessing=preprocessing)]
    return [generators.mlp(input_shape, num_outputs, head=head, units=32,
                           preprocessing=preprocessing)]


def trial_graph(trial) -> Graph:
    """The architecture a trial trains."""
    return Graph.from_json(trial.hyperparameters.values["architecture"])


def last_metric(trial, name: str) -> float | None:
    """The last value a trial reported for ``name``, or None if it never did."""
    return trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None


def trained_augmented(trial) -> bool:
    """Whether the trial trained on augmented data."""
    return bool(last_metric(trial, "augmented"))


def is_one_hot(y) -> bool:
    """Whether classification labels ``y`` are one-hot rows (2-D, more than one column)."""
    return np.ndim(y) == 2 and np.shape(y)[1] > 1


def infer_problem(x, y, task: str) -> tuple[tuple[int, ...], int, str]:
    """(input shape, number of outputs, head) from numpy training data."""
    y = np.asarray(y)
    if task == "classification":
        if is_one_hot(y):
            return tuple(x.shape[1:]), int(y.shape[1]), "softmax"
        return tuple(x.shape[1:]), int(np.max(y)) + 1, "softmax"
    return tuple(x.shape[1:]), int(1 if y.ndim == 1 else y.shape[1]), "linear"


class MorphismTuner(keras_tuner.Tuner):
    """Trains the oracle's proposals; children start from their parent's trained weights.

    Args:
        oracle: a :class:`NetworkMorphismOracle`.
        task: ``"classification"`` (softmax head, integer or one-hot labels) or ``"regression"``.
        learning_rate: Adam's learning rate.
        batch_size: default batch size for ``search``.
        patience: early stopping patience on the validation loss, in epochs.
        score_window: the score is the objective's mean over this many epochs ending at the kept
            (best) one. ``1`` scores the kept weights alone: with ``anneal`` a trial's last epochs
            are its settled ones, and a longer window ranks the trials that improve most at the
            end of their cosine (often the best ones) below flatter ones.
        distribution_strategy: a ``tf.distribute`` strategy; ``"auto"`` mirrors over all GPUs
            when there are several (found with ``tf.config``), else the default strategy.
        augmentation: augmentations of training images (names from
            ``kerasauto.preprocessing.AUGMENTATIONS``), applied when ``x`` is an image array, to
            the trials the oracle asks to augment (its ``augment_loss_ratio``).
        anneal: each trial decays the learning rate along a cosine to ~0 by its end (its time
            share or its epochs), so that every trial's score is that of a settled model.
        warm_restart_factor: children start their cosine at this fraction of ``learning_rate``
            (warm restarts): a fresh Adam at the full rate undoes part of what the parent had
            learned, more than a short trial wins back.
        inherit_weights: children start from their parent's trained weights (the method);
            ``False`` trains every child from scratch, for ablations.
        **kwargs: ``directory``, ``project_name``, ``overwrite`` and other keras-tuner arguments.
    """

    def __init__(self, oracle: NetworkMorphismOracle, task: str = "classification",
                 learning_rate: float = 1e-3, batch_size: int = 64, patience: int = 5,
                 score_window: int = 1, distribution_strategy: Any = "auto",
                 preprocessing: Sequence[dict] | None = None, inherit_weights: bool = True,
                 augmentation: Sequence[str] = (), anneal: bool = True,
                 warm_restart_factor: float = 0.3, **kwargs):
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
        if distribution_strategy == "auto":
            distribution_strategy = default_strategy()
        # Whether classification labels are one-hot (the loss depends on it); set by search()
        # and kept in the tuner's state, as keras-tuner may reload that state just below.
        self.one_hot_labels = False
        super().__init__(oracle=oracle, hypermodel=None,
                         distribution_strategy=distribution_strategy, **kwargs)
        self.task, self.learning_rate, self.batch_size = task, learning_rate, batch_size
        self.patience = patience
        self.score_window = check_positive_int(score_window, "score_window", allow_none=False)
        self.preprocessing = list(preprocessing or [])
        self.inherit_weights = inherit_weights
        self.augmentation, self.anneal = tuple(augmentation), anneal
        self.warm_restart_factor = check_fraction(warm_restart_factor, "warm_restart_factor")
        self._waiting = False
        if not tf.io.gfile.exists(self._get_tuner_fname()):
            # keras-tuner reloads a project only if this file exists: write it before any trial.
            self.save()

    def pre_create_trial(self) -> None:
        """Back off briefly while the oracle answers IDLE (a worker waiting for seeds to finish)."""
        if self._waiting:
            time.sleep(0.5)
        self._waiting = True

    def on_trial_begin(self, trial) -> None:
        self._waiting = False
        super().on_trial_begin(trial)

    # ------------------------------------------------------------------ search
    def search(self, x, y=None, *, time_limit: float | None = None, **kwargs) -> None:
        """Run the search: ``x``, ``y`` and keyword arguments go to ``model.fit`` of each trial."""
        if isinstance(self.oracle, NetworkMorphismOracle):  # local or chief, not a worker client
            self.oracle.configure(*infer_problem(x, y, self.task), preprocessing=self.preprocessing)
            self.oracle.start_clock(time_limit)
            self.oracle.save()
        self.one_hot_labels = self.task == "classification" and is_one_hot(y)
        super().search(x, y, **kwargs)

    def on_search_end(self) -> None:
        super().on_search_end()
        oracle = self.oracle
        if isinstance(oracle, NetworkMorphismOracle) and oracle.verbose and oracle.trials:
            done = sum(t.status == TrialStatus.COMPLETED for t in oracle.trials.values())
            print(f"[kerasauto] search ended: {done} of {len(oracle.trials)} trials completed; "
                  f"{oracle.proposal_seconds:.1f} s spent proposing architectures.", flush=True)
        best = self.oracle.get_best_trials(1)
        if not best or best[0].status != TrialStatus.COMPLETED:
            failed = [t for t in getattr(self.oracle, "trials", {}).values()
                      if t.status == TrialStatus.FAILED]
            detail = f"\nFirst failure:\n{failed[0].message}" if failed else ""
            raise RuntimeError(f"The search completed no trial ({len(failed)} failed).{detail}")

    # ------------------------------------------------------------------ one trial
    def compile_model(self, model, learning_rate: Any = None) -> None:
        """Compile for this task with Adam (``learning_rate``: a float or a schedule)."""
        if self.task == "classification":
            loss = "categorical_crossentropy" if self.one_hot_labels \
                else "sparse_categorical_crossentropy"
            metrics = ["accuracy"]
        else:
            loss, metrics = "mean_squared_error", ["mean_absolute_error"]
        model.compile(optimizer=keras.optimizers.Adam(learning_rate or self.learning_rate),
                      loss=self.loss or loss, metrics=self.metrics or metrics)

    def _inherits(self, trial) -> bool:
        """Whether the trial starts from its parent's trained weights."""
        return bool(trial.hyperparameters.values.get("parent_trial_id")) and self.inherit_weights

    def build_trial_model(self, trial, x_sample: np.ndarray | None = None):
        """The trial's Keras model: a seed freshly initialised, or a child with inherited weights."""
        values = trial.hyperparameters.values
        graph = Graph.from_json(values["architecture"])
        keras.backend.clear_session()
        if not self._inherits(trial):
            keras.utils.set_random_seed(int(values.get("init_seed", 0)))
            return graph.build()
        parent_id = values["parent_trial_id"]
        parent = self.oracle.get_trial(parent_id)
        parent_graph = trial_graph(parent)
        parent_model = parent_graph.build()
        parent_model.load_weights(self._get_checkpoint_fname(parent_id))
        parent_graph.update_weights(parent_model)
        child = morphism.replay(parent_graph, json.loads(values["ops"]))
        if child.architecture_key() != graph.architecture_key():
            raise keras_tuner.errors.FailedTrialError(
                f"Replaying the ops on trial {parent_id} did not give the proposed architecture.")
        model = child.build()
        if x_sample is not None:
            calibrate_batchnorms(model, child.fresh_batchnorms, x_sample)
        return model

    def run_trial(self, trial, x, y=None, *, validation_data=None, validation_split: float = 0.0,
                  epochs: int = 10, batch_size: int | None = None, callbacks=None,
                  verbose: int = 0, **fit_kwargs) -> dict:
        started = time.perf_counter()
        values = trial.hyperparameters.values
        if validation_data is None and not validation_split:
            validation_split = 0.2
        batch_size = batch_size or self.batch_size
        objective = self.oracle.objective
        keeper = BestEpochKeeper(objective.name, objective.direction, self.score_window)
        deadlines = [d for d in (values.get("deadline") or 0.0,
                                 time.time() + values["trial_seconds"] if values.get("trial_seconds") else 0.0)
                     if d]
        deadline = Deadline(min(deadlines) if deadlines else None,
                            min_epoch_fraction=MIN_LAST_EPOCH_FRACTION)
        nan_guard = NanGuard()
        timer = StepTimer()
        all_callbacks = self._deepcopy_callbacks(callbacks or []) + [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience),
            keeper, deadline, nan_guard, timer]
        x_sample = x[:512] if isinstance(x, np.ndarray) else None
        augmented = bool(x_sample is not None and x.ndim == 4 and self.augmentation
                         and values.get("augment", True))
        if augmented:
            if validation_data is None:  # keras' validation_split: the last part of the arrays
                split = int(len(x) * (1 - validation_split))
                validation_data, validation_split = (x[split:], y[split:]), 0.0
                x, y = x[:split], y[:split]
            (x, steps_per_epoch), y = training_dataset(
                x, y, batch_size, self.augmentation, seed=int(values.get("init_seed", 0))), None
            fit_kwargs["shuffle"] = False  # the dataset shuffles itself
            fit_kwargs["steps_per_epoch"] = steps_per_epoch
        else:
            n_train = len(x) * (1 - validation_split) if x_sample is not None else None
            steps_per_epoch = math.ceil(n_train / batch_size) if n_train else None
        if self.anneal:
            all_callbacks.append(WallClockCosine(
                self.learning_rate * (self.warm_restart_factor if self._inherits(trial) else 1.0),
                deadline.deadline,
                total_steps=steps_per_epoch * epochs if steps_per_epoch else None))
        try:
            with maybe_distribute(self.distribution_strategy):
                model = self.build_trial_model(trial, x_sample)
                self.compile_model(model)
            model.fit(x, y, validation_data=validation_data, validation_split=validation_split,
                      epochs=epochs, batch_size=None if y is None else batch_size,
                      callbacks=all_callbacks, verbose=verbose, **fit_kwargs)
        except Exception as error:  # noqa: BLE001 - classify, then let keras-tuner record it
            if type(error).__name__ == "ResourceExhaustedError":
                raise keras_tuner.errors.FailedTrialError(
                    f"ResourceExhaustedError: out of memory with {values.get('num_params')} "
                    f"parameters.") from error
            raise
        if nan_guard.diverged:
            raise keras_tuner.errors.FailedTrialError("The loss became NaN or infinite.")
        if keeper.best_epoch is None:
            raise keras_tuner.errors.FailedTrialError(
                f"No epoch produced a finite {objective.name}.")
        model.set_weights(keeper.best_weights)
        saving = time.perf_counter()
        self.save_model(trial.trial_id, model)
        saving = time.perf_counter() - saving
        logs = keeper.best_logs()
        logs["augmented"] = float(augmented)  # final_fit continues on the same kind of data
        if timer.seconds_per_step() and steps_per_epoch:
            # What an epoch of this architecture costs here: the oracle sizes proposals by it.
            logs["epoch_seconds"] = timer.seconds_per_step() * steps_per_epoch
        # What the shortest trial of this architecture spends beyond one epoch's steps:
        # building, tracing, one validation pass, saving (the oracle's end-of-search rule).
        logs["overhead_seconds"] = timer.startup_seconds(started) + saving
        return logs

    # ------------------------------------------------------------------ files
    def save_model(self, trial_id: str, model, step: int = 0) -> None:
        """Write the trial's weights atomically (a kill never leaves half a checkpoint)."""
        io.atomic_write(self._get_checkpoint_fname(trial_id), model.save_weights,
                        suffix=".weights.h5")

    def load_model(self, trial):
        """The trial's trained model, compiled."""
        model = trial_graph(trial).build()
        model.load_weights(self._get_checkpoint_fname(trial.trial_id))
        self.compile_model(model)
        return model

    def get_state(self) -> dict:
        return {**super().get_state(), "one_hot_labels": self.one_hot_labels}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.one_hot_labels = bool(state.get("one_hot_labels", False))

    def save(self) -> None:
        io.write_json(self._get_tuner_fname(), self.get_state())
