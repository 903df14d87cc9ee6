"""Main example: the TF 1.x getting-started Iris custom model_fn, run through keras-spec.

The model_fn below is written the tf.estimator way (tf.compat.v1 variables, losses, metrics,
summaries and optimizer; it returns an EstimatorSpec). Only the import of the spec classes
changed. It is trained with `SpecModel.fit`, evaluated, used for prediction, exported as a
SavedModel, and the export is reloaded in a fresh process (TensorFlow only) to serve a
prediction. Data: examples/data/iris.csv (Fisher's 150 flowers, shipped; no download).

Run: python examples/iris.py [--steps 400] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from adapters import startup  # noqa: E402  (imports no TensorFlow)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model-dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "output", "iris"))
    return parser


if __name__ == "__main__":
    build_parser().parse_args()  # --help and usage errors answer before TensorFlow loads
tf = startup.import_tensorflow()  # without the CUDA "error" line on CPU-only machines

import numpy as np  # noqa: E402

import keras_spec as ks  # was: import tensorflow as tf; tf.estimator.EstimatorSpec  # noqa: E402
from adapters import SpecModel  # noqa: E402

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SPECIES = ["setosa", "versicolor", "virginica"]
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "iris.csv")


def load_iris(seed: int = 7):
    """Fisher's Iris data, shuffled once and split 120 train / 30 test."""
    table = np.loadtxt(DATA, delimiter=",", skiprows=1, dtype=np.float32)
    order = np.random.RandomState(seed).permutation(len(table))
    table = table[order]
    features = {name: table[:, i] for i, name in enumerate(FEATURES)}
    labels = table[:, 4].astype(np.int32)
    split = lambda d, s: {k: v[s] for k, v in d.items()}  # noqa: E731
    return ((split(features, slice(0, 120)), labels[:120]),
            (split(features, slice(120, None)), labels[120:]))


def dense(inputs, units, scope, activation=None):
    with tf.compat.v1.variable_scope(scope):
        kernel = tf.compat.v1.get_variable(
            "kernel", [inputs.shape[-1], units],
            initializer=tf.compat.v1.glorot_uniform_initializer(seed=len(scope)))
        bias = tf.compat.v1.get_variable("bias", [units], initializer=tf.compat.v1.zeros_initializer())
        outputs = tf.matmul(inputs, kernel) + bias
        return activation(outputs) if activation else outputs


def iris_model_fn(features, labels, mode, params):
    """The classic custom Estimator model_fn (TF 1.x guide), unchanged but for imports."""
    net = tf.stack([features[name] for name in FEATURES], axis=1)
    for i, units in enumerate(params["hidden_units"]):
        net = dense(net, units, f"hidden{i}", activation=tf.nn.relu)
    logits = dense(net, params["n_classes"], "logits")
    predicted_classes = tf.argmax(logits, 1)
    if mode == ks.ModeKeys.PREDICT:
        predictions = {
            "class_ids": predicted_classes[:, tf.newaxis],
            "probabilities": tf.nn.softmax(logits),
            "logits": logits,
        }
        export_outputs = {
            "serving_default": ks.export_output.PredictOutput(predictions),
            "classification": ks.export_output.ClassificationOutput(
                scores=predictions["probabilities"],
                classes=tf.gather(tf.constant(SPECIES), predicted_classes)[:, tf.newaxis]),
        }
        return ks.EstimatorSpec(mode, predictions=predictions, export_outputs=export_outputs)

    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    accuracy = tf.compat.v1.metrics.accuracy(labels=labels, predictions=predicted_classes,
                                             name="acc_op")
    metrics = {"accuracy": accuracy}
    tf.compat.v1.summary.scalar("accuracy", accuracy[1])
    if mode == ks.ModeKeys.EVAL:
        return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)

    optimizer = tf.compat.v1.train.AdagradOptimizer(learning_rate=params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    tf.keras.utils.set_random_seed(7)  # the same initial weights and shuffles on every run

    (train_x, train_y), (test_x, test_y) = load_iris()
    train_ds = (tf.data.Dataset.from_tensor_slices((train_x, train_y))
                .shuffle(120, seed=1).repeat().batch(args.batch_size))
    test_ds = tf.data.Dataset.from_tensor_slices((test_x, test_y)).batch(args.batch_size)

    model = SpecModel(iris_model_fn, params={"hidden_units": [10, 10], "n_classes": 3,
                                             "learning_rate": 0.1})
    model.compile(steps_per_execution=20)
    tensorboard = tf.keras.callbacks.TensorBoard(os.path.join(args.model_dir, "logs"),
                                                 update_freq=50)
    model.fit(train_ds, epochs=4, steps_per_epoch=args.steps // 4, callbacks=[tensorboard],
              verbose=2)
    results = model.evaluate(test_ds, return_dict=True, verbose=0)
    print(f"\nTest set: accuracy = {results['accuracy']:.3f}, loss = {results['loss']:.4f}, "
          f"global_step = {int(model.get_variable_value('global_step'))}")

    samples = {"sepal_length": [5.1, 5.9, 6.9], "sepal_width": [3.3, 3.0, 3.1],
               "petal_length": [1.7, 4.2, 5.4], "petal_width": [0.5, 1.5, 2.1]}
    predict_ds = tf.data.Dataset.from_tensor_slices(
        {k: np.asarray(v, np.float32) for k, v in samples.items()}).batch(3)
    predictions = model.predict(predict_ds, verbose=0)
    for expected, class_id, probs in zip(SPECIES, predictions["class_ids"][:, 0],
                                         predictions["probabilities"]):
        print(f"Prediction is '{SPECIES[class_id]}' ({100 * probs[class_id]:.1f}%), "
              f"expected '{expected}'")

    # Export for serving (signatures from export_outputs), then serve from a fresh process that
    # imports only TensorFlow.
    receiver_fn = ks.export.build_raw_serving_input_receiver_fn(
        {name: tf.TensorSpec([None], tf.float32) for name in FEATURES})
    export_dir = model.export_saved_model(os.path.join(args.model_dir, "export"), receiver_fn)
    print(f"\nExported SavedModel to {export_dir}")
    served = serve_in_fresh_process(export_dir, {k: v[:1] for k, v in samples.items()})
    print(f"Served by a fresh TensorFlow process: class_ids={served['class_ids']}, "
          f"probabilities={[round(p, 3) for p in served['probabilities'][0]]}")
    results["served_class_id"] = served["class_ids"][0][0]
    return results


SERVE_SCRIPT = """
import json, sys
import tensorflow as tf
export_dir, inputs = sys.argv[1], json.loads(sys.argv[2])
serve = tf.saved_model.load(export_dir).signatures["serving_default"]
outputs = serve(**{k: tf.constant(v, tf.float32) for k, v in inputs.items()})
print(json.dumps({k: v.numpy().tolist() for k, v in outputs.items()}))
"""


def serve_in_fresh_process(export_dir: str, inputs: dict) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, export_dir, json.dumps(inputs)],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
