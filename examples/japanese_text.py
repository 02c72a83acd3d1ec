"""Japanese text classification offline: which manual section (1-8) a Japanese man page is from.

Reads Debian's Japanese man pages (``apt-get install manpages-ja manpages-ja-dev``; about 1 700
pages); ``.TH`` lines, which name the section, and roff comments are dropped. Japanese has no
spaces between words: the classifier sees that and tokenises into characters (1- to 3-grams)
inside the model, so the exported file takes raw strings and needs no dictionary.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from kerasauto import TextClassifier  # noqa: E402
from text_corpora import MANPAGES_HINT, load_manpages_ja  # noqa: E402

MIN_PAGES = 200


def main(search_seconds: float = 300) -> None:
    texts, sections = load_manpages_ja()
    if len(texts) < MIN_PAGES:
        sys.exit(f"Found {len(texts)} Japanese man pages; install them first: {MANPAGES_HINT}")
    x_train, x_test, y_train, y_test = train_test_split(
        texts, sections, test_size=0.2, random_state=0, stratify=sections)
    started = time.time()
    clf = TextClassifier(verbose=True, directory="kerasauto_projects", project_name="manpages_ja",
                         overwrite=True, seed=0)
    clf.fit(x_train, y_train, time_limit=search_seconds)
    print(f"accuracy on {len(x_test)} held-out pages: {clf.evaluate(x_test, y_test):.3f} "
          f"({time.time() - started:.0f} s)")
    print("tokenisation:", clf.tokenization_)
    os.makedirs("models", exist_ok=True)
    path = clf.export_keras_model("models/manpages_ja.keras")
    model = keras.models.load_model(path)  # plain Keras; raw strings in
    probabilities = np.asarray(model(np.array(["ファイルの所有者を変更する"])))
    print("section of 'ファイルの所有者を変更する':", clf.classes_[int(np.argmax(probabilities))])


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 300)
