"""The ``kerasauto`` command: search a folder of images, then predict, evaluate, export, report.

    kerasauto fit IMAGES_DIR --time-limit 1h --export model.keras
    kerasauto predict PROJECT IMAGES_DIR      # one "path<TAB>label" line per image
    kerasauto evaluate PROJECT IMAGES_DIR     # accuracy on a folder of class sub-folders
    kerasauto export PROJECT model.keras      # .keras / .h5 file, or a SavedModel directory
    kerasauto report PROJECT                  # trials.csv, trials.md, search_tree.png, ...

``IMAGES_DIR`` for ``fit`` and ``evaluate`` holds one sub-folder of images per class; the
sub-folders' names are the labels. ``PROJECT`` is the project directory ``fit`` wrote.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Sequence

DEFAULT_PROJECT = "kerasauto_project"
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str) -> float:
    """Seconds in ``"90"``, ``"90s"``, ``"30m"``, ``"1h"`` or ``"1h30m"``."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: give seconds (600), or e.g. 90s, 30m, 1h, 1h30m.")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600.0 + minutes * 60.0 + seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kerasauto", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="search an architecture for a folder of class sub-folders")
    fit.add_argument("images", help="folder with one sub-folder of images per class")
    fit.add_argument("--project", default=DEFAULT_PROJECT,
                     help=f"project directory (default: {DEFAULT_PROJECT}); an existing one resumes")
    fit.add_argument("--time-limit", type=parse_duration, default=None,
                     help="search time, e.g. 600, 30m, 1h (default: until --max-trials)")
    fit.add_argument("--max-trials", type=int, default=100)
    fit.add_argument("--epochs", type=int, default=None,
                     help="epochs per trial when there is no --time-limit")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--overwrite", action="store_true", help="start the project over")
    fit.add_argument("--export", metavar="PATH", help="then write the best model (.keras/.h5/dir)")
    fit.add_argument("--quiet", action="store_true", help="no progress lines")

    for name, help_text in (("predict", "print 'path<TAB>label' for every image under a folder"),
                            ("evaluate", "print the accuracy on a folder of class sub-folders")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("project", help="project directory written by 'kerasauto fit'")
        command.add_argument("images", help="folder of images")

    export = commands.add_parser("export", help="write the best model as a plain Keras model")
    export.add_argument("project", help="project directory written by 'kerasauto fit'")
    export.add_argument("path", help="a .keras or .h5 file, or a directory for a TF-Serving SavedModel")

    report = commands.add_parser("report", help="write the search report (tables and pictures)")
    report.add_argument("project", help="project directory written by 'kerasauto fit'")
    report.add_argument("--out", default=None, help="output folder (default: the project)")
    return parser


def _estimator(project: str, must_exist: bool, **kwargs):
    """The classifier (or regressor) of the project directory ``project``."""
    from kerasauto import ImageClassifier, ImageRegressor
    from kerasauto.tasks.image import TASK_FILE

    project = os.path.abspath(project)
    task_file = os.path.join(project, TASK_FILE)
    if must_exist and not os.path.exists(task_file):
        raise SystemExit(f"kerasauto: {project} is not a kerasauto project (no {TASK_FILE}); "
                         "run 'kerasauto fit' first.")
    task = "classification"
    if os.path.exists(task_file) and not kwargs.get("overwrite"):
        with open(task_file, encoding="utf-8") as handle:
            task = json.load(handle).get("task", task)
    kind = ImageRegressor if task == "regression" else ImageClassifier
    return kind(directory=os.path.dirname(project), project_name=os.path.basename(project), **kwargs)


def _export(clf, path: str) -> str:
    if path.lower().endswith((".keras", ".h5")):
        return clf.export_keras_model(path)
    return clf.export_saved_model(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "fit":
            clf = _estimator(args.project, False, max_trials=args.max_trials, seed=args.seed,
                             overwrite=args.overwrite, verbose=not args.quiet)
            clf.fit(args.images, time_limit=args.time_limit, epochs=args.epochs)
            best = clf.tuner.oracle.get_best_trials(1)[0]
            print(f"best validation score {best.score:.4f} (trial {best.trial_id}); "
                  f"project {os.path.abspath(args.project)}")
            if args.export:
                print(f"exported {_export(clf, args.export)}")
        elif args.command == "predict":
            from kerasauto.image_folder import read_image_folder

            clf = _estimator(args.project, True)
            shape = clf.input_shape_
            folder = read_image_folder(args.images, "images", shape, labelled=False)
            for path, label in zip(folder.paths, clf.predict(folder.images)):
                print(f"{path}\t{label}")
        elif args.command == "evaluate":
            print(f"{_estimator(args.project, True).evaluate(args.images):.6g}")
        elif args.command == "export":
            print(f"exported {_export(_estimator(args.project, True), args.path)}")
        elif args.command == "report":
            for path in _estimator(args.project, True).search_report(args.out):
                print(path)
    except (ValueError, TypeError) as error:  # bad input: named by the library's message
        print(f"kerasauto {args.command}: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # e.g. every trial failed, or nothing fitted yet
        print(f"kerasauto {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
