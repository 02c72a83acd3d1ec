"""Validation and test accuracy of every trial a kerasauto benchmark run kept.

Answers "did the search pick the right trial?" after a run made with
``compare.py --keep-workdirs``: each completed trial's kept weights and the
final model are evaluated on the run's validation and test images::

    python benchmarks/evaluate_trials.py /tmp/kerasauto-bench-XXXX

The argument is the run's scratch directory (it holds ``split.npz`` and one
directory per system). Prints a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository

import numpy as np  # noqa: E402

from harness import load_split  # noqa: E402


def accuracy(model, x: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float:
    """Share of ``x`` whose predicted class (mapped through ``classes``) is ``y``."""
    from kerasauto.tasks.image import PREDICT_BATCH_SIZE

    probabilities = model.predict(x.astype(np.float32), batch_size=PREDICT_BATCH_SIZE, verbose=0)
    return float(np.mean(classes[np.argmax(probabilities, axis=-1)] == y))


def load_trials(project: str) -> list:
    """The completed keras-tuner trials of a kerasauto project directory, in trial order."""
    from keras_tuner.src.engine.trial import Trial

    trials = [Trial.load(path) for path in
              sorted(glob.glob(os.path.join(project, "trial_*", "trial.json")))]
    return [trial for trial in trials if trial.status == "COMPLETED"
            and os.path.exists(checkpoint_path(project, trial))]


def checkpoint_path(project: str, trial) -> str:
    """Where keras-tuner's ``Tuner._get_checkpoint_fname`` put the trial's kept weights."""
    return os.path.join(project, f"trial_{trial.trial_id}", "checkpoint.weights.h5")


def main(argv: list[str] | None = None) -> int:
    """Evaluate every trial and the final model of each kerasauto project under the scratch dir."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scratch", help="a run's scratch directory (kept with --keep-workdirs)")
    args = parser.parse_args(argv)
    arrays, _ = load_split(os.path.join(args.scratch, "split.npz"))

    from kerasauto.graph import Graph
    from kerasauto.tuners.network_morphism import last_metric, trial_graph

    projects = glob.glob(os.path.join(args.scratch, "kerasauto*", "*", "kerasauto_task.json"))
    if not projects:
        parser.error(f"no kerasauto project under {args.scratch}")
    for task_path in projects:
        project = os.path.dirname(task_path)
        with open(task_path, encoding="utf-8") as handle:
            classes = np.asarray(json.load(handle)["classes"])
        print(f"\n{project}\n")
        print("| trial | parent | params | augmented | score | val acc (kept weights) | test acc |")
        print("|---|---|---:|---|---:|---:|---:|")
        for trial in load_trials(project):
            model = trial_graph(trial).build()
            model.load_weights(checkpoint_path(project, trial))
            print(f"| {trial.trial_id} "
                  f"| {trial.hyperparameters.values.get('parent_trial_id') or '-'} "
                  f"| {model.count_params():,} | {bool(last_metric(trial, 'augmented'))} "
                  f"| {trial.score:.4f} "
                  f"| {accuracy(model, arrays['x_val'], arrays['y_val'], classes):.4f} "
                  f"| {accuracy(model, arrays['x_test'], arrays['y_test'], classes):.4f} |")
        final = os.path.join(project, "final_model")
        if os.path.exists(os.path.join(final, "final.weights.h5")):
            with open(os.path.join(final, "architecture.json"), encoding="utf-8") as handle:
                model = Graph.from_json(handle.read()).build()
            model.load_weights(os.path.join(final, "final.weights.h5"))
            print(f"| final | - | {model.count_params():,} | - | - | (trained on it) "
                  f"| {accuracy(model, arrays['x_test'], arrays['y_test'], classes):.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
