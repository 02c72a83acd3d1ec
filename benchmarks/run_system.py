"""Run ONE benchmark system in this (fresh) process and write its result as JSON.

Started by ``compare.py``; not meant to be run by hand, though it can be::

    python benchmarks/run_system.py --system handwritten_cnn \\
        --data split.npz --budget 60 --seed 0 --result out.json --workdir /tmp/w

The budget clock starts after imports and data loading. Any exception is
caught and recorded in the result (``error``, ``traceback``) next to
whatever was measured before it; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from harness import Clock, load_split, peak_rss_mb_self, write_json  # noqa: E402
from systems import SYSTEMS, Bench  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the runner."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True, choices=sorted(SYSTEMS))
    parser.add_argument("--data", required=True, help=".npz written by compare.py")
    parser.add_argument("--budget", type=float, required=True, help="wall seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--result", required=True, help="where to write the JSON result")
    parser.add_argument("--workdir", required=True, help="scratch directory for the system")
    return parser.parse_args(argv)


def library_versions() -> dict[str, str]:
    """Versions of the ML libraries importable in this interpreter."""
    from importlib import metadata

    versions = {"python": sys.version.split()[0]}
    for name in ("tensorflow", "keras", "keras-tuner", "autokeras", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def short_error(exc: BaseException) -> str:
    """One-line description of an exception."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def main(argv: list[str] | None = None) -> int:
    """Load the data, seed everything, run the system, write the result."""
    args = parse_args(argv)
    started = time.monotonic()
    result: dict[str, Any] = {"system": args.system, "notes": [], "versions": library_versions()}
    status = 0
    try:
        import keras

        keras.utils.set_random_seed(args.seed)
        arrays, meta = load_split(args.data)
        bench = Bench(
            dataset=meta["dataset"],
            num_classes=int(meta["num_classes"]),
            seed=args.seed,
            workdir=args.workdir,
            **arrays,
        )
        result["startup_s"] = round(time.monotonic() - started, 2)
        SYSTEMS[args.system](bench, Clock(budget=args.budget), result)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a recorded fact
        result["error"] = short_error(exc)
        result["traceback"] = traceback.format_exc()[-4000:]
        print(result["traceback"], file=sys.stderr)
        status = 1
    result["runner_wall_s"] = round(time.monotonic() - started, 2)
    result["peak_rss_mb_self"] = round(peak_rss_mb_self(), 1)
    write_json(args.result, result)
    return status


if __name__ == "__main__":
    sys.exit(main())
