"""kerasauto quick-start: the whole flow on scikit-learn's bundled 8x8 digits (offline, ~2-3 min on 2 CPU cores).

Search architectures by network morphism (one training run of a growing network), evaluate,
export a plain Keras .h5 file and draw it.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from kerasauto import ImageClassifier  # noqa: E402
from kerasauto.datasets import load_digits_images  # noqa: E402


def main(output_dir: str = "models", search_seconds: float = 135) -> None:
    (x_train, y_train), (x_test, y_test) = load_digits_images()
    started = time.time()
    clf = ImageClassifier(verbose=True, directory="kerasauto_projects", project_name="quickstart",
                          overwrite=True, seed=1)
    clf.fit(x_train, y_train, time_limit=search_seconds)  # ends with a trained, annealed model
    accuracy = clf.evaluate(x_test, y_test)

    os.makedirs(output_dir, exist_ok=True)
    model_path = clf.export_keras_model(os.path.join(output_dir, "digits_model.h5"))
    model = keras.models.load_model(model_path)  # plain Keras: no kerasauto needed
    picture = os.path.join(output_dir, "digits_model.png")
    try:
        keras.utils.plot_model(model, to_file=picture, show_shapes=True)
    except ImportError as error:  # graphviz missing: the model is still exported
        picture = f"(not drawn: {error})"
    print(f"test accuracy: {accuracy:.4f}")
    print(f"trials: {len(clf.tuner.oracle.trials)}, wall time: {time.time() - started:.0f} s")
    print(f"exported model: {model_path}")
    print(f"model diagram: {picture}")


if __name__ == "__main__":
    main(*(sys.argv[1:2]))
