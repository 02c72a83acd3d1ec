"""Shared fixtures: small real data (scikit-learn's digits) and quiet TensorFlow."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits():
    """uint8 images (1797, 8, 8, 1) with values 0..255 and int labels 0..9."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = np.round(data.images * (255 / 16)).astype("uint8")[..., None]
    return x, data.target.astype("int64")


@pytest.fixture(scope="session")
def digits_float(digits):
    x, y = digits
    return x.astype("float32") / 255.0, y
