"""Network-morphism search on keras-tuner: one network grown by function-preserving morphs that
Bayesian optimisation chooses, under one learning-rate plan (``kerasauto.engine.budget``).

``NetworkMorphismOracle`` proposes the trials: the seed's first stage, probes of a few children
and of the network continuing, the best probe's next stage, and so on. Each trial carries its
architecture JSON, the trial it continues from and the morph ops to replay on that trial's
weights, how long it trains and where it is in the plan, all as plain hyperparameter values,
so trials survive keras-tuner's JSON files and its gRPC transport unchanged. ``MorphismTuner``
rebuilds each trial from its parent's saved weights and optimizer state and trains it.
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
from kerasauto.engine import io, optimizer_state
from kerasauto.engine.acquisition import AnnealingSchedule, tree_search
from kerasauto.engine.budget import GrowthPlan, LearningRatePlan, TrialBudget
from kerasauto.engine.callbacks import Deadline, NanGuard, PlannedLearningRate, StepTimer
from kerasauto.engine.devices import default_strategy
from kerasauto.engine.display import TrialLineDisplay
from kerasauto.engine.gp import ArchitectureGP
from kerasauto.engine.validation import check_fraction
from kerasauto.graph import Graph
from kerasauto.kernel import ArchitectureSummary
from kerasauto.preprocessing import training_dataset

TrialStatus = trial_module.TrialStatus
#: Substrings of a failed trial's message that mean it ran out of memory.
OOM_MARKERS = ("ResourceExhausted", "out of memory", "OOM")
#: A search stops proposing when less than this many seconds remain.
MIN_SECONDS_LEFT = 1.0
#: Epochs a trial counted in trials may not exceed when it trains until a time instead.
MAX_EPOCHS = 100_000


class NetworkMorphismOracle(keras_tuner.Oracle):
    """Grows one network by function-preserving morphs chosen by Bayesian optimisation.

    The search is one lineage (see ``kerasauto.engine.budget``): the seed trains a *stage*;
    then, under a time limit, the optimiser proposes ``growth.children`` morphs of it, which
    train a short *probe* each beside a probe of the network itself continuing, all from the
    same weights and optimizer state; the best probe continues as the next stage. Growth stops
    where the learning-rate plan starts its final decay; the last stage trains to the time
    limit. Counted in trials instead (no time limit), every trial after the seed is the
    optimiser's best morph of the latest stage and trains ``fit``'s ``epochs``.

    Args:
        objective: what to optimise, e.g. ``"val_accuracy"`` (keras-tuner's objectives).
        max_trials: stop after this many trials.
        time_limit: seconds a ``search`` may run; the trial in flight is cut at the limit.
        seed: makes the sequence of proposals reproducible.
        seed_architectures: ``Graph`` objects to start from; default: a CNN for images, an
            MLP for vectors, built when the tuner sees the data (see ``default_seeds``); if every
            seed fails (out of memory, say), smaller ``fallback_seeds`` are tried.
        max_params, max_depth, max_width: size limits of proposed architectures; ``max_params``
            is lowered automatically when a trial runs out of memory.
        beta: UCB exploration weight.
        growth: a :class:`~kerasauto.engine.budget.GrowthPlan` (children per growth point,
            probe length, the share of training that losing probes may take).
        decay_fraction: the share of the budget over which the learning rate decays at the end.
    """

    def __init__(self, objective: Any = "val_accuracy", max_trials: int | None = 20,
                 time_limit: float | None = None, seed: int | None = None,
                 seed_architectures: Sequence[Graph] | None = None,
                 max_params: int = 3_000_000, max_depth: int = 24, max_width: int = 512,
                 beta: float = 2.5, growth: GrowthPlan | None = None,
                 decay_fraction: float = 1 / 3, max_consecutive_failed_trials: int = 3,
                 **kwargs):
        super().__init__(objective=objective, max_trials=max_trials, seed=seed,
                         max_consecutive_failed_trials=max_consecutive_failed_trials, **kwargs)
        if seed is not None:  # keras-tuner replaces a seed of 0 by a random one
            self.seed = self._seed_state = int(seed)
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}.")
        if growth is not None and not isinstance(growth, GrowthPlan):
            raise TypeError(f"growth must be a kerasauto.engine.budget.GrowthPlan, got {growth!r}.")
        self.time_limit = time_limit
        self.max_params, self.max_depth, self.max_width = int(max_params), max_depth, max_width
        self.beta = beta
        self.growth = growth or GrowthPlan()
        self.decay_fraction = check_fraction(decay_fraction, "decay_fraction")
        self.schedule = AnnealingSchedule()
        self.problem: dict | None = None
        self.pending_seeds = [g.to_json() for g in seed_architectures or []]
        self.fallback_seeds: list[str] = []
        self.pending_probes: list[dict] = []
        self.started: float | None = None
        self.budget_seconds: float | None = None
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
        self.started = time.time()
        self.budget_seconds = float(budget) if budget else None

    @property
    def deadline(self) -> float | None:
        return self.started + self.budget_seconds if self.budget_seconds else None

    def seconds_left(self) -> float:
        return math.inf if self.deadline is None else self.deadline - time.time()

    def _decay_starts_in(self) -> float:
        """Seconds until the learning rate's final decay begins (growth ends there)."""
        return self.seconds_left() - self.decay_fraction * self.budget_seconds

    def _progress(self) -> float:
        if self.budget_seconds:
            return min(max((time.time() - self.started) / self.budget_seconds, 0.0), 1.0)
        return len(self.trials) / self.max_trials if self.max_trials else 0.0

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
        if trial.status == TrialStatus.RUNNING and values.get("search_started") != self.started:
            # A trial re-run after a crash carries the old search's budget: give it this one's.
            values.update(self._budget_values(values["role"], bool(values.get("final")),
                                              values.get("stage_epochs")))
            self._save_trial(trial)
        return trial

    def _populate(self, trial_id: str) -> dict:
        if self.seconds_left() < MIN_SECONDS_LEFT:
            return {"status": TrialStatus.STOPPED}
        if self.pending_seeds:
            return self._stage(Graph.from_json(self.pending_seeds.pop(0)), "", [])
        completed = self._completed_trials()
        if not completed:
            # Seeds still training elsewhere: wait; every seed failed (out of memory, say): try a
            # smaller one; nothing left to try: give up.
            if self.ongoing_trials:
                return {"status": TrialStatus.IDLE}
            if self.fallback_seeds:
                return self._stage(Graph.from_json(self.fallback_seeds.pop(0)), "", [])
            return {"status": TrialStatus.STOPPED}
        if self.pending_probes:  # the other probes of this growth point (parallel work)
            return self._running(self.pending_probes.pop(0), "probe")
        head = self.lineage_head()
        if not self.budget_seconds:  # (other workers' trials grow from the same head meanwhile)
            return self._grow_by_trials(head)
        if self.ongoing_trials:  # the lineage goes on from what is training now
            return {"status": TrialStatus.IDLE}
        if head.hyperparameters.values.get("final"):
            return {"status": TrialStatus.STOPPED}
        probes = [t for t in self.trials.values()
                  if t.hyperparameters.values.get("growth_point") == head.trial_id]
        if probes:  # every probe of this growth point has ended: the best one goes on
            winner = self.probe_winner(head, probes)
            return self._stage(self._graph(winner), winner.trial_id, [],
                               final=not self._may_grow(winner), measured=winner)
        children = self._children(head, completed) if self._may_grow(head) else []
        if not children:
            return self._stage(self._graph(head), head.trial_id, [], final=True)
        probe_values = [self._values(c.graph, head.trial_id, c.ops) for c in children]
        probe_values.append(self._values(self._graph(head), head.trial_id, []))
        for values in probe_values:
            values["growth_point"] = head.trial_id
        self.pending_probes = probe_values[1:]
        return self._running(probe_values[0], "probe")

    def _grow_by_trials(self, head) -> dict:
        """Without a time limit: the best morph of the lineage's head trains ``epochs``."""
        rng = np.random.default_rng([self.seed, len(self.trials)])
        found = self._proposals([head], self._completed_trials(), rng, count=1,
                                training=lineage_epochs(head) + trained_epochs(head))
        if not found:
            return {"status": TrialStatus.STOPPED}
        return self._stage(found[0].graph, head.trial_id, found[0].ops)

    def _children(self, head, completed: list) -> list:
        rng = np.random.default_rng([self.seed, len(self.trials)])
        return self._proposals([head], completed, rng, count=self.growth.children,
                               training=lineage_epochs(head) + self.growth.probe_epochs,
                               max_multiply_adds=self._affordable_cost(head))

    def _may_grow(self, head) -> bool:
        return self.growth.may_grow(self._decay_starts_in(), *_costs(head))

    def _probe_seconds(self, trial) -> float:
        return self.growth.probe_seconds(*_costs(trial))

    def _stage_epochs(self, trial) -> float:
        return self.growth.stage_epochs_for(*_costs(trial))

    def _affordable_cost(self, head) -> float:
        return self.growth.affordable_cost(
            self._graph(head).multiply_adds(), self.seconds_left(),
            last_metric(head, "epoch_seconds"), lineage_epochs(head) + trained_epochs(head))

    def probe_winner(self, head, probes: list):
        """The best completed probe; a child within the measurement's error of the best is
        preferred to the network continuing unchanged (a short probe cannot show what new
        capacity is worth, and a function-preserving child starts equal).

        The error is the larger of the score's binomial standard error and the snapshot noise
        this growth point measured: how far the unchanged network's score moved in its probe
        from its score at the end of the stage (two snapshots of one network at the same rate;
        at the flat rate they differ by up to 1-2 points on Fashion-MNIST, far more than the
        binomial error, see benchmarks/RESULTS.md)."""
        done = [t for t in probes if t in self._completed_trials()]
        if not done:
            return head
        sign = 1.0 if self.objective.direction == "max" else -1.0
        best = max(done, key=lambda t: sign * t.score)
        if best.hyperparameters.values.get("ops", "[]") != "[]":
            return best
        children = [t for t in done if t.hyperparameters.values.get("ops", "[]") != "[]"]
        if not children:
            return best
        child = max(children, key=lambda t: sign * t.score)
        snapshot_noise = abs(best.score - head.score) if head.score is not None else 0.0
        error = max(standard_error(best, self.objective.name), snapshot_noise)
        return child if sign * (best.score - child.score) <= error else best

    def lineage_head(self):
        """The latest completed stage (the network the search is growing)."""
        stages = [t for t in self._completed_trials()
                  if t.hyperparameters.values.get("role", "stage") == "stage"]
        return stages[-1] if stages else self._completed_trials()[-1]

    def _stage(self, graph: Graph, parent: str, ops: list[dict], final: bool = False,
               measured=None) -> dict:
        """A stage of ``graph``; ``measured``: a trial of the same network, whose costs set the
        stage's length."""
        values = self._values(graph, parent, ops)
        values["stage_epochs"] = (self._stage_epochs(measured) if measured is not None
                                  else self.growth.stage_epochs)
        return self._running(values, "stage", final)

    def _running(self, values: dict, role: str, final: bool = False) -> dict:
        values = {**values, **self._budget_values(role, final, values.get("stage_epochs"))}
        return {"status": TrialStatus.RUNNING, "values": values}

    def _budget_values(self, role: str, final: bool = False,
                       stage_epochs: float | None = None) -> dict:
        """How long a trial of ``role`` trains and where it is in the learning-rate plan.

        A stage that starts once the decay has begun is the last one: it trains to the end."""
        budget = TrialBudget(progress=self._progress())
        final = final or (role == "stage" and bool(self.budget_seconds)
                          and self._decay_starts_in() <= 0)
        if self.budget_seconds:
            budget.progress_per_second = 1.0 / self.budget_seconds
            if role == "probe":
                budget.seconds, budget.epochs = self.seconds_left(), self.growth.probe_epochs
            elif final:
                budget.seconds = self.seconds_left()
            else:
                budget.seconds = self._decay_starts_in()
                budget.epochs = stage_epochs or self.growth.stage_epochs
        elif self.max_trials:
            budget.progress_per_trial = 1.0 / self.max_trials
        return {**budget.to_values(), "role": role, "final": bool(final),
                "decay_fraction": self.decay_fraction, "search_started": self.started}

    def _values(self, graph: Graph, parent: str, ops: list[dict]) -> dict:
        return {"architecture": graph.to_json(), "parent_trial_id": parent,
                "ops": json.dumps(ops), "num_params": int(graph.num_params()),
                "init_seed": int(self.seed + len(self.trials))}

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

    def limits(self, max_multiply_adds: float = math.inf) -> morphism.Limits:
        """Size limits of proposals."""
        return morphism.Limits(self.max_params, self.max_depth, self.max_width, max_multiply_adds)

    def _proposals(self, roots: list, completed: list, rng: np.random.Generator, count: int,
                   training: float, max_multiply_adds: float = math.inf) -> list:
        """The ``count`` morphs of ``roots`` with the best acquisition values, valued at
        ``training`` epochs, by a GP fitted on all ``completed`` trials."""
        sign = 1.0 if self.objective.direction == "max" else -1.0
        gp = ArchitectureGP(seed=self.seed).fit(
            [self._summary(t) for t in completed], [sign * t.score for t in completed],
            [lineage_epochs(t) + trained_epochs(t) for t in completed])
        completed_ids = {t.trial_id for t in completed}
        known = [self._summary(t) for t in self.trials.values() if t.trial_id not in completed_ids]
        known_keys = {self._graph(t).architecture_key() for t in self.trials.values()}
        return tree_search([(self._graph(t), t.trial_id) for t in roots], gp, known, known_keys,
                           rng, self.limits(max_multiply_adds), self.beta, self.schedule,
                           count=count, training=training)

    # ------------------------------------------------------------------ results
    def losing_probes(self) -> list:
        """The probes whose network did not go on (every probe of a growth point but the one the
        next stage continued)."""
        continued = {t.hyperparameters.values.get("parent_trial_id") for t in self.trials.values()
                     if t.hyperparameters.values.get("role") == "stage"}
        return [t for t in self.trials.values() if t.hyperparameters.values.get("role") == "probe"
                and t.trial_id not in continued and t.status in (TrialStatus.COMPLETED,
                                                                 TrialStatus.FAILED)]

    def summary(self) -> dict:
        """What the search spent its time on: seconds in trials, in probes that lost, their share."""
        trial_seconds = sum(last_metric(t, "seconds") or 0.0 for t in self.trials.values())
        lost = sum(last_metric(t, "seconds") or 0.0 for t in self.losing_probes())
        return {"trials": len(self.trials),
                "growth_points": len({t.hyperparameters.values.get("growth_point")
                                      for t in self.trials.values()} - {None}),
                "trial_seconds": trial_seconds, "losing_probe_seconds": lost,
                "losing_probe_share": lost / trial_seconds if trial_seconds else 0.0,
                "proposal_seconds": self.proposal_seconds}

    def end_trial(self, trial) -> None:
        if trial.status == TrialStatus.FAILED and any(m in (trial.message or "") for m in OOM_MARKERS):
            size = int(trial.hyperparameters.values.get("num_params", self.max_params))
            self.max_params = min(self.max_params, int(size * 0.75))
        super().end_trial(trial)
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
            "fallback_seeds": self.fallback_seeds, "pending_probes": self.pending_probes,
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
        self.pending_probes = list(state.get("pending_probes", []))
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
    """The seed architecture suited to the input: for images, the CNN a good engineer writes for
    small images (blocks of two 3x3 convolutions with batch norm, 32-64-128 filters); an MLP for
    vectors.

    One seed: every morph of it inherits trained weights, whereas each further seed trains from
    scratch (a small ResNet as a second seed took a sixth of a 25-minute search and was never
    the best). Skip connections are reached by morphing; pass ``seed_architectures`` for more.
    Raw texts (input shape ``()``, a ``TextVectorization`` first): ``generators.text_seed``.
    """
    if len(input_shape) == 0:
        return [generators.text_seed(preprocessing, num_outputs, head=head)]
    if len(input_shape) == 3:
        return [generators.cnn(input_shape, num_outputs, head=head, convs_per_block=2,
                               preprocessing=preprocessing)]
    return [generators.mlp(input_shape, num_outputs, head=head, preprocessing=preprocessing)]


def fallback_seeds(input_shape: Sequence[int], num_outputs: int, head: str = "softmax",
                   preprocessing: Sequence[dict] | None = None) -> list[Graph]:
    """Smaller seeds, tried only when every seed failed (e.g. out of memory): a small ResNet."""
    if len(input_shape) == 0:
        return [generators.text_seed(preprocessing, num_outputs, head=head, small=True)]
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


def _costs(trial) -> tuple[float, float]:
    """(seconds of an epoch, overhead seconds of a trial) as ``trial`` measured them."""
    return (last_metric(trial, "epoch_seconds") or 0.0,
            last_metric(trial, "overhead_seconds") or 0.0)


def lineage_epochs(trial) -> float:
    """Epochs the trial's network had been trained, along its lineage, before the trial."""
    return last_metric(trial, "epochs_before") or 0.0


def trained_epochs(trial) -> float:
    """Epochs the trial itself trained."""
    return last_metric(trial, "epochs_trained") or 0.0


def standard_error(trial, objective: str) -> float:
    """The standard error of an accuracy score measured on the trial's validation examples
    (binomial), or 0 for other objectives."""
    count, score = last_metric(trial, "validation_count"), trial.score
    if not objective.endswith("accuracy") or not count or score is None or not 0 <= score <= 1:
        return 0.0
    return math.sqrt(score * (1.0 - score) / count)


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
    """Trains the oracle's trials; each continues from its parent's trained weights and optimizer
    state, under the search's one learning-rate plan.

    Args:
        oracle: a :class:`NetworkMorphismOracle`.
        task: ``"classification"`` (softmax head, integer or one-hot labels) or ``"regression"``.
        learning_rate: Adam's base learning rate (the plan's rate until its final decay).
        batch_size: default batch size for ``search``.
        distribution_strategy: a ``tf.distribute`` strategy; ``"auto"`` mirrors over all GPUs
            when there are several (found with ``tf.config``), else the default strategy.
        augmentation: augmentations of training images (names from
            ``kerasauto.preprocessing.AUGMENTATIONS``), applied to every trial's training
            batches when ``x`` is an image array.
        inherit_weights: children start from their parent's trained weights and optimizer
            state (the method); ``False`` trains every trial from scratch, for ablations.
        **kwargs: ``directory``, ``project_name``, ``overwrite`` and other keras-tuner arguments.
    """

    def __init__(self, oracle: NetworkMorphismOracle, task: str = "classification",
                 learning_rate: float = 1e-3, batch_size: int = 64,
                 distribution_strategy: Any = "auto",
                 preprocessing: Sequence[dict] | None = None, inherit_weights: bool = True,
                 augmentation: Sequence[str] = (), **kwargs):
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
        self.preprocessing = list(preprocessing or [])
        self.inherit_weights = inherit_weights
        self.augmentation = tuple(augmentation)
        self._waiting = False
        if not tf.io.gfile.exists(self._get_tuner_fname()):
            # keras-tuner reloads a project only if this file exists: write it before any trial.
            self.save()

    def pre_create_trial(self) -> None:
        """Back off briefly while the oracle answers IDLE (waiting for the lineage's trial)."""
        if self._waiting:
            time.sleep(0.5)
        self._waiting = True

    def on_trial_begin(self, trial) -> None:
        self._waiting = False
        super().on_trial_begin(trial)

    # ------------------------------------------------------------------ search
    def search(self, x, y=None, *, time_limit: float | None = None, **kwargs) -> None:
        """Run the search: ``x``, ``y`` and keyword arguments go to ``model.fit`` of each trial
        (``epochs``: each trial's epochs when the search is counted in trials; under a time
        limit the plan sets every trial's length)."""
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
            summary = oracle.summary()
            print(f"[kerasauto] search ended: {done} of {len(oracle.trials)} trials completed, "
                  f"{summary['growth_points']} growth points; probes that lost took "
                  f"{summary['losing_probe_seconds']:.0f} s "
                  f"({100 * summary['losing_probe_share']:.1f} % of the trials' time); "
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

    def _load_parent_optimizer(self, trial, model) -> None:
        """Carry the parent's optimizer state (step count, moments) over to ``model``."""
        if self._inherits(trial):
            path = self._optimizer_fname(trial.hyperparameters.values["parent_trial_id"])
            if tf.io.gfile.exists(path):
                optimizer_state.load(path, model)

    def run_trial(self, trial, x, y=None, *, validation_data=None, validation_split: float = 0.0,
                  epochs: int = 10, batch_size: int | None = None, callbacks=None,
                  verbose: int = 0, **fit_kwargs) -> dict:
        started = time.perf_counter()
        values = trial.hyperparameters.values
        budget = TrialBudget.from_values(values)
        plan = LearningRatePlan(self.learning_rate, values.get("decay_fraction", 1 / 3))
        if validation_data is None and not validation_split:
            validation_split = 0.2
        batch_size = batch_size or self.batch_size
        x_sample = x[:512] if isinstance(x, np.ndarray) else None
        steps_per_epoch = None
        augmented = False
        if x_sample is not None and y is not None:
            if validation_data is None:  # keras' validation_split: the last part of the arrays
                split = int(len(x) * (1 - validation_split))
                validation_data, validation_split = (x[split:], y[split:]), 0.0
                x, y = x[:split], y[:split]
            augmented = bool(x.ndim == 4 and self.augmentation)
            (x, steps_per_epoch), y = training_dataset(
                x, y, batch_size, self.augmentation if augmented else (),
                seed=int(values.get("init_seed", 0))), None
            fit_kwargs["shuffle"] = False  # the dataset shuffles itself
            fit_kwargs["steps_per_epoch"] = steps_per_epoch
        max_steps = math.ceil(budget.epochs * steps_per_epoch) if budget.epochs and steps_per_epoch else 0
        if max_steps:
            epochs = math.ceil(max_steps / steps_per_epoch)
        elif budget.seconds:
            epochs = MAX_EPOCHS
        deadline = Deadline(time.time() + budget.seconds if budget.seconds else None,
                            max_steps=max_steps)
        per_step = (budget.progress_per_trial / (epochs * steps_per_epoch)
                    if budget.progress_per_trial and steps_per_epoch else 0.0)
        nan_guard, timer = NanGuard(), StepTimer()
        all_callbacks = self._deepcopy_callbacks(callbacks or []) + [
            deadline, nan_guard, timer, PlannedLearningRate(plan, budget, per_step)]
        try:
            with maybe_distribute(self.distribution_strategy):
                model = self.build_trial_model(trial, x_sample)
                self.compile_model(model, plan.rate(budget.progress))
                self._load_parent_optimizer(trial, model)
            history = model.fit(x, y, validation_data=validation_data,
                                validation_split=validation_split, epochs=epochs,
                                batch_size=None if y is None else batch_size,
                                callbacks=all_callbacks, verbose=verbose, **fit_kwargs)
        except Exception as error:  # noqa: BLE001 - classify, then let keras-tuner record it
            if type(error).__name__ == "ResourceExhaustedError":
                raise keras_tuner.errors.FailedTrialError(
                    f"ResourceExhaustedError: out of memory with {values.get('num_params')} "
                    f"parameters.") from error
            raise
        if nan_guard.diverged:
            raise keras_tuner.errors.FailedTrialError("The loss became NaN or infinite.")
        objective = self.oracle.objective.name
        logs = {k: float(v[-1]) for k, v in history.history.items() if v}
        if not math.isfinite(logs.get(objective, math.nan)):
            raise keras_tuner.errors.FailedTrialError(f"No epoch produced a finite {objective}.")
        saving = time.perf_counter()
        self.save_model(trial.trial_id, model)
        saving = time.perf_counter() - saving
        logs["augmented"] = float(augmented)  # final_fit continues on the same kind of data
        if validation_data is not None and isinstance(validation_data[0], np.ndarray):
            logs["validation_count"] = float(len(validation_data[0]))
        parent_id = values.get("parent_trial_id")
        logs["epochs_before"] = (lineage_epochs(self.oracle.get_trial(parent_id))
                                 + trained_epochs(self.oracle.get_trial(parent_id))
                                 if parent_id and self.inherit_weights else 0.0)
        if steps_per_epoch:
            logs["epochs_trained"] = deadline.steps / steps_per_epoch
            if timer.seconds_per_step():
                # What an epoch of this architecture costs here: the oracle plans growth by it.
                logs["epoch_seconds"] = timer.seconds_per_step() * steps_per_epoch
        # Beyond its training steps: building, tracing, one validation pass, saving.
        logs["overhead_seconds"] = timer.startup_seconds(started) + saving
        logs["seconds"] = time.perf_counter() - started
        return logs

    # ------------------------------------------------------------------ files
    def _optimizer_fname(self, trial_id: str) -> str:
        return os.path.join(self.get_trial_dir(trial_id), "optimizer.h5")

    def save_model(self, trial_id: str, model, step: int = 0) -> None:
        """Write the trial's weights, then its optimizer state, atomically (a kill never leaves
        half a file; a child finding no optimizer state starts its optimizer afresh)."""
        io.atomic_write(self._get_checkpoint_fname(trial_id), model.save_weights,
                        suffix=".weights.h5")
        if getattr(model, "optimizer", None) is not None and model.optimizer.built:
            optimizer_state.save(self._optimizer_fname(trial_id), model)

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
