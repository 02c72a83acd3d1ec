import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasauto import ImageClassifier, ImageRegressor
from kerasauto.graph import Graph

FRESH_LOAD = """
import sys, json, numpy as np, keras
assert "kerasauto" not in sys.modules
path, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
kwargs = {"safe_mode": True} if path.endswith(".keras") else {}
model = keras.models.load_model(path, **kwargs)
np.save(out, model.predict(np.load(data), verbose=0))
keras.utils.plot_model(model, to_file=out + ".png")
assert "kerasauto" not in sys.modules
"""

FRESH_SERVING = """
import sys, numpy as np, tensorflow as tf
assert "kerasauto" not in sys.modules
loaded = tf.saved_model.load(sys.argv[1])
serve = loaded.signatures["serving_default"]
result = serve(images=tf.constant(np.load(sys.argv[2]).astype("float32")))
np.save(sys.argv[3], result["probabilities"].numpy())
"""


def _fresh_python(code, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def split(digits):
    x, y = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = order[:1400], order[1400:]
    # The user's data: uint8 (N, H, W) without a channel axis.
    return x[train, :, :, 0], y[train], x[test, :, :, 0], y[test]


@pytest.fixture(scope="module")
def user_flow(split, tmp_path_factory):
    """The Auto-Keras 0.3.5 flow, verbatim apart from budgets sized for a test."""
    x_train, y_train, x_test, y_test = split
    workdir = tmp_path_factory.mktemp("flow")
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        clf = ImageClassifier(verbose=True, max_trials=3)
        clf.fit(x_train, y_train, time_limit=120, epochs=4)
        history = clf.final_fit(x_train, y_train, x_test, y_test, retrain=True, epochs=4)
        accuracy = clf.evaluate(x_test, y_test)
        os.makedirs("models", exist_ok=True)
        clf.export_keras_model("models/my_model.h5")
        clf.export_keras_model("models/my_model.keras")
        clf.export_saved_model("models/serving")
    finally:
        os.chdir(cwd)
    return clf, workdir, accuracy, history


def test_flow_reaches_good_accuracy(user_flow):
    clf, workdir, accuracy, history = user_flow
    assert isinstance(accuracy, float)
    assert accuracy > 0.9
    assert history.history["test_score"] == [pytest.approx(accuracy)]
    # Default project directory: in the working directory, named after the project.
    assert os.path.isdir(workdir / "image_classifier")
    assert os.path.exists(workdir / "image_classifier" / "final_model" / "final.weights.h5")


@pytest.mark.parametrize("name", ["my_model.h5", "my_model.keras"])
def test_exported_file_loads_in_a_fresh_process_without_kerasauto(user_flow, split, name, tmp_path):
    clf, workdir, _, _ = user_flow
    _, _, x_test, _ = split
    np.save(tmp_path / "x.npy", x_test)  # raw uint8, no channel axis added by the user...
    np.save(tmp_path / "x4.npy", x_test[..., None])
    _fresh_python(FRESH_LOAD, workdir / "models" / name, tmp_path / "x4.npy", tmp_path / "p.npy")
    exported = np.load(tmp_path / "p.npy")
    np.testing.assert_allclose(exported, clf.predict_proba(x_test), atol=1e-5)
    np.testing.assert_allclose(exported.sum(axis=1), 1.0, atol=1e-5)  # ends in softmax
    assert os.path.getsize(str(tmp_path / "p.npy") + ".png") > 0  # plot_model drew it


def test_saved_model_serves_raw_images_in_a_fresh_process(user_flow, split, tmp_path):
    clf, workdir, _, _ = user_flow
    _, _, x_test, _ = split
    np.save(tmp_path / "x.npy", x_test[..., None])
    _fresh_python(FRESH_SERVING, workdir / "models" / "serving", tmp_path / "x.npy", tmp_path / "p.npy")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), clf.predict_proba(x_test), atol=1e-5)
    cli = shutil.which("saved_model_cli")
    if cli:
        shown = subprocess.run([cli, "show", "--all", "--dir", str(workdir / "models" / "serving")],
                               capture_output=True, text=True, timeout=120)
        assert "serving_default" in shown.stdout and "probabilities" in shown.stdout


def test_exported_model_has_preprocessing_and_no_augmentation(user_flow):
    clf, _, _, _ = user_flow
    kinds = [type(layer).__name__ for layer in clf.export_model().layers]
    assert "Normalization" in kinds
    assert not [k for k in kinds if k.startswith("Random")]
    assert kinds[-1] == "Activation"


def test_predict_returns_the_users_labels(split, tmp_path):
    x_train, y_train, x_test, _ = split
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    clf = ImageClassifier(max_trials=1, directory=tmp_path, seed=0)
    clf.fit(x_train, names[y_train], epochs=2)
    predicted = clf.predict(x_test[:20])
    assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
    assert clf.predict_proba(x_test[:20]).shape == (20, 10)


def test_final_fit_never_looks_at_the_test_data(split, tmp_path):
    x_train, y_train, x_test, y_test = split
    clf = ImageClassifier(max_trials=1, directory=tmp_path, seed=0)
    clf.fit(x_train, y_train, epochs=1)
    clf.final_fit(x_train, y_train, retrain=True, epochs=1)
    without_test = clf.predict_proba(x_test)
    clf.final_fit(x_train, y_train, x_test, y_test, retrain=True, epochs=1)
    with_test = clf.predict_proba(x_test)
    np.testing.assert_allclose(with_test, without_test, atol=1e-4)


def test_continuing_final_fit_augments_only_if_the_search_did(split, tmp_path):
    """Continuing from search weights keeps their training data; retraining augments."""
    x_train, y_train, x_test, _ = split
    x_train, y_train, x_test = x_train[:500], y_train[:500], x_test[:100]  # 10 trainings: small

    def final_predictions(clf, **kwargs):
        clf.final_fit(x_train, y_train, epochs=1, **kwargs)
        return clf.predict_proba(x_test)

    clf = ImageClassifier(max_trials=1, directory=tmp_path, project_name="plain", seed=0,
                          augment_search=False)
    clf.fit(x_train, y_train, epochs=1)
    continued = final_predictions(clf)
    np.testing.assert_allclose(continued, final_predictions(clf, augment=False), atol=1e-5)
    assert not np.allclose(continued, final_predictions(clf, augment=True), atol=1e-3)
    np.testing.assert_allclose(final_predictions(clf, retrain=True),
                               final_predictions(clf, retrain=True, augment=True), atol=1e-5)
    augmented = ImageClassifier(max_trials=1, directory=tmp_path, project_name="augmented",
                                seed=0)  # the default: every trial trains on augmented images
    augmented.fit(x_train, y_train, epochs=1)
    np.testing.assert_allclose(final_predictions(augmented),
                               final_predictions(augmented, augment=True), atol=1e-5)


def test_resume_continues_and_overwrite_starts_over(split, tmp_path):
    x_train, y_train, _, _ = split
    ImageClassifier(max_trials=2, directory=tmp_path, project_name="p", seed=0).fit(
        x_train, y_train, epochs=1)
    again = ImageClassifier(max_trials=3, directory=tmp_path, project_name="p", seed=0)
    again.fit(x_train, y_train, epochs=1)
    assert len(again.tuner.oracle.trials) == 3
    # A new process can export from the project without searching again.
    reopened = ImageClassifier(directory=tmp_path, project_name="p")
    assert reopened.predict(x_train[:5]).shape == (5,)
    fresh = ImageClassifier(max_trials=1, directory=tmp_path, project_name="p", overwrite=True)
    fresh.fit(x_train, y_train, epochs=1)
    assert len(fresh.tuner.oracle.trials) == 1


def test_a_new_search_after_final_fit_serves_its_own_best_model(split, tmp_path):
    """fit -> final_fit -> fit: predict and the exports must not serve the old final model."""
    x_train, y_train, x_test, _ = split
    clf = ImageClassifier(max_trials=1, directory=tmp_path, project_name="p", seed=0)
    clf.fit(x_train, y_train, epochs=1)
    clf.final_fit(x_train, y_train, epochs=1)
    final = clf.predict_proba(x_test)
    again = ImageClassifier(max_trials=2, directory=tmp_path, project_name="p", seed=0)
    again.fit(x_train, y_train, epochs=1)
    best = again.tuner.load_model(again.tuner.oracle.get_best_trials(1)[0])
    expected = best.predict(x_test[..., None].astype("float32"), verbose=0)
    for classifier in (again, ImageClassifier(directory=tmp_path, project_name="p")):
        served = classifier.predict_proba(x_test)
        np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)
        assert not np.allclose(served, final, atol=1e-3)


@pytest.fixture(scope="module")
def three_trials(split, tmp_path_factory):
    """A 3-trial search predicting with the average of its 2 best networks (read-only use)."""
    x_train, y_train, _, _ = split
    clf = ImageClassifier(max_trials=3, directory=tmp_path_factory.mktemp("three"), seed=0,
                          ensemble_size=2)
    clf.fit(x_train, y_train, epochs=1)
    return clf


def test_an_ensemble_is_one_plain_model_averaging_the_best_trials(three_trials, split, tmp_path):
    _, _, x_test, _ = split
    clf = three_trials
    images = x_test[:64, :, :, None].astype("float32")
    best = [clf.tuner.load_model(t) for t in clf.tuner.oracle.get_best_trials(2)]
    expected = np.mean([m.predict(images, verbose=0) for m in best], axis=0)
    assert not np.allclose(expected, best[0].predict(images, verbose=0), atol=1e-3)
    np.testing.assert_allclose(clf.predict_proba(x_test[:64]), expected, rtol=1e-5, atol=1e-6)
    np.save(tmp_path / "x.npy", images)
    for name in ("ensemble.h5", "ensemble.keras"):
        path = clf.export_keras_model(str(tmp_path / name))
        _fresh_python(FRESH_LOAD, path, tmp_path / "x.npy", tmp_path / "out.npy")
        np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)


def test_the_search_report_draws_the_tree_and_lists_every_trial(three_trials, tmp_path):
    import csv
    import shutil as _shutil

    clf = three_trials
    paths = clf.search_report(str(tmp_path / "report"))
    with open(tmp_path / "report" / "trials.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    trials = clf.tuner.oracle.trials
    assert [row["trial"] for row in rows] == list(trials)
    for row in rows:
        trial = trials[row["trial"]]
        assert row["parent"] == trial.hyperparameters.values["parent_trial_id"]
        assert float(row["score"]) == pytest.approx(trial.score, abs=1e-4)
        assert row["status"] == "COMPLETED"
    assert rows[0]["ops"] == "seed" and all(row["ops"] != "seed" for row in rows[1:])
    markdown = (tmp_path / "report" / "trials.md").read_text()
    assert markdown.count("\n") == len(rows) + 2
    pictures = [p for p in paths if p.endswith(".png")]
    assert len(pictures) == (2 if _shutil.which("dot") else 1)
    for path in pictures:
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_final_fit_can_train_a_trial_other_than_the_best(split, tmp_path):
    x_train, y_train, _, _ = split
    clf = ImageClassifier(max_trials=2, directory=tmp_path, seed=0)
    clf.fit(x_train, y_train, epochs=1)
    best = clf.tuner.oracle.get_best_trials(1)[0]
    other = next(t for t in clf.tuner.oracle.trials.values() if t.trial_id != best.trial_id)
    wanted = other.hyperparameters.values["architecture"]
    assert wanted != best.hyperparameters.values["architecture"]  # a child is always a morph
    with pytest.raises(ValueError, match="trial_id must name a completed trial"):
        clf.final_fit(x_train, y_train, trial_id="9999", epochs=1)
    with pytest.raises(TypeError, match="trial_id"):
        clf.final_fit(x_train, y_train, trial_id=0, epochs=1)
    clf.final_fit(x_train, y_train, trial_id=other.trial_id, epochs=1)
    with open(tmp_path / "image_classifier" / "final_model" / "architecture.json") as handle:
        final = json.load(handle)
    assert final == json.loads(wanted)
    assert clf.export_model().count_params() == Graph.from_json(wanted).build().count_params()


def test_resume_refuses_data_with_other_labels(split, tmp_path):
    x_train, y_train, _, _ = split
    ImageClassifier(max_trials=1, directory=tmp_path, project_name="p").fit(x_train, y_train, epochs=1)
    with pytest.raises(ValueError, match="classes"):
        ImageClassifier(max_trials=2, directory=tmp_path, project_name="p").fit(
            x_train, y_train + 100, epochs=1)


@pytest.mark.parametrize("shape", [(32, 32, 3), (80, 96, 3)])
def test_images_of_other_sizes_and_channels(shape, tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(48) % 2
    x = rng.integers(0, 60, size=(48,) + shape).astype("uint8")
    x[y == 1] += 120  # learnable: brightness
    clf = ImageClassifier(max_trials=1, directory=tmp_path, seed=0)
    clf.fit(x, y, epochs=2)
    model = clf.export_model()
    assert model.input_shape[1:] == shape
    resized = [layer for layer in model.layers if type(layer).__name__ == "Resizing"]
    assert bool(resized) == (max(shape[:2]) > 64)
    if resized:
        assert max(resized[0].height, resized[0].width) == 64
    assert clf.predict(x[:4]).shape == (4,)


def test_regressor_predicts_numbers_and_reports_mse(split, tmp_path):
    x_train, y_train, x_test, y_test = split
    reg = ImageRegressor(max_trials=1, directory=tmp_path, seed=0)
    reg.fit(x_train, y_train.astype("float32"), epochs=3)
    predictions = reg.predict(x_test)
    assert predictions.shape == (len(x_test),)
    mse = reg.evaluate(x_test, y_test.astype("float32"))
    assert mse == pytest.approx(float(np.mean((predictions - y_test) ** 2)), rel=1e-5)
    assert mse < np.var(y_test)  # better than predicting the mean
    assert type(reg.export_model().layers[-1]).__name__ == "Dense"


@pytest.mark.parametrize("call, message", [
    (lambda c, x, y: c.fit(x, y[:-1]), "y has"),
    (lambda c, x, y: c.fit(x[:, :, :4, None, None], y), "x must have shape"),
    (lambda c, x, y: c.fit(x, np.zeros_like(y)), "one class"),
    (lambda c, x, y: c.fit(x, y, time_limit=0), "time_limit"),
    (lambda c, x, y: c.fit(x, y, validation_split=1.5), "validation_split"),
    (lambda c, x, y: c.fit(x[:0], y[:0]), "x is empty"),
    (lambda c, x, y: c.fit(x.astype(float) * np.nan, y), "NaN"),
    (lambda c, x, y: c.fit([x[0], x[1][:4]], y[:2]), "different sizes"),
    (lambda c, x, y: c.predict(x), "call fit"),
])
def test_bad_input_gets_a_clear_error(split, tmp_path, call, message):
    x_train, y_train, _, _ = split
    clf = ImageClassifier(max_trials=1, directory=tmp_path)
    with pytest.raises((ValueError, TypeError, RuntimeError), match=message):
        call(clf, x_train[:50], y_train[:50])
    assert not os.path.exists(tmp_path / "image_classifier" / "oracle.json")
