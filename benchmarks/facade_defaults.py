"""Estimator facade vs tf.estimator, both with DEFAULT RunConfig (issue 7's last target).

Runs the same TF1 model_fns (benchmarks/model_fns.py) through `Estimator.train` with a default
RunConfig (checkpoints every 600 s and at the end, summaries and loss logs every 100 steps):
`train(steps=100)` to warm up, then the wall time of `train(steps=N)`, which includes what
tf.estimator's own train() did around the steps (restore the latest checkpoint, build/trace,
save at the end). Run it with this repo's Python (`--stack keras-spec`, the default) and with a
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


def measure(stack: str, reps: int) -> dict:
    spec, estimator_class = _stack(stack)
    model_fns.SPEC = spec
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("keras_spec").setLevel(logging.ERROR)
    results = {}
    for name, (model_fn, params, data, batch, steps) in CASES.items():
        x, y = data()

        def input_fn():
            return (tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat()
                    .batch(batch, drop_remainder=True))

        rates, first = [], []
        for _ in range(reps):
            estimator = estimator_class(model_fn, model_dir=tempfile.mkdtemp(), params=params)
            start = time.perf_counter()
            estimator.train(input_fn, steps=100)
            first.append(time.perf_counter() - start)
            start = time.perf_counter()
            estimator.train(input_fn, steps=steps)
            rates.append(steps / (time.perf_counter() - start))
        results[name] = {"train_steps_per_s": sorted(rates)[len(rates) // 2],
                         "first_train_100_steps_s": sorted(first)[len(first) // 2],
                         "reps": rates}
    return {"stack": stack, "tensorflow": tf.__version__, "cases": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", choices=["keras-spec", "tf-estimator"], default="keras-spec")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.stack, args.reps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
