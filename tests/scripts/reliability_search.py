"""Run ``ImageClassifier(...).fit`` on digits; the reliability tests start, kill and restart it.

Usage::

    python reliability_search.py DIRECTORY [--project p] [--max-trials N] [--epochs E] [--seed S]
                                 [--events FILE] [--pause FILE:FUNCTION:NTH]
                                 [--pause-after-checkpoint NTH]

``--events`` appends one JSON line per event (``launched``/``imported`` at start-up, ``start``
and ``done`` of each trial's ``run_trial``, ``train_begin`` when Keras starts fitting, ``pause``
when a paused write is reached, ``finished`` at the end), so the parent can tell when to kill
and whether a finished trial ran again.

``--pause FILE:FUNCTION:NTH`` makes the NTH atomic write of a file named FILE, made while
FUNCTION is on the call stack (``*`` for any), stop for two minutes after the temporary file is
complete and before it is renamed onto FILE: the window the parent kills the process in.
``--pause-after-checkpoint NTH`` stops the same way just after the NTH trial checkpoint has been
renamed into place, before the trial is reported to the oracle.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

PAUSE_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--project", default="p")
    parser.add_argument("--max-trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--events", default=None)
    parser.add_argument("--pause", default=None)
    parser.add_argument("--pause-after-checkpoint", type=int, default=0)
    args = parser.parse_args()

    def event(kind: str, **data) -> None:
        if args.events:
            line = json.dumps({"event": kind, "pid": os.getpid(), "time": time.time(), **data})
            with open(args.events, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    event("launched")
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    import kerasauto
    from kerasauto.engine import io
    from kerasauto.tuners import network_morphism
    from call_stack import on_stack

    if args.pause:
        target, function, nth = args.pause.split(":")
        nth = int(nth)
        original = io.atomic_write
        seen = [0]

        def atomic_write(path, write, suffix=""):
            if os.path.basename(str(path)) == target and (function == "*" or on_stack(function)):
                seen[0] += 1
                if seen[0] == nth:
                    def slow_write(tmp):
                        write(tmp)
                        event("pause", path=str(path), tmp=str(tmp))
                        time.sleep(PAUSE_SECONDS)

                    return original(path, slow_write, suffix)
            return original(path, write, suffix)

        io.atomic_write = atomic_write

    run_trial = network_morphism.MorphismTuner.run_trial

    def logged_run_trial(self, trial, *fit_args, **fit_kwargs):
        event("start", trial=trial.trial_id)
        result = run_trial(self, trial, *fit_args, **fit_kwargs)
        event("done", trial=trial.trial_id, score=float(result[self.oracle.objective.name]))
        return result

    network_morphism.MorphismTuner.run_trial = logged_run_trial

    if args.pause_after_checkpoint:
        save_model = network_morphism.MorphismTuner.save_model
        saved = [0]

        def paused_save_model(self, trial_id, model, step=0):
            save_model(self, trial_id, model, step)
            saved[0] += 1
            if saved[0] == args.pause_after_checkpoint:
                event("pause", trial=trial_id, path=self._get_checkpoint_fname(trial_id))
                time.sleep(PAUSE_SECONDS)

        network_morphism.MorphismTuner.save_model = paused_save_model

    class TrainBegin(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            event("train_begin")

    event("imported")
    data = load_digits()
    # 900 of the 1797 images: the kills and their checks need trials, not accuracy.
    x = np.round(data.images[:900] * (255 / 16)).astype("uint8")[..., None]
    y = data.target[:900].astype("int64")
    clf = kerasauto.ImageClassifier(directory=args.directory, project_name=args.project,
                                    max_trials=args.max_trials, seed=args.seed)
    clf.fit(x, y, epochs=args.epochs, callbacks=[TrainBegin()])
    event("finished")


if __name__ == "__main__":
    main()
