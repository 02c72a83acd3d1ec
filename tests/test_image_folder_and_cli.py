"""Folders of images as inputs (one sub-folder per class), and the ``kerasauto`` command."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasauto
from kerasauto import cli

CLASSES = ["eight", "one", "zero"]  # folder names, sorted: the labels a user gets back
DIGIT_OF = {"zero": 0, "one": 1, "eight": 8}


def _write_folder(root, images, labels):
    """One PNG per image under root/<label>/."""
    import tensorflow as tf

    for index, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(root, label)
        os.makedirs(folder, exist_ok=True)
        png = tf.io.encode_png(tf.constant(image)).numpy()
        with open(os.path.join(folder, f"{index:04d}.png"), "wb") as handle:
            handle.write(png)


@pytest.fixture(scope="module")
def folders(digits, tmp_path_factory):
    """Train and test folders of three digit classes, and the same images as arrays."""
    x, y = digits
    names = {digit: name for name, digit in DIGIT_OF.items()}
    keep = np.isin(y, list(names))
    x, labels = x[keep], np.array([names[d] for d in y[keep]])
    root = tmp_path_factory.mktemp("folders")
    train, test = str(root / "train"), str(root / "test")
    _write_folder(train, x[:400], labels[:400])
    _write_folder(test, x[400:], labels[400:])
    return train, test, (x[:400], labels[:400]), (x[400:], labels[400:])


def test_a_folder_reads_as_the_images_and_their_class_names(folders):
    train, _, (x, labels), _ = folders
    read = kerasauto.read_image_folder(train)
    assert read.class_names == CLASSES
    assert read.images.dtype == np.uint8 and read.images.shape == (400, 8, 8, 1)
    # PNG is lossless: each file's pixels and label are the ones written into it
    written = {os.path.join(train, label, f"{i:04d}.png"): (x[i], label)
               for i, label in enumerate(labels)}
    assert sorted(read.paths) == sorted(written)
    for image, label, path in zip(read.images, read.labels, read.paths):
        np.testing.assert_array_equal(image, written[path][0])
        assert label == written[path][1]


def test_bad_folders_are_refused_by_name(tmp_path, folders):
    with pytest.raises(ValueError, match="x is .* not a directory"):
        kerasauto.read_image_folder(str(tmp_path / "missing"))
    (tmp_path / "only" / "cats").mkdir(parents=True)
    with pytest.raises(ValueError, match="one sub-folder of images per class"):
        kerasauto.read_image_folder(str(tmp_path / "only"))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no image files"):
        kerasauto.read_image_folder(str(tmp_path / "empty"))
    clf = kerasauto.ImageClassifier(directory=str(tmp_path), max_trials=1)
    with pytest.raises(TypeError, match="sub-folder names are the labels"):
        clf.fit(folders[0], np.zeros(400))
    with pytest.raises(TypeError, match="y is missing"):
        clf.fit(folders[2][0])
    with pytest.raises(TypeError, match="needs numeric targets"):
        kerasauto.ImageRegressor(directory=str(tmp_path), max_trials=1).fit(folders[0])


def test_fit_predict_evaluate_on_folders_give_what_the_arrays_give(folders, tmp_path):
    train, test, _, (x_test, labels_test) = folders
    clf = kerasauto.ImageClassifier(max_trials=1, directory=str(tmp_path), seed=0)
    clf.fit(train, epochs=5)  # 2 epochs left seed 0 at chance (0.31) on 400 tiny images
    assert list(clf.classes_) == CLASSES
    predicted = clf.predict(test)
    paths = kerasauto.read_image_folder(test, labelled=False).paths
    by_path = dict(zip(paths, predicted))
    expected = clf.predict(x_test)  # the same images as an array, in the order written
    order = [os.path.join(test, label, f"{i:04d}.png") for i, label in enumerate(labels_test)]
    assert [by_path[p] for p in order] == list(expected)
    assert clf.evaluate(test) == pytest.approx(clf.evaluate(x_test, labels_test))
    assert clf.evaluate(test) > 0.5  # the folder names are the labels learnt (chance: 1/3)


def test_the_command_line_fits_predicts_evaluates_exports_and_reports(folders, tmp_path, capsys):
    train, test, _, (x_test, labels_test) = folders
    project, model = str(tmp_path / "project"), str(tmp_path / "model.keras")
    assert cli.main(["fit", train, "--project", project, "--max-trials", "2", "--epochs", "1",
                     "--quiet", "--export", model]) == 0
    assert "best validation score" in capsys.readouterr().out
    loaded = keras.models.load_model(model)
    assert cli.main(["predict", project, test]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(x_test) and {label for _, label in lines} <= set(CLASSES)
    served = dict(lines)
    probabilities = loaded.predict(x_test.astype("float32"), verbose=0)
    for i, label in enumerate(labels_test):
        path = os.path.join(test, label, f"{i:04d}.png")
        assert served[path] == CLASSES[int(np.argmax(probabilities[i]))]
    assert cli.main(["evaluate", project, test]) == 0
    accuracy = float(capsys.readouterr().out)
    assert accuracy == pytest.approx(np.mean([served[os.path.join(test, l, f"{i:04d}.png")]
                                              == l for i, l in enumerate(labels_test)]))
    assert cli.main(["report", project, "--out", str(tmp_path / "report")]) == 0
    assert os.path.exists(tmp_path / "report" / "trials.csv")
    assert cli.main(["evaluate", project, str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_the_command_refuses_a_bad_duration_and_a_missing_project(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", str(tmp_path), "--time-limit", "soon"])
    assert exit_info.value.code == 2 and "not a duration" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="not a kerasauto project"):
        cli.main(["export", str(tmp_path / "none"), str(tmp_path / "m.keras")])
    assert [cli.parse_duration(t) for t in ("600", "90s", "30m", "1h", "1h30m")] == \
        [600, 90, 1800, 3600, 5400]


def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "kerasauto", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "predict" in done.stdout
