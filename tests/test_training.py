"""How trials and the final fit train: one learning-rate plan, optimizer state carried over,
step limits and deadlines, and on-the-fly augmentation."""
import keras
import numpy as np
import pytest

import kerasauto
from kerasauto.engine import callbacks as callbacks_module
from kerasauto.engine import optimizer_state
from kerasauto.engine.budget import LearningRatePlan, TrialBudget
from kerasauto.engine.callbacks import Deadline, PlannedLearningRate, StepTimer
from kerasauto.preprocessing import training_dataset

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


def test_the_plan_holds_the_rate_then_decays_once_to_the_floor():
    plan = LearningRatePlan(1e-2, decay_fraction=0.25)
    rates = [plan.rate(p) for p in np.linspace(0, 1, 101)]
    assert all(r == pytest.approx(1e-2) for r in rates[:76])
    assert all(a >= b for a, b in zip(rates, rates[1:])), "the rate must only decrease"
    assert rates[-1] == pytest.approx(1e-4)


def test_planned_rate_follows_the_trials_own_clock(monkeypatch):
    """Under a time limit a trial's rate moves with its own clock from where the plan put it."""
    now = [100.0]
    monkeypatch.setattr(callbacks_module.time, "time", lambda: now[0])
    SEEN.clear()

    class Tick(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            now[0] += 1.0

    x, y = np.random.default_rng(0).normal(size=(80, 4)), np.arange(80) % 2
    budget = TrialBudget(progress=0.5, progress_per_second=0.05)  # 10 s to the end of the plan
    _tiny_model().fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[
        Tick(), PlannedLearningRate(LearningRatePlan(1e-2, 0.5), budget), RecordLearningRate()])
    expected = [LearningRatePlan(1e-2, 0.5).rate(0.5 + 0.05 * step) for step in range(10)]
    np.testing.assert_allclose(SEEN[-1], expected, rtol=1e-5)


def test_a_lineage_follows_one_plan_without_restarts(tmp_path, digits_float):
    """Counted in trials, the rate is the base rate for the first two thirds of the trials and
    then decays once: no trial starts its child at a higher rate than it ended."""
    SEEN.clear()
    x, y = digits_float
    oracle = kerasauto.NetworkMorphismOracle(max_trials=3, seed=3)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p",
                                    learning_rate=2e-3)
    tuner.search(x[:400], y[:400], validation_data=(x[400:500], y[400:500]), epochs=2,
                 callbacks=[RecordLearningRate()])
    assert len(SEEN) == 3
    rates = [r for trial in SEEN for r in trial]
    assert rates[0] == pytest.approx(2e-3, rel=1e-3)
    assert all(a >= b * (1 - 1e-6) for a, b in zip(rates, rates[1:])), "a trial restarted its rate"
    assert SEEN[1][-1] == pytest.approx(2e-3, rel=1e-3)  # still growing: the base rate
    assert rates[-1] < 0.05 * 2e-3


def test_children_continue_their_parents_optimizer(tmp_path, digits_float):
    """A child's Adam starts from its parent's step count and moments, not afresh."""
    x, y = digits_float
    oracle = kerasauto.NetworkMorphismOracle(max_trials=2, seed=3)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p")
    tuner.search(x[:400], y[:400], validation_data=(x[400:500], y[400:500]), epochs=2)
    seed, child = (oracle.trials[i] for i in sorted(oracle.trials))
    steps_per_trial = 2 * int(np.ceil(400 / tuner.batch_size))
    parent_steps, parent_state = optimizer_state._read(tuner._optimizer_fname(seed.trial_id))
    child_steps, _ = optimizer_state._read(tuner._optimizer_fname(child.trial_id))
    assert (parent_steps, child_steps) == (steps_per_trial, 2 * steps_per_trial)
    model = tuner.build_trial_model(child)
    tuner.compile_model(model)
    tuner._load_parent_optimizer(child, model)
    head = model.layers[-2]  # the dense head
    key = f"{head.name}/kernel"
    slots = optimizer_state._slots(model.optimizer, head.kernel)
    assert set(slots) == {"momentum", "velocity"}
    for name, variable in slots.items():
        saved = parent_state[f"{key}/{name}"]  # a widening before the head adds rows at the end
        np.testing.assert_array_equal(np.asarray(variable)[:len(saved)], saved)


def test_optimizer_state_of_a_widened_weight_keeps_old_entries_and_sizes_new_ones(tmp_path):
    x, y = np.random.default_rng(0).normal(size=(64, 4)), np.arange(64) % 2
    parent = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    parent.compile(keras.optimizers.Adam(1e-2), "mse")
    parent.fit(x, np.stack([y] * 3, 1), epochs=2, verbose=0)
    optimizer_state.save(str(tmp_path / "o.h5"), parent)
    child = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, name="d"),
                              keras.layers.Dense(2, name="new")])
    child.compile(keras.optimizers.Adam(1e-2), "mse")
    assert optimizer_state.load(str(tmp_path / "o.h5"), child) == 2  # d's kernel and bias
    assert int(child.optimizer.iterations) == int(parent.optimizer.iterations)
    old = optimizer_state._slots(parent.optimizer, parent.layers[0].kernel)
    new = optimizer_state._slots(child.optimizer, child.layers[0].kernel)
    np.testing.assert_array_equal(np.asarray(new["momentum"])[:, :3], np.asarray(old["momentum"]))
    np.testing.assert_array_equal(np.asarray(new["momentum"])[:, 3:], 0.0)
    velocity = np.asarray(old["velocity"])
    np.testing.assert_array_equal(np.asarray(new["velocity"])[:, :3], velocity)
    np.testing.assert_allclose(np.asarray(new["velocity"])[:, 3:], velocity.mean(), rtol=1e-5)
    fresh = optimizer_state._slots(child.optimizer, child.layers[1].kernel)
    np.testing.assert_allclose(np.asarray(fresh["velocity"]), velocity.mean(), rtol=1e-5)


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


def test_a_step_limit_cuts_the_epoch_and_still_validates():
    """A probe trains a fraction of an epoch and is scored on the whole validation set."""
    x, y = np.random.default_rng(0).normal(size=(80, 4)), np.arange(80) % 2
    limit = Deadline(None, max_steps=13)
    history = _tiny_model().fit(x, y, batch_size=8, epochs=3, validation_data=(x, y), verbose=0,
                                callbacks=[limit]).history
    assert limit.steps == 13
    assert len(history["loss"]) == 2 and len(history["val_loss"]) == 2
