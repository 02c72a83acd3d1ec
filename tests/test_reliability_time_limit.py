"""Time limit: the search ends soon after ``time_limit`` and always leaves a best model.

One test, parametrised over budgets of 30, 60 and 120 seconds on digits, each in a fresh
project with the default number of epochs (20, so the deadline, not the epochs, ends trials).
The search must end no later than max(5 % of the budget, 5 s) after the limit, measured
around the whole ``fit`` call, and the best model must predict and export. ``final_fit``'s
time limit covers its evaluation of a (large) test set too.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import kerasauto

BUDGETS = [30, 60, 120]
FIGURES: dict[int, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    for budget, row in sorted(FIGURES.items()):
        print(f"\ntime_limit={budget}s: fit took {row['seconds']:.1f}s, overrun "
              f"{row['overrun']:+.1f}s ({100 * row['overrun'] / budget:+.1f}%), "
              f"{row['completed']} trials completed of {row['trials']}")


@pytest.mark.parametrize("budget", BUDGETS)
def test_search_ends_within_the_time_limit_with_a_best_model(tmp_path, digits, budget):
    import keras

    x, y = digits
    clf = kerasauto.ImageClassifier(directory=str(tmp_path), project_name="p", seed=3)
    started = time.monotonic()
    clf.fit(x, y, time_limit=budget)
    seconds = time.monotonic() - started

    trials = clf.tuner.oracle.trials.values()
    completed = [t for t in trials if t.status == "COMPLETED"]
    FIGURES[budget] = {"seconds": seconds, "overrun": seconds - budget,
                       "completed": len(completed), "trials": len(trials)}
    allowance = max(0.05 * budget, 5.0)
    assert seconds <= budget + allowance, f"ended {seconds - budget:.1f}s after the limit"
    # The budget is used, not abandoned: the search ends near the limit, not long before it.
    assert seconds >= budget - allowance, f"ended {budget - seconds:.1f}s before the limit"
    assert completed, "no completed trial"
    assert all(t.status in ("COMPLETED", "FAILED") for t in trials)

    best = clf.tuner.oracle.get_best_trials(1)[0]
    assert best.status == "COMPLETED"
    with open(os.path.join(clf.project_dir, "oracle.json"), encoding="utf-8") as handle:
        json.load(handle)
    reopened = kerasauto.ImageClassifier(directory=str(tmp_path), project_name="p")
    predictions = reopened.predict(x[:200])
    assert np.mean(predictions == y[:200]) > 0.5
    path = reopened.export_keras_model(str(tmp_path / "best.keras"))
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x[:16].astype("float32"), verbose=0),
                               reopened.predict_proba(x[:16]), rtol=1e-5, atol=1e-6)


def test_final_fit_time_limit_covers_evaluating_the_test_data(tmp_path, digits):
    """Predicting 600 000 test images takes ~8 s: training must stop early enough for it.

    The same allowance as the search's (5 s either side; this machine pauses for ~1 s now and
    then): without the time kept for the evaluation, final_fit ended ~9 s late.
    """
    x, y = digits
    clf = kerasauto.ImageClassifier(max_trials=1, directory=str(tmp_path), project_name="p",
                                    seed=0)
    clf.fit(x[:1200], y[:1200], epochs=1)
    repeats = -(-600_000 // len(x[1200:]))
    x_test = np.tile(x[1200:], (repeats, 1, 1, 1))[:600_000]
    y_test = np.tile(y[1200:], repeats)[:600_000]
    budget = 30.0
    started = time.monotonic()
    history = clf.final_fit(x[:1200], y[:1200], x_test, y_test, time_limit=budget)
    seconds = time.monotonic() - started
    assert 0 <= history.history["test_score"][0] <= 1
    assert seconds <= budget + 5.0, f"final_fit ended {seconds - budget:.1f}s after its limit"
    # ...but not much earlier: the time kept for the evaluation was about what it took.
    assert seconds >= budget - 5.0, f"final_fit ended {budget - seconds:.1f}s before its limit"
