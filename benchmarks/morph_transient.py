"""How a morphed child's validation accuracy moves in its first training steps, against the
parent continuing unchanged, on the same batches (a paired comparison).

The search's growth points compare children with their parent after a short probe. This study
trains a seed network, then, from that one trained state (weights and Adam's moments), trains
the parent and single-op children of each morph kind for the same steps on the same batches
at the flat learning rate, and evaluates all of them at the same checkpoints. It shows whether a
child starts equal (function preservation), when it falls behind, and whether a variant of the
hand-over (``--variants``) closes the gap. Writes one JSON file.

    python benchmarks/morph_transient.py --train 20000 --seed-epochs 4
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=20000, help="training images")
    parser.add_argument("--val", type=int, default=5000, help="validation images")
    parser.add_argument("--seed-epochs", type=float, default=4.0)
    parser.add_argument("--steps", default="0,25,50,100,200,400",
                        help="checkpoints, in training steps after the morph")
    parser.add_argument("--per-kind", type=int, default=2, help="children per morph kind")
    parser.add_argument("--repeats", type=int, default=2,
                        help="batch orders the parent continues on (its own snapshot noise)")
    parser.add_argument("--variants", default="inherit",
                        help="comma list: inherit (today), fresh_adam (children's optimizer "
                             "restarted), slow_new (new weights' second moment x100)")
    parser.add_argument("--ema", type=float, default=0.0,
                        help="also evaluate an exponential moving average of the weights "
                             "(this momentum, e.g. 0.99), started at the morph")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1e-3)
    parser.add_argument("--out", default="")
    return parser.parse_args()


def _slow_new_weights(path: str, model, factor: float) -> None:
    """After optimizer_state.load: scale the second moment of every weight entry the parent
    did not have (they were filled with a mean), so that new weights start with small steps."""
    from kerasauto.engine import optimizer_state

    _, saved = optimizer_state._read(path)
    optimizer = model.optimizer
    for variable in model.trainable_variables:
        key = optimizer_state._weight_key(variable)
        for slot, target in optimizer_state._slots(optimizer, variable).items():
            if slot != "velocity":
                continue
            value = np.asarray(target)
            old = saved.get(f"{key}/{slot}")
            fresh = np.ones(value.shape, bool)
            if old is not None and old.ndim == value.ndim:
                fresh[tuple(slice(0, min(a, b)) for a, b in zip(old.shape, value.shape))] = False
            value = np.where(fresh, value * factor, value)
            target.assign(value.astype(target.dtype))


def main() -> None:
    args = _arguments()
    import keras

    from kerasauto import morphism
    from kerasauto.calibration import calibrate_batchnorms
    from kerasauto.datasets import load_fashion_mnist
    from kerasauto.engine import optimizer_state
    from kerasauto.preprocessing import preprocessing_specs, training_dataset
    from kerasauto.tuners.network_morphism import default_seeds

    (x, y), _ = load_fashion_mnist()
    x_train, y_train = x[:args.train], y[:args.train]
    x_val, y_val = x[-args.val:].astype(np.float32), y[-args.val:]
    checkpoints = sorted({int(s) for s in args.steps.split(",")})
    workdir = tempfile.mkdtemp(prefix="morph_transient_")
    optimizer_path = os.path.join(workdir, "optimizer.h5")

    def compiled(model):
        model.compile(optimizer=keras.optimizers.Adam(args.rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def evaluate(model) -> tuple[float, float]:
        loss, accuracy = model.evaluate(x_val, y_val, batch_size=1000, verbose=0)
        return float(accuracy), float(loss)

    class MovingAverage(keras.callbacks.Callback):
        """An exponential moving average of the trainable weights, from the morph on."""

        def __init__(self, model, momentum: float):
            super().__init__()
            self.momentum = momentum
            self.average = [np.array(v.numpy()) for v in model.trainable_variables]

        def on_train_batch_end(self, batch, logs=None):
            for average, variable in zip(self.average, self.model.trainable_variables):
                average *= self.momentum
                average += (1 - self.momentum) * variable.numpy()

    def evaluate_average(model, average: MovingAverage) -> tuple[float, float]:
        current = [np.array(v.numpy()) for v in model.trainable_variables]
        for variable, value in zip(model.trainable_variables, average.average):
            variable.assign(value)
        score = evaluate(model)
        for variable, value in zip(model.trainable_variables, current):
            variable.assign(value)
        return score

    # 1. the parent: the default seed trained at the flat rate
    started = time.perf_counter()
    graph = default_seeds(x.shape[1:], 10, preprocessing=preprocessing_specs(x_train))[0]
    keras.utils.set_random_seed(0)
    model = compiled(graph.build())
    data, steps_per_epoch = training_dataset(x_train, y_train, args.batch_size, ("translate",), 0)
    model.fit(data, steps_per_epoch=int(args.seed_epochs * steps_per_epoch), epochs=1, verbose=0)
    graph.update_weights(model)
    optimizer_state.save(optimizer_path, model)
    parent_score = evaluate(model)
    print(f"parent after {args.seed_epochs} epochs ({time.perf_counter() - started:.0f} s): "
          f"val accuracy {parent_score[0]:.4f}", flush=True)

    # 2. the contenders: the parent again, and single-op children of each kind
    rng = np.random.default_rng(0)
    contenders = [("continue", {}, f"order{r}") for r in range(args.repeats)]
    for kind in morphism.MORPHISMS:
        options = morphism.candidates(graph, kind)
        picks = rng.choice(len(options), size=min(args.per_kind, len(options)), replace=False)
        for index in picks:
            op = dict(options[int(index)], seed=int(rng.integers(2**31)))
            contenders.append((kind, op, "order0"))
    variants = args.variants.split(",")

    rows = []
    for name, op, order in contenders:
        for variant in (variants if op else ["inherit"]):
            keras.backend.clear_session()
            keras.utils.set_random_seed(1)
            child = morphism.apply(graph, op) if op else graph.copy()
            model = compiled(child.build())
            calibrate_batchnorms(model, child.fresh_batchnorms, x_train[:512])
            if variant != "fresh_adam":
                optimizer_state.load(optimizer_path, model)
            if variant == "slow_new":
                _slow_new_weights(optimizer_path, model, 100.0)
            average = MovingAverage(model, args.ema) if args.ema else None
            seed = 1000 + int(order[len("order"):])
            data, _ = training_dataset(x_train, y_train, args.batch_size, ("translate",), seed)
            curve, done = [], 0
            for step in checkpoints:
                if step > done:
                    model.fit(data, steps_per_epoch=step - done, epochs=1, verbose=0,
                              callbacks=[average] if average else [])
                    done = step
                accuracy, loss = evaluate(model)
                point = {"step": step, "val_accuracy": accuracy, "val_loss": loss}
                if args.ema:
                    point["ema_val_accuracy"], point["ema_val_loss"] = evaluate_average(model, average)
                curve.append(point)
            rows.append({"contender": name, "op": op, "order": order, "variant": variant,
                         "params": int(child.num_params()), "curve": curve})
            print(f"{name:12s} {variant:10s} {order}: "
                  + " ".join(f"{p['val_accuracy']:.4f}" for p in curve)
                  + ("  ema: " + " ".join(f"{p['ema_val_accuracy']:.4f}" for p in curve)
                     if args.ema else ""), flush=True)

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.out or os.path.join(os.path.dirname(__file__), "results",
                                   f"morph_transient_{stamp}.json")
    with open(out, "w") as handle:
        json.dump({"arguments": vars(args), "steps_per_epoch": steps_per_epoch,
                   "parent": {"val_accuracy": parent_score[0], "val_loss": parent_score[1]},
                   "rows": rows}, handle, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
