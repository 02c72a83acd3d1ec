"""Fashion-MNIST from local IDX files (Debian: `apt-get install dataset-fashion-mnist`).

Usage: python examples/fashion_mnist.py [SEARCH_SECONDS] [IDX_DIRECTORY]
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerasauto import ImageClassifier  # noqa: E402
from kerasauto.datasets import load_fashion_mnist  # noqa: E402

if __name__ == "__main__":
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 20 * 60
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(sys.argv[2] if len(sys.argv) > 2 else None)
    # Clothes stay clothes when mirrored: flips are a valid augmentation here (not for digits).
    clf = ImageClassifier(verbose=True, project_name="fashion_mnist", batch_size=128,
                          augmentation=("translate", "flip"))
    clf.fit(x_train, y_train, time_limit=budget)  # one training run of a growing network
    print("test accuracy:", clf.evaluate(x_test, y_test))
    os.makedirs("models", exist_ok=True)
    print("exported:", clf.export_keras_model("models/fashion_mnist.keras"))
