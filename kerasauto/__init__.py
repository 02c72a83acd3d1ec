"""kerasauto: Keras-native AutoML by network morphism and Bayesian optimisation."""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerasauto import generators, kernel, morphism  # noqa: E402
from kerasauto.graph import Graph  # noqa: E402
from kerasauto.image_folder import read_image_folder  # noqa: E402
from kerasauto.tasks import (ImageClassifier, ImageRegressor, TextClassifier,  # noqa: E402
                             TextRegressor)
from kerasauto.tuners import MorphismTuner, NetworkMorphismOracle  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Graph", "ImageClassifier", "ImageRegressor", "MorphismTuner", "NetworkMorphismOracle",
           "TextClassifier", "TextRegressor", "generators", "kernel", "morphism",
           "read_image_folder"]
