"""Text benchmark: kerasauto's TextClassifier against TF-IDF character n-grams + LinearSVC, on
Debian's Japanese man pages (label: the manual section) and English fortunes (label: the topic
file), on the same stratified 80/20 splits.

    python benchmarks/text_compare.py --dataset manpages_ja --budget 300 --seeds 0,1,2

Appends one JSON line per (dataset, seed, system) to ``benchmarks/results/text_results.jsonl``
and prints them. The search gets the whole budget as ``fit(time_limit=budget)``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from text_corpora import load_fortunes, load_manpages_ja  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                       "text_results.jsonl")
#: The issue's baseline settings per dataset (analyzer, n-gram range).
BASELINES = {"manpages_ja": ("char", (1, 3)), "fortunes18": ("char_wb", (2, 5))}
LOADERS = {"manpages_ja": load_manpages_ja, "fortunes18": load_fortunes}


def linear_svc(x_train, y_train, x_test, y_test, dataset: str) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    analyzer, ngrams = BASELINES[dataset]
    started = time.perf_counter()
    model = make_pipeline(TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams,
                                          sublinear_tf=True, min_df=2), LinearSVC())
    model.fit(x_train, y_train)
    accuracy = float(np.mean(model.predict(x_test) == np.asarray(y_test)))
    return {"system": "tfidf_linearsvc", "test_accuracy": accuracy,
            "seconds": time.perf_counter() - started}


def kerasauto_text(x_train, y_train, x_test, y_test, budget: float, seed: int,
                   workdir: str) -> dict:
    from kerasauto import TextClassifier

    started = time.perf_counter()
    clf = TextClassifier(directory=workdir, project_name=f"text_{seed}", overwrite=True,
                         seed=seed)
    clf.fit(x_train, y_train, time_limit=budget)
    fit_seconds = time.perf_counter() - started
    trials = clf.tuner.oracle.trials.values()
    best = clf.tuner.oracle.get_best_trials(1)[0]
    return {"system": "kerasauto", "test_accuracy": float(clf.evaluate(x_test, y_test)),
            "seconds": fit_seconds, "trials": len(trials),
            "completed": sum(t.status == "COMPLETED" for t in trials),
            "best_params": best.hyperparameters.values.get("num_params"),
            "tokenization": clf.tokenization_,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(LOADERS), required=True)
    parser.add_argument("--budget", type=float, default=300)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workdir", default="/tmp/kerasauto-text-bench")
    args = parser.parse_args()
    texts, labels = LOADERS[args.dataset]()
    print(f"{args.dataset}: {len(texts)} texts, {len(set(labels))} classes", flush=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for seed in (int(s) for s in args.seeds.split(",")):
        x_train, x_test, y_train, y_test = train_test_split(
            texts, labels, test_size=0.2, random_state=seed, stratify=labels)
        rows = [linear_svc(x_train, y_train, x_test, y_test, args.dataset),
                kerasauto_text(x_train, y_train, x_test, y_test, args.budget, seed,
                               args.workdir)]
        with open(RESULTS, "a", encoding="utf-8") as handle:
            for row in rows:
                row.update(run=stamp, dataset=args.dataset, seed=seed, budget=args.budget,
                           train=len(x_train), test=len(x_test))
                handle.write(json.dumps(row, default=str) + "\n")
                print(json.dumps(row, default=str), flush=True)


if __name__ == "__main__":
    main()
