"""A tf.estimator script, run by keras-spec with one line added (`install()`).

Everything below the imports is what a TF 1.x / TF 2.x (<= 2.15) user wrote: a model_fn with
tf.compat.v1 variables, losses, metrics, summaries and optimizer; input_fns returning
tf.data Datasets sized by `params['batch_size']`; `RunConfig`, `TrainSpec`/`EvalSpec`,
`train_and_evaluate` with a `FinalExporter`; then the exported SavedModel is loaded with plain
TensorFlow and asked to classify serialized tf.Examples, as TF Serving would.

Data: a generated loan-default problem (two numeric features, a noisy linear rule); no download.
Run: python examples/estimator_train_and_evaluate.py [--model-dir DIR] [--max-steps 600]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from adapters import startup  # noqa: E402  (imports no TensorFlow)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--max-steps", type=int, default=600)
    return parser


if __name__ == "__main__":
    build_parser().parse_args()  # --help and usage errors answer before TensorFlow loads
tf = startup.import_tensorflow()  # without the CUDA "error" line on CPU-only machines

import numpy as np  # noqa: E402

import adapters.estimator; adapters.estimator.install()  # noqa: E402,E702  the one added line

FEATURES = ["debt_ratio", "years_employed"]


def make_data(n: int, seed: int):
    rs = np.random.RandomState(seed)
    debt = rs.uniform(0, 1, n).astype(np.float32)
    years = rs.uniform(0, 20, n).astype(np.float32)
    logit = 6.0 * debt - 0.4 * years + 0.5 + rs.normal(0, 0.7, n)
    return {"debt_ratio": debt, "years_employed": years}, (logit > 0).astype(np.int64)


def dense(x, units, scope, activation=None):
    with tf.compat.v1.variable_scope(scope):
        w = tf.compat.v1.get_variable("kernel", [x.shape[-1], units],
                                      initializer=tf.compat.v1.glorot_uniform_initializer(seed=1))
        b = tf.compat.v1.get_variable("bias", [units], initializer=tf.compat.v1.zeros_initializer())
        y = tf.matmul(x, w) + b
        return activation(y) if activation else y


def model_fn(features, labels, mode, params):
    x = tf.stack([features["debt_ratio"], features["years_employed"] / 20.0], axis=1)
    hidden = dense(x, params["hidden_units"], "hidden", tf.nn.relu)
    logits = tf.squeeze(dense(hidden, 1, "logits"), axis=1)
    probability = tf.sigmoid(logits)
    predicted = tf.cast(probability > 0.5, tf.int64)
    if mode == tf.estimator.ModeKeys.PREDICT:
        scores = tf.stack([1.0 - probability, probability], axis=1)
        classes = tf.tile(tf.constant([["repaid", "default"]]), [tf.shape(scores)[0], 1])
        return tf.estimator.EstimatorSpec(
            mode, predictions={"probability": probability, "class": predicted},
            export_outputs={"serving_default": tf.estimator.export.ClassificationOutput(
                scores=scores, classes=classes)})
    loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "accuracy": tf.compat.v1.metrics.accuracy(labels, predicted),
            "auc": tf.compat.v1.metrics.auc(labels, probability)})
    global_step = tf.compat.v1.train.get_global_step()
    learning_rate = tf.compat.v1.train.exponential_decay(params["learning_rate"], global_step,
                                                         decay_steps=200, decay_rate=0.8)
    tf.compat.v1.summary.scalar("learning_rate", learning_rate)
    train_op = tf.compat.v1.train.AdamOptimizer(learning_rate).minimize(loss, global_step)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def make_input_fn(features, labels, training):
    def input_fn(params):
        dataset = tf.data.Dataset.from_tensor_slices((dict(features), labels))
        if training:
            dataset = dataset.shuffle(1000, seed=7).repeat()
        return dataset.batch(params["batch_size"])
    return input_fn


def serving_input_receiver_fn():
    feature_spec = {name: tf.io.FixedLenFeature([], tf.float32) for name in FEATURES}
    return tf.estimator.export.build_parsing_serving_input_receiver_fn(feature_spec)()


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    model_dir = args.model_dir or tempfile.mkdtemp(prefix="estimator_example_")

    train_x, train_y = make_data(4000, seed=0)
    eval_x, eval_y = make_data(1000, seed=1)
    config = tf.estimator.RunConfig(model_dir=model_dir, save_checkpoints_steps=200,
                                    tf_random_seed=42, log_step_count_steps=200)
    estimator = tf.estimator.Estimator(
        model_fn, config=config,
        params={"hidden_units": 16, "learning_rate": 0.05, "batch_size": 64})
    train_spec = tf.estimator.TrainSpec(make_input_fn(train_x, train_y, training=True),
                                        max_steps=args.max_steps)
    eval_spec = tf.estimator.EvalSpec(
        make_input_fn(eval_x, eval_y, training=False), steps=None,
        exporters=[tf.estimator.FinalExporter("loans", serving_input_receiver_fn)],
        throttle_secs=0)
    metrics, exports = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    print("evaluation:", {k: round(float(v), 4) for k, v in metrics.items()})

    # Serve the export with TensorFlow only: classify two applicants from tf.Example protos.
    served = tf.saved_model.load(exports[0])

    def example(debt, years):
        feature = {"debt_ratio": tf.train.Feature(float_list=tf.train.FloatList(value=[debt])),
                   "years_employed": tf.train.Feature(float_list=tf.train.FloatList(value=[years]))}
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    outputs = served.signatures["serving_default"](
        inputs=tf.constant([example(0.9, 1.0), example(0.1, 15.0)]))
    scores = outputs["scores"].numpy()
    print("served default probabilities:", scores[:, 1].round(3).tolist())
    return dict(metrics=metrics, export=exports[0].decode(), served_scores=scores,
                model_dir=model_dir)


if __name__ == "__main__":
    # tf.estimator logged through tf.compat.v1.logging; keras-spec logs to the "keras_spec" logger
    logging.basicConfig(format="%(levelname)s %(message)s")
    logging.getLogger("keras_spec").setLevel(logging.INFO)
    main()
