"""Gaussian-process regression over architectures, with the edit-distance kernel."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from kerasauto import kernel

#: Candidate kernel widths and noise levels; the pair with the best marginal likelihood wins.
RHO_GRID = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
NOISE_GRID = (1e-3, 1e-2, 1e-1)


def _cholesky(matrix: np.ndarray) -> np.ndarray:
    """Cholesky factor, adding jitter and then projecting to PSD if needed (never drops points)."""
    jitter = 0.0
    for _ in range(6):
        try:
            return np.linalg.cholesky(matrix + jitter * np.eye(len(matrix)))
        except np.linalg.LinAlgError:
            jitter = 1e-8 if jitter == 0 else jitter * 10
    return np.linalg.cholesky(kernel.nearest_psd(matrix, floor=1e-6))


class ArchitectureGP:
    """GP over architecture summaries; targets are normalised to zero mean, unit variance."""

    def __init__(self) -> None:
        self.rho = RHO_GRID[0]
        self.noise = NOISE_GRID[-1]
        self._train: list = []
        self._chol: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self._y_mean = 0.0
        self._y_std = 1.0

    def fit(self, summaries: Sequence, scores: Sequence[float]) -> "ArchitectureGP":
        """Fit to (architecture summary, score) pairs; picks rho and noise by marginal likelihood."""
        scores = np.asarray(scores, dtype=float)
        self._train = list(summaries)
        self._y_mean = float(scores.mean())
        self._y_std = float(scores.std()) or 1.0
        y = (scores - self._y_mean) / self._y_std
        distances = kernel.distance_matrix(self._train)
        best = None
        for rho in RHO_GRID:
            base = kernel.kernel_matrix(distances, rho)
            for noise in NOISE_GRID:
                chol = _cholesky(base + noise * np.eye(len(y)))
                alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
                evidence = -0.5 * y @ alpha - np.log(np.diag(chol)).sum()
                if best is None or evidence > best[0]:
                    best = (evidence, rho, noise, chol, alpha)
        _, self.rho, self.noise, self._chol, self._alpha = best
        return self

    @property
    def training_summaries(self) -> list:
        return list(self._train)

    @property
    def score_scale(self) -> float:
        """The standard deviation of the training scores (the unit of the normalised targets)."""
        return self._y_std

    def predict(self, summaries: Sequence = (), distances: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation, in the units of the scores.

        ``distances`` (candidates x training architectures) may be given instead of recomputing them.
        """
        if self._chol is None:
            raise RuntimeError("Call fit() before predict().")
        if distances is None:
            distances = kernel.distance_matrix(summaries, self._train)
        cross = kernel.kernel_matrix(distances, self.rho)
        mean = cross @ self._alpha
        v = np.linalg.solve(self._chol, cross.T)
        variance = np.clip(1.0 - np.sum(v * v, axis=0), 1e-12, None)
        return mean * self._y_std + self._y_mean, np.sqrt(variance) * self._y_std
