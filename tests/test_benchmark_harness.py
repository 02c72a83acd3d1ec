"""The benchmark's bookkeeping (``benchmarks/``): the same split for every system, search overhead
counted only inside the search, results appended rather than overwritten.

These parts decide whether a comparison is fair and whether earlier results survive a rerun; the
Keras-free modules are tested here without running any system.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))

import harness  # noqa: E402
import report  # noqa: E402


def test_every_system_gets_the_same_split_and_validation_never_overlaps_training():
    train, val = harness.split_train_validation(1000, seed=0)
    again_train, again_val = harness.split_train_validation(1000, seed=0)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(val, again_val)
    assert len(val) == 100 and not set(train) & set(val)
    assert sorted(np.concatenate([train, val])) == list(range(1000))
    other_train, _ = harness.split_train_validation(1000, seed=1)
    assert not np.array_equal(train, other_train)


def test_train_subset_below_ten_is_refused():
    with pytest.raises(ValueError, match="--train-subset"):
        harness.split_train_validation(1000, seed=0, subset=5)


def test_search_overhead_counts_only_time_outside_fit_within_the_search():
    clock = harness.Clock(budget=100.0, start=1000.0)
    fits = harness.FitIntervals()
    fits.record(1002.0, 1010.0)   # 8 s of fit
    fits.record(1012.0, 1020.0)   # 8 s
    fits.record(1070.0, 1090.0)   # 5 s inside a 75 s search, the rest is the final fit
    assert fits.outside_fit_seconds(clock, search_s=75.0) == pytest.approx(75.0 - 21.0)


def test_best_so_far_is_a_running_maximum_ending_at_the_last_observation():
    curve = harness.best_so_far([(30.0, 0.8), (10.0, 0.5), (20.0, float("nan")), (40.0, 0.7)])
    assert curve == [[10.0, 0.5], [30.0, 0.8], [40.0, 0.8]]


def _row(run_id: str, probe: float | None) -> dict:
    machine = {"nproc": 2, "cpu": "test cpu", "tensorflow": "2", "keras": "3", "python": "3.11"}
    if probe is not None:
        machine["cnn_epoch_s"] = probe
    return {"run_id": run_id, "date": f"date of {run_id}", "label": None, "dataset": "digits",
            "budget_s": 60.0, "seed": 0, "train_subset": None, "n_train": 9, "n_val": 1,
            "n_test": 5, "machine": machine, "system": "kerasauto", "test_accuracy": 0.9,
            "trials": 3, "search_s": 45.0, "outside_fit_s": 4.5, "wall_s": 61.0,
            "peak_rss_mb": 900.0, "notes": []}


def test_results_are_appended_and_the_last_speed_probe_is_found(tmp_path):
    jsonl = str(tmp_path / "results" / "results.jsonl")
    report.append_jsonl(jsonl, [_row("a", 50.0)])
    report.append_jsonl(jsonl, [_row("b", None), _row("c", 200.0), _row("d", None)])
    with open(jsonl, encoding="utf-8") as handle:
        assert [json.loads(line)["run_id"] for line in handle] == ["a", "b", "c", "d"]
    assert report.last_probe(jsonl) == {"run_id": "c", "date": "date of c", "cnn_epoch_s": 200.0}
    assert report.last_probe(str(tmp_path / "missing.jsonl")) is None

    markdown = str(tmp_path / "RESULTS.md")
    for run_id in ("a", "c"):
        row = _row(run_id, 30.0)
        row["machine"]["previous_probe"] = {"date": "yesterday", "cnn_epoch_s": 200.0}
        report.append_markdown(markdown, report.markdown_section([row], row, None))
    text = open(markdown, encoding="utf-8").read()
    assert text.count("Run id `a`") == 1 and text.count("Run id `c`") == 1
    assert "outside fit s" in text and "| 4.5 |" in text
    assert "30 s per 54 000-image epoch" in text and "yesterday: 200 s" in text
