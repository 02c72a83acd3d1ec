"""Write benchmark rows out: JSON lines, a Markdown table, a best-so-far plot."""

from __future__ import annotations

import json
import os
from typing import Any
from collections.abc import Sequence

from harness import SEARCH_FRACTION, json_default

Row = dict[str, Any]

#: Other processes' average CPU use (in cores) from which a row mentions it.
OTHER_LOAD_NOTE_CORES = 0.2

RESULTS_HEADER = """# Benchmark results

Appended by `benchmarks/compare.py` (newest last); raw rows with curves are in
`results/results.jsonl`. Test accuracy is measured once, at the end, on the
held-out test set; every search and early stop used the validation split only.
See `README.md` for the protocol.
"""


def append_jsonl(path: str, rows: Sequence[Row]) -> None:
    """Append one JSON object per row to ``path`` (never overwrites)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, default=json_default) + "\n")


def _fmt(value: Any, spec: str = "") -> str:
    """Format a table cell; missing values become an en dash."""
    if value is None:
        return "–"
    return format(value, spec) if spec else str(value)


def _status_cell(row: Row) -> str:
    """'ok', or the error, plus notes, escaped for a Markdown table."""
    parts = [f"**error**: {row['error']}" if row.get("error") else "ok"]
    if (row.get("other_cores") or 0.0) >= OTHER_LOAD_NOTE_CORES:
        parts.append(f"other processes used {row['other_cores']:g} cores on average")
    if row.get("over_budget_s"):
        parts.append(f"**over budget by {row['over_budget_s']:g} s**")
    parts += row.get("notes") or []
    return "; ".join(parts).replace("|", "\\|").replace("\n", " ")


def speed_probe_text(machine: dict[str, Any]) -> str:
    """The speed probe's figure as a sentence (empty for runs made without it), with the figure
    of the last run probed before it, to tell whether results of the two compare."""
    if "cnn_epoch_s" in machine:
        text = (f" Speed probe: the hand-written CNN takes {machine['cnn_epoch_s']:g} s per"
                " 54 000-image epoch, training only")
        previous = machine.get("previous_probe")
        if previous:
            text += f" (the last probed run, {previous['date']}: {previous['cnn_epoch_s']:g} s)"
        return text + "."
    if "speed_probe_error" in machine:
        return f" Speed probe failed: {machine['speed_probe_error']}."
    return ""


def last_probe(jsonl_path: str) -> dict[str, Any] | None:
    """Date, run id and figure of the newest speed probe in a ``results.jsonl``, if any."""
    found = None
    if os.path.exists(jsonl_path):
        with open(jsonl_path, encoding="utf-8") as handle:
            for row in map(json.loads, handle):
                seconds = (row.get("machine") or {}).get("cnn_epoch_s")
                if seconds is not None:
                    found = {"run_id": row.get("run_id"), "date": row.get("date"),
                             "cnn_epoch_s": seconds}
    return found


def markdown_section(rows: Sequence[Row], run: dict[str, Any], plot_link: str | None) -> str:
    """A Markdown section (heading, machine line, table, plot link) for one compare.py run."""
    machine = run["machine"]
    label = f" — {run['label']}" if run.get("label") else ""
    lines = [
        f"## {run['date']} · {run['dataset']} · budget {run['budget_s']:g} s{label}",
        "",
        f"Machine: {machine['nproc']} cores, {machine['cpu']}, TensorFlow {machine['tensorflow']}, "
        f"Keras {machine['keras']}, Python {machine['python']}.{speed_probe_text(machine)} "
        f"Data: {run['n_train']} train / {run['n_val']} val / {run['n_test']} test"
        f"{' (train subset)' if run.get('train_subset') else ''}, seed {run['seed']}. "
        f"Search stops at {SEARCH_FRACTION:.0%} of the budget. Run id `{run['run_id']}`.",
        "",
        "| system | test acc | trials | search s | outside fit s | proposing s | final s "
        "| process wall s | params | peak RSS MiB | status / notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(
                [
                    row["system"],
                    _fmt(row.get("test_accuracy"), ".4f"),
                    _fmt(row.get("trials")),
                    _fmt(row.get("search_s"), ".1f"),
                    _fmt(row.get("outside_fit_s"), ".1f"),
                    _fmt(row.get("proposal_s"), ".1f"),
                    _fmt(row.get("final_s"), ".1f"),
                    _fmt(row.get("wall_s"), ".1f"),
                    _fmt(row.get("params"), ","),
                    _fmt(row.get("peak_rss_mb"), ".0f"),
                    _status_cell(row),
                ]
            )
            + " |"
        )
    if plot_link:
        lines += ["", f"![best-so-far validation accuracy]({plot_link})"]
    return "\n".join(lines) + "\n"


def append_markdown(path: str, section: str) -> None:
    """Append ``section`` to the results file, creating it with a header if needed."""
    new = not os.path.exists(path)
    with open(path, "a", encoding="utf-8") as handle:
        if new:
            handle.write(RESULTS_HEADER)
        handle.write("\n" + section)


def plot_curves(path: str, rows: Sequence[Row], run: dict[str, Any]) -> bool:
    """Plot every row's best-so-far validation accuracy against time; False if nothing to plot."""
    curves = [(row["system"], row.get("curve") or []) for row in rows]
    curves = [(name, curve) for name, curve in curves if curve]
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, curve in curves:
        seconds = [point[0] for point in curve]
        values = [point[1] for point in curve]
        axes.step(seconds, values, where="post", marker="o", markersize=3, label=name)
    axes.axvline(
        SEARCH_FRACTION * run["budget_s"], color="grey", linestyle=":", label="search deadline"
    )
    axes.set_xlim(0, run["budget_s"])
    axes.set_xlabel("seconds since the system started")
    axes.set_ylabel("best validation accuracy so far")
    axes.set_title(f"{run['dataset']}, budget {run['budget_s']:g} s ({run['run_id']})")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True
