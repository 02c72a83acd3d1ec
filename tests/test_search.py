import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import kerasauto
from kerasauto import generators, morphism
from kerasauto.engine.gp import ArchitectureGP
from kerasauto.kernel import ArchitectureSummary
from kerasauto.tuners.network_morphism import trial_graph

SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")


@pytest.fixture(scope="module")
def searched(tmp_path_factory, digits_float):
    """The issue's plain keras-tuner example, on digits: 6 trials, 3 epochs each."""
    x, y = digits_float
    oracle = kerasauto.NetworkMorphismOracle(objective="val_accuracy", max_trials=6, seed=1)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path_factory.mktemp("s")),
                                    project_name="p")
    tuner.search(x[:1300], y[:1300], validation_data=(x[1300:], y[1300:]), epochs=3)
    return tuner, (x[1300:], y[1300:])


def test_plain_keras_tuner_usage(searched, capsys):
    tuner, (xv, yv) = searched
    best = tuner.get_best_models(1)[0]
    assert isinstance(best, keras.Model)
    _, accuracy = best.evaluate(xv, yv, verbose=0)
    assert accuracy > 0.85
    tuner.results_summary(2)
    assert "Score" in capsys.readouterr().out
    assert len(tuner.oracle.trials) == 6


def test_proposals_after_seeds_are_morphs_of_trained_trials(searched):
    tuner, _ = searched
    trials = [tuner.oracle.trials[i] for i in sorted(tuner.oracle.trials)]
    seeds = [t for t in trials if not t.hyperparameters.values["parent_trial_id"]]
    children = [t for t in trials if t.hyperparameters.values["parent_trial_id"]]
    assert len(seeds) == 1 and len(children) == 5
    for child in children:
        values = child.hyperparameters.values
        parent = tuner.oracle.trials[values["parent_trial_id"]]
        assert parent.status == "COMPLETED"
        ops = json.loads(values["ops"])
        assert ops and all(op["op"] in morphism.MORPHISMS for op in ops)
        rebuilt = morphism.replay(trial_graph(parent), ops)
        assert rebuilt.architecture_key() == trial_graph(child).architecture_key()
    keys = {trial_graph(t).architecture_key() for t in trials}
    assert len(keys) == len(trials), "an architecture was proposed twice"


def test_children_start_from_their_parents_accuracy(searched):
    tuner, (xv, yv) = searched
    child = next(t for t in tuner.oracle.trials.values()
                 if t.hyperparameters.values["parent_trial_id"])
    parent = tuner.oracle.trials[child.hyperparameters.values["parent_trial_id"]]
    parent_model = tuner.load_model(parent)
    _, parent_accuracy = parent_model.evaluate(xv, yv, verbose=0)
    inherited = tuner.build_trial_model(child, xv[:256])
    inherited.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, child_accuracy = inherited.evaluate(xv, yv, verbose=0)
    assert parent_accuracy > 0.5  # far above chance (0.1)
    assert abs(child_accuracy - parent_accuracy) < 0.01


def test_oracle_state_is_json_with_history(searched):
    tuner, _ = searched
    with open(os.path.join(tuner.project_dir, "oracle.json")) as handle:
        state = json.load(handle)
    assert len(state["history"]) == 6
    assert state["problem"]["num_outputs"] == 10
    assert {row["status"] for row in state["history"]} == {"COMPLETED"}


def test_reloaded_oracle_breaks_ties_by_creation_order(searched, tmp_path, monkeypatch):
    """Whatever order the file system lists trials in, the best of equal scores is the first."""
    import shutil

    from keras_tuner.src.backend import io as keras_tuner_io

    tuner, _ = searched
    project = tmp_path / "p"
    shutil.copytree(tuner.project_dir, project)
    for trial_dir in project.glob("trial_*"):
        path = trial_dir / "trial.json"
        state = json.loads(path.read_text())
        state["score"] = 0.5  # every trial ties
        path.write_text(json.dumps(state))
    listed = keras_tuner_io.glob
    monkeypatch.setattr(keras_tuner_io, "glob", lambda pattern: sorted(listed(pattern), reverse=True))
    oracle = kerasauto.NetworkMorphismOracle(objective="val_accuracy", max_trials=6, seed=1)
    again = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p")
    ids = list(again.oracle.trials)
    assert ids == sorted(tuner.oracle.trials, key=int)
    assert again.oracle.get_best_trials(1)[0].trial_id == ids[0]


def _reloaded_oracle(searched, tmp_path):
    """A copy of the searched project's oracle, to change without touching the fixture."""
    import shutil

    tuner, _ = searched
    shutil.copytree(tuner.project_dir, tmp_path / "p")
    oracle = kerasauto.NetworkMorphismOracle(objective="val_accuracy", max_trials=60, seed=1)
    kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p")
    return oracle


@pytest.mark.parametrize("left, share, overhead", [
    (30.0, 10.0, 3.0), (14.0, 14.0, 3.0), (9.0, 9.0, 3.0),
    (19.0, 10.0, 3.0), (19.0, 19.0, 9.0)])  # 9 s left after it, where a trial needs 9.5 s
def test_the_last_trial_takes_the_time_left_rather_than_leave_a_stub(searched, tmp_path,
                                                                   monkeypatch, left, share,
                                                                   overhead):
    """Trials of 10 s: with 14 s left the next trial gets 14 s, not 10 s and a 4 s stub after it;
    nor does it leave time that no trial could use (an epoch and the overhead of a trial)."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.trial_seconds = 10.0
    for trial in oracle.trials.values():
        _report(trial, epoch_seconds=0.5, overhead_seconds=overhead)
    monkeypatch.setattr(oracle, "seconds_left", lambda: left)
    proposal = oracle.populate_space("0099")
    assert proposal["status"] == "RUNNING"
    assert proposal["values"]["trial_seconds"] == pytest.approx(share)


def test_no_trial_starts_that_could_not_train_one_epoch(searched, tmp_path, monkeypatch):
    """The time goes to final_fit instead (a 25-min run ended on a 17 s trial of 40 s epochs)."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.trial_seconds = 200.0
    for extra, trial in enumerate(oracle.trials.values()):
        _report(trial, epoch_seconds=40.0 + extra, overhead_seconds=0.0)  # as measured on Fashion
    monkeypatch.setattr(oracle, "seconds_left", lambda: 17.0)
    assert oracle.populate_space("0099")["status"] == "STOPPED"
    monkeypatch.setattr(oracle, "seconds_left", lambda: 50.0)
    assert oracle.populate_space("0099")["status"] == "RUNNING"


@pytest.mark.parametrize("left, status", [(3.0, "STOPPED"), (6.0, "RUNNING")])
def test_no_trial_starts_that_could_not_get_past_building_and_tracing(searched, tmp_path,
                                                                        monkeypatch, left, status):
    """Tiny digit models train an epoch in 0.3 s but spend ~4 s building, tracing, validating
    and saving on a slow 2-core machine: a 30 s search that started a trial with 0.8 s left
    ended 5.6 s late."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.trial_seconds = 5.0
    for trial in oracle.trials.values():
        _report(trial, epoch_seconds=0.3, overhead_seconds=4.0)
    monkeypatch.setattr(oracle, "seconds_left", lambda: left)
    assert oracle.populate_space("0099")["status"] == status


def test_near_the_deadline_only_the_roots_that_still_fit_are_grown(searched, tmp_path,
                                                                    monkeypatch):
    """With 6 s left, children of trials whose shortest trial took 12 s would overrun: the
    child comes from the one trial that fits (a 120 s search ended 7 s early instead)."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.trial_seconds = 20.0
    trials = list(oracle.trials.values())
    for trial in trials:
        _report(trial, epoch_seconds=2.0, overhead_seconds=10.0)
    _report(trials[-1], epoch_seconds=0.5, overhead_seconds=4.0)
    monkeypatch.setattr(oracle, "seconds_left", lambda: 6.0)
    proposal = oracle.populate_space("0099")
    assert proposal["status"] == "RUNNING"
    assert proposal["values"]["parent_trial_id"] == trials[-1].trial_id


def test_time_spent_proposing_counts_against_the_child(searched, tmp_path, monkeypatch):
    """Enough time before proposing, too little after it: the child is not started."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.trial_seconds = 5.0
    for trial in oracle.trials.values():
        _report(trial, epoch_seconds=0.3, overhead_seconds=4.0)
    clock = {"left": 6.0}
    monkeypatch.setattr(oracle, "seconds_left", lambda: clock["left"])
    propose = oracle._bayesian_proposal

    def slow_proposal(*args):
        candidate = propose(*args)
        clock["left"] = 3.0
        return candidate

    monkeypatch.setattr(oracle, "_bayesian_proposal", slow_proposal)
    assert oracle.populate_space("0099")["status"] == "STOPPED"


def _report(trial, **metrics) -> None:
    """Make ``trial`` report ``metrics`` as its latest values."""
    for name, value in metrics.items():
        steps = trial.metrics.get_history(name) if trial.metrics.exists(name) else []
        trial.metrics.update(name, value, step=max((o.step for o in steps), default=0) + 1)


def test_the_search_commits_to_augmented_data_once_a_trial_overfits(searched, tmp_path):
    """Plain data until a trial memorises its data; then new trials augment, morphs grow from
    augmented trials only, and an augmented trial ranks first though plain ones score higher."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.augment_loss_ratio = 3.0
    by_score = oracle.get_best_trials(6)
    for trial in by_score:
        _report(trial, augmented=0.0, loss=0.30, val_loss=0.33)  # all generalise
    assert oracle.populate_space("0099")["values"]["augment"] is False
    _report(by_score[-1], loss=0.01, val_loss=0.09)  # the worst trial memorised its data
    assert oracle.populate_space("0099")["values"]["augment"] is True
    assert oracle.get_best_trials(6) == by_score  # no augmented trial to prefer yet
    augmented = by_score[2]
    _report(augmented, augmented=1.0)
    assert oracle.get_best_trials(1) == [augmented]
    assert oracle.get_best_trials(6) == [augmented] + [t for t in by_score if t is not augmented]
    proposal = oracle.populate_space("0099")["values"]
    assert proposal["parent_trial_id"] == augmented.trial_id
    assert proposal["augment"] is True


def test_without_a_loss_ratio_every_trial_augments_and_scores_rank(searched, tmp_path):
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.augment_loss_ratio = 0.0
    by_score = oracle.get_best_trials(6)
    _report(by_score[-1], augmented=1.0)  # ignored: nothing to commit to
    assert oracle.populate_space("0099")["values"]["augment"] is True
    assert oracle.get_best_trials(6)[-1] is by_score[-1]


def test_a_verbose_search_says_once_that_it_commits_to_augmented_data(searched, tmp_path, capsys):
    """The switch changes what the search trains on and ranks first: a verbose user is told."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.augment_loss_ratio, oracle.verbose = 3.0, 1
    for trial in oracle.get_best_trials(6):
        _report(trial, augmented=0.0, loss=0.30, val_loss=0.33)
    capsys.readouterr()
    said, ids = [], []
    for loss, val_loss in [(0.30, 0.33), (0.01, 0.09), (0.01, 0.09)]:  # fits, memorises, again
        trial = oracle.create_trial("tuner0")
        _report(trial, augmented=float(trial.hyperparameters.values["augment"]), val_accuracy=0.5,
                loss=loss, val_loss=val_loss)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        said.append(capsys.readouterr().out)
        ids.append(trial.trial_id)
    assert "over-fitted" not in said[0]
    assert f"trial {ids[1]} over-fitted" in said[1] and "augmented data only" in said[1]
    assert "over-fitted" not in said[2]


def test_no_child_starts_that_could_not_train_one_epoch_of_its_parent(searched, tmp_path,
                                                                      monkeypatch):
    """Committed to augmented data, morphs grow from augmented trials only: a 60-min Fashion run
    started a 41 s trial of 122 s epochs because the plain seed's epochs had taken 23 s."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.trial_seconds, oracle.augment_loss_ratio = 400.0, 3.0
    by_score = oracle.get_best_trials(6)
    for trial in by_score:
        _report(trial, augmented=0.0, epoch_seconds=23.0, overhead_seconds=0.0)
    _report(by_score[-1], augmented=1.0, epoch_seconds=110.0)
    monkeypatch.setattr(oracle, "seconds_left", lambda: 41.5)
    assert oracle.populate_space("0099")["status"] == "STOPPED"
    monkeypatch.setattr(oracle, "seconds_left", lambda: 120.0)
    assert oracle.populate_space("0099")["values"]["parent_trial_id"] == by_score[-1].trial_id


def test_reloaded_oracle_continues_to_max_trials(searched, digits_float):
    tuner, (xv, yv) = searched
    x, y = digits_float
    oracle = kerasauto.NetworkMorphismOracle(objective="val_accuracy", max_trials=7, seed=1)
    again = kerasauto.MorphismTuner(oracle=oracle, directory=tuner.directory, project_name="p")
    assert len(again.oracle.trials) == 6
    again.search(x[:1300], y[:1300], validation_data=(xv, yv), epochs=1)
    assert len(again.oracle.trials) == 7
    keys = {trial_graph(t).architecture_key() for t in again.oracle.trials.values()}
    assert len(keys) == 7


def test_one_hot_labels_are_remembered_by_a_reloaded_tuner(tmp_path, digits_float):
    """Searched with one-hot labels, a tuner opened later still compiles for one-hot labels."""
    x, y = digits_float
    one_hot = keras.utils.to_categorical(y, 10)
    oracle = kerasauto.NetworkMorphismOracle(objective="val_accuracy", max_trials=1, seed=1)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p")
    tuner.search(x[:1300], one_hot[:1300], validation_data=(x[1300:], one_hot[1300:]), epochs=3)
    score = tuner.oracle.get_best_trials(1)[0].score
    assert score > 0.2  # chance is 0.1
    again = kerasauto.MorphismTuner(
        oracle=kerasauto.NetworkMorphismOracle(objective="val_accuracy", max_trials=1, seed=1),
        directory=str(tmp_path), project_name="p")
    _, accuracy = again.get_best_models(1)[0].evaluate(x[1300:], one_hot[1300:], verbose=0)
    assert accuracy == pytest.approx(score, abs=1e-6)


def test_search_whose_trials_all_fail_raises(tmp_path, digits_float, monkeypatch):
    x, y = digits_float

    def broken(self, *args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(keras.Model, "fit", broken)
    oracle = kerasauto.NetworkMorphismOracle(max_trials=2, seed=1)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path), project_name="p")
    with pytest.raises(RuntimeError, match="injected failure"):
        tuner.search(x[:200], y[:200], validation_data=(x[200:300], y[200:300]), epochs=1)


def test_gp_predictions_correlate_with_held_out_scores():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    graphs = [generators.cnn((28, 28, 1), 10)]
    while len(graphs) < 24:
        graphs += morphism.neighbours(graphs[int(rng.integers(len(graphs)))], rng, 1)
    # A smooth function of the architecture: wider and deeper is better.
    scores = np.array([np.log(g.num_params()) + 0.3 * g.depth() for g in graphs])
    summaries = [ArchitectureSummary(g) for g in graphs]
    order = rng.permutation(len(graphs))
    train, held_out = order[:16], order[16:]
    gp = ArchitectureGP().fit([summaries[i] for i in train], scores[train])
    mean, std = gp.predict([summaries[i] for i in held_out])
    assert (std > 0).all()
    assert spearmanr(mean, scores[held_out]).correlation > 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_distributed_search_chief_and_two_workers(tmp_path):
    port, max_trials = _free_port(), 5
    script = os.path.join(SCRIPTS, "distributed_search.py")
    base = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port),
                PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    chief = subprocess.Popen([sys.executable, script, str(tmp_path), str(max_trials)],
                             env=dict(base, KERASTUNER_TUNER_ID="chief"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(3)
    workers = [subprocess.Popen([sys.executable, script, str(tmp_path), str(max_trials)],
                                env=dict(base, KERASTUNER_TUNER_ID=f"worker{i}"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for i in range(2)]
    try:
        for worker in workers:
            _, err = worker.communicate(timeout=400)
            assert worker.returncode == 0, err.decode()[-3000:]
    finally:
        for process in workers + [chief]:
            if process.poll() is None:
                process.kill()
        chief.wait()
    ran = []
    for i in range(2):
        path = tmp_path / f"ran_by_worker{i}.txt"
        ran += path.read_text().split() if path.exists() else []
    assert len(ran) == len(set(ran)) == max_trials, ran  # each trial run by exactly one worker
    assert all((tmp_path / f"ran_by_worker{i}.txt").exists() for i in range(2))
    with open(tmp_path / "dist" / "oracle.json") as handle:
        state = json.load(handle)
    assert sorted(row["trial_id"] for row in state["history"]) == sorted(ran)
    assert all(row["status"] == "COMPLETED" for row in state["history"])
