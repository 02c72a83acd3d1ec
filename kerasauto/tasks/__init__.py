"""User-facing estimators."""
from kerasauto.tasks.image import ImageClassifier, ImageRegressor

__all__ = ["ImageClassifier", "ImageRegressor"]
