"""How trials and the final fit train: learning-rate annealing and on-the-fly augmentation."""
import keras
import numpy as np
import pytest

import kerasauto
from kerasauto.engine import callbacks as callbacks_module
from kerasauto.engine.callbacks import BestEpochKeeper, Deadline, StepTimer, WallClockCosine
from kerasauto.preprocessing import training_dataset
from kerasauto.tuners.network_morphism import trial_graph

#: Learning rates seen by RecordLearningRate, across deep copies made by keras-tuner.
SEEN: list[list[float]] = []


class RecordLearningRate(keras.callbacks.Callback):
    """Records the optimizer's learning rate before every batch (one list per fit)."""

    def on_train_begin(self, logs=None):
        SEEN.append([])

    def on_train_batch_end(self, batch, logs=None):
        SEEN[-1].append(float(self.model.optimizer.learning_rate))


def _tiny_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    return model


def test_cosine_anneals_to_the_floor_by_the_last_step():
    SEEN.clear()
    x, y = np.random.default_rng(0).normal(size=(80, 4)), np.arange(80) % 2
    _tiny_model().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[
        WallClockCosine(1e-2, deadline=None, total_steps=20), RecordLearningRate()])
    rates = SEEN[-1]
    assert len(rates) == 20
    assert rates[0] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(rates, rates[1:])), "the rate must only decrease"
    assert rates[-1] < 0.05 * 1e-2


def test_every_trial_ends_with_an_annealed_learning_rate(tmp_path, digits_float):
    """The seed starts at the full rate; children restart lower from their parent's weights."""
    SEEN.clear()
    x, y = digits_float
    oracle = kerasauto.NetworkMorphismOracle(max_trials=2, seed=3)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p",
                                    learning_rate=2e-3)
    tuner.search(x[:400], y[:400], validation_data=(x[400:500], y[400:500]), epochs=2,
                 callbacks=[RecordLearningRate()])
    assert len(SEEN) == 2
    seed_rates, child_rates = SEEN
    assert seed_rates[0] == pytest.approx(2e-3, rel=1e-3)
    assert child_rates[0] == pytest.approx(tuner.warm_restart_factor * 2e-3, rel=1e-3)
    assert tuner.warm_restart_factor < 1
    for rates in SEEN:
        assert rates[-1] < 0.1 * rates[0]


def test_augmented_search_holds_out_the_end_of_the_arrays(tmp_path, digits):
    """With augmentation and validation_split, trials validate on the last images, unaugmented."""
    x, y = digits
    oracle = kerasauto.NetworkMorphismOracle(max_trials=1, seed=0)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p",
                                    augmentation=("translate",))
    tuner.search(x[:1000], y[:1000], validation_split=0.25, epochs=4)
    trial = tuner.oracle.get_best_trials(1)[0]
    assert trial.status == "COMPLETED" and trial.score > 0.5
    model = tuner.load_model(trial)
    held_out_loss = model.evaluate(x[750:1000].astype("float32"), y[750:1000], verbose=0)[0]
    assert trial.metrics.get_last_value("val_loss") == pytest.approx(held_out_loss, abs=1e-4)


def test_training_dataset_passes_cover_every_image_once_in_a_new_order(digits):
    x = digits[0][:100]
    ids = np.arange(100)  # labels that name their image
    dataset, steps = training_dataset(x, ids, 32, (), seed=0)
    assert steps == 4
    batches = list(dataset.take(2 * steps))
    passes = [np.concatenate([labels.numpy() for _, labels in batches[i * steps:(i + 1) * steps]])
              for i in range(2)]
    for seen in passes:
        assert sorted(seen) == list(range(100))
    assert list(passes[0]) != list(passes[1]) and list(passes[0]) != list(range(100))
    images, labels = batches[0]
    np.testing.assert_array_equal(images.numpy(), x[labels.numpy()].astype(np.float32))
    again = np.concatenate([labels.numpy() for _, labels in
                            training_dataset(x, ids, 32, (), seed=0)[0].take(steps)])
    np.testing.assert_array_equal(again, passes[0])


def test_training_dataset_is_not_autotuned():
    """Keras closes the pipeline when a deadline ends training; with tf.data's autotuning on,
    closing it waited for the autotuner: ``fit`` returned 2.4-3.9 s after training ended in 1-2
    of every 6 trials of a 60 s search on 20 000 Fashion-MNIST images, none of 18 without it."""
    x = np.zeros((10, 8, 8, 1), np.uint8)
    dataset, _ = training_dataset(x, np.zeros(10, np.int64), 4, ("flip",), seed=0)
    assert dataset.options().autotune.enabled is False


def test_training_dataset_augments_only_when_asked(digits):
    x, y = digits
    plain = next(iter(training_dataset(x[:64], y[:64], 64, (), seed=0)[0]))[0].numpy()
    moved = next(iter(training_dataset(x[:64], y[:64], 64, ("translate", "flip"), seed=0)[0]))[0].numpy()
    assert plain.dtype == np.float32 and plain.shape == (64, 8, 8, 1)
    # Without augmentation: the same images, shuffled.
    assert sorted(plain.sum(axis=(1, 2, 3))) == pytest.approx(sorted(x[:64].sum(axis=(1, 2, 3))))
    assert not np.allclose(plain, moved)


def test_the_score_is_that_of_the_kept_weights_by_default():
    """A trial whose accuracy jumps at the end of its cosine is scored by the weights it keeps."""
    model = _tiny_model()
    keepers = {window: BestEpochKeeper("val_accuracy", "max", window) for window in (1, 3)}
    keepers["default"] = BestEpochKeeper("val_accuracy", "max")
    for keeper in keepers.values():
        keeper.set_model(model)
    for epoch, accuracy in enumerate([0.80, 0.85, 0.84, 0.92, 0.90]):
        model.layers[-1].bias.assign([float(epoch), 0.0])
        for keeper in keepers.values():
            keeper.on_epoch_end(epoch, {"val_accuracy": accuracy, "loss": 1.0 / (epoch + 1)})
    for keeper in keepers.values():
        assert keeper.best_epoch == 3
        assert keeper.best_weights[-1][0] == 3.0
    assert keepers["default"].score() == pytest.approx(0.92)
    assert keepers[1].best_logs() == {"val_accuracy": pytest.approx(0.92), "loss": 0.25}
    assert keepers[3].score() == pytest.approx((0.85 + 0.84 + 0.92) / 3)


def test_score_window_must_be_a_positive_integer(tmp_path):
    oracle = kerasauto.NetworkMorphismOracle(max_trials=1)
    for bad, error in ((0, ValueError), (2.0, TypeError), (None, TypeError)):
        with pytest.raises(error, match="score_window"):
            kerasauto.MorphismTuner(oracle, directory=str(tmp_path), project_name=f"p{bad}",
                                    score_window=bad)


class StopAfterFirstStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.model.stop_training = True


def test_step_timer_leaves_out_first_steps_but_falls_back_to_them():
    """A trial stopped by its deadline after one step still reports what a step cost."""
    x, y = np.random.default_rng(0).normal(size=(80, 4)), np.arange(80) % 2
    steady = StepTimer()
    _tiny_model().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[steady])
    assert (steady.steps, steady.first_steps) == (18, 2)
    assert steady.seconds_per_step() == pytest.approx(steady.seconds / 18)
    assert steady.first_epoch_steps == 10
    started = steady.first_epoch_ended - 5.0  # as if building and tracing had taken 5 s
    assert steady.startup_seconds(started) == pytest.approx(5.0 - steady.seconds / 18 * 10)
    cut_short = StepTimer()
    _tiny_model().fit(x, y, batch_size=8, epochs=1, verbose=0,
                      callbacks=[cut_short, StopAfterFirstStep()])
    assert cut_short.steps == 0 and cut_short.first_steps == 1
    assert cut_short.first_seconds > 0
    assert cut_short.seconds_per_step() == pytest.approx(cut_short.first_seconds)
    # No steady pace to tell the steps from the rest: all of it counts as overhead.
    assert cut_short.startup_seconds(cut_short.first_epoch_ended - 5.0) == pytest.approx(5.0)


def test_time_limited_search_sizes_proposals_by_measured_speed(tmp_path, digits_float):
    """Trials report what an epoch cost; the oracle caps proposals so a trial fits 3 epochs."""
    x, y = digits_float
    oracle = kerasauto.NetworkMorphismOracle(max_trials=3, seed=2)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p")
    tuner.search(x[:400], y[:400], validation_data=(x[400:500], y[400:500]), epochs=3,
                 time_limit=30)
    completed = [t for t in oracle.trials.values() if t.status == "COMPLETED"]
    assert completed
    speeds = []
    for trial in completed:
        seconds = trial.metrics.get_last_value("epoch_seconds")
        assert 0 < seconds < 30
        assert 0 < trial.metrics.get_last_value("overhead_seconds") < 30
        speeds.append(trial_graph(trial).multiply_adds() / seconds)
    expected = max(np.median(speeds) * oracle.trial_seconds / 3,
                   1.25 * min(trial_graph(t).multiply_adds() for t in completed))
    assert oracle.limits(completed).max_multiply_adds == pytest.approx(expected)
    assert oracle.trial_seconds == pytest.approx(30 / 6)


def _translating_tuner(tmp_path, ratio: float, max_trials: int = 1):
    """A tuner that augments by translation as the oracle's ``augment_loss_ratio=ratio`` decides."""
    oracle = kerasauto.NetworkMorphismOracle(max_trials=max_trials, seed=0, augment_loss_ratio=ratio)
    return kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p",
                                   augmentation=("translate",))


def _search_300_digits(tuner, digits, epochs: int) -> list:
    """Search on 300 digit images (100 more validate); the trials in the order they ran."""
    x, y = digits
    tuner.search(x[:300], y[:300], validation_data=(x[300:400], y[300:400]), epochs=epochs)
    return sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)


@pytest.mark.parametrize("ratio, expected", [(0.0, 1.0), (3.0, 0.0)])
def test_seeds_train_plain_unless_every_trial_is_augmented(tmp_path, digits, ratio, expected):
    [seed] = _search_300_digits(_translating_tuner(tmp_path, ratio), digits, epochs=2)
    assert seed.metrics.get_last_value("augmented") == expected


@pytest.mark.parametrize("ratio, expected", [(2.0, 1.0), (1e6, 0.0)])
def test_children_of_an_overfitting_parent_are_augmented(tmp_path, digits, ratio, expected):
    """300 digit images, 8 epochs: the seed memorises them (validation loss >> training loss)."""
    tuner = _translating_tuner(tmp_path, ratio, max_trials=2)
    seed, child = _search_300_digits(tuner, digits, epochs=8)
    loss, val_loss = (seed.metrics.get_last_value(name) for name in ("loss", "val_loss"))
    assert val_loss >= 2.0 * loss, "the seed was expected to over-fit 300 images"
    assert seed.metrics.get_last_value("augmented") == 0.0
    assert child.metrics.get_last_value("augmented") == expected


class FakeClock(keras.callbacks.Callback):
    """Moves a fake ``time.time()`` on: ``per_batch`` seconds a batch, ``validation`` per pass."""

    def __init__(self, per_batch: float, validation: float):
        super().__init__()
        self.now, self.per_batch, self.validation = 0.0, per_batch, validation

    def on_train_batch_end(self, batch, logs=None):
        self.now += self.per_batch

    def on_test_end(self, logs=None):
        self.now += self.validation


def _fit_by_the_fake_clock(monkeypatch, deadline: Deadline, clock: FakeClock):
    monkeypatch.setattr(callbacks_module.time, "time", lambda: clock.now)
    x, y = np.random.default_rng(0).normal(size=(40, 4)), np.arange(40) % 2
    # The clock runs first, so the deadline sees the time each batch and validation ended at.
    return _tiny_model().fit(x, y, batch_size=8, epochs=5, validation_data=(x, y), verbose=0,
                             callbacks=[clock, deadline]).history


@pytest.mark.parametrize("min_epoch_fraction", [0.0, 0.5])
def test_no_epoch_starts_after_validation_passed_the_deadline(monkeypatch, min_epoch_fraction):
    """Else a last 'epoch' of one batch is kept and reports that batch's loss as the epoch's."""
    # Epoch 1 trains 5 batches to t=5 (deadline 8), then validation runs to t=10.
    history = _fit_by_the_fake_clock(monkeypatch, Deadline(8.0, min_epoch_fraction),
                                     FakeClock(per_batch=1.0, validation=5.0))
    assert len(history["loss"]) == 1


def test_a_trial_does_not_start_an_epoch_it_could_not_half_finish(monkeypatch):
    """Epochs take 10 s (5 batches + validation): from t=20, 4 s left is under half an epoch."""
    half = _fit_by_the_fake_clock(monkeypatch, Deadline(24.0, min_epoch_fraction=0.5),
                                  FakeClock(per_batch=1.0, validation=5.0))
    assert len(half["loss"]) == 2
    # Without the fraction the third epoch starts and is cut after 4 of its 5 batches.
    cut = _fit_by_the_fake_clock(monkeypatch, Deadline(24.0),
                                 FakeClock(per_batch=1.0, validation=5.0))
    assert len(cut["loss"]) == 3


def test_training_stops_early_enough_to_validate_by_the_deadline(monkeypatch):
    """Validation takes 5 s: from t=20 (epoch 3), batches stop at t=22 so that it ends at t=27,
    not at t=30 after two more batches."""
    clock = FakeClock(per_batch=1.0, validation=5.0)
    history = _fit_by_the_fake_clock(monkeypatch, Deadline(27.0), clock)
    assert len(history["loss"]) == 3
    assert clock.now == pytest.approx(27.0)
