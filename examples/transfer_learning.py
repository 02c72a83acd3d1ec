"""Transfer learning from an exported kerasauto model, with plain Keras only.

Loads the .h5 written by examples/quickstart.py (run it first, or pass another path), freezes
the searched feature extractor, replaces the 10-class head by a 2-class one (even vs odd digit)
and fine-tunes it.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "models/digits_model.h5"
    base = keras.models.load_model(path)
    dense_layers = [layer for layer in base.layers if isinstance(layer, keras.layers.Dense)]
    features = dense_layers[-1].input  # what feeds the old classification head
    extractor = keras.Model(base.input, features)
    extractor.trainable = False
    outputs = keras.layers.Dense(2, activation="softmax", name="even_odd")(extractor.output)
    model = keras.Model(extractor.input, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    digits = load_digits()
    x = np.round(digits.images * 255 / 16).astype("uint8")[..., None]  # raw pixels, as exported
    y = digits.target % 2
    model.fit(x[:1400], y[:1400], epochs=5, verbose=2)
    print("even/odd accuracy:", model.evaluate(x[1400:], y[1400:], verbose=0)[1])
