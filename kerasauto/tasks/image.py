"""ImageClassifier and ImageRegressor: the shared estimator (``kerasauto.tasks.base``) on image
arrays or folders of images, normalised (and resized) inside the model, with training-time
augmentation.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from kerasauto.engine import validation
from kerasauto.image_folder import is_folder_input, read_image_folder
from kerasauto.preprocessing import AUGMENTATIONS, preprocessing_specs
from kerasauto.tasks.base import (DEFAULT_EPOCHS, DEFAULT_MAX_TRIALS, FINAL_DIR,  # noqa: F401
                                  MAX_FINAL_EPOCHS, PREDICT_BATCH_SIZE, SAVE_SECONDS, TASK_FILE,
                                  TIMED_PREDICTION_SECONDS, ClassifierMixin, Estimator,
                                  RegressorMixin, _prediction_seconds)


class _ImageEstimator(Estimator):
    """The estimator on images: uint8 or float arrays (N, H, W[, C]), or a folder with one
    sub-folder of images per class in place of (x, y=None) in ``fit``, ``final_fit``,
    ``evaluate``, ``predict`` (no labels) and ``validation_data=(folder, None)``.

    Args (besides ``Estimator``'s: max_trials, directory, project_name, overwrite, seed,
    verbose, objective, max_model_size, batch_size, learning_rate, distribution_strategy,
    inherit_weights, ensemble_size):
        augmentation: ``"translate"`` (up to 10 %) and/or ``"flip"`` (horizontal: only where
            mirrored images are valid, clothes but not digits), applied to the training batches
            of every trial and of ``final_fit``, never part of an exported model.
        augment_search: ``False`` trains the search's trials on plain images.
    """

    input_noun = "images"
    serving_input_name = "images"
    #: Whether a folder's class sub-folders can stand for the labels (not for a regressor).
    reads_labelled_folders = True

    def __init__(self, max_trials: int | None = None, directory: str | None = None,
                 project_name: str | None = None, overwrite: bool = False, seed: int | None = None,
                 verbose: bool = False, objective: str | None = None, max_model_size: int = 3_000_000,
                 batch_size: int = 64, learning_rate: float = 1e-3, distribution_strategy: Any = "auto",
                 inherit_weights: bool = True, augmentation: Any = ("translate",),
                 augment_search: bool = True, ensemble_size: int = 1):
        super().__init__(max_trials=max_trials, directory=directory, project_name=project_name,
                         overwrite=overwrite, seed=seed, verbose=verbose, objective=objective,
                         max_model_size=max_model_size, batch_size=batch_size,
                         learning_rate=learning_rate, distribution_strategy=distribution_strategy,
                         inherit_weights=inherit_weights, ensemble_size=ensemble_size)
        self.augmentation = validation.check_augmentation(augmentation, AUGMENTATIONS)
        self.augment_search = validation.check_choice(augment_search, (True, False),
                                                      "augment_search")

    def _check_x(self, x, name: str = "x", expected_shape=None) -> np.ndarray:
        return validation.check_images(x, name, expected_shape=expected_shape)

    def _preprocessing_specs(self, x: np.ndarray) -> list[dict]:
        return preprocessing_specs(x)

    def _names_labelled_inputs(self, x) -> bool:
        return is_folder_input(x)

    def _checked_inputs(self, x, name: str = "x") -> np.ndarray:
        """``x`` as a checked image array; a folder's image files are read (in the order of
        ``kerasauto.read_image_folder(x, labelled=False).paths``)."""
        self._ensure_tuner()
        if is_folder_input(x):
            x = read_image_folder(x, name, self.meta["input_shape"], labelled=False).images
        return validation.check_images(x, name, expected_shape=self.meta["input_shape"])

    _checked_images = _checked_inputs

    @property
    def input_shape_(self) -> tuple[int, ...]:
        """The shape (height, width, channels) of the images the estimator was fitted on."""
        self._ensure_tuner()
        return tuple(self.meta["input_shape"])

    def _inputs_and_labels(self, x, y, x_name: str, y_name: str, shape=None):
        """(x, y) as given, or the images and labels of the folder ``x`` names (``y`` None).

        A folder is read at ``shape``, else at the fitted images' shape, else (a first fit) at
        its first image's.
        """
        if not is_folder_input(x):
            if y is None:
                raise TypeError(f"{y_name} is missing: give the labels of {x_name}, or make "
                                f"{x_name} a folder with one sub-folder of images per class.")
            return x, y
        if not self.reads_labelled_folders:
            raise TypeError(f"{x_name} is a folder, but {type(self).__name__} needs numeric "
                            f"targets: give arrays for {x_name} and {y_name}.")
        if y is not None:
            raise TypeError(f"{x_name} is a folder, whose sub-folder names are the labels: "
                            f"give {y_name}=None, not {type(y).__name__}.")
        if shape is None and self._load_meta() is not None:
            shape = self.meta["input_shape"]
        folder = read_image_folder(x, x_name, shape)
        return folder.images, folder.labels

    _images_and_labels = _inputs_and_labels


class ImageClassifier(ClassifierMixin, _ImageEstimator):
    """Searches a CNN for image classification by network morphism and Bayesian optimisation.

    ``fit(x, y, time_limit=...)`` searches; ``final_fit`` trains the best architecture on all the
    data; ``predict`` returns labels in the type given to ``fit``; ``evaluate`` returns accuracy;
    exports include preprocessing and softmax.
    """

    default_project = "image_classifier"


class ImageRegressor(RegressorMixin, _ImageEstimator):
    """Searches a CNN for image regression (linear head); ``evaluate`` returns mean squared error."""

    default_project = "image_regressor"
    reads_labelled_folders = False
