"""One worker of the 2-process MultiWorkerMirroredStrategy test (run by test_distribution.py).

Reads TF_CONFIG, trains a linear model_fn through the Estimator facade with
RunConfig(train_distribute=MultiWorkerMirroredStrategy()), and writes what it observed (hook
calls, final weights, global step) as JSON to argv[2]. The model_fn's training_chief_hooks
count their after_run calls in this JSON; only the chief should have any.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_spec as ks  # noqa: E402
from adapters import Estimator, RunConfig  # noqa: E402

GLOBAL_BATCH, STEPS, LR = 8, 6, 0.1
RS = np.random.RandomState(7)
X = RS.randn(GLOBAL_BATCH * STEPS, 3).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)


class CountingHook(ks.hooks.SessionRunHook):
    def __init__(self, counts, key):
        self.counts, self.key = counts, key

    def after_run(self, run_context, run_values):
        self.counts[self.key] = self.counts.get(self.key, 0) + 1


def main(model_dir: str, out_path: str) -> None:
    counts: dict = {}
    strategy = tf.distribute.MultiWorkerMirroredStrategy()

    def model_fn(features, labels, mode, params):
        w = tf.compat.v1.get_variable("w", initializer=tf.zeros([3, 1]))
        b = tf.compat.v1.get_variable("b", initializer=tf.zeros([1]))
        pred = tf.matmul(features["x"], w) + b
        loss = tf.reduce_mean(tf.square(pred - labels))
        train_op = tf.compat.v1.train.GradientDescentOptimizer(LR).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step())
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                training_chief_hooks=[CountingHook(counts, "chief_hook")],
                                training_hooks=[CountingHook(counts, "every_worker_hook")])

    def input_fn():
        return tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).batch(GLOBAL_BATCH,
                                                                        drop_remainder=True)

    config = RunConfig(model_dir=model_dir, train_distribute=strategy,
                       save_checkpoints_steps=3, save_summary_steps=0)
    estimator = Estimator(model_fn, config=config)
    estimator.train(input_fn, steps=STEPS)
    with open(out_path, "w") as f:
        json.dump({"is_chief": config.is_chief, "counts": counts,
                   "replicas": strategy.num_replicas_in_sync,
                   "w": estimator.get_variable_value("w").tolist(),
                   "b": estimator.get_variable_value("b").tolist(),
                   "global_step": int(estimator.get_variable_value("global_step"))}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
