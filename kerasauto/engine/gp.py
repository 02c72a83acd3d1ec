"""Gaussian-process regression over architectures, on a valid (positive-definite) kernel.

``exp(-rho * d**2)`` of the edit distance is not positive definite in general, so the
architectures are first embedded in a Euclidean space: Bourgain's embedding (the Auto-Keras
paper's choice) maps an architecture to its distances to random subsets of the trained
architectures (the minimum over each subset), which any new architecture gets too, from its
edit distances alone. On those coordinates a squared-exponential kernel is a proper kernel, so
the Cholesky factorisation needs no repair and the predicted uncertainty of an unseen
architecture is never 0.

A second input is the training a network had received when it was scored (its lineage's
epochs): a child scored after more training than its parent is not better *because of its
architecture*, and the GP must not learn "further down a lineage is better". Candidates are
predicted at the training they would have when scored. The kernel is the product of the two
squared exponentials, plus a linear kernel on the same (centred) inputs, plus noise: a
stationary kernel alone reverts to the mean beyond the trained architectures, which is where
every proposal lies, so without the linear part the GP could not say that "further this way"
scored higher (measured: its picks were worse than random, ``tests/test_gp.py``). The length
scales, the linear weight and the noise level are fitted by maximising the marginal likelihood
(scipy's L-BFGS-B over bounded, data-scaled ranges).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.optimize import minimize

from kerasauto import kernel

#: Noise variance range, in units of the normalised scores' variance: from measurements that
#: repeat to 0.1 % of the spread, to scores that are all noise.
NOISE_BOUNDS = (1e-3, 1.0)
#: Length scales range over these multiples of the data's own median distance.
LENGTH_SCALE_FACTORS = (0.05, 20.0)
#: Weight range of the kernel's linear part (on centred inputs scaled by their median distance),
#: which lets the GP extrapolate a trend (e.g. "wider scored higher") beyond the trained
#: architectures, where a stationary kernel alone only reverts to the mean.
LINEAR_BOUNDS = (1e-4, 10.0)
#: Subsets of each size in Bourgain's embedding (at least this many, more for more points).
MIN_REPEATS = 2


def bourgain_subsets(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random index subsets of ``range(n)``: sizes 1, 2, 4, ... up to n, ~log2(n) of each."""
    if n <= 0:
        return []
    levels = max(1, math.ceil(math.log2(n)) + 1)
    repeats = max(MIN_REPEATS, math.ceil(math.log2(n + 1)))
    subsets = []
    for level in range(levels):
        size = min(2 ** level, n)
        for _ in range(repeats):
            subsets.append(np.sort(rng.choice(n, size=size, replace=False)))
    return subsets


def embed(distances: np.ndarray, subsets: Sequence[np.ndarray]) -> np.ndarray:
    """Bourgain coordinates from ``distances`` (points x reference architectures)."""
    distances = np.atleast_2d(np.asarray(distances, dtype=float))
    columns = [distances[:, subset].min(axis=1) for subset in subsets]
    return np.stack(columns, axis=1) / math.sqrt(max(len(subsets), 1))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(np.sum(a * a, 1)[:, None] + np.sum(b * b, 1)[None, :] - 2 * a @ b.T, 0.0)


def _median_scale(squared: np.ndarray) -> float:
    values = np.sqrt(squared[np.triu_indices(len(squared), 1)])
    values = values[values > 0]
    return float(np.median(values)) if values.size else 1.0


class ArchitectureGP:
    """GP over (architecture, training received) pairs; scores are normalised internally."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.length_scale = 1.0
        self.training_scale = 1.0
        self.noise = NOISE_BOUNDS[1]
        self.linear = LINEAR_BOUNDS[0]
        self._train: list = []
        self._subsets: list[np.ndarray] = []
        self._points: np.ndarray | None = None
        self._training: np.ndarray | None = None
        self._chol: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self._y_mean = 0.0
        self._y_std = 1.0

    # ------------------------------------------------------------------ kernel
    def _features(self, points, training) -> np.ndarray:
        """Centred, scaled inputs of the linear part of the kernel."""
        return np.column_stack([(points - self._center) / self._arch_scale,
                                (training - self._training_center) / self._train_scale])

    def _kernel(self, points_a, training_a, points_b, training_b, length_scale, training_scale,
                linear):
        arch = _squared_distances(points_a, points_b) / (2 * length_scale ** 2)
        train = np.square(training_a[:, None] - training_b[None, :]) / (2 * training_scale ** 2)
        dot = self._features(points_a, training_a) @ self._features(points_b, training_b).T
        return np.exp(-arch - train) + linear * dot

    def _negative_evidence(self, log_params, y, arch_sq, train_sq, dot) -> float:
        length_scale, training_scale, noise, linear = np.exp(log_params)
        matrix = np.exp(-arch_sq / (2 * length_scale ** 2) - train_sq / (2 * training_scale ** 2))
        matrix = matrix + linear * dot
        matrix[np.diag_indices_from(matrix)] += noise
        try:
            chol = np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            return 1e10
        alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
        return float(0.5 * y @ alpha + np.log(np.diag(chol)).sum())

    # ------------------------------------------------------------------ fit / predict
    def fit(self, summaries: Sequence, scores: Sequence[float],
            training: Sequence[float] | None = None) -> "ArchitectureGP":
        """Fit to architectures (graphs or summaries), their scores, and the training (epochs)
        each had received when scored (default: equal)."""
        scores = np.asarray(scores, dtype=float)
        self._train = list(summaries)
        n = len(self._train)
        if n == 0 or len(scores) != n:
            raise ValueError(f"fit needs as many scores as architectures, got {len(scores)} and {n}.")
        self._training = self._training_feature(training, n)
        self._y_mean = float(scores.mean())
        self._y_std = float(scores.std()) or 1.0
        y = (scores - self._y_mean) / self._y_std
        distances = kernel.distance_matrix(self._train)
        self._subsets = bourgain_subsets(n, np.random.default_rng(self.seed))
        self._points = embed(distances, self._subsets)
        arch_sq = _squared_distances(self._points, self._points)
        train_sq = np.square(self._training[:, None] - self._training[None, :])
        arch_scale, train_scale = _median_scale(arch_sq), _median_scale(train_sq)
        self._center, self._training_center = self._points.mean(0), self._training.mean()
        self._arch_scale, self._train_scale = arch_scale, train_scale
        features = self._features(self._points, self._training)
        dot = features @ features.T
        low, high = LENGTH_SCALE_FACTORS
        bounds = [(math.log(low * arch_scale), math.log(high * arch_scale)),
                  (math.log(low * train_scale), math.log(high * train_scale)),
                  (math.log(NOISE_BOUNDS[0]), math.log(NOISE_BOUNDS[1])),
                  (math.log(LINEAR_BOUNDS[0]), math.log(LINEAR_BOUNDS[1]))]
        best = None
        for start_arch in (arch_scale * 0.3, arch_scale * 3):
            for start_noise in (0.01, 0.3):
                start = np.log([start_arch, train_scale, start_noise, 0.1])
                result = minimize(self._negative_evidence, start,
                                  args=(y, arch_sq, train_sq, dot), method="L-BFGS-B",
                                  bounds=bounds)
                if best is None or result.fun < best.fun:
                    best = result
        self.length_scale, self.training_scale, self.noise, self.linear = (
            float(v) for v in np.exp(best.x))
        matrix = self._kernel(self._points, self._training, self._points, self._training,
                              self.length_scale, self.training_scale, self.linear)
        matrix[np.diag_indices_from(matrix)] += self.noise
        self._chol = np.linalg.cholesky(matrix)
        self._alpha = np.linalg.solve(self._chol.T, np.linalg.solve(self._chol, y))
        return self

    @staticmethod
    def _training_feature(training, n: int) -> np.ndarray:
        if training is None:
            return np.zeros(n)
        values = np.asarray(training, dtype=float).reshape(-1)
        if len(values) != n or np.any(values < 0) or not np.all(np.isfinite(values)):
            raise ValueError(f"training must hold {n} finite epoch counts >= 0.")
        return np.log1p(values)

    @property
    def training_summaries(self) -> list:
        return list(self._train)

    @property
    def score_scale(self) -> float:
        """The standard deviation of the training scores (the unit of the normalised targets)."""
        return self._y_std

    def predict(self, summaries: Sequence = (), distances: np.ndarray | None = None,
                training: Sequence[float] | float | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the score, in the units of the scores.

        ``distances`` (candidates x the training architectures) may be given instead of the
        candidates; ``training``: the epochs each candidate will have been trained when scored
        (one number for all; default: the most any training point had).
        """
        if self._chol is None:
            raise RuntimeError("Call fit() before predict().")
        if distances is None:
            distances = kernel.distance_matrix(summaries, self._train)
        distances = np.atleast_2d(np.asarray(distances, dtype=float))
        points = embed(distances, self._subsets)
        if training is None:
            feature = np.full(len(points), self._training.max())
        else:
            feature = np.log1p(np.broadcast_to(np.asarray(training, dtype=float), (len(points),)))
        cross = self._kernel(points, feature, self._points, self._training,
                             self.length_scale, self.training_scale, self.linear)
        mean = cross @ self._alpha
        v = np.linalg.solve(self._chol, cross.T)
        features = self._features(points, feature)
        prior = 1.0 + self.linear * np.sum(features * features, axis=1)
        variance = np.clip(prior - np.sum(v * v, axis=0), 1e-12, None)
        return mean * self._y_std + self._y_mean, np.sqrt(variance) * self._y_std
