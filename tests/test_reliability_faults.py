"""Resource faults (out of memory, full disk, NaN loss) and nothing executed from disk.

Faults are simulated in-process with monkeypatches on one trial: the trial must fail cleanly,
the search must go on (or stop with a clear error), and no state may be corrupted: every JSON
file still parses, earlier checkpoints keep their bytes, no temporary file is left behind.
When every trial fails, ``fit`` and ``search`` must raise.

The second half checks that a project directory is data, never code: state is JSON, the
package never unpickles, exports load with ``safe_mode=True``, and malicious pickles planted
under plausible names are never opened while the project is reopened, resumed, final-fitted
and exported.
"""
from __future__ import annotations

import ast
import errno
import glob
import hashlib
import json
import os
import pathlib
import pickle
import sys

import numpy as np
import pytest

import kerasauto
from kerasauto.engine import io
from kerasauto.tuners.network_morphism import MorphismTuner, NetworkMorphismOracle
from scripts.call_stack import on_stack

PACKAGE = pathlib.Path(kerasauto.__file__).parent
SEED = 3
ORIGINAL_ATOMIC_WRITE = io.atomic_write


# ---------------------------------------------------------------------------- helpers
def trial_states(project: str) -> dict[str, dict]:
    states = {}
    for path in glob.glob(os.path.join(project, "trial_*", "trial.json")):
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        states[state["trial_id"]] = state
    return states


def assert_state_is_sound(project: str) -> None:
    """Every JSON file parses, every checkpoint is HDF5, no temporary file is left."""
    files = [p for p in glob.glob(os.path.join(project, "**", "*"), recursive=True)
             if os.path.isfile(p)]
    files += glob.glob(os.path.join(project, "**", ".*"), recursive=True)
    assert files
    for path in files:
        name = os.path.basename(path)
        assert not name.startswith(".tmp-"), f"temporary file left behind: {path}"
        if name.endswith(".json"):
            with open(path, encoding="utf-8") as handle:
                json.load(handle)
        elif name.endswith(".h5"):
            with open(path, "rb") as handle:
                assert handle.read(8) == b"\x89HDF\r\n\x1a\n", f"not HDF5: {path}"
        else:
            raise AssertionError(f"unexpected file in the project: {path}")


def checkpoints(project: str) -> dict[str, str]:
    out = {}
    for path in glob.glob(os.path.join(project, "trial_*", "checkpoint.weights.h5")):
        with open(path, "rb") as handle:
            out[os.path.relpath(path, project)] = hashlib.sha256(handle.read()).hexdigest()
    return out


def classifier(tmp_path, max_trials: int | None = None, **kwargs) -> kerasauto.ImageClassifier:
    return kerasauto.ImageClassifier(directory=str(tmp_path / "d"), project_name="p",
                                     max_trials=max_trials, seed=SEED, **kwargs)


def oom():
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")


def full_disk_write(path, write, suffix="", original=io.atomic_write):
    """The real atomic write whose writer fills the disk half-way through the temp file."""
    def failing(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)

    return original(path, failing, suffix)


def nan_loss(y_true, y_pred):
    import keras

    return keras.ops.mean(y_pred) * float("nan")


# ---------------------------------------------------------------------------- one trial fails
def test_out_of_memory_fails_the_trial_lowers_max_params_and_the_search_goes_on(
        tmp_path, digits, monkeypatch):
    build = MorphismTuner.build_trial_model

    def build_then_oom_in_fit(self, trial, x_sample=None):
        model = build(self, trial, x_sample)
        if trial.trial_id == "0":
            def fit(*args, **kwargs):
                raise oom()

            model.fit = fit
        return model

    monkeypatch.setattr(MorphismTuner, "build_trial_model", build_then_oom_in_fit)
    clf = classifier(tmp_path, max_trials=3)
    clf.fit(*digits, epochs=1)

    trials = trial_states(clf.project_dir)
    assert trials["0"]["status"] == "FAILED"
    assert "ResourceExhausted" in trials["0"]["message"]
    size = trials["0"]["hyperparameters"]["values"]["num_params"]
    lowered = int(size * 0.75)
    assert clf.tuner.oracle.max_params == lowered < 3_000_000
    with open(os.path.join(clf.project_dir, "oracle.json"), encoding="utf-8") as handle:
        assert json.load(handle)["max_params"] == lowered
    assert [trials[i]["status"] for i in ("1", "2")] == ["COMPLETED", "COMPLETED"]
    child = trials["2"]["hyperparameters"]["values"]
    assert child["parent_trial_id"] == "1" and child["num_params"] <= lowered
    assert not os.path.exists(os.path.join(clf.project_dir, "trial_0", "checkpoint.weights.h5"))
    assert_state_is_sound(clf.project_dir)
    assert clf.tuner.oracle.get_best_trials(1)[0].trial_id in ("1", "2")
    assert clf.predict(digits[0][:8]).shape == (8,)


def test_full_disk_while_writing_a_checkpoint_fails_that_trial_only(tmp_path, digits, monkeypatch):
    clf = classifier(tmp_path, max_trials=3)
    seen = {}

    def atomic_write(path, write, suffix=""):
        if str(path).endswith(os.path.join("trial_1", "checkpoint.weights.h5")) and not seen:
            seen["checkpoints"] = checkpoints(clf.project_dir)
            return full_disk_write(path, write, suffix)
        return ORIGINAL_ATOMIC_WRITE(path, write, suffix)

    monkeypatch.setattr(io, "atomic_write", atomic_write)
    clf.fit(*digits, epochs=1)

    assert seen["checkpoints"], "no earlier checkpoint to compare with"
    trials = trial_states(clf.project_dir)
    assert trials["1"]["status"] == "FAILED"
    assert "No space left on device" in trials["1"]["message"]
    assert trials["0"]["status"] == trials["2"]["status"] == "COMPLETED"
    assert not os.path.exists(os.path.join(clf.project_dir, "trial_1", "checkpoint.weights.h5"))
    now = checkpoints(clf.project_dir)
    assert {k: now[k] for k in seen["checkpoints"]} == seen["checkpoints"]
    assert_state_is_sound(clf.project_dir)
    clf.predict(digits[0][:8])


def test_full_disk_while_saving_the_oracle_stops_clearly_and_the_project_resumes(
        tmp_path, digits, monkeypatch):
    clf = classifier(tmp_path, max_trials=2)
    oracle_file = os.path.join(clf.project_dir, "oracle.json")
    seen = {}

    def atomic_write(path, write, suffix=""):
        if os.path.basename(str(path)) == "oracle.json" and on_stack("end_trial") and not seen:
            with open(oracle_file, "rb") as handle:
                seen["oracle"] = handle.read()
            return full_disk_write(path, write, suffix)
        return ORIGINAL_ATOMIC_WRITE(path, write, suffix)

    monkeypatch.setattr(io, "atomic_write", atomic_write)
    with pytest.raises(OSError) as raised:
        clf.fit(*digits, epochs=1)
    assert raised.value.errno == errno.ENOSPC
    with open(oracle_file, "rb") as handle:
        assert handle.read() == seen["oracle"], "oracle.json is not the previous version"
    assert_state_is_sound(clf.project_dir)

    monkeypatch.setattr(io, "atomic_write", ORIGINAL_ATOMIC_WRITE)
    again = classifier(tmp_path, max_trials=2)
    again.fit(*digits, epochs=1)
    trials = trial_states(again.project_dir)
    assert sorted(trials) == ["0", "1"]
    assert {t["status"] for t in trials.values()} == {"COMPLETED"}
    assert_state_is_sound(again.project_dir)
    again.predict(digits[0][:8])


def test_nan_loss_fails_the_trial_and_leaves_earlier_checkpoints_alone(tmp_path, digits,
                                                                        monkeypatch):
    clf = classifier(tmp_path, max_trials=3)
    build = MorphismTuner.build_trial_model
    seen = {}

    def build_with_nan_loss(self, trial, x_sample=None):
        if trial.trial_id == "1":
            seen["checkpoints"] = checkpoints(clf.project_dir)
        self.loss = nan_loss if trial.trial_id == "1" else None
        return build(self, trial, x_sample)

    monkeypatch.setattr(MorphismTuner, "build_trial_model", build_with_nan_loss)
    clf.fit(*digits, epochs=1)

    trials = trial_states(clf.project_dir)
    assert trials["1"]["status"] == "FAILED"
    assert "NaN" in trials["1"]["message"]
    assert trials["0"]["status"] == trials["2"]["status"] == "COMPLETED"
    assert trials["2"]["hyperparameters"]["values"]["parent_trial_id"] == "0"
    assert not os.path.exists(os.path.join(clf.project_dir, "trial_1", "checkpoint.weights.h5"))
    now = checkpoints(clf.project_dir)
    assert seen["checkpoints"] and {k: now[k] for k in seen["checkpoints"]} == seen["checkpoints"]
    assert_state_is_sound(clf.project_dir)
    assert np.isfinite(clf.predict_proba(digits[0][:8])).all()


# ---------------------------------------------------------------------------- every trial fails
@pytest.mark.parametrize("fault, marker", [("oom", "ResourceExhausted"), ("nan", "NaN"),
                                           ("full_disk", "No space left on device")])
def test_fit_raises_when_every_trial_fails(tmp_path, digits, monkeypatch, fault, marker):
    if fault == "oom":
        def build(self, trial, x_sample=None):
            raise oom()

        monkeypatch.setattr(MorphismTuner, "build_trial_model", build)
    elif fault == "nan":
        build = MorphismTuner.build_trial_model

        def build_with_nan_loss(self, trial, x_sample=None):
            self.loss = nan_loss
            return build(self, trial, x_sample)

        monkeypatch.setattr(MorphismTuner, "build_trial_model", build_with_nan_loss)
    else:
        def atomic_write(path, write, suffix=""):
            if str(path).endswith("checkpoint.weights.h5"):
                return full_disk_write(path, write, suffix)
            return ORIGINAL_ATOMIC_WRITE(path, write, suffix)

        monkeypatch.setattr(io, "atomic_write", atomic_write)
    clf = classifier(tmp_path, max_trials=2)
    with pytest.raises(RuntimeError, match="completed no trial") as raised:
        clf.fit(*digits, epochs=1)
    assert marker in str(raised.value)
    assert {t["status"] for t in trial_states(clf.project_dir).values()} == {"FAILED"}
    assert_state_is_sound(clf.project_dir)
    with pytest.raises(RuntimeError):
        clf.predict(digits[0][:4])


def test_tuner_search_raises_when_every_trial_fails(tmp_path, digits_float, monkeypatch):
    def build(self, trial, x_sample=None):
        raise oom()

    monkeypatch.setattr(MorphismTuner, "build_trial_model", build)
    x, y = digits_float
    oracle = NetworkMorphismOracle(objective="val_accuracy", max_trials=5, seed=SEED)
    tuner = MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p")
    with pytest.raises(RuntimeError, match="ResourceExhausted"):
        tuner.search(x[:1000], y[:1000], validation_data=(x[1000:], y[1000:]), epochs=1)
    assert oracle.max_params < 3_000_000


# ---------------------------------------------------------------------------- nothing runs from disk
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
                  "marshal", "copyreg"}
UNSAFE_NAMES = {"read_pickle", "enable_unsafe_deserialization", "load_pickle"}


def test_package_source_never_unpickles():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    findings = []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                findings += [(path, node.lineno, a.name) for a in node.names
                             if a.name.split(".")[0] in UNSAFE_MODULES]
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in UNSAFE_MODULES:
                    findings.append((path, node.lineno, node.module))
            elif isinstance(node, ast.Attribute) and node.attr in UNSAFE_NAMES:
                findings.append((path, node.lineno, node.attr))
            elif isinstance(node, ast.keyword) and node.arg in ("allow_pickle", "safe_mode"):
                safe = node.arg == "safe_mode"  # only allow_pickle=False / safe_mode=True
                if not (isinstance(node.value, ast.Constant) and node.value.value is safe):
                    findings.append((path, node.lineno, f"{node.arg}={ast.unparse(node.value)}"))
    assert not findings, findings


class _Payload:
    """Unpickling this creates the marker file: proof that a pickle was loaded."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


PLANTED = ["oracle.pkl", "oracle.pickle", "tuner0.pkl", "tuner0.pickle", "kerasauto_task.pkl",
           "best_model.pkl", "model.pkl", "trial_0/checkpoint.pkl", "trial_0/checkpoint",
           "trial_0/trial.pkl", "trial_0/checkpoint.weights.pkl", "trial_0/model.pkl",
           "trial_0/weights.npy", "trial_1/checkpoint.pkl", "final_model/final.pkl",
           "final_model/model.pkl"]
_AUDIT = {"active": False, "opened": [], "unpickled": []}


def _audit(event, args):
    if not _AUDIT["active"]:
        return
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _AUDIT["opened"].append(os.path.abspath(os.fsdecode(args[0])))
    elif event == "pickle.find_class":
        _AUDIT["unpickled"].append(f"{args[0]}.{args[1]}")


def test_planted_pickles_are_never_loaded(tmp_path, digits):
    import keras

    if not getattr(sys, "_kerasauto_reliability_audit", False):
        sys.addaudithook(_audit)
        sys._kerasauto_reliability_audit = True
    x, y = digits
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Payload(str(marker)))
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(str(probe))))
    assert probe.exists(), "the payload does not work: the test would prove nothing"

    clf = classifier(tmp_path, max_trials=1)
    clf.fit(x, y, epochs=1)
    project = pathlib.Path(clf.project_dir)
    planted = []
    for name in PLANTED:
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".npy"):
            np.save(path, np.array([_Payload(str(marker))], dtype=object), allow_pickle=True)
        else:
            path.write_bytes(payload)
        planted.append(str(path.resolve()))

    _AUDIT.update(active=True, opened=[], unpickled=[])
    try:
        reopened = classifier(tmp_path, max_trials=1)                      # reopen
        reopened.predict(x[:8])
        resumed = classifier(tmp_path, max_trials=2)                       # resume
        resumed.fit(x, y, epochs=1)
        resumed.final_fit(x[:300], y[:300], epochs=1)                      # final fit
        exported = resumed.export_keras_model(str(tmp_path / "model.keras"))  # export
        again = classifier(tmp_path)                                       # reopen the final
        again.predict(x[:8])
    finally:
        _AUDIT["active"] = False
    assert not marker.exists(), "a planted pickle was executed"
    assert any(p.endswith("kerasauto_task.json") for p in _AUDIT["opened"]), \
        "the audit hook saw no project file opened: it would not see a planted one either"
    opened = sorted({p for p in _AUDIT["opened"] if p in planted})
    assert not opened, f"planted files were opened: {opened}"
    assert not _AUDIT["unpickled"], f"something was unpickled: {_AUDIT['unpickled'][:5]}"
    assert len(trial_states(str(project))) == 2

    loaded = keras.models.load_model(exported, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x[:32].astype("float32"), verbose=0),
                               again.predict_proba(x[:32]), rtol=1e-5, atol=1e-6)
    # Planted files are left alone, not "cleaned up" by loading them; the resumed fit discards
    # the whole final_model/ folder of an earlier final_fit (unopened, as audited above).
    for path in planted:
        if pathlib.Path(path).parent.name != "final_model":
            assert os.path.exists(path), path
    for path in project.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
