"""A TPUEstimator-era model_fn trained under a tf.distribute strategy (TPUStrategy on a TPU).

The model_fn returns a TPUEstimatorSpec with `eval_metrics` (metric_fn runs once on every
replica's tensors, concatenated) and a `host_call` that writes summaries; it reads
`params['batch_size']` (the per-replica batch size, as TPUEstimator gave it) and wraps its
optimizer in CrossShardOptimizer, as TPU code did. Data: a generated 4-class problem.

Run:  python examples/tpu_train.py --strategy mirrored   # 2 replicas on this CPU
      python examples/tpu_train.py --strategy tpu [--tpu NAME]
      python examples/tpu_train.py --strategy default
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from adapters import startup  # noqa: E402  (imports no TensorFlow)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", choices=["tpu", "mirrored", "default"], default="mirrored")
    parser.add_argument("--tpu", default=None, help="TPU name or address (with --strategy tpu)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--steps-per-execution", type=int, default=10)
    parser.add_argument("--model-dir", default=None)
    return parser


if __name__ == "__main__":
    build_parser().parse_args()  # --help and usage errors answer before TensorFlow loads
tf = startup.import_tensorflow()  # without the CUDA "error" line on CPU-only machines

import numpy as np  # noqa: E402

import keras_spec as ks  # was: tf.compat.v1.estimator.tpu.TPUEstimatorSpec  # noqa: E402
from adapters import SpecModel  # noqa: E402
from adapters.strategies import NoTPUFoundError, make_strategy  # noqa: E402

GLOBAL_BATCH = 64


def metric_fn(labels, logits):
    predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
    return {
        "accuracy": tf.compat.v1.metrics.accuracy(labels, predicted),
        "mean_per_class_accuracy": tf.compat.v1.metrics.mean_per_class_accuracy(
            labels, predicted, 4),
    }


def model_fn(features, labels, mode, params):
    x = features["x"]
    with tf.compat.v1.variable_scope("mlp"):
        w1 = tf.compat.v1.get_variable("w1", [8, 32], initializer=tf.compat.v1.glorot_uniform_initializer(seed=1))
        b1 = tf.compat.v1.get_variable("b1", [32], initializer=tf.compat.v1.zeros_initializer())
        w2 = tf.compat.v1.get_variable("w2", [32, 4], initializer=tf.compat.v1.glorot_uniform_initializer(seed=2))
        b2 = tf.compat.v1.get_variable("b2", [4], initializer=tf.compat.v1.zeros_initializer())
        logits = tf.matmul(tf.nn.relu(tf.matmul(x, w1) + b1), w2) + b2
    if mode == ks.ModeKeys.PREDICT:
        return ks.TPUEstimatorSpec(mode, predictions={"class": tf.argmax(logits, axis=1)})
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    loss = tf.reduce_sum(per_example) / params["batch_size"]  # per-replica mean, TPU style
    if mode == ks.ModeKeys.EVAL:
        return ks.TPUEstimatorSpec(mode, loss=loss, eval_metrics=(metric_fn, [labels, logits]))
    optimizer = tf.compat.v1.tpu.CrossShardOptimizer(
        tf.compat.v1.train.GradientDescentOptimizer(params["learning_rate"]))
    global_step = tf.compat.v1.train.get_global_step()
    train_op = optimizer.minimize(loss, global_step=global_step)
    summary_dir = params["summary_dir"]

    def host_call_fn(gs, loss):
        with tf.summary.create_file_writer(summary_dir).as_default():
            tf.summary.scalar("loss", tf.reduce_mean(loss), step=gs[0])
        return tf.compat.v1.summary.all_v2_summary_ops()

    return ks.TPUEstimatorSpec(mode, loss=loss, train_op=train_op, host_call=(
        host_call_fn, [tf.reshape(global_step, [1]), tf.reshape(loss, [1])]))


def make_data(seed: int, examples: int) -> tf.data.Dataset:
    rs = np.random.RandomState(seed)
    x = rs.randn(examples, 8).astype(np.float32)
    y = np.argmax(x[:, :4] + 0.3 * rs.randn(examples, 4), axis=1).astype(np.int32)
    # TPUs need static shapes: drop_remainder=True, as TPUEstimator input_fns did.
    return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(GLOBAL_BATCH,
                                                                    drop_remainder=True)


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.strategy == "mirrored" and not tf.config.list_physical_devices("GPU"):
        # No GPU: two logical CPU devices stand in for two accelerators (before TF starts).
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    try:
        strategy = make_strategy(args.strategy, tpu=args.tpu)
    except NoTPUFoundError as error:
        sys.exit(f"error: {error}")
    model_dir = args.model_dir or tempfile.mkdtemp(prefix="keras_spec_tpu_")
    params = {"learning_rate": 0.5, "summary_dir": os.path.join(model_dir, "host_call")}
    with strategy.scope():
        model = SpecModel(model_fn, params=params)
        model.compile(steps_per_execution=args.steps_per_execution)
    replicas = strategy.num_replicas_in_sync
    print(f"strategy={args.strategy} replicas={replicas} per-replica batch="
          f"{GLOBAL_BATCH // replicas}")
    model.fit(make_data(0, GLOBAL_BATCH * args.steps).repeat(), epochs=1,
              steps_per_epoch=args.steps, verbose=0)
    results = model.evaluate(make_data(1, GLOBAL_BATCH * 8), return_dict=True, verbose=0)
    results["global_step"] = int(model.get_variable_value("global_step"))
    print({k: round(float(v), 4) for k, v in results.items()})
    model.save_checkpoint(model_dir)
    print(f"checkpoint and host_call summaries in {model_dir}")
    return results


if __name__ == "__main__":
    main()
