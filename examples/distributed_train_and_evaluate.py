"""A tf.estimator train_and_evaluate script for a TF_CONFIG cluster, run by keras-spec.

The same file runs in every process of the cluster; TF_CONFIG (set by Kubeflow's TFJob, Cloud
ML Engine / Vertex AI, TonY, or examples/launch_local_cluster.py) says which task it is:

    TF_CONFIG='{"cluster": {"chief": ["host0:2222"], "worker": ["host1:2222"],
                            "ps": ["host2:2222"], "evaluator": ["host3:2222"]},
                "task": {"type": "worker", "index": 0}}'

- with `ps` tasks: parameter-server training (the chief coordinates, workers run the steps,
  variables live on the ps tasks); without: pass --sync for synchronous all-reduce training
  (RunConfig(train_distribute=tf.distribute.MultiWorkerMirroredStrategy()));
- the `evaluator` evaluates each new checkpoint and exports the model (LatestExporter);
- every process exits when training is over.

Below the imports this is what a tf.estimator 2.15 user wrote, with one line added (install()).
Run one process per task, or all of them on this machine with:
    python examples/launch_local_cluster.py --workers 1 --ps 1 --evaluator
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from adapters import startup  # noqa: E402  (imports no TensorFlow)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="shared by every task")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--sync", action="store_true",
                        help="MultiWorkerMirroredStrategy (a cluster without ps tasks)")
    return parser


if __name__ == "__main__":
    build_parser().parse_args()  # --help and usage errors answer before TensorFlow loads
tf = startup.import_tensorflow()  # without the CUDA "error" line on CPU-only machines

import numpy as np  # noqa: E402

import adapters.estimator; adapters.estimator.install()  # noqa: E402,E702  the one added line


def make_data(n: int, seed: int):
    """A noisy 3-class problem on 4 features (no download)."""
    rs = np.random.RandomState(seed)
    centers = np.array([[2, 0, 0, 1], [-2, 1, 0, 0], [0, -2, 2, 0]], np.float32)
    labels = rs.randint(0, 3, n)
    x = centers[labels] + rs.normal(0, 0.8, (n, 4)).astype(np.float32)
    return x.astype(np.float32), labels.astype(np.int64)


def model_fn(features, labels, mode, params):
    with tf.compat.v1.variable_scope("hidden"):
        w1 = tf.compat.v1.get_variable("kernel", [4, 16])
        b1 = tf.compat.v1.get_variable("bias", [16], initializer=tf.zeros_initializer())
    with tf.compat.v1.variable_scope("logits"):
        w2 = tf.compat.v1.get_variable("kernel", [16, 3])
        b2 = tf.compat.v1.get_variable("bias", [3], initializer=tf.zeros_initializer())
    logits = tf.matmul(tf.nn.relu(tf.matmul(features["x"], w1) + b1), w2) + b2
    classes = tf.argmax(logits, axis=1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={
            "class": classes, "probabilities": tf.nn.softmax(logits)})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "accuracy": tf.compat.v1.metrics.accuracy(labels, classes)})
    train_op = tf.compat.v1.train.AdagradOptimizer(params["learning_rate"]).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def main() -> None:
    args = build_parser().parse_args()
    logging.getLogger("keras_spec").setLevel(logging.INFO)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    x_train, y_train = make_data(4096, seed=0)
    x_eval, y_eval = make_data(512, seed=1)

    def train_input_fn(params, input_context=None):
        dataset = tf.data.Dataset.from_tensor_slices(({"x": x_train}, y_train))
        if input_context and input_context.num_input_pipelines > 1:  # this worker's share
            dataset = dataset.shard(input_context.num_input_pipelines,
                                    input_context.input_pipeline_id)
        return dataset.shuffle(1024).repeat().batch(params["batch_size"], drop_remainder=True)

    def eval_input_fn():
        return tf.data.Dataset.from_tensor_slices(({"x": x_eval}, y_eval)).batch(128)

    def serving_input_receiver_fn():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        return tf.estimator.export.ServingInputReceiver({"x": x}, {"x": x})

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if args.sync else None
    config = tf.estimator.RunConfig(model_dir=args.model_dir, train_distribute=strategy,
                                    save_checkpoints_steps=100, save_summary_steps=50,
                                    log_step_count_steps=50)
    estimator = tf.estimator.Estimator(model_fn, config=config,
                                       params={"learning_rate": 0.3, "batch_size": 32})
    train_spec = tf.estimator.TrainSpec(train_input_fn, max_steps=args.max_steps)
    eval_spec = tf.estimator.EvalSpec(
        eval_input_fn, steps=None, name="holdout", start_delay_secs=0, throttle_secs=5,
        exporters=[tf.estimator.LatestExporter("classifier", serving_input_receiver_fn)])
    tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    if config.task_type == "evaluator":
        final = estimator.evaluate(eval_input_fn, name="holdout_final")
        print(f"final accuracy {final['accuracy']:.3f} at step {final['global_step']}",
              flush=True)


if __name__ == "__main__":
    main()
