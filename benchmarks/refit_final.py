"""Re-run kerasauto's final fit of a finished benchmark run, with or without augmentation.

A diagnosis, like ``evaluate_trials.py``: it answers "would the final fit have done better from
another trial, or on other data?" without re-running the search. The run's project is copied
first, so the benchmark's own final model is left as it was::

    python benchmarks/refit_final.py /tmp/kerasauto-bench-XXXX --seconds 900 --augment
    python benchmarks/refit_final.py /tmp/kerasauto-bench-XXXX --seconds 900 --augment --trial 0004
    python benchmarks/refit_final.py /tmp/kerasauto-bench-XXXX --seconds 900 --learning-rate 3e-4

Prints one JSON line: the trial continued, whether augmented, epochs, seconds, test accuracy.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository

import numpy as np  # noqa: E402

from harness import load_split  # noqa: E402
from systems import kerasauto_augmentation  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", help="a benchmark work directory (holds split.npz)")
    parser.add_argument("--seconds", type=float, required=True, help="final_fit's time_limit")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="train on augmented images (default: final_fit's own rule)")
    parser.add_argument("--trial", default=None, help="continue this trial id, not the best")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="the rate the final fit starts from (the search's own is 1e-3)")
    args = parser.parse_args()

    projects = glob.glob(os.path.join(args.workdir, "kerasauto-*"))
    if len(projects) != 1:
        raise SystemExit(f"expected one kerasauto-* directory in {args.workdir}, found {projects}")
    split, meta = load_split(os.path.join(args.workdir, "split.npz"))
    dataset = meta["dataset"]

    from kerasauto import ImageClassifier

    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "project")
        shutil.copytree(projects[0], copy)
        clf = ImageClassifier(verbose=True, seed=0, directory=copy, project_name=f"bench_{dataset}",
                              augmentation=kerasauto_augmentation(dataset),
                              learning_rate=args.learning_rate)
        started = time.time()
        history = clf.final_fit(np.concatenate([split["x_train"], split["x_val"]]),
                                np.concatenate([split["y_train"], split["y_val"]]),
                                split["x_test"], split["y_test"], time_limit=args.seconds,
                                augment=args.augment, trial_id=args.trial)
        print(json.dumps({"trial": args.trial or "best", "augment": args.augment,
                          "learning_rate": args.learning_rate,
                          "epochs": len(history.history["loss"]),
                          "seconds": round(time.time() - started, 1),
                          "test_accuracy": history.history["test_score"][0]}))


if __name__ == "__main__":
    main()
