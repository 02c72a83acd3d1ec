"""Bad input, fuzzed: malformed arguments get a ValueError/TypeError naming the argument.

Every malformed input must be refused by kerasauto's own validation, before TensorFlow, Keras or
scikit-learn see it, and must leave the project directory as it was. Validation runs before
any training, so the fuzz is cheap; the search itself is replaced by a stub that fails loudly
should an input get through. One tiny classifier (1 trial, 1 epoch) is fitted per module for
predict/evaluate/final_fit.

Cases that once slipped through (ragged lists, values beyond float32, timedelta/float128 pixels,
huge float labels, tiny time limits, small stratified splits, unknown validation labels, a bad
learning rate) are tested one by one at the end of this file.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import tempfile
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kerasauto
from kerasauto.tuners.network_morphism import MorphismTuner

FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
N = 200  # images in the valid base data (enough for a stratified 20 % split of 10 classes)
LIBRARY_DIRS = (f"{os.sep}tensorflow{os.sep}", f"{os.sep}keras{os.sep}", f"{os.sep}sklearn{os.sep}",
                f"{os.sep}keras_tuner{os.sep}")
EXAMPLES: dict[str, int] = {}


class ReachedSearch(AssertionError):
    """Raised by the stubbed search: the malformed input got past validation."""


@pytest.fixture(autouse=True)
def _no_search(monkeypatch):
    """Stub the search (module-scoped fixtures such as ``fitted`` are set up before this)."""
    def search(self, *args, **kwargs):
        raise ReachedSearch("validation let a malformed input reach the search")

    monkeypatch.setattr(MorphismTuner, "search", search)


@pytest.fixture(scope="module")
def base_data(digits):
    x, y = digits
    return x[:N], y[:N]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, digits):
    """One tiny classifier fitted on digits (int labels), for predict/evaluate/final_fit."""
    x, y = digits
    directory = str(tmp_path_factory.mktemp("fitted"))
    clf = kerasauto.ImageClassifier(directory=directory, project_name="p", max_trials=1, seed=1)
    clf.fit(x, y, epochs=1)
    return clf


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    total = sum(EXAMPLES.values())
    print(f"\nfuzzed inputs per test: {EXAMPLES} (total {total})")


def tree_state(path: str) -> dict[str, str]:
    """relative path -> sha256 of every file under ``path`` (empty if it does not exist)."""
    state = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as handle:
                state[os.path.relpath(full, path)] = hashlib.sha256(handle.read()).hexdigest()
    return state


def names_argument(message: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", message) is not None


def check_refused(call, argument: str | tuple[str, ...]):
    """``call()`` must raise ValueError/TypeError naming ``argument``, from kerasauto itself."""
    arguments = (argument,) if isinstance(argument, str) else argument
    try:
        call()
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(names_argument(message, a) for a in arguments), \
            f"{type(error).__name__} does not name {arguments}: {message!r}"
        frames = traceback.extract_tb(error.__traceback__)
        leaked = [f.filename for f in frames if any(d in f.filename for d in LIBRARY_DIRS)]
        assert not leaked, f"raised from inside a library ({leaked[-1]}): {message!r}"
        assert "tensorflow" not in type(error).__module__
        return error
    raise AssertionError(f"no error for a malformed {arguments}")


# ---------------------------------------------------------------------------- strategies
small_dims = st.integers(min_value=1, max_value=5)


@st.composite
def malformed_images(draw, n: int):
    """(description, value) of something that is not a valid batch of n 8x8 images."""
    kind = draw(st.sampled_from(["rank", "dtype", "nonfinite", "empty", "ragged", "none",
                                 "scalar_like"]))
    if kind == "rank":
        ndim = draw(st.sampled_from([0, 1, 2, 5, 6]))
        shape = tuple(draw(st.lists(small_dims, min_size=ndim, max_size=ndim)))
        return kind, np.zeros(shape, dtype=draw(st.sampled_from(["uint8", "float32", "int64"])))
    if kind == "dtype":
        # (timedelta64 is left out: see test_timedelta_images_are_refused)
        dtype = draw(st.sampled_from(["object", "str", "bytes", "complex64", "complex128", "bool",
                                      "datetime64[s]", "void"]))
        base = np.ones((n, 8, 8, 1), dtype="int64")
        if dtype == "str":
            return kind, base.astype(str)
        if dtype == "bytes":
            return kind, base.astype(bytes)
        if dtype == "void":
            return kind, np.zeros((n, 8, 8, 1), dtype="V4")
        if dtype == "object":
            return kind, draw(st.sampled_from([base.astype(object), np.full((n, 8, 8, 1), None),
                                               np.full((n, 8, 8, 1), "a", dtype=object)]))
        return kind, base.astype(dtype)
    if kind == "nonfinite":
        array = np.zeros((n, 8, 8, 1), dtype=draw(st.sampled_from(["float16", "float32", "float64"])))
        index = tuple(draw(st.integers(0, s - 1)) for s in array.shape)
        array[index] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return kind, array
    if kind == "empty":
        shape = draw(st.sampled_from([(0, 8, 8, 1), (n, 0, 8, 1), (n, 8, 0, 1), (n, 8, 8, 0),
                                      (0, 8, 8), (0,)]))
        if shape == (0,):
            return kind, draw(st.sampled_from([np.zeros(shape, "uint8"), [], ()]))
        return kind, np.zeros(shape, "uint8")
    if kind == "ragged":  # a list of 2-D or 3-D images of several sizes
        sizes = draw(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=2,
                              max_size=6).filter(lambda s: len(set(s)) > 1))
        channels = draw(st.sampled_from([(), (1,)]))
        return kind, [np.zeros(size + channels, "uint8") for size in sizes]
    if kind == "none":
        return kind, None
    return kind, draw(st.sampled_from(["images", b"images", 3.5, {"x": 1}, {1, 2}]))


@st.composite
def malformed_labels(draw, n: int, classes=tuple(range(10)), allow_one_class=True):
    """(description, value) of something that is not n valid class labels."""
    kinds = ["length", "empty", "mixed", "nonfinite", "fraction", "complex", "rank", "none",
             "object"]
    if allow_one_class:
        kinds.append("one_class")
    kind = draw(st.sampled_from(kinds))
    labels = [classes[i % len(classes)] for i in range(n)]
    if kind == "length":
        m = draw(st.integers(1, n + 20).filter(lambda m: m != n))
        return kind, np.asarray([classes[i % len(classes)] for i in range(m)])
    if kind == "empty":
        return kind, draw(st.sampled_from([np.zeros(0, "int64"), [], ()]))
    if kind == "one_class":
        return kind, np.full(n, draw(st.sampled_from([0, 7, "cat"])))
    if kind == "mixed":
        other = draw(st.sampled_from(["a", True, None, b"b", 2.5]))
        position = draw(st.integers(0, n - 1))
        mixed = list(labels)
        mixed[position] = other
        if draw(st.booleans()):
            return kind, mixed
        return kind, np.asarray(mixed, dtype=object)
    if kind == "nonfinite":
        values = np.asarray(labels, dtype="float64")
        values[draw(st.integers(0, n - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return kind, values
    if kind == "fraction":
        values = np.asarray(labels, dtype="float64")
        values[draw(st.integers(0, n - 1))] += draw(st.floats(0.01, 0.99))
        return kind, values
    if kind == "complex":
        return kind, np.asarray(labels, dtype="complex128") + 1j
    if kind == "rank":
        shape = draw(st.sampled_from([(n, 2), (n, 10), (n, 1, 1), (1, n), ()]))
        return kind, np.zeros(shape, "int64") if shape else np.int64(3)
    if kind == "none":
        return kind, None
    return kind, np.asarray([{"label": 1}] * n, dtype=object)


def bad_number(valid_kind: str):
    """Numbers or non-numbers that are not a valid value for a parameter."""
    common = [math.nan, math.inf, -math.inf, "10", b"1", [1], True, False, 1 + 2j, object()]
    if valid_kind == "positive_int":
        return st.one_of(st.sampled_from(common + [0, -1, 1.5, "3", int]),
                         st.integers(max_value=0), st.floats(0.1, 100).filter(lambda v: v != int(v)))
    if valid_kind == "seconds":
        return st.one_of(st.sampled_from(common + [0, 0.0, -1e-9]),
                         st.floats(max_value=0, allow_nan=False), st.integers(max_value=0))
    # a fraction in (0, 0.9)
    return st.one_of(st.sampled_from(common + [None, 0, 0.0, 0.9, 1, 1.0, -0.1]),
                     st.floats(min_value=0.9, allow_nan=False), st.floats(max_value=0.0, allow_nan=False))


@st.composite
def bad_fit_call(draw, n: int):
    """(argument name(s), constructor kwargs, fit args, fit kwargs): one argument malformed."""
    what = draw(st.sampled_from(["x", "y", "time_limit", "max_trials", "validation_split", "epochs",
                                 "batch_size", "fit_batch_size", "validation_data", "seed",
                                 "project_name"]))
    init, kwargs = {}, {"epochs": 1}
    x, y = "VALID", "VALID"
    if what == "x":
        _, x = draw(malformed_images(n))
        return "x", init, (x, "VALID"), kwargs
    if what == "y":
        _, y = draw(malformed_labels(n))
        return "y", init, ("VALID", y), kwargs
    if what == "time_limit":
        kwargs["time_limit"] = draw(bad_number("seconds"))
    elif what == "max_trials":
        init["max_trials"] = draw(bad_number("positive_int"))
    elif what == "validation_split":
        kwargs["validation_split"] = draw(bad_number("fraction"))
    elif what == "epochs":
        kwargs["epochs"] = draw(bad_number("positive_int").filter(lambda v: v is not None))
    elif what == "fit_batch_size":
        kwargs["batch_size"] = draw(bad_number("positive_int").filter(lambda v: v is not None))
        return "batch_size", init, (x, y), kwargs
    elif what == "batch_size":
        init["batch_size"] = draw(bad_number("positive_int"))
    elif what == "seed":
        init["seed"] = draw(st.sampled_from([1.5, "0", True, [0], math.nan]))
    elif what == "project_name":
        init["project_name"] = draw(st.sampled_from(["", "a/b", f"..{os.sep}up", 5, b"p"]))
    elif what == "validation_data":
        choice = draw(st.sampled_from(["not_tuple", "length", "x_val", "y_val"]))
        if choice == "not_tuple":
            kwargs["validation_data"] = draw(st.sampled_from(["data", 3, {"x": 1}, np.zeros(4)]))
        elif choice == "length":
            kwargs["validation_data"] = draw(st.sampled_from([(), ("VALID",), ("VALID",) * 3]))
        elif choice == "x_val":
            _, bad = draw(malformed_images(20))
            bad = draw(st.sampled_from([bad, np.zeros((20, 7, 8, 1), "uint8"),
                                        np.zeros((20, 8, 8, 3), "uint8")]))
            kwargs["validation_data"] = (bad, "VALID20")
        else:
            _, bad = draw(malformed_labels(20, allow_one_class=False))
            kwargs["validation_data"] = ("VALID20", bad)
    return what, init, (x, y), kwargs


def resolve(args, kwargs, x, y):
    """Replace the "VALID"/"VALID20" placeholders by the base data (20 images for validation)."""
    def valid(value, index):
        if isinstance(value, str) and value in ("VALID", "VALID20"):
            return y[:20] if index == 1 else x[:20]
        return value

    fx = x if isinstance(args[0], str) and args[0] == "VALID" else args[0]
    fy = y if isinstance(args[1], str) and args[1] == "VALID" else args[1]
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("validation_data"), tuple):
        kwargs["validation_data"] = tuple(valid(v, i) for i, v in enumerate(kwargs["validation_data"]))
    return fx, fy, kwargs


# ---------------------------------------------------------------------------- fit, fresh project
@FUZZ
@given(case=bad_fit_call(N))
def test_fit_on_a_fresh_project_refuses_malformed_input_and_writes_nothing(base_data, case):
    EXAMPLES["fit (fresh project)"] = EXAMPLES.get("fit (fresh project)", 0) + 1
    x, y = base_data
    argument, init, args, kwargs = case
    fx, fy, kwargs = resolve(args, kwargs, x, y)
    parent = tempfile.mkdtemp(prefix="ka-fuzz-")
    try:
        directory = os.path.join(parent, "d")

        def call():
            clf = kerasauto.ImageClassifier(directory=directory, **{"project_name": "p", **init})
            clf.fit(fx, fy, **kwargs)

        check_refused(call, argument)
        assert not os.path.exists(directory), f"fit wrote {tree_state(directory)}"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


# ---------------------------------------------------------------------------- fitted classifier
@FUZZ
@given(case=bad_fit_call(N))
def test_fit_on_a_fitted_project_refuses_malformed_input_and_changes_nothing(fitted, base_data,
                                                                            case):
    EXAMPLES["fit (fitted project)"] = EXAMPLES.get("fit (fitted project)", 0) + 1
    x, y = base_data
    argument, init, args, kwargs = case
    fx, fy, kwargs = resolve(args, kwargs, x, y)
    before = tree_state(fitted.project_dir)

    def call():
        clf = kerasauto.ImageClassifier(directory=fitted.directory,
                                        **{"project_name": "p", "max_trials": 1, **init})
        clf.fit(fx, fy, **kwargs)

    check_refused(call, argument)
    assert tree_state(fitted.project_dir) == before


@FUZZ
@given(data=st.data())
def test_predict_refuses_malformed_images(fitted, data):
    EXAMPLES["predict/predict_proba"] = EXAMPLES.get("predict/predict_proba", 0) + 1
    _, x = data.draw(st.one_of(malformed_images(16),
                               st.sampled_from([np.zeros((4, 7, 8, 1), "uint8"),
                                                np.zeros((4, 8, 8, 3), "uint8"),
                                                np.zeros((4, 8, 9), "uint8")]).map(
                                   lambda a: ("shape", a))))
    method = data.draw(st.sampled_from(["predict", "predict_proba"]))
    before = tree_state(fitted.project_dir)
    check_refused(lambda: getattr(fitted, method)(x), "x")
    assert tree_state(fitted.project_dir) == before


@FUZZ
@given(data=st.data())
def test_evaluate_refuses_malformed_input(fitted, digits, data):
    EXAMPLES["evaluate"] = EXAMPLES.get("evaluate", 0) + 1
    x, y = digits[0][:30], digits[1][:30]
    before = tree_state(fitted.project_dir)
    if data.draw(st.booleans()):
        _, bad_x = data.draw(malformed_images(30))
        check_refused(lambda: fitted.evaluate(bad_x, y), "x")
    else:
        _, bad_y = data.draw(st.one_of(
            malformed_labels(30, allow_one_class=False),
            st.just(("strings", np.asarray(["a", "b", "c"] * 10)))))
        # evaluate names its y "y_eval" (see test_evaluate_names_its_argument_y)
        check_refused(lambda: fitted.evaluate(x, bad_y), ("y", "y_eval"))
    assert tree_state(fitted.project_dir) == before


@FUZZ
@given(data=st.data())
def test_final_fit_refuses_malformed_input_and_changes_nothing(fitted, digits, data):
    EXAMPLES["final_fit"] = EXAMPLES.get("final_fit", 0) + 1
    x, y = digits[0][:60], digits[1][:60]
    what = data.draw(st.sampled_from(["x_train", "y_train", "x_test", "y_test", "test_pair",
                                      "epochs", "time_limit", "batch_size"]))
    kwargs = {"x_train": x, "y_train": y, "x_test": x[:20], "y_test": y[:20], "epochs": 1}
    argument: str | tuple = what
    if what == "x_train" or what == "x_test":
        kwargs[what] = data.draw(malformed_images(60 if what == "x_train" else 20))[1]
    elif what == "y_train" or what == "y_test":
        kwargs[what] = data.draw(malformed_labels(60 if what == "y_train" else 20,
                                                  allow_one_class=False))[1]
    elif what == "test_pair":
        missing = data.draw(st.sampled_from(["x_test", "y_test"]))
        kwargs[missing] = None
        argument = ("x_test", "y_test")
    elif what == "time_limit":
        kwargs[what] = data.draw(bad_number("seconds"))
    else:
        kwargs[what] = data.draw(bad_number("positive_int").filter(lambda v: v is not None))
    before = tree_state(fitted.project_dir)
    check_refused(lambda: fitted.final_fit(**kwargs), argument)
    assert tree_state(fitted.project_dir) == before


# ---------------------------------------------------------------------------- inputs that once slipped through
def _fresh(tmp_path, **init):
    return kerasauto.ImageClassifier(directory=str(tmp_path / "d"), project_name="p",
                                     **{"max_trials": 1, **init})


def test_ragged_nested_lists_name_x(tmp_path, base_data):
    _, y = base_data
    ragged = [[[0, 1, 2], [3, 4]]] * 2
    check_refused(lambda: _fresh(tmp_path).fit(ragged, y[:2]), "x")


@pytest.mark.parametrize("method", ["fit", "predict"])
def test_pixels_beyond_float32_range_are_refused(tmp_path, base_data, fitted, method):
    x, y = base_data
    huge = x.astype("float64") * 1e300
    if method == "fit":
        check_refused(lambda: _fresh(tmp_path).fit(huge, y, epochs=1), "x")
        assert not os.path.exists(tmp_path / "d")
    else:
        check_refused(lambda: fitted.predict(huge[:8]), "x")


@pytest.mark.parametrize("method", ["fit", "predict"])
def test_timedelta_images_are_refused(tmp_path, base_data, fitted, method):
    x, y = base_data
    deltas = x.astype("timedelta64[s]")
    if method == "fit":
        check_refused(lambda: _fresh(tmp_path).fit(deltas, y, epochs=1), "x")
        assert not os.path.exists(tmp_path / "d")
    else:
        check_refused(lambda: fitted.predict(deltas[:8]), "x")


@pytest.mark.skipif(not hasattr(np, "float128"), reason="no float128 on this platform")
def test_float128_images_are_cast_or_refused(tmp_path, base_data, monkeypatch):
    monkeypatch.undo()  # the real search (1 trial, 1 epoch): the failure is inside it
    x, y = base_data
    try:
        _fresh(tmp_path).fit(x.astype(np.float128), y, epochs=1)
    except (ValueError, TypeError):
        check_refused(lambda: _fresh(tmp_path).fit(x.astype(np.float128), y, epochs=1), "x")


def test_float_labels_beyond_int64_are_refused(tmp_path, base_data):
    x, y = base_data
    labels = np.where(y > 4, 1e300, 1.0)
    check_refused(lambda: _fresh(tmp_path).fit(x, labels, epochs=1), "y")
    assert not os.path.exists(tmp_path / "d")


def test_absurdly_small_time_limit_is_refused(tmp_path, base_data, monkeypatch):
    monkeypatch.undo()  # the real search: the check must come before it
    x, y = base_data
    check_refused(lambda: _fresh(tmp_path).fit(x, y, time_limit=1e-3, epochs=1), "time_limit")
    assert not os.path.exists(tmp_path / "d")


def test_small_data_does_not_crash_in_the_stratified_split(tmp_path, base_data):
    """40 digits: fit may search (it reaches the stubbed search) or name validation_split."""
    x, y = base_data
    try:
        check_refused(lambda: _fresh(tmp_path).fit(x[:40], y[:40], epochs=1), "validation_split")
    except ReachedSearch:
        pass


def test_unknown_validation_labels_are_refused_before_writing(tmp_path, base_data):
    x, y = base_data
    call = lambda: _fresh(tmp_path).fit(x, y % 5, validation_data=(x[:20], y[:20]), epochs=1)
    check_refused(call, "validation_data")
    assert not os.path.exists(tmp_path / "d")


def test_evaluate_names_its_argument_y(fitted, digits):
    x, y = digits[0][:30], digits[1][:30]
    check_refused(lambda: fitted.evaluate(x, y[:29]), "y")


@pytest.mark.parametrize("value", [math.nan, -1e-3, 0.0, math.inf, "fast"])
def test_learning_rate_is_validated(tmp_path, value):
    check_refused(lambda: _fresh(tmp_path, learning_rate=value), "learning_rate")


@pytest.mark.parametrize("value", ["rotate", 5, ["translate", 3], ("flip", "zoom")])
def test_augmentation_is_validated(tmp_path, value):
    check_refused(lambda: _fresh(tmp_path, augmentation=value), "augmentation")


@pytest.mark.parametrize("value", ["yes", 1, "auto", None])
def test_augment_search_must_be_a_bool(tmp_path, value):
    check_refused(lambda: _fresh(tmp_path, augment_search=value), "augment_search")


@pytest.mark.parametrize("value", [0, -2, 1.5, "3", None, True])
def test_ensemble_size_is_a_positive_int(tmp_path, value):
    check_refused(lambda: _fresh(tmp_path, ensemble_size=value), "ensemble_size")


@pytest.mark.parametrize("value", ["yes", 1])
def test_final_fit_augment_must_be_a_bool_or_none(base_data, fitted, value):
    x, y = base_data
    check_refused(lambda: fitted.final_fit(x, y, epochs=1, augment=value), "augment")


@pytest.mark.parametrize("value", [-0.5, 1.5, math.nan, "low", True])
def test_decay_fraction_is_validated(value):
    check_refused(lambda: kerasauto.NetworkMorphismOracle(max_trials=1, decay_fraction=value),
                  "decay_fraction")


@pytest.mark.parametrize("field, value", [("children", 0), ("children", 1.5),
                                          ("probe_epochs", 0.0), ("probe_epochs", 2.0),
                                          ("probe_share", 0.0), ("probe_share", 0.9)])
def test_growth_plan_is_validated(field, value):
    from kerasauto.engine.budget import GrowthPlan

    check_refused(lambda: GrowthPlan(**{field: value}), field)


def test_growth_must_be_a_growth_plan():
    check_refused(lambda: kerasauto.NetworkMorphismOracle(max_trials=1, growth={"children": 2}),
                  "growth")
