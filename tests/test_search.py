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
    """The issue's plain keras-tuner example, on digits: 4 trials, 2 epochs each."""
    x, y = digits_float
    oracle = kerasauto.NetworkMorphismOracle(objective="val_accuracy", max_trials=4, seed=1)
    tuner = kerasauto.MorphismTuner(oracle=oracle, directory=str(tmp_path_factory.mktemp("s")),
                                    project_name="p")
    tuner.search(x[:1300], y[:1300], validation_data=(x[1300:], y[1300:]), epochs=2)
    return tuner, (x[1300:], y[1300:])


def test_plain_keras_tuner_usage(searched, capsys):
    tuner, (xv, yv) = searched
    best = tuner.get_best_models(1)[0]
    assert isinstance(best, keras.Model)
    _, accuracy = best.evaluate(xv, yv, verbose=0)
    assert accuracy > 0.85
    tuner.results_summary(2)
    assert "Score" in capsys.readouterr().out
    assert len(tuner.oracle.trials) == 4


def test_proposals_after_seeds_are_morphs_of_trained_trials(searched):
    tuner, _ = searched
    trials = [tuner.oracle.trials[i] for i in sorted(tuner.oracle.trials)]
    seeds = [t for t in trials if not t.hyperparameters.values["parent_trial_id"]]
    children = [t for t in trials if t.hyperparameters.values["parent_trial_id"]]
    assert len(seeds) == 1 and len(children) == 3
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
    assert len(state["history"]) == 4
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


def _report(trial, **metrics) -> None:
    """Make ``trial`` report ``metrics`` as its latest values."""
    for name, value in metrics.items():
        steps = trial.metrics.get_history(name) if trial.metrics.exists(name) else []
        trial.metrics.update(name, value, step=max((o.step for o in steps), default=0) + 1)


def _timed_oracle(searched, tmp_path, budget: float = 1000.0, elapsed: float = 100.0,
                  epoch_seconds: float = 10.0, overhead_seconds: float = 1.0):
    """The searched project's oracle, as if ``elapsed`` seconds into a ``budget``-second search
    whose trials measured these costs."""
    oracle = _reloaded_oracle(searched, tmp_path)
    oracle.budget_seconds, oracle.started = budget, time.time() - elapsed
    for trial in oracle.trials.values():
        _report(trial, epoch_seconds=epoch_seconds, overhead_seconds=overhead_seconds,
                epochs_before=0.0, epochs_trained=3.0, seconds=30.0)
    return oracle


def _finish(oracle, score: float, **metrics):
    """Create the oracle's next trial and end it with ``score`` (and ``metrics``)."""
    trial = oracle.create_trial("tuner0")
    assert trial.status == "RUNNING", trial.status
    _report(trial, val_accuracy=score, **metrics)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    return oracle.trials[trial.trial_id]


def test_a_time_limited_search_probes_children_and_the_parent_then_the_best_goes_on(
        searched, tmp_path):
    oracle = _timed_oracle(searched, tmp_path)
    head = oracle.lineage_head()
    probes = [_finish(oracle, score, validation_count=1000.0, epoch_seconds=10.0, seconds=4.0)
              for score in (0.90, 0.95, 0.91, 0.80)]
    kinds = [json.loads(p.hyperparameters.values["ops"]) for p in probes]
    assert all(p.hyperparameters.values["role"] == "probe" for p in probes)
    assert all(p.hyperparameters.values["parent_trial_id"] == head.trial_id for p in probes)
    assert all(kinds[:3]) and kinds[3] == []  # 3 children, then the parent continuing
    assert all(p.hyperparameters.values["budget_epochs"] == oracle.growth.probe_epochs
               for p in probes)
    stage = oracle.create_trial("tuner0").hyperparameters.values
    assert stage["role"] == "stage" and not stage["final"]
    assert stage["parent_trial_id"] == probes[1].trial_id and json.loads(stage["ops"]) == []
    assert stage["architecture"] == probes[1].hyperparameters.values["architecture"]
    assert stage["budget_epochs"] >= oracle.growth.stage_epochs
    # Durations, not clock times: the stage trains until the decay starts, at most.
    assert 0 < stage["budget_seconds"] <= 1000 * (1 - oracle.decay_fraction) - 100
    assert not any("deadline" in key for key in stage)


@pytest.mark.parametrize("parent_lead, parent_moved, grows",
                         [(0.005, 0.0, True), (0.05, 0.0, False), (0.05, 0.06, True),
                          (0.05, -0.06, True)])
def test_a_child_within_the_measurements_error_of_the_parent_is_preferred(
        searched, tmp_path, parent_lead, parent_moved, grows):
    """1 000 validation images measure 0.9 with a standard error of ~0.0095: a child 0.005 below
    the parent continuing is as good as it, and brings capacity; 0.05 below it is worse, unless
    the parent's own score moved more than that in its probe (snapshot noise: either way)."""
    oracle = _timed_oracle(searched, tmp_path)
    oracle.lineage_head().score = 0.9 - parent_moved  # the score at the end of the stage
    scores = (0.9 - parent_lead, 0.85, 0.84, 0.9)
    probes = [_finish(oracle, score, validation_count=1000.0) for score in scores]
    winner = oracle.create_trial("tuner0").hyperparameters.values["parent_trial_id"]
    assert winner == (probes[0] if grows else probes[3]).trial_id


def test_growth_ends_where_the_final_decay_begins(searched, tmp_path):
    """With less time before the decay than the probes would take (4 x 3.5 s), the network
    trains on to the time limit instead (the last stage of the plan)."""
    oracle = _timed_oracle(searched, tmp_path, elapsed=660.0)  # the decay starts in ~7 s
    trial = oracle.create_trial("tuner0")
    final = trial.hyperparameters.values
    assert final["role"] == "stage" and final["final"] and json.loads(final["ops"]) == []
    assert final["budget_seconds"] == pytest.approx(340.0, abs=2.0)
    assert final["budget_epochs"] == 0  # until its time is up
    _report(trial, val_accuracy=0.97)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert oracle.populate_space("0099")["status"] == "STOPPED"


def test_stages_lengthen_when_trial_overheads_make_probes_dear(searched, tmp_path):
    """Losing probes keep within probe_share of the training time, overheads included."""
    oracle = _timed_oracle(searched, tmp_path, epoch_seconds=10.0, overhead_seconds=0.0)
    head = oracle.lineage_head()
    assert oracle._stage_epochs(head) == pytest.approx(oracle.growth.stage_epochs)
    _report(head, overhead_seconds=5.0)  # a probe: 2.5 s of training and 5 s of overhead
    stage = oracle._stage_epochs(head)
    assert stage == pytest.approx(3 * oracle.growth.stage_epochs)
    growth = oracle.growth
    lost = growth.children * oracle._probe_seconds(head)
    assert lost / (stage * 10.0 + (growth.children + 1) * oracle._probe_seconds(head)) \
        == pytest.approx(growth.probe_share)


def test_children_are_kept_affordable_in_the_time_left(searched, tmp_path):
    """A child must still be able to train as many epochs as its lineage has had."""
    oracle = _timed_oracle(searched, tmp_path, elapsed=500.0, epoch_seconds=10.0)
    head = oracle.lineage_head()
    cost = trial_graph(head).multiply_adds()
    assert oracle._affordable_cost(head) == pytest.approx(cost * (500.0 / 10.0) / 3.0, rel=1e-3)
    children = oracle._children(head, oracle._completed_trials())
    assert children and all(c.graph.multiply_adds() <= oracle._affordable_cost(head)
                            for c in children)


def test_the_summary_counts_the_probes_that_lost(searched, tmp_path):
    oracle = _timed_oracle(searched, tmp_path)
    for score in (0.90, 0.95, 0.91, 0.80):
        _finish(oracle, score, validation_count=1000.0, seconds=4.0)
    oracle.create_trial("tuner0")  # the winner's stage
    summary = oracle.summary()
    assert summary["growth_points"] == 1
    assert summary["losing_probe_seconds"] == pytest.approx(12.0)
    assert summary["losing_probe_share"] == pytest.approx(
        12.0 / (len(searched[0].oracle.trials) * 30.0 + 16.0))  # each searched trial: 30 s


def test_reloaded_oracle_continues_to_max_trials(searched, digits_float):
    tuner, (xv, yv) = searched
    x, y = digits_float
    oracle = kerasauto.NetworkMorphismOracle(objective="val_accuracy", max_trials=5, seed=1)
    again = kerasauto.MorphismTuner(oracle=oracle, directory=tuner.directory, project_name="p")
    assert len(again.oracle.trials) == 4
    again.search(x[:1300], y[:1300], validation_data=(xv, yv), epochs=1)
    assert len(again.oracle.trials) == 5
    keys = {trial_graph(t).architecture_key() for t in again.oracle.trials.values()}
    assert len(keys) == 5


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
    port, max_trials = _free_port(), 4
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
