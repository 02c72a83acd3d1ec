"""A picture of a search: the tree of trials, the best score over time, and a table of trials.

``write_search_report(oracle, directory)`` writes ``trials.csv`` and ``trials.md`` (one row per
trial), ``search_tree.png`` (trials as nodes, the morph ops on the edge from each parent, the
best lineage highlighted; drawn with pydot and Graphviz's ``dot``) and ``best_so_far.png``
(the best validation score against the trials' training time; matplotlib).
"""
from __future__ import annotations

import csv
import io as _stdio
import json
import os
import warnings

from kerasauto.engine import io
from kerasauto.engine.display import describe_ops

COLUMNS = ("trial", "parent", "role", "ops", "params", "epochs", "seconds", "score", "status")


def trial_rows(oracle) -> list[dict]:
    """One dict per trial, in creation order, with the report's ``COLUMNS``."""
    rows = []
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        parent = values.get("parent_trial_id") or ""

        def metric(name):
            return trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None

        epochs, seconds = metric("epochs_trained"), metric("seconds")
        rows.append({
            "trial": trial.trial_id, "parent": parent, "role": values.get("role", ""),
            "ops": describe_ops(json.loads(values.get("ops", "[]")), parent),
            "params": values.get("num_params", ""),
            "epochs": "" if epochs is None else round(float(epochs), 2),
            "seconds": "" if seconds is None else round(float(seconds), 1),
            "score": "" if trial.score is None else round(float(trial.score), 4),
            "status": trial.status})
    return rows


def best_lineage(oracle) -> list[str]:
    """Trial ids from the best trial back to its seed."""
    best = oracle.get_best_trials(1)
    lineage, trial_id = [], best[0].trial_id if best else None
    while trial_id:
        lineage.append(trial_id)
        trial_id = oracle.trials[trial_id].hyperparameters.values.get("parent_trial_id") or None
    return lineage


def _write_text(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    io.atomic_write(path, write, suffix=os.path.splitext(path)[1])


def _table_files(rows: list[dict], directory: str) -> None:
    buffer = _stdio.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    _write_text(os.path.join(directory, "trials.csv"), buffer.getvalue())
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[c]) for c in COLUMNS) + " |" for row in rows]
    _write_text(os.path.join(directory, "trials.md"), "\n".join(lines) + "\n")


def _tree_picture(oracle, rows: list[dict], path: str) -> None:
    import pydot

    lineage = set(best_lineage(oracle))
    graph = pydot.Dot("search", graph_type="digraph", rankdir="TB")
    for row in rows:
        score = row["score"] if row["score"] != "" else row["status"]
        label = f"{row['trial']} {row['role']}\\n{score}\\n{row['params']} params"
        graph.add_node(pydot.Node(f"t{row['trial']}", label=label, shape="box",
                                  color="red" if row["trial"] in lineage else "black",
                                  penwidth="2" if row["trial"] in lineage else "1"))
    for row in rows:
        if row["parent"]:
            on_lineage = row["trial"] in lineage and row["parent"] in lineage
            graph.add_edge(pydot.Edge(f"t{row['parent']}", f"t{row['trial']}",
                                      label=row["ops"].replace("+", "\\n"),
                                      color="red" if on_lineage else "black"))
    io.atomic_write(path, graph.write_png, suffix=".png")


def _curve_picture(oracle, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sign = 1.0 if oracle.objective.direction == "max" else -1.0
    elapsed, best, points = 0.0, None, []
    for trial_id in oracle.end_order:
        trial = oracle.trials[trial_id]
        if trial.metrics.exists("seconds"):
            elapsed += float(trial.metrics.get_last_value("seconds"))
        if trial.score is not None and (best is None or sign * trial.score > sign * best):
            best = trial.score
        if best is not None:
            points.append((elapsed, best))
    figure, axes = plt.subplots(figsize=(6, 3.5))
    if points:
        axes.step([p[0] for p in points], [p[1] for p in points], where="post")
    axes.set_xlabel("training time of the trials, s")
    axes.set_ylabel(f"best {oracle.objective.name}")
    figure.tight_layout()
    io.atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100), suffix=".png")
    plt.close(figure)


def write_search_report(oracle, directory: str) -> list[str]:
    """Write the report's files into ``directory``; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    rows = trial_rows(oracle)
    _table_files(rows, directory)
    written = [os.path.join(directory, name) for name in ("trials.csv", "trials.md")]
    tree = os.path.join(directory, "search_tree.png")
    try:
        _tree_picture(oracle, rows, tree)
        written.append(tree)
    except FileNotFoundError as error:  # Graphviz's dot is not installed
        warnings.warn(f"search_tree.png not drawn ({error}); install Graphviz "
                      "(apt-get install graphviz).", RuntimeWarning, stacklevel=2)
    _curve_picture(oracle, os.path.join(directory, "best_so_far.png"))
    return written + [os.path.join(directory, "best_so_far.png")]
