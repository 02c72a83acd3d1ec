"""One process of a distributed search (chief or worker, from KERASTUNER_* variables).

Usage: distributed_search.py DIRECTORY MAX_TRIALS. Each worker appends the trial ids it ran to
DIRECTORY/ran_by_<tuner id>.txt.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import kerasauto  # noqa: E402


class LoggingTuner(kerasauto.MorphismTuner):
    def on_trial_end(self, trial):
        with open(os.path.join(sys.argv[1], f"ran_by_{self.tuner_id}.txt"), "a") as log:
            log.write(trial.trial_id + "\n")
        super().on_trial_end(trial)


def main():
    directory, max_trials = sys.argv[1], int(sys.argv[2])
    data = load_digits()
    x = (data.images[..., None] / 16).astype("float32")
    y = data.target
    oracle = kerasauto.NetworkMorphismOracle(max_trials=max_trials, seed=3)
    tuner = LoggingTuner(oracle=oracle, directory=directory, project_name="dist")
    tuner.search(x[:1200], y[:1200], validation_data=(x[1200:], y[1200:]), epochs=2, verbose=0)


if __name__ == "__main__":
    main()
