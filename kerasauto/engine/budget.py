"""The search's budget as one training run of a growing network: the learning-rate plan, when
the network grows, and how long each stage and probe trains.

A search is a lineage of *stages*. A stage trains one network; at the end of a stage the
network may grow: a few children (morphs proposed by the Bayesian optimiser) and the network
itself each train a short *probe* from the same point, and the best continues as the next
stage. One learning-rate plan spans the whole budget (the base rate while the network grows,
then one cosine decay over the last ``decay_fraction``), and each trial carries its optimizer
state over to its successors, so nothing restarts.

Every length is derived from two figures with a meaning, not tuned to a dataset:
``probe_epochs`` (how much training a probe gets, as a fraction of an epoch) and
``probe_share`` (the most of the training time that losing probes may take). With ``children``
children per growth point, ``children`` of the ``children + 1`` probes lose, so a stage must
train ``probe_epochs * (children / probe_share - children - 1)`` epochs between growth points
for the losers to stay within their share. Times come from measured step costs: the plan asks
of a trial *how long* to train (durations, never absolute times, so that a worker's clock need
not agree with the chief's).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

#: The learning rate at the end of the decay, as a fraction of the base rate.
FINAL_RATE_FRACTION = 0.01


@dataclass(frozen=True)
class LearningRatePlan:
    """The base rate until ``1 - decay_fraction`` of the budget, then a cosine decay to ~0."""

    base: float = 1e-3
    decay_fraction: float = 1 / 3

    @property
    def decay_start(self) -> float:
        return 1.0 - self.decay_fraction

    def rate(self, progress: float) -> float:
        """The learning rate at ``progress`` (0 to 1) of the budget."""
        progress = min(max(progress, 0.0), 1.0)
        if progress <= self.decay_start or self.decay_fraction <= 0:
            return self.base
        into = (progress - self.decay_start) / self.decay_fraction
        cosine = 0.5 * (1 + math.cos(math.pi * into))
        return self.base * (FINAL_RATE_FRACTION + (1 - FINAL_RATE_FRACTION) * cosine)


@dataclass(frozen=True)
class GrowthPlan:
    """How often the network grows and how its children are chosen (see the module's doc)."""

    children: int = 3
    probe_epochs: float = 0.25
    probe_share: float = 0.1

    def __post_init__(self):
        if not (isinstance(self.children, int) and self.children >= 1):
            raise ValueError(f"children must be an int >= 1, got {self.children!r}.")
        if not 0 < self.probe_epochs <= 1:
            raise ValueError(f"probe_epochs must be in (0, 1], got {self.probe_epochs!r}.")
        if not 0 < self.probe_share < self.children / (self.children + 1):
            raise ValueError("probe_share must be in (0, children / (children + 1)), "
                             f"got {self.probe_share!r}.")

    @property
    def stage_epochs(self) -> float:
        """Epochs a stage trains between growth points, so that losing probes keep their share."""
        k = self.children
        return self.probe_epochs * (k / self.probe_share - k - 1)

    # The rules below take what the search measured of the network being grown: the seconds
    # of one epoch and a trial's overhead (building, tracing, validating, saving).
    def probe_seconds(self, epoch_seconds: float, overhead_seconds: float) -> float:
        """What one probe costs: its training and a trial's overhead."""
        return self.probe_epochs * epoch_seconds + overhead_seconds

    def stage_epochs_for(self, epoch_seconds: float | None, overhead_seconds: float) -> float:
        """Epochs between growth points: :attr:`stage_epochs`, or more where the overheads make
        probes dearer than their training, so that losing probes stay within their share."""
        if not epoch_seconds:
            return self.stage_epochs
        k = self.children
        probe = self.probe_seconds(epoch_seconds, overhead_seconds)
        return max(self.stage_epochs, probe * (k / self.probe_share - k - 1) / epoch_seconds)

    def may_grow(self, seconds_to_decay: float, epoch_seconds: float,
                 overhead_seconds: float) -> bool:
        """Whether a growth point's probes end before the final decay begins (the winner then
        trains on, into the decay if its stage is cut short by it)."""
        probes = (self.children + 1) * self.probe_seconds(epoch_seconds, overhead_seconds)
        return seconds_to_decay > probes

    @staticmethod
    def affordable_cost(cost: float, seconds_left: float, epoch_seconds: float | None,
                        trained_epochs: float) -> float:
        """The most a child of a network of ``cost`` (multiply-adds per example) may cost: it
        must still be able to train, in the time left, as many epochs as its lineage has had."""
        if not epoch_seconds or not trained_epochs:
            return math.inf
        return cost * (seconds_left / epoch_seconds) / trained_epochs

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrialBudget:
    """What one trial is told: how long it may train and where it sits in the plan.

    ``seconds``: wall seconds it may train from its own start (0: no limit); ``epochs``: how
    much it trains, in (possibly fractional) epochs (0: until ``seconds``, or the ``epochs`` of
    the tuner's ``fit`` without a time limit); ``progress``: where in the plan it starts (0 to
    1); ``progress_per_second``: how the plan advances with wall time (under a time limit);
    ``progress_per_trial``: how far one trial of ``fit``'s ``epochs`` moves it (a search counted
    in trials).
    """

    seconds: float = 0.0
    epochs: float = 0.0
    progress: float = 0.0
    progress_per_second: float = 0.0
    progress_per_trial: float = 0.0

    def to_values(self) -> dict:
        return {f"budget_{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_values(cls, values: dict) -> "TrialBudget":
        fields = cls.__dataclass_fields__
        return cls(**{k: values[f"budget_{k}"] for k in fields if f"budget_{k}" in values})

    def progress_at(self, seconds: float, trials: float = 0.0) -> float:
        """The plan's progress after ``seconds`` of training, or ``trials`` trials' worth of it."""
        return self.progress + self.progress_per_second * seconds + self.progress_per_trial * trials
