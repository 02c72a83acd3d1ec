"""Keras-free helpers shared by the benchmark driver and the per-system runner.

Nothing here imports TensorFlow or Keras, so the driver stays light and the
runner can be started with another interpreter (the AutoKeras virtualenv).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable

import numpy as np

#: Fraction of the wall budget a searching system may spend on its search;
#: the rest is for training the final model.
SEARCH_FRACTION = 0.75

#: Fraction of the training set held out (last part of a seeded permutation) for validation.
VALIDATION_FRACTION = 0.1

Curve = list[list[float]]


@dataclass
class Clock:
    """Wall clock of one system's budget, started when the system starts working.

    Attributes:
        budget: Total wall budget in seconds (search plus final training).
        start: ``time.monotonic()`` when the clock was created.
    """

    budget: float
    start: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        """Seconds since the clock started."""
        return time.monotonic() - self.start

    def remaining(self) -> float:
        """Seconds left in the whole budget (never negative)."""
        return max(0.0, self.budget - self.elapsed())

    @property
    def search_deadline(self) -> float:
        """``time.monotonic()`` value at which a search must stop launching work."""
        return self.start + SEARCH_FRACTION * self.budget

    @property
    def deadline(self) -> float:
        """``time.monotonic()`` value at which the whole budget is spent."""
        return self.start + self.budget


@dataclass
class FitIntervals:
    """Wall intervals (``time.monotonic()`` pairs) a system spent inside ``model.fit``."""

    intervals: list[tuple[float, float]] = field(default_factory=list)

    def record(self, started: float, ended: float) -> None:
        self.intervals.append((started, ended))

    def seconds_between(self, start: float, end: float) -> float:
        """Seconds of ``model.fit`` that fall between ``start`` and ``end``."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.intervals)

    def outside_fit_seconds(self, clock: Clock, search_s: float) -> float:
        """Seconds of the search (its first ``search_s`` seconds) spent outside ``model.fit``:
        proposing, building, weight transfer, saving, bookkeeping."""
        return round(search_s - self.seconds_between(clock.start, clock.start + search_s), 2)


def best_so_far(points: Iterable[tuple[float, float]]) -> Curve:
    """Turn ``(seconds, value)`` observations into a running-maximum curve.

    Points are sorted by time; ``None``/NaN values are skipped. Only points
    where the maximum improves are kept, plus the last observation (so the
    curve shows how long the system kept working).
    """
    curve: Curve = []
    best = -np.inf
    last_seconds = None
    for seconds, value in sorted(points, key=lambda p: p[0]):
        if value is None or not np.isfinite(value):
            continue
        last_seconds = round(float(seconds), 2)
        if float(value) > best:
            best = float(value)
            curve.append([last_seconds, best])
    if curve and last_seconds is not None and curve[-1][0] != last_seconds:
        curve.append([last_seconds, best])
    return curve


def split_train_validation(
    n_train: int, seed: int, subset: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train indices, validation indices) for a training set of ``n_train`` samples.

    A permutation seeded by ``seed`` is taken, optionally cut to its first
    ``subset`` entries, and its last :data:`VALIDATION_FRACTION` becomes the
    validation set.
    """
    permutation = np.random.default_rng(seed).permutation(n_train)
    if subset is not None:
        if subset < 10:
            raise ValueError(f"--train-subset must be at least 10, got {subset}")
        permutation = permutation[:subset]
    n_val = max(1, int(round(VALIDATION_FRACTION * len(permutation))))
    return permutation[:-n_val], permutation[-n_val:]


def save_split(path: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Save the benchmark's arrays and metadata (as JSON) to one ``.npz`` file."""
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def load_split(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load what :func:`save_split` wrote: ``(arrays, meta)``."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != "meta"}
        meta = json.loads(str(data["meta"]))
    return arrays, meta


def peak_rss_mb_self() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (or ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_json(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON atomically (temp file + rename)."""
    tmp_path = f"{path}.tmp"
    with open(tmp_path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, default=json_default)
    os.replace(tmp_path, path)


def json_default(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
