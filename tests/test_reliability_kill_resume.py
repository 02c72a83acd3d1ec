"""Kill and resume: a search killed with SIGKILL at chosen moments and started again.

Each scenario runs ``tests/scripts/reliability_search.py`` (``ImageClassifier(...).fit`` on
digits) in a subprocess, kills it with SIGKILL at planned points (during training, inside the
atomic write of ``oracle.json`` / ``tuner0.json`` / a checkpoint, right after a checkpoint lands),
then runs the same command again until it finishes. The scenarios run concurrently in a
module-scoped fixture (2 cores, most of a run is TensorFlow start-up); the tests then check
the invariants of the issue on what each scenario left behind.

The same fixture runs the determinism check: two fresh searches with the same seed, compared
trial by trial.
"""
from __future__ import annotations

import concurrent.futures
import glob
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "reliability_search.py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = "p"
RUN_TIMEOUT = 300.0
RNG = random.Random(20240611)  # the "random" kill delays, reproducible


# ---------------------------------------------------------------------------- plan of a scenario
@dataclass
class Kill:
    """One planned SIGKILL: ``pause`` arguments for the script, or a delay after a train_begin."""

    what: str
    args: tuple = ()
    after_train_begin: int = 0  # kill this long after the n-th train_begin of the run...
    delay: float = 0.0          # ...plus this many seconds (while that trial is still training)


@dataclass
class Scenario:
    name: str
    max_trials: int
    kills: list
    # Not 0: ImageClassifier(seed=0) draws a random seed (see test_seed_zero_is_a_seed), and a
    # scenario that restarts from scratch must propose the same trials again.
    seed: int = 3


@dataclass
class Outcome:
    scenario: Scenario
    directory: str
    events_file: str
    kills: list = field(default_factory=list)      # dicts: what, killed, at_kill (trial snapshot)
    final_returncode: int | None = None
    final_log: str = ""

    @property
    def project(self) -> str:
        return os.path.join(self.directory, PROJECT)


SCENARIOS = [
    # Passes every per-scenario invariant today: kills during training (random delay), inside
    # the atomic checkpoint write, and right after a checkpoint was renamed into place.
    Scenario("training_and_checkpoints", max_trials=3, kills=[
        Kill("during the training of trial 1 (trial 0 completed), at a random delay",
             after_train_begin=2, delay=round(RNG.uniform(0.2, 1.0), 2)),
        Kill("inside the atomic write of trial 1's checkpoint (temp file written, not renamed)",
             args=("--pause", "checkpoint.weights.h5:save_model:1")),
        Kill("right after trial 2's checkpoint was renamed into place, before the trial was "
             "recorded (trial 1 completed)", args=("--pause-after-checkpoint", "2")),
    ]),
    # Inside Oracle.end_trial: trial_1/trial.json already says COMPLETED, oracle.json is being
    # replaced (the one on disk still lists trial 1 as ongoing).
    Scenario("oracle_save_in_end_trial", max_trials=2, kills=[
        Kill("inside the atomic write of oracle.json in end_trial, after trial 1 completed",
             args=("--pause", "oracle.json:end_trial:2")),
    ]),
    # The tuner0.json write after trial 0 completed (the first one happens at start-up, before
    # any trial, so that a project killed early is still recognised and reloaded).
    Scenario("first_tuner_save", max_trials=2, kills=[
        Kill("inside the atomic write of tuner0.json after trial 0 completed",
             args=("--pause", "tuner0.json:*:2")),
    ]),
    # Inside Oracle.create_trial: trial_1/trial.json (RUNNING) is written, oracle.json is being
    # replaced (the one on disk still has trial 1's architecture among the pending seeds).
    Scenario("oracle_save_in_create_trial", max_trials=3, kills=[
        Kill("inside the atomic write of oracle.json in create_trial, creating trial 1",
             args=("--pause", "oracle.json:create_trial:2")),
    ]),
]
SCENARIO_NAMES = [s.name for s in SCENARIOS]
DETERMINISM_SEED = 5
DETERMINISM_TRIALS = 4


# ---------------------------------------------------------------------------- helpers
def read_events(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    events = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(json.loads(line))
            except ValueError:  # a line cut by SIGKILL
                pass
    return events


def sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def trial_files(project: str) -> dict[str, dict]:
    """trial_id -> parsed trial.json (raises if one does not parse)."""
    trials = {}
    for path in sorted(glob.glob(os.path.join(project, "trial_*", "trial.json"))):
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        trials[state["trial_id"]] = state
    return trials


def snapshot(project: str) -> dict[str, dict]:
    """The completed trials on disk: score and checkpoint checksum."""
    out = {}
    for trial_id, state in trial_files(project).items():
        if state["status"] == "COMPLETED":
            checkpoint = os.path.join(project, f"trial_{trial_id}", "checkpoint.weights.h5")
            out[trial_id] = {"score": state["score"],
                             "sha256": sha256(checkpoint) if os.path.exists(checkpoint) else None}
    return out


def state_problems(project: str) -> list[str]:
    """JSON files that do not parse and checkpoints that are not HDF5 (temp files excepted)."""
    problems = []
    for root, _, files in os.walk(project):
        for name in files:
            path = os.path.join(root, name)
            if name.startswith(".tmp-"):
                continue
            try:
                if name.endswith(".json"):
                    with open(path, encoding="utf-8") as handle:
                        json.load(handle)
                elif name.endswith(".h5"):
                    with open(path, "rb") as handle:
                        if handle.read(8) != b"\x89HDF\r\n\x1a\n":
                            problems.append(f"{path}: not HDF5")
            except ValueError as error:
                problems.append(f"{path}: {error}")
    return problems


def run_script(directory: str, events_file: str, max_trials: int, seed: int = 0,
               extra: tuple = (), kill: Kill | None = None, one_thread: bool = True) -> dict:
    """Run the search script; with ``kill``, SIGKILL it at that point. Returns what happened."""
    start = len(read_events(events_file))
    cmd = [sys.executable, SCRIPT, directory, "--project", PROJECT, "--max-trials", str(max_trials),
           "--epochs", "1", "--seed", str(seed), "--events", events_file, *extra]
    if kill is not None:
        cmd += list(kill.args)
    log_path = f"{events_file}.log"
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    if one_thread:  # the concurrent kill scenarios share the two cores without oversubscription
        env.update(OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n==== {' '.join(cmd[1:])}\n")
        log.flush()
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        started = time.time()
        killed = missed = False
        while process.poll() is None:
            if time.time() - started > RUN_TIMEOUT:
                process.kill()
                process.wait()
                raise AssertionError(f"{cmd} did not finish in {RUN_TIMEOUT} s")
            reached = kill is not None and _kill_point_reached(read_events(events_file)[start:], kill)
            if reached:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                killed, missed = reached == "reached", reached == "missed"
                break
            time.sleep(0.02)
    pauses = [e for e in read_events(events_file)[start:] if e["event"] == "pause"]
    # A kill inside an atomic write must find the complete temp file, not yet renamed.
    tmp_left = os.path.exists(pauses[0]["tmp"]) if pauses and "tmp" in pauses[0] else None
    with open(log_path, encoding="utf-8") as handle:
        tail = handle.read()[-3000:]
    return {"returncode": process.returncode, "killed": killed, "missed": missed,
            "tmp_left": tmp_left,
            "events": read_events(events_file)[start:], "log": tail}


def _kill_point_reached(events: list[dict], kill: Kill) -> str | None:
    """"reached", "missed" (the trial to kill in ended first) or None (not yet)."""
    if kill.args:
        return "reached" if any(e["event"] == "pause" for e in events) else None
    begins = [i for i, e in enumerate(events) if e["event"] == "train_begin"]
    if len(begins) < kill.after_train_begin:
        return None
    index = begins[kill.after_train_begin - 1]
    if any(e["event"] in ("done", "finished") for e in events[index + 1:]):
        return "missed"
    return "reached" if time.time() >= events[index]["time"] + kill.delay else None


def run_scenario(scenario: Scenario, base: str) -> Outcome:
    directory = os.path.join(base, scenario.name)
    outcome = Outcome(scenario, directory, os.path.join(base, f"{scenario.name}.events"))
    for kill in scenario.kills:
        result = run_script(directory, outcome.events_file, scenario.max_trials, scenario.seed,
                            kill=kill)
        project = os.path.join(directory, PROJECT)
        outcome.kills.append({"what": kill.what, "killed": result["killed"],
                              "missed": result["missed"], "returncode": result["returncode"],
                              "tmp_left": result["tmp_left"], "write": "--pause" in kill.args,
                              "log": result["log"], "at_kill": snapshot(project),
                              "problems": state_problems(project)})
    final = run_script(directory, outcome.events_file, scenario.max_trials, scenario.seed)
    outcome.final_returncode, outcome.final_log = final["returncode"], final["log"]
    return outcome


def run_plain(directory: str, events_file: str) -> dict:
    """A plain search with TensorFlow's default threading, as a user would run it."""
    result = run_script(directory, events_file, DETERMINISM_TRIALS, DETERMINISM_SEED,
                        one_thread=False)
    return {**result, "directory": directory}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every scenario, plus two plain searches for the determinism test, run concurrently."""
    base = str(tmp_path_factory.mktemp("kill_resume"))
    started = time.time()
    order = [SCENARIOS[0], "determinism_a", "determinism_b", SCENARIOS[3], SCENARIOS[1],
             SCENARIOS[2]]  # the longest jobs first
    assert len(order) == len(SCENARIOS) + 2
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {}
        for job in order:
            if isinstance(job, Scenario):
                futures[job.name] = pool.submit(run_scenario, job, base)
            else:
                futures[job] = pool.submit(run_plain, os.path.join(base, job),
                                           os.path.join(base, f"{job}.events"))
        results = {name: future.result() for name, future in futures.items()}
    results["seconds"] = time.time() - started
    print(f"\nkill/resume scenarios and determinism runs: {results['seconds']:.0f} s")
    return results


# ---------------------------------------------------------------------------- the invariants
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_kill_point_was_reached_and_the_rerun_finished(outcomes, name):
    outcome = outcomes[name]
    for kill in outcome.kills:
        assert not kill["missed"], f"the trial ended before the kill: {kill['what']}"
        assert kill["killed"], f"never reached: {kill['what']}\n{kill['log']}"
        assert kill["returncode"] == -signal.SIGKILL
        if kill["write"]:
            assert kill["tmp_left"], f"not killed inside the write: {kill['what']}"
    assert outcome.final_returncode == 0, outcome.final_log
    assert read_events(outcome.events_file)[-1]["event"] == "finished"


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_state_on_disk_is_whole_at_every_kill(outcomes, name):
    """Right after each SIGKILL: every JSON file parses and every checkpoint is HDF5 (the
    file being replaced is still the old, complete one)."""
    for kill in outcomes[name].kills:
        assert kill["problems"] == [], kill["what"]
    assert state_problems(outcomes[name].project) == []


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_no_completed_trial_runs_again(outcomes, name):
    """No run after a kill starts a trial whose trial.json said COMPLETED at that kill."""
    outcome = outcomes[name]
    runs: dict[int, list[str]] = {}  # pid -> trials started, in the order the runs happened
    for event in read_events(outcome.events_file):
        runs.setdefault(event["pid"], [])
        if event["event"] == "start":
            runs[event["pid"]].append(event["trial"])
    started = list(runs.values())
    assert len(started) == len(outcome.kills) + 1
    for index, kill in enumerate(outcome.kills):
        again = sorted(set(started[index + 1]) & set(kill["at_kill"]))
        assert not again, f"after the kill {kill['what']!r}, completed trials {again} ran again"


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_completed_trials_and_their_weights_survive(outcomes, name):
    """A trial COMPLETED at a kill keeps its status, score and checkpoint bytes, which load.

    (Where a completed trial is wrongly trained again, its retraining is bit-identical here:
    seeded initialisation and one TensorFlow thread. test_no_completed_trial_runs_again is the
    check that catches the retraining itself.)
    """
    import keras

    from kerasauto.graph import Graph

    outcome = outcomes[name]
    final_trials = trial_files(outcome.project)
    completed_at_some_kill = {}
    for kill in outcome.kills:
        completed_at_some_kill.update(kill["at_kill"])
    assert completed_at_some_kill, "no trial had completed at any kill: the test would be vacuous"
    for trial_id, before in completed_at_some_kill.items():
        after = final_trials[trial_id]
        assert after["status"] == "COMPLETED"
        assert after["score"] == before["score"], f"trial {trial_id}'s score changed"
        checkpoint = os.path.join(outcome.project, f"trial_{trial_id}", "checkpoint.weights.h5")
        assert sha256(checkpoint) == before["sha256"], f"trial {trial_id}'s weights were rewritten"
    for trial_id, state in final_trials.items():
        if state["status"] == "COMPLETED":
            keras.backend.clear_session()
            model = Graph.from_json(state["hyperparameters"]["values"]["architecture"]).build()
            model.load_weights(os.path.join(outcome.project, f"trial_{trial_id}",
                                            "checkpoint.weights.h5"))


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_search_ends_at_its_limit_with_every_trial_finished(outcomes, name):
    outcome = outcomes[name]
    with open(os.path.join(outcome.project, "oracle.json"), encoding="utf-8") as handle:
        json.load(handle)
    trial_dirs = glob.glob(os.path.join(outcome.project, "trial_*"))
    assert len(trial_dirs) == outcome.scenario.max_trials
    statuses = {i: s["status"] for i, s in trial_files(outcome.project).items()}
    assert len(statuses) == outcome.scenario.max_trials
    assert set(statuses.values()) == {"COMPLETED"}, statuses


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_no_architecture_is_trained_twice(outcomes, name):
    from kerasauto.graph import Graph

    keys = {}
    for trial_id, state in trial_files(outcomes[name].project).items():
        key = Graph.from_json(state["hyperparameters"]["values"]["architecture"]).architecture_key()
        assert key not in keys, f"trials {keys.get(key)} and {trial_id} have one architecture"
        keys[key] = trial_id


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_best_model_is_exportable_after_kills(outcomes, name, digits, tmp_path):
    import keras

    import kerasauto
    from kerasauto.graph import Graph

    outcome = outcomes[name]
    clf = kerasauto.ImageClassifier(directory=outcome.directory, project_name=PROJECT)
    path = clf.export_keras_model(str(tmp_path / "best.keras"))
    loaded = keras.models.load_model(path, safe_mode=True)
    x = digits[0][:64].astype("float32")
    exported = loaded.predict(x, verbose=0)
    np.testing.assert_allclose(exported, clf.predict_proba(x), rtol=1e-5, atol=1e-6)
    # ...and it is the best completed trial's own checkpoint.
    best = max((s for s in trial_files(outcome.project).values() if s["status"] == "COMPLETED"),
               key=lambda s: s["score"])
    model = Graph.from_json(best["hyperparameters"]["values"]["architecture"]).build()
    model.load_weights(os.path.join(outcome.project, f"trial_{best['trial_id']}",
                                    "checkpoint.weights.h5"))
    np.testing.assert_allclose(exported, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_running_a_finished_search_again_trains_nothing(outcomes, digits, tmp_path, monkeypatch):
    """The same script run once more on the finished project (a copy of it) trains nothing."""
    import shutil

    import kerasauto
    from kerasauto.tuners.network_morphism import MorphismTuner

    outcome = outcomes["training_and_checkpoints"]
    copy = tmp_path / "copy"
    shutil.copytree(outcome.directory, copy)
    trained = []

    def run_trial(self, trial, *args, **kwargs):
        trained.append(trial.trial_id)
        raise RuntimeError("a finished search trained a trial again")

    monkeypatch.setattr(MorphismTuner, "run_trial", run_trial)
    clf = kerasauto.ImageClassifier(directory=str(copy), project_name=PROJECT,
                                    max_trials=outcome.scenario.max_trials,
                                    seed=outcome.scenario.seed)
    clf.fit(*digits, epochs=1)
    assert trained == []


# ---------------------------------------------------------------------------- determinism
def _trial_sequence(directory: str) -> list[tuple]:
    trials = trial_files(os.path.join(directory, PROJECT))
    return [(trials[i]["hyperparameters"]["values"]["architecture"],
             trials[i]["hyperparameters"]["values"]["parent_trial_id"],
             trials[i]["hyperparameters"]["values"]["ops"], trials[i]["score"])
            for i in sorted(trials, key=int)]


def test_same_seed_same_data_same_architectures(outcomes):
    """Two fresh processes, seed 5, 4 trials, default threading: the same architectures (and
    scores) in the same order (no op determinism or global seed needed), and seed 0 is a
    seed like any other: see test_seed_zero_is_a_seed."""
    a, b = outcomes["determinism_a"], outcomes["determinism_b"]
    assert a["returncode"] == 0 and b["returncode"] == 0, a["log"] + b["log"]
    first, second = _trial_sequence(a["directory"]), _trial_sequence(b["directory"])
    assert len(first) == len(second) == DETERMINISM_TRIALS
    assert any(parent for _, parent, _, _ in first), "no proposal after the seeds was compared"
    for index, (one, two) in enumerate(zip(first, second)):
        assert one[:3] == two[:3], f"trial {index}: another architecture was proposed"
        assert one[3] == two[3], f"trial {index}: same architecture, another score"


def test_seed_zero_is_a_seed(tmp_path, digits, monkeypatch):
    import kerasauto
    from kerasauto.tuners.network_morphism import MorphismTuner

    monkeypatch.setattr(MorphismTuner, "search", lambda self, *a, **k: None)
    seeds = []
    for index in range(3):
        clf = kerasauto.ImageClassifier(directory=str(tmp_path / str(index)), project_name=PROJECT,
                                        max_trials=2, seed=0)
        clf.fit(*digits, epochs=1)
        seeds.append(clf.tuner.oracle.seed)
    assert seeds == [0, 0, 0]
