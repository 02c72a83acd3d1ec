"""TextClassifier and TextRegressor: the shared estimator (``kerasauto.tasks.base``) on raw
strings, tokenised inside the model by a built-in ``TextVectorization``
(``kerasauto.text_preprocessing``), so exports take and serve raw strings.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from kerasauto import text_preprocessing
from kerasauto.engine import validation
from kerasauto.tasks.base import ClassifierMixin, Estimator, RegressorMixin

TOKENIZATIONS = {"words": "whitespace", "characters": "character"}
ARCHITECTURES = ("ngram", "sequence")


class _TextEstimator(Estimator):
    """The estimator on texts: a list or 1-D array of ``str`` (any language).

    Args (besides ``Estimator``'s: max_trials, directory, project_name, overwrite, seed,
    verbose, objective, max_model_size, batch_size, learning_rate, distribution_strategy,
    inherit_weights, ensemble_size):
        tokenize: ``"words"`` or ``"characters"``; by default characters for scripts written
            without spaces (Japanese, Chinese, Thai), else words.
        architecture: ``"ngram"`` (an MLP on TF-IDF n-grams) or ``"sequence"`` (an embedding
            and separable 1-D convolutions); by default chosen from the data (samples / median
            words per sample < 1500: n-grams, as Google's text-classification guide found).
        max_tokens: the most vocabulary entries (the most frequent n-grams or tokens).
    """

    input_noun = "texts"
    serving_input_name = "texts"

    def __init__(self, max_trials: int | None = None, directory: str | None = None,
                 project_name: str | None = None, overwrite: bool = False, seed: int | None = None,
                 verbose: bool = False, objective: str | None = None, max_model_size: int = 3_000_000,
                 batch_size: int = 32, learning_rate: float = 1e-3, distribution_strategy: Any = "auto",
                 inherit_weights: bool = True, ensemble_size: int = 1,
                 tokenize: str | None = None, architecture: str | None = None,
                 max_tokens: int = text_preprocessing.MAX_TOKENS):
        super().__init__(max_trials=max_trials, directory=directory, project_name=project_name,
                         overwrite=overwrite, seed=seed, verbose=verbose, objective=objective,
                         max_model_size=max_model_size, batch_size=batch_size,
                         learning_rate=learning_rate, distribution_strategy=distribution_strategy,
                         inherit_weights=inherit_weights, ensemble_size=ensemble_size)
        self.tokenize = validation.check_choice(tokenize, (None, *TOKENIZATIONS), "tokenize")
        self.architecture = validation.check_choice(architecture, (None, *ARCHITECTURES),
                                                    "architecture")
        self.max_tokens = validation.check_positive_int(max_tokens, "max_tokens", False)

    def _check_x(self, x, name: str = "x", expected_shape=None) -> np.ndarray:
        return validation.check_texts(x, name)

    def _input_meta(self, x: np.ndarray) -> dict:
        return {"input_shape": [], "input_dtype": "string"}

    def _preprocessing_specs(self, x: np.ndarray) -> list[dict]:
        spec = text_preprocessing.vectorizer_spec(
            x, model=self.architecture, split=TOKENIZATIONS.get(self.tokenize),
            max_tokens=self.max_tokens)
        if self.verbose:
            print(f"[kerasauto] texts: {text_preprocessing.describe(spec)}", flush=True)
        return [spec]

    def _model_input(self, x: np.ndarray):
        return x

    @property
    def tokenization_(self) -> dict:
        """How the model tokenises: ``split`` (``"whitespace"`` or ``"character"``), ``ngrams``,
        ``output_mode`` (``"tf_idf"`` or ``"int"``) and the vocabulary size."""
        self._ensure_tuner()
        spec = self.meta["preprocessing"][0]
        return {"split": spec["split"], "ngrams": spec.get("ngrams"),
                "output_mode": spec["output_mode"], "vocabulary_size": len(spec["vocabulary"])}


class TextClassifier(ClassifierMixin, _TextEstimator):
    """Searches a network for text classification by network morphism and Bayesian optimisation.

    ``fit(texts, labels, time_limit=...)`` searches; ``final_fit`` trains the best architecture
    on all the data; ``predict(["..."])`` returns labels in the type given to ``fit``;
    ``evaluate`` returns accuracy; exports take raw strings (tokenisation inside the model).
    """

    default_project = "text_classifier"


class TextRegressor(RegressorMixin, _TextEstimator):
    """Searches a network for regression on texts (linear head); ``evaluate`` returns the mean
    squared error."""

    default_project = "text_regressor"
