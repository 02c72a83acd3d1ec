"""Time the hand-written CNN on a fixed slice of work: how fast is this machine today?

Machines of the same kind differ: on 2026-12-01 one trained the hand-written CNN
~2.4x slower than the one behind the 2026-11-30 runs (164-217 s vs ~78 s per
Fashion-MNIST epoch), which moves every system's result at a fixed wall budget.
``compare.py`` runs this probe in a fresh process before the systems and records
its figure with the run, so results from different days can be compared::

    python benchmarks/speed_probe.py --images 2560 --repeats 4 --result probe.json

writes (and prints) one JSON object: seconds per 54 000-image epoch of the
hand-written CNN (batch 128, random 28x28x1 images), the median and every repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from harness import write_json  # noqa: E402

#: The probe's figure is scaled to an epoch of this many images (Fashion-MNIST's training split).
EPOCH_IMAGES = 54_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the probe."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2560, help="images per timed pass")
    parser.add_argument("--repeats", type=int, default=4, help="timed passes (after a warm-up)")
    parser.add_argument("--result", default=None, help="also write the JSON result here")
    args = parser.parse_args(argv)
    if args.images < 128 or args.repeats < 1:
        parser.error("--images must be >= 128 and --repeats >= 1")
    return args


def cnn_epoch_seconds(images: int, repeats: int) -> list[float]:
    """Seconds per ``EPOCH_IMAGES``-image epoch of the hand-written CNN, one per timed pass."""
    import keras
    import numpy as np

    from training import BATCH_SIZE, build_handwritten_cnn, compile_classifier

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(images, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, size=images)
    model = compile_classifier(build_handwritten_cnn((28, 28, 1), 10, flip=True), 1e-3)
    model.fit(x[:BATCH_SIZE * 2], y[:BATCH_SIZE * 2], batch_size=BATCH_SIZE, verbose=0)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
        seconds.append((time.perf_counter() - started) * EPOCH_IMAGES / images)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Run the probe and print its JSON line."""
    args = parse_args(argv)
    seconds = cnn_epoch_seconds(args.images, args.repeats)
    result = {
        "cnn_epoch_s": round(statistics.median(seconds), 1),
        "cnn_epoch_s_repeats": [round(s, 1) for s in seconds],
        "probe_images": args.images,
    }
    print(json.dumps(result))
    if args.result:
        write_json(args.result, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
