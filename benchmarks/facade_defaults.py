"""Estimator facade vs tf.estimator, both with DEFAULT RunConfig (issues 7 and 14).

Runs the same TF1 model_fns (benchmarks/model_fns.py) through `Estimator.train` with a default
RunConfig (checkpoints every 600 s and at the end, summaries and loss logs every 100 steps):
`train(steps=100)` to warm up, then the wall time of `train(steps=N)`, which includes what
tf.estimator's own train() did around the steps (restore the latest checkpoint, build/trace,
save at the end), for the model_fn as is and with hooks in its training_hooks (a
LoggingTensorHook every 100 steps; that plus StopAtStepHook; a user hook fetching the loss every
step); then evaluate() and predict() examples/s of the trained model. Run it with this repo's Python (`--stack keras-spec`, the default) and with a
TF 2.15 + tensorflow-estimator Python (`--stack tf-estimator`); prints one JSON line.

    python -m benchmarks.facade_defaults
    /path/to/tf215/bin/python benchmarks/facade_defaults.py --stack tf-estimator
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import tensorflow as tf  # noqa: E402

import model_fns  # noqa: E402  (TF-only, shared with the tf.estimator subprocess)

CASES = {  # name: (model_fn, params, data, batch size, measured steps)
    "mlp_classifier": (model_fns.mlp_model_fn, model_fns.MLP_PARAMS, model_fns.mlp_data, 32, 3000),
    "bench": (model_fns.bench_model_fn, model_fns.BENCH_PARAMS, model_fns.bench_data, 128, 600),
}


def _stack(name: str):
    """(spec module, Estimator class) of the stack under test."""
    if name == "tf-estimator":
        import tensorflow_estimator as tf_estimator  # pylint: disable=g-import-not-at-top
        estimator = tf_estimator.estimator
        return estimator, estimator.Estimator
    import keras_spec  # pylint: disable=g-import-not-at-top
    from adapters import Estimator  # pylint: disable=g-import-not-at-top
    return keras_spec, Estimator


class EveryStepHook(tf.compat.v1.train.SessionRunHook):
    """A user hook with an unknown schedule: fetches the loss at every step (issue 14)."""

    def __init__(self, loss):
        self.loss, self.total = loss, 0.0

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self.loss)

    def after_run(self, run_context, run_values):
        self.total += float(run_values.results)


def with_training_hooks(model_fn, make_hooks):
    """model_fn whose TRAIN spec also has make_hooks(loss) as training_hooks."""
    def wrapped(features, labels, mode, params):
        spec = model_fn(features, labels, mode, params)
        if mode != model_fns.SPEC.ModeKeys.TRAIN:
            return spec
        return model_fns.SPEC.EstimatorSpec(mode=mode, loss=spec.loss, train_op=spec.train_op,
                                            training_hooks=make_hooks(spec.loss))
    return wrapped


# name: make_hooks(loss) for the spec's training_hooks (None: the model_fn unchanged)
HOOKS = {
    "default": None,
    "logging_hook": lambda loss: [tf.compat.v1.train.LoggingTensorHook({"loss": loss},
                                                                        every_n_iter=100)],
    "standard_hooks": lambda loss: [
        tf.compat.v1.train.LoggingTensorHook({"loss": loss}, every_n_iter=100),
        tf.compat.v1.train.StopAtStepHook(last_step=10 ** 9)],
    "user_hook_every_step": lambda loss: [EveryStepHook(loss)],
}


def _train_rate(estimator_class, model_fn, params, input_fn, steps) -> tuple[float, float]:
    estimator = estimator_class(model_fn, model_dir=tempfile.mkdtemp(), params=params)
    start = time.perf_counter()
    estimator.train(input_fn, steps=100)
    first = time.perf_counter() - start
    start = time.perf_counter()
    estimator.train(input_fn, steps=steps)
    return steps / (time.perf_counter() - start), first, estimator


def _median(values: list) -> float:
    return sorted(values)[len(values) // 2]


def measure(stack: str, reps: int, quick: bool = False) -> dict:
    """Train steps/s per hook configuration (interleaved: every rep visits each once), then
    evaluate and predict examples/s of the trained default model."""
    spec, estimator_class = _stack(stack)
    model_fns.SPEC = spec
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("keras_spec").setLevel(logging.ERROR)
    results = {}
    for name, (model_fn, params, data, batch, steps) in CASES.items():
        steps = max(100, steps // 10) if quick else steps
        x, y = data()

        def input_fn():
            return (tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat()
                    .batch(batch, drop_remainder=True))

        def eval_input_fn():
            return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(batch,
                                                                          drop_remainder=True)

        def predict_input_fn():
            return tf.data.Dataset.from_tensor_slices({"x": x}).batch(batch, drop_remainder=True)

        rates: dict = {hooks: [] for hooks in HOOKS}
        first, evals, predicts, trained = [], [], [], None
        for _ in range(reps):
            for hooks, make_hooks in HOOKS.items():
                fn = model_fn if make_hooks is None else with_training_hooks(model_fn, make_hooks)
                rate, first_s, estimator = _train_rate(estimator_class, fn, params, input_fn,
                                                       steps)
                rates[hooks].append(rate)
                if make_hooks is None:
                    first.append(first_s)
                    trained = estimator
            examples = (len(x) // batch) * batch
            trained.evaluate(eval_input_fn)  # restore + first trace once, then timed
            start = time.perf_counter()
            trained.evaluate(eval_input_fn)
            evals.append(examples / (time.perf_counter() - start))
            list(trained.predict(predict_input_fn))
            start = time.perf_counter()
            count = sum(1 for _ in trained.predict(predict_input_fn))
            predicts.append(count / (time.perf_counter() - start))
        results[name] = {
            "train_steps_per_s": _median(rates["default"]),
            "first_train_100_steps_s": _median(first),
            "reps": rates["default"],
            "hooks": {hooks: {"train_steps_per_s": _median(r), "reps": r}
                      for hooks, r in rates.items()},
            "evaluate_examples_per_s": _median(evals),
            "predict_examples_per_s": _median(predicts),
            "eval_reps": evals, "predict_reps": predicts,
        }
    return {"stack": stack, "tensorflow": tf.__version__, "cases": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", choices=["keras-spec", "tf-estimator"], default="keras-spec")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the steps (smoke run)")
    args = parser.parse_args()
    print(json.dumps(measure(args.stack, args.reps, args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
