"""Standalone: the benchmark's model_fns under the real tf.estimator (TF <= 2.15).

Run with a Python that has tensorflow and tensorflow-estimator (e.g. TF 2.15.1 +
tensorflow-estimator 2.15.0); it imports nothing else from this repository except the TF-only
`model_fns.py` beside it (the very source the keras-spec side runs). Prints one JSON object on
stdout (logs go to stderr); on an import failure it prints {"error": ...} and exits 2.

    python benchmarks/estimator_script.py [--quick] [--cases bench,mlp_classifier,cnn]

Measured per case (same pipelines and batch sizes as the keras-spec side):
- time_to_first_step_s: Estimator construction to the end of the first training step's
  session.run (graph building, session creation, initialization, first checkpoint included);
- train_steps_per_s: from per-step timestamps (a SessionRunHook's after_run), steps after the
  warm-up only, over `--reps` separate train() calls (each resumes from the last checkpoint);
- eval/predict examples/s: a whole evaluate()/predict() call each, which in tf.estimator
  rebuilds the graph and restores the checkpoint every time (that cost is tf.estimator's).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time

try:
    import tensorflow as tf
    from tensorflow import estimator as tf_estimator  # tensorflow-estimator's public API
    _ = tf_estimator.Estimator
except Exception as e:  # pylint: disable=broad-except
    print(json.dumps({"error": f"cannot import tensorflow / tf.estimator: {type(e).__name__}: {e}",
                      "python": sys.executable}))
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_fns  # noqa: E402  (the TF-only module beside this script)

model_fns.SPEC = tf_estimator

CASES = {
    # name: (model_fn, params, data(), batch size, steps per train() call, eval batches)
    "bench": (model_fns.bench_model_fn, model_fns.BENCH_PARAMS, model_fns.bench_data, 128, 300, 64),
    "mlp_classifier": (model_fns.mlp_model_fn, model_fns.MLP_PARAMS, model_fns.mlp_data, 32, 2000, 256),
    "cnn": (model_fns.cnn_model_fn, model_fns.CNN_PARAMS, model_fns.cnn_data, 64, 300, 64),
}


class _StepClock(tf_estimator.SessionRunHook):
    """Timestamps after every training step's session.run."""

    def __init__(self):
        self.times: list[float] = []

    def after_run(self, run_context, run_values):
        self.times.append(time.perf_counter())


def _summary(values: list[float]) -> dict:
    if not values:
        return {"median": None, "min": None, "max": None, "reps": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "reps": values}


def run_case(name: str, quick: bool, reps: int) -> dict:
    model_fn, params, data, batch, steps, eval_batches = CASES[name]
    if quick:
        steps, eval_batches = 40, 4
    x, y = data()

    def train_input_fn():
        return (tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat()
                .batch(batch, drop_remainder=True))

    def eval_input_fn():
        return train_input_fn().take(eval_batches)

    def predict_input_fn():
        return (tf.data.Dataset.from_tensor_slices({"x": x}).repeat()
                .batch(batch, drop_remainder=True).take(eval_batches))

    warmup = max(1, steps // 10)
    rates, ttfs = [], []
    with tempfile.TemporaryDirectory() as model_dir:
        config = tf_estimator.RunConfig(
            model_dir=model_dir, save_checkpoints_steps=10**9, save_summary_steps=10**9,
            log_step_count_steps=10**9, keep_checkpoint_max=1)
        start = time.perf_counter()
        estimator = tf_estimator.Estimator(model_fn, params=dict(params), config=config)
        for rep in range(reps):
            clock = _StepClock()
            if rep:
                start = time.perf_counter()
            estimator.train(train_input_fn, steps=steps, hooks=[clock])
            ttfs.append(clock.times[0] - start)
            t = clock.times[warmup:]
            rates.append((len(t) - 1) / (t[-1] - t[0]))
        start = time.perf_counter()
        estimator.evaluate(eval_input_fn, steps=eval_batches)
        eval_rate = eval_batches * batch / (time.perf_counter() - start)
        start = time.perf_counter()
        n = sum(1 for _ in itertools.islice(estimator.predict(predict_input_fn),
                                            eval_batches * batch))
        predict_rate = n / (time.perf_counter() - start)
    return {
        "batch_size": batch,
        "train_steps_per_s": _summary(rates),
        # rep 0 is a fresh Estimator; later reps re-enter train() (graph rebuilt, checkpoint
        # restored): both are tf.estimator's "time to first step", reported separately.
        "time_to_first_step_s": _summary(ttfs[:1]),
        "time_to_first_step_resumed_s": _summary(ttfs[1:]),
        "eval_examples_per_s": _summary([eval_rate]),
        "predict_examples_per_s": _summary([predict_rate]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--reps", type=int, default=None)
    args = parser.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    cases = {}
    for name in [c for c in args.cases.split(",") if c]:
        if name not in CASES:
            print(json.dumps({"error": f"unknown case {name!r}; known: {sorted(CASES)}"}))
            return 2
        print(f"tf.estimator: {name}", file=sys.stderr, flush=True)
        cases[name] = run_case(name, args.quick, reps)
    try:
        from importlib import metadata  # pylint: disable=g-import-not-at-top
        estimator_version = metadata.version("tensorflow-estimator")
    except Exception:  # pylint: disable=broad-except
        estimator_version = None
    print(json.dumps({"tensorflow": tf.__version__, "estimator": estimator_version,
                      "python": sys.version.split()[0], "cases": cases}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
