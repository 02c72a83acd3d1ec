"""Compare kerasauto with baselines under the same data, split and wall budget.

Each system runs in a fresh subprocess (``benchmarks/run_system.py``), one
after the other, so none inherits another's memory, threads or compiled
graphs. Example::

    python benchmarks/compare.py --dataset digits --budget 60 \\
        --systems handwritten_cnn,random_search,bayesian

Results are appended to ``benchmarks/results/results.jsonl`` and
``benchmarks/RESULTS.md``; a plot of the best-so-far validation accuracy goes
to ``benchmarks/results/curves_<dataset>_<run id>.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

from harness import cpu_model, save_split, split_train_validation
from report import append_jsonl, append_markdown, last_probe, markdown_section, plot_curves

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
RUNNER = os.path.join(BENCH_DIR, "run_system.py")
SPEED_PROBE = os.path.join(BENCH_DIR, "speed_probe.py")
#: Seconds the speed probe may take before it is abandoned (it needs ~30-60 s).
SPEED_PROBE_TIMEOUT_S = 600.0
ALL_SYSTEMS = ("kerasauto", "kerasauto_no_inheritance", "random_search", "bayesian",
               "handwritten_cnn", "autokeras")
#: Variants run only when named in ``--systems``.
EXTRA_SYSTEMS = ("kerasauto_final_fit",)
#: Seconds a runner may exceed its budget (imports, evaluation, slow shutdown) before it is killed.
GRACE_S = 120.0
#: A system whose search + final training exceeds this multiple of the budget is flagged.
OVER_BUDGET_TOLERANCE = 1.05


@dataclass
class ChildOutcome:
    """How a runner subprocess ended, measured by the driver."""

    returncode: int
    wall_s: float
    peak_rss_mb: float
    timed_out: bool
    cpu_s: float
    other_cores: float | None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the driver."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "fashion"), default="digits")
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="wall seconds per system (search + final training)",
    )
    parser.add_argument(
        "--train-subset",
        type=int,
        default=None,
        help="use a seeded random subset of N training images",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--systems",
        default=None,
        help=f"comma list from {','.join(ALL_SYSTEMS + EXTRA_SYSTEMS)} (default: all but "
        f"{','.join(EXTRA_SYSTEMS)}; autokeras only with --autokeras-python)",
    )
    parser.add_argument(
        "--autokeras-python", default=None, help="interpreter of a virtualenv with AutoKeras"
    )
    parser.add_argument(
        "--fashion-path", default=None, help="directory of the Fashion-MNIST IDX files"
    )
    parser.add_argument(
        "--out", default=os.path.join(BENCH_DIR, "results"), help="results directory"
    )
    parser.add_argument(
        "--results-md",
        default=os.path.join(BENCH_DIR, "RESULTS.md"),
        help="Markdown file to append to",
    )
    parser.add_argument(
        "--label", default="", help="free text shown with the run, e.g. 'smoke run'"
    )
    parser.add_argument(
        "--keep-workdirs", action="store_true", help="keep each system's scratch directory"
    )
    parser.add_argument(
        "--no-speed-probe",
        action="store_true",
        help="skip timing the hand-written CNN on a fixed slice before the systems",
    )
    parser.add_argument(
        "--report-run",
        metavar="RUN_ID",
        help="only write the Markdown section and plot of a run interrupted before its end",
    )
    args = parser.parse_args(argv)
    args.systems = select_systems(parser, args)
    return args


def select_systems(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """Validate ``--systems`` against the known systems and ``--autokeras-python``."""
    if args.systems is None:
        return [s for s in ALL_SYSTEMS if s != "autokeras" or args.autokeras_python]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    known = ALL_SYSTEMS + EXTRA_SYSTEMS
    unknown = sorted(set(systems) - set(known))
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if "autokeras" in systems and not args.autokeras_python:
        parser.error("--systems autokeras needs --autokeras-python (see benchmarks/README.md)")
    return systems


def datasets_module() -> ModuleType:
    """Import ``kerasauto/datasets.py`` by path.

    Loading the file directly (not ``import kerasauto``) keeps the driver free
    of TensorFlow and independent of whether the rest of the package imports.
    """
    path = os.path.join(REPO_ROOT, "kerasauto", "datasets.py")
    spec = importlib.util.spec_from_file_location("_kerasauto_datasets", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare_data(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """Load the data set, make the fixed train/validation split, save it to ``path``.

    Returns the split's metadata (sizes, number of classes).
    """
    datasets = datasets_module()
    if args.dataset == "digits":
        (x_train, y_train), (x_test, y_test) = datasets.load_digits_images()
    else:
        (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(args.fashion_path)
    train_idx, val_idx = split_train_validation(len(x_train), args.seed, args.train_subset)
    meta = {
        "dataset": args.dataset,
        "num_classes": int(max(y_train.max(), y_test.max()) + 1),
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "n_test": len(x_test),
    }
    arrays = {
        "x_train": x_train[train_idx],
        "y_train": y_train[train_idx],
        "x_val": x_train[val_idx],
        "y_val": y_train[val_idx],
        "x_test": x_test,
        "y_test": y_test,
    }
    save_split(path, arrays, meta)
    return meta


def package_version(name: str) -> str:
    """Installed version of a distribution, or 'not installed'."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """Where the numbers come from: cores, CPU model, library versions."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "tensorflow": package_version("tensorflow"),
        "keras": package_version("keras"),
        "keras_tuner": package_version("keras-tuner"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def measure_speed(log_path: str, scratch: str) -> dict[str, Any]:
    """Run ``speed_probe.py`` in a fresh process: this machine's speed, comparable across runs.

    Returns the probe's JSON result, or ``{"speed_probe_error": ...}`` if it failed.
    """
    result_path = os.path.join(scratch, "speed_probe.json")
    command = [sys.executable, SPEED_PROBE, "--result", result_path]
    outcome = run_child(command, log_path, SPEED_PROBE_TIMEOUT_S, child_env())
    if outcome.returncode != 0 or not os.path.exists(result_path):
        return {"speed_probe_error": f"status {outcome.returncode}: {_log_tail(log_path)}"}
    with open(result_path, encoding="utf-8") as handle:
        return json.load(handle)


def run_child(
    command: list[str], log_path: str, timeout: float, env: dict[str, str]
) -> ChildOutcome:
    """Run ``command`` with output to ``log_path``; kill its process group after ``timeout`` s.

    ``os.wait4`` gives the resource usage of exactly this child (and the
    descendants it waited for), hence its own peak RSS.
    """
    started = time.monotonic()
    busy_before = busy_cpu_seconds()
    timed_out = False
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if not timed_out and time.monotonic() - started > timeout:
                timed_out = True
                _terminate_group(process.pid)
            time.sleep(0.5)
    wall_s = time.monotonic() - started
    busy_after = busy_cpu_seconds()
    returncode = os.waitstatus_to_exitcode(status)
    process.returncode = returncode  # reaped by wait4; tell Popen
    cpu_s = usage.ru_utime + usage.ru_stime
    other_cores = None
    if busy_before is not None and busy_after is not None and wall_s > 0:
        other_cores = round(max(0.0, busy_after - busy_before - cpu_s) / wall_s, 2)
    return ChildOutcome(
        returncode=returncode,
        wall_s=round(wall_s, 2),
        peak_rss_mb=round(usage.ru_maxrss / 1024.0, 1),
        timed_out=timed_out,
        cpu_s=round(cpu_s, 1),
        other_cores=other_cores,
    )


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes on the machine have used since boot (``/proc/stat``).

    Compared with the runner's own CPU time this shows how much the machine
    was shared with other work during a measurement.
    """
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _terminate_group(pid: int) -> None:
    """SIGTERM the runner's process group, SIGKILL it if still alive 10 s later."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)


def child_env() -> dict[str, str]:
    """Environment of a runner: quiet TensorFlow, the repository importable."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH", "")) if p)
    return env


def run_system(
    system: str, args: argparse.Namespace, data_path: str, scratch: str, log_path: str
) -> dict[str, Any]:
    """Run one system in a fresh subprocess and return its results row (without run fields)."""
    python = args.autokeras_python if system == "autokeras" else sys.executable
    result_path = os.path.join(scratch, f"{system}.json")
    workdir = tempfile.mkdtemp(prefix=f"{system}-", dir=scratch)
    command = [
        python, RUNNER, "--system", system, "--data", data_path, "--budget", str(args.budget),
        "--seed", str(args.seed), "--result", result_path, "--workdir", workdir,
    ]  # fmt: skip
    outcome = run_child(command, log_path, args.budget + GRACE_S, child_env())
    row: dict[str, Any] = {"system": system, "interpreter": python}
    if os.path.exists(result_path):
        with open(result_path, encoding="utf-8") as handle:
            row.update(json.load(handle))
    elif outcome.timed_out:
        row["error"] = (
            f"killed after {args.budget + GRACE_S:.0f} s (budget + {GRACE_S:.0f} s grace)"
        )
    else:
        row["error"] = (
            f"runner exited with status {outcome.returncode} and no result: {_log_tail(log_path)}"
        )
    spent = (row.get("search_s") or 0.0) + (row.get("final_s") or 0.0)
    if spent > OVER_BUDGET_TOLERANCE * args.budget:
        row["over_budget_s"] = round(spent - args.budget, 1)
    row.update(
        returncode=outcome.returncode,
        timed_out=outcome.timed_out,
        wall_s=outcome.wall_s,
        peak_rss_mb=outcome.peak_rss_mb,
        cpu_s=outcome.cpu_s,
        other_cores=outcome.other_cores,
        log=os.path.relpath(log_path, REPO_ROOT),
    )
    if args.keep_workdirs:
        row["workdir"] = workdir
    return row


def _log_tail(path: str, lines: int = 3) -> str:
    """Last non-empty lines of a log file, joined with ' / '."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            tail = [line.strip() for line in handle.readlines() if line.strip()][-lines:]
    except OSError:
        return "(no log)"
    return " / ".join(tail)[:500]


def print_summary(rows: list[dict[str, Any]]) -> None:
    """One line per system on stdout."""
    for row in rows:
        accuracy = row.get("test_accuracy")
        shown = f"{accuracy:.4f}" if isinstance(accuracy, float) else "–"
        status = f"ERROR {row['error']}" if row.get("error") else "ok"
        print(f"  {row['system']:<16} test acc {shown:<7} trials {row.get('trials')}  "
              f"wall {row['wall_s']:.0f}s  rss {row['peak_rss_mb']:.0f}MiB  {status}")  # fmt: skip


def write_report(rows: list[dict[str, Any]], run: dict[str, Any], args: argparse.Namespace) -> None:
    """Plot the run's curves and append its Markdown section."""
    plot_path: str | None = os.path.join(args.out, f"curves_{run['dataset']}_{run['run_id']}.png")
    if not plot_curves(plot_path, rows, run):
        plot_path = None
    results_md = args.results_md
    plot_link = (
        os.path.relpath(plot_path, os.path.dirname(os.path.abspath(results_md)))
        if plot_path
        else None
    )
    append_markdown(results_md, markdown_section(rows, run, plot_link))
    print(
        f"appended {len(rows)} row(s) to {os.path.join(args.out, 'results.jsonl')} and {results_md}"
    )


def report_interrupted_run(args: argparse.Namespace) -> int:
    """Write the Markdown section of a run stopped before its end, from its rows in results.jsonl."""
    with open(os.path.join(args.out, "results.jsonl"), encoding="utf-8") as handle:
        rows = [row for row in map(json.loads, handle) if row.get("run_id") == args.report_run]
    if not rows:
        raise SystemExit(f"no rows of run {args.report_run!r} in {args.out}/results.jsonl")
    run = dict(rows[0])
    run["label"] = f"{run.get('label') or ''} (interrupted; systems finished: "
    run["label"] += f"{', '.join(row['system'] for row in rows)})"
    write_report(rows, run, args)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Prepare the data once, run every selected system, append the results."""
    args = parse_args(argv)
    if args.report_run:
        return report_interrupted_run(args)
    now = dt.datetime.now(dt.UTC)
    run = {
        "run_id": now.strftime("%Y%m%dT%H%M%SZ"),
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "label": args.label,
        "dataset": args.dataset,
        "budget_s": args.budget,
        "seed": args.seed,
        "train_subset": args.train_subset,
        "machine": machine_info(),
    }
    logs_dir = os.path.join(args.out, "logs")
    os.makedirs(logs_dir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="kerasauto-bench-")
    rows: list[dict[str, Any]] = []
    try:
        data_path = os.path.join(scratch, "split.npz")
        run.update(prepare_data(args, data_path))
        print(
            f"{run['dataset']}: {run['n_train']} train / {run['n_val']} val / {run['n_test']} test;"
            f" budget {args.budget:g} s per system; systems: {', '.join(args.systems)}",
            flush=True,
        )
        if not args.no_speed_probe:
            print(f"[{time.strftime('%H:%M:%S')}] timing the hand-written CNN (speed probe) ...",
                  flush=True)
            probe_log = os.path.join(logs_dir, f"{run['run_id']}_speed_probe.log")
            previous = last_probe(os.path.join(args.out, "results.jsonl"))
            run["machine"].update(measure_speed(probe_log, scratch), previous_probe=previous)
            print(f"  speed probe: {run['machine'].get('cnn_epoch_s', '–')} s per 54k-image CNN epoch",
                  flush=True)
        for system in args.systems:
            print(f"[{time.strftime('%H:%M:%S')}] running {system} ...", flush=True)
            log_path = os.path.join(logs_dir, f"{run['run_id']}_{args.dataset}_{system}.log")
            row = {**run, **run_system(system, args, data_path, scratch, log_path)}
            rows.append(row)
            append_jsonl(os.path.join(args.out, "results.jsonl"), [row])
            print_summary([row])
    finally:
        if not args.keep_workdirs:
            shutil.rmtree(scratch, ignore_errors=True)
    write_report(rows, run, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
