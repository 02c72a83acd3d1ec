"""The original Auto-Keras 0.3.5 MNIST flow, with kerasauto in place of autokeras.

Needs internet access: keras.datasets.mnist downloads the data on first use.
The write-up this comes from searched for 12 hours (30 models, 0.9946 test accuracy);
pass a shorter budget in seconds as the first argument to try it.
"""
import os
import sys

import keras

from kerasauto import ImageClassifier

if __name__ == "__main__":
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 12 * 60 * 60
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()  # downloads
    x_train = x_train.reshape(x_train.shape + (1,))  # uint8 (N, 28, 28, 1)
    x_test = x_test.reshape(x_test.shape + (1,))

    clf = ImageClassifier(verbose=True)
    clf.fit(x_train, y_train, time_limit=budget)
    clf.final_fit(x_train, y_train, x_test, y_test, retrain=True)
    print(clf.evaluate(x_test, y_test))

    os.makedirs("models", exist_ok=True)
    clf.export_keras_model("models/my_model.h5")
    model = keras.models.load_model("models/my_model.h5")
    keras.utils.plot_model(model, to_file="models/my_model.png")
