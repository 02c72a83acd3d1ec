"""User-facing estimators."""
from kerasauto.tasks.image import ImageClassifier, ImageRegressor
from kerasauto.tasks.text import TextClassifier, TextRegressor

__all__ = ["ImageClassifier", "ImageRegressor", "TextClassifier", "TextRegressor"]
