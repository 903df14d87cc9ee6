"""Main example: the TF 1.x getting-started Iris custom model_fn, run through keras-spec.

The model_fn below is written the tf.estimator way (tf.compat.v1 variables, losses, metrics,
summaries and optimizer; it returns an EstimatorSpec). Only the import of the spec classes
changed. It is trained with `SpecModel.fit`, evaluated, and used for prediction on the Iris
data shipped in examples/data/iris.csv (Fisher's 150 flowers; no download).

Run: python examples/iris.py [--steps 400] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
        return ks.EstimatorSpec(mode, predictions=predictions)

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model-dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "output", "iris"))
    args = parser.parse_args(argv)

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
    return results


if __name__ == "__main__":
    main()
