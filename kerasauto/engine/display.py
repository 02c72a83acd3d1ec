"""One line per trial instead of keras-tuner's hyperparameter tables."""
from __future__ import annotations

import json
import time

from keras_tuner.src.engine.oracle import Display


def describe_ops(ops: list[dict], parent: str | None = None) -> str:
    """A short human-readable form of a morph sequence, e.g. ``wider(conv2d_3)+deeper(re_lu_5)``;
    ``seed`` for a trial without parent, ``continue`` for a parent's network going on."""
    if not ops:
        return "continue" if parent else "seed"
    parts = []
    for op in ops:
        target = op.get("layer") or op.get("after") or f"{op.get('from')}->{op.get('to')}"
        parts.append(f"{op['op']}({target})")
    return "+".join(parts)


class TrialLineDisplay(Display):
    """Prints ``trial, parent, morph, params, objective, seconds, best so far`` per trial."""

    def __init__(self, oracle, verbose=1):
        super().__init__(oracle, verbose)
        self._started: dict[str, float] = {}

    def on_trial_begin(self, trial):
        self._started[trial.trial_id] = time.time()

    def on_trial_end(self, trial):
        if self.verbose < 1:
            return
        values = trial.hyperparameters.values
        seconds = time.time() - self._started.get(trial.trial_id, time.time())
        best = self.oracle.get_best_trials(1)
        best_score = best[0].score if best and best[0].score is not None else float("nan")
        best_id = best[0].trial_id if best else "-"
        score = "failed" if trial.score is None else f"{trial.score:.4f}"
        parent = values.get("parent_trial_id")
        left = self.oracle.seconds_left() if hasattr(self.oracle, "seconds_left") else float("inf")
        budget = f" | {left:.0f}s of the budget left" if left != float("inf") else ""
        print(f"[kerasauto] trial {trial.trial_id} {values.get('role', '')} | parent {parent or '-'} | "
              f"{describe_ops(json.loads(values.get('ops', '[]')), parent)} | "
              f"{values.get('num_params', '?')} params | {self.oracle.objective.name} {score} | "
              f"{seconds:.0f}s | best {best_score:.4f} (trial {best_id}){budget}", flush=True)
