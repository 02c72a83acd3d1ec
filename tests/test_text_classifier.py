"""TextClassifier and TextRegressor as a user sees them: raw strings in, labels out, exports that
take raw strings in a fresh process without kerasauto. Tiny budgets: the whole file is meant to
run in about a minute on 2 cores."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerasauto import TextClassifier, TextRegressor

DATA = os.path.join(os.path.dirname(__file__), "data")

FRESH_LOAD = """
import sys, json, numpy as np, keras, tensorflow as tf
assert "kerasauto" not in sys.modules
folder, texts = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
out = {}
for name in ("text.h5", "text.keras"):
    model = keras.models.load_model(folder + "/" + name)
    out[name] = np.asarray(model(np.array(texts))).tolist()         # a plain numpy str array
    again = model.predict(np.array(texts, dtype=object), verbose=0)  # predict wants objects
    assert np.abs(again - np.asarray(out[name])).max() < 1e-6
serve = tf.saved_model.load(folder + "/serving").signatures["serving_default"]
out["serving"] = serve(texts=tf.constant(texts))["probabilities"].numpy().tolist()
json.dump(out, open(sys.argv[3], "w"))
assert "kerasauto" not in sys.modules
"""


def _read(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return [text for _, text in rows], [label for label, _ in rows]


@pytest.fixture(scope="module")
def japanese(tmp_path_factory):
    """The issue's flow on the Japanese corpus: fit, final_fit, evaluate, predict, export."""
    texts, labels = _read("japanese_topics.tsv")
    workdir = tmp_path_factory.mktemp("japanese")
    clf = TextClassifier(max_trials=1, directory=str(workdir), seed=0)
    clf.fit(texts[:140], labels[:140], epochs=3)
    history = clf.final_fit(texts[:140], labels[:140], texts[140:], labels[140:], retrain=True,
                            epochs=4)
    accuracy = clf.evaluate(texts[140:], labels[140:])
    for name in ("text.h5", "text.keras"):
        clf.export_keras_model(str(workdir / name))
    clf.export_saved_model(str(workdir / "serving"))
    return clf, workdir, texts, labels, accuracy, history


def test_japanese_is_tokenised_by_characters_and_learned(japanese):
    clf, _, texts, labels, accuracy, history = japanese
    assert clf.tokenization_["split"] == "character"
    assert clf.tokenization_["output_mode"] == "tf_idf"  # 140 samples: the n-gram model
    assert accuracy >= 0.8  # three classes: chance is 1/3
    assert history.history["test_score"] == [pytest.approx(accuracy)]
    predicted = clf.predict(["明日は雨が降るでしょう", "玉ねぎを薄く切ります"])
    assert predicted.tolist() == ["天気", "料理"]
    assert isinstance(predicted[0], str)
    probabilities = clf.predict_proba(texts[140:150])
    assert probabilities.shape == (10, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_exports_take_raw_strings_in_a_fresh_process(japanese):
    clf, workdir, texts, _, _, _ = japanese
    probe = texts[140:150] + ["全角ＡＢＣと半角abc", "", "unknown english words"]
    expected = clf.predict_proba(probe)
    with open(workdir / "probe.json", "w", encoding="utf-8") as handle:
        json.dump(probe, handle, ensure_ascii=False)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", FRESH_LOAD, str(workdir),
                           str(workdir / "probe.json"), str(workdir / "out.json")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(workdir / "out.json") as handle:
        out = json.load(handle)
    for name in ("text.h5", "text.keras", "serving"):
        assert np.abs(np.asarray(out[name]) - expected).max() <= 1e-5, name


def test_a_new_object_on_the_project_predicts_the_same(japanese):
    clf, workdir, texts, _, _, _ = japanese
    again = TextClassifier(directory=str(workdir))
    np.testing.assert_allclose(again.predict_proba(texts[:20]), clf.predict_proba(texts[:20]),
                               atol=1e-6)


def test_english_words_with_int_labels(tmp_path):
    texts, labels = _read("english_topics.tsv")
    names = sorted(set(labels))
    y = np.array([names.index(label) for label in labels])
    clf = TextClassifier(max_trials=2, directory=str(tmp_path), seed=0)
    clf.fit(np.array(texts[:140]), y[:140], epochs=4)
    assert clf.tokenization_["split"] == "whitespace"
    assert clf.tokenization_["ngrams"] == 2
    assert len(clf.tuner.oracle.trials) == 2  # the seed, then a morph of it
    predicted = clf.predict(texts[140:])
    assert predicted.dtype.kind == "i"
    assert clf.evaluate(texts[140:], y[140:]) >= 0.8


def test_regressor_predicts_a_score_from_text(tmp_path):
    texts, labels = _read("english_topics.tsv")
    score = {"cooking": 0.0, "sports": 1.0, "computers": 2.0}
    y = np.array([score[label] for label in labels], dtype="float32")
    reg = TextRegressor(max_trials=1, directory=str(tmp_path), seed=0, learning_rate=3e-3)
    reg.fit(texts[:140], y[:140], epochs=6)
    predicted = reg.predict(texts[140:])
    assert predicted.shape == (40,)
    baseline = float(np.mean((y[140:] - y[:140].mean()) ** 2))
    assert reg.evaluate(texts[140:], y[140:]) < 0.5 * baseline


@pytest.mark.parametrize("texts, labels, error, words", [
    ([1, 2, 3], ["a", "b", "a"], TypeError, "x must hold strings; x[0] is int"),
    ("one text", ["a"], TypeError, "not a single str"),
    ([], [], ValueError, "x is empty"),
    (["a b", "c d", "e f"], ["a", "b"], ValueError, "y has 2 entries but x has 3 texts"),
    (["a b", None, "e f"], ["a", "b", "a"], TypeError, "x[1] is NoneType"),
    (np.array([["a", "b"], ["c", "d"]]), ["a", "b"], ValueError, "x must be 1-D"),
    (["a b", "c d"], ["a", "a"], ValueError, "only one class"),
])
def test_bad_input_names_the_argument(tmp_path, texts, labels, error, words):
    clf = TextClassifier(max_trials=1, directory=str(tmp_path))
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        clf.fit(texts, labels)
    assert not os.path.exists(tmp_path / "text_classifier")  # nothing was started


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="tokenize"):
        TextClassifier(tokenize="morphemes")
    with pytest.raises(TypeError, match="architecture"):
        TextClassifier(architecture="transformer")


def test_tokenisation_and_seed_follow_the_data():
    from kerasauto import text_preprocessing as tp

    assert tp.choose_split(["今日は晴れです", "猫が好き"]) == "character"
    assert tp.choose_split(["我喜欢猫", "今天天气很好"]) == "character"
    assert tp.choose_split(["the cat sat", "Ein Hund lief"]) == "whitespace"
    # Google's rule: samples / median words per sample < 1500 -> n-grams, else sequences.
    assert tp.choose_model(["four words per text"] * 5000, "whitespace") == "ngram"
    assert tp.choose_model(["two words"] * 5000, "whitespace") == "sequence"


def test_sequence_model_is_searched_and_exported(tmp_path):
    """architecture="sequence": token ids, an embedding and separable convolutions."""
    texts, labels = _read("english_topics.tsv")
    clf = TextClassifier(max_trials=1, directory=str(tmp_path), architecture="sequence")
    clf.fit(texts, labels, epochs=1)
    assert clf.tokenization_["output_mode"] == "int"
    model = clf.export_model()
    assert {"Embedding", "SeparableConv1D"} <= {type(layer).__name__ for layer in model.layers}
    np.testing.assert_allclose(np.asarray(model(np.array(texts[:8]))), clf.predict_proba(texts[:8]),
                               atol=1e-5)
