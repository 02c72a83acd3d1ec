"""English text classification offline: which topical fortune file a fortune comes from.

Reads Debian's fortunes (``apt-get install fortunes fortunes-min``: art, computers, food, law,
science, ... about 6 400 texts once texts found in two files are dropped). English words are
separated by spaces: the classifier tokenises into words and word pairs (TF-IDF) inside the
model, so the exported file takes raw strings.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))

from sklearn.model_selection import train_test_split  # noqa: E402

from kerasauto import TextClassifier  # noqa: E402
from text_corpora import FORTUNES_HINT, load_fortunes  # noqa: E402


def main(search_seconds: float = 300) -> None:
    texts, topics = load_fortunes()
    if len(set(topics)) < 2:
        sys.exit(f"Found no fortune files; install them first: {FORTUNES_HINT}")
    x_train, x_test, y_train, y_test = train_test_split(
        texts, topics, test_size=0.2, random_state=0, stratify=topics)
    started = time.time()
    clf = TextClassifier(verbose=True, directory="kerasauto_projects", project_name="fortunes",
                         overwrite=True, seed=0)
    clf.fit(x_train, y_train, time_limit=search_seconds)
    print(f"accuracy on {len(x_test)} held-out fortunes ({len(set(topics))} topics): "
          f"{clf.evaluate(x_test, y_test):.3f} ({time.time() - started:.0f} s)")
    print(clf.predict(["The compiler crashed again.", "Love is patient."]))
    os.makedirs("models", exist_ok=True)
    clf.export_keras_model("models/fortunes.h5")
    clf.export_saved_model("models/fortunes_serving")  # serving_default: texts -> probabilities


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 300)
