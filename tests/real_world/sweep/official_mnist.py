"""In the style of tensorflow/models `official/r1/mnist/mnist.py` (a Keras model in the model_fn).

Written for tf.estimator 2.15: a `tf.keras.Sequential` convnet built by a `create_model()` helper
and called inside the model_fn, `tf.compat.v1.train.AdamOptimizer`, a `train_accuracy` tensor
named with `tf.identity(..., name=...)` and summarised with `tf.compat.v1.summary.scalar`, a
`LoggingTensorHook` on named tensors, `export_outputs={'classify': PredictOutput(...)}`,
`tf.estimator.Estimator(model_fn, model_dir, params=...)`, the `tf.compat.v1.estimator` aliases,
and `export_saved_model` with a raw receiver. Tiny random "images" (8x8) keep it fast; the
initializers are seeded TF initializers and there is no dropout, so two runs agree.

Usage: python official_mnist.py OUTPUT_JSON WORK_DIR
"""

import json
import logging
import os
import re
import sys

import numpy as np
import tensorflow as tf

IMAGE = 8
NUM_CLASSES = 4
LEARNING_RATE = 1e-3


def create_model(data_format="channels_last"):
    """The model: conv, pool, conv, pool, dense, dense (as the tutorial builds it)."""
    init = tf.compat.v1.glorot_uniform_initializer
    return tf.keras.Sequential([
        tf.keras.layers.Reshape(target_shape=[IMAGE, IMAGE, 1], input_shape=(IMAGE * IMAGE,)),
        tf.keras.layers.Conv2D(4, 3, padding="same", data_format=data_format,
                               activation=tf.nn.relu, kernel_initializer=init(seed=1)),
        tf.keras.layers.MaxPooling2D((2, 2), (2, 2), padding="same", data_format=data_format),
        tf.keras.layers.Conv2D(8, 3, padding="same", data_format=data_format,
                               activation=tf.nn.relu, kernel_initializer=init(seed=2)),
        tf.keras.layers.MaxPooling2D((2, 2), (2, 2), padding="same", data_format=data_format),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation=tf.nn.relu, kernel_initializer=init(seed=3)),
        tf.keras.layers.Dense(NUM_CLASSES, kernel_initializer=init(seed=4)),
    ])


def model_fn(features, labels, mode, params):
    model = create_model(params["data_format"])
    image = features
    if isinstance(image, dict):
        image = features["image"]

    if mode == tf.estimator.ModeKeys.PREDICT:
        logits = model(image, training=False)
        predictions = {"classes": tf.argmax(logits, axis=1),
                       "probabilities": tf.nn.softmax(logits)}
        return tf.estimator.EstimatorSpec(
            mode=tf.estimator.ModeKeys.PREDICT, predictions=predictions,
            export_outputs={"classify": tf.estimator.export.PredictOutput(predictions)})
    if mode == tf.estimator.ModeKeys.TRAIN:
        optimizer = tf.compat.v1.train.AdamOptimizer(learning_rate=LEARNING_RATE)
        logits = model(image, training=True)
        loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
        accuracy = tf.compat.v1.metrics.accuracy(labels=labels,
                                                 predictions=tf.argmax(logits, axis=1))
        # Name tensors to be logged with LoggingTensorHook.
        tf.identity(LEARNING_RATE, "learning_rate")
        tf.identity(loss, "cross_entropy")
        tf.identity(accuracy[1], name="train_accuracy")
        # Save accuracy scalar to Tensorboard output.
        tf.compat.v1.summary.scalar("train_accuracy", accuracy[1])
        return tf.estimator.EstimatorSpec(
            mode=tf.estimator.ModeKeys.TRAIN, loss=loss,
            train_op=optimizer.minimize(loss, tf.compat.v1.train.get_or_create_global_step()))
    assert mode == tf.estimator.ModeKeys.EVAL
    logits = model(image, training=False)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    return tf.estimator.EstimatorSpec(
        mode=tf.estimator.ModeKeys.EVAL, loss=loss,
        eval_metric_ops={"accuracy": tf.compat.v1.metrics.accuracy(
            labels=labels, predictions=tf.argmax(logits, axis=1))})


def dataset(n, seed):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, NUM_CLASSES, n).astype(np.int32)
    images = rng.uniform(0, 0.3, (n, IMAGE, IMAGE)).astype(np.float32)
    for i, label in enumerate(labels):  # a bright quadrant per class
        r, c = divmod(int(label), 2)
        images[i, r * 4:r * 4 + 4, c * 4:c * 4 + 4] += 0.7
    return tf.data.Dataset.from_tensor_slices((images.reshape(n, -1), labels))


class LossRecorder(tf.estimator.SessionRunHook):
    """Records the named `cross_entropy` tensor each step (what LoggingTensorHook prints)."""

    def __init__(self):
        self.losses = []

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs("cross_entropy:0")

    def after_run(self, run_context, run_values):
        self.losses.append(float(run_values.results))


class LoggedValues(logging.Handler):
    """Collects what LoggingTensorHook printed ("name = value, ..." lines) from TF's logger."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def emit(self, record):
        message = record.getMessage()
        if "cross_entropy = " in message:
            row = dict(re.findall(r"(\w+) = ([-0-9.e]+)", message))
            self.rows.append({k: float(v) for k, v in row.items()})


def main(output_json, work_dir):
    logged = LoggedValues()
    tf.get_logger().addHandler(logged)
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    model_dir = os.path.join(work_dir, "mnist_model")
    mnist_classifier = tf.compat.v1.estimator.Estimator(
        model_fn=model_fn, model_dir=model_dir,
        config=tf.compat.v1.estimator.RunConfig(tf_random_seed=1, save_summary_steps=10),
        params={"data_format": "channels_last"})

    def train_input_fn():
        return dataset(200, seed=0).cache().shuffle(buffer_size=50, seed=5).batch(20).repeat(2)

    def eval_input_fn():
        return dataset(60, seed=1).batch(20)

    tensors_to_log = {"learning_rate": "learning_rate", "cross_entropy": "cross_entropy",
                      "train_accuracy": "train_accuracy"}
    logging_hook = tf.estimator.LoggingTensorHook(tensors=tensors_to_log, every_n_iter=10)
    recorder = LossRecorder()
    mnist_classifier.train(input_fn=train_input_fn, hooks=[logging_hook, recorder])
    eval_results = mnist_classifier.evaluate(input_fn=eval_input_fn)

    # Export: the receiver's placeholders take the dtype and shape of these tensors.
    image = tf.zeros([1, IMAGE * IMAGE], tf.float32)
    input_fn = tf.estimator.export.build_raw_serving_input_receiver_fn({"image": image})
    export_dir = mnist_classifier.export_saved_model(os.path.join(work_dir, "export"), input_fn)
    loaded = tf.saved_model.load(export_dir.decode())
    first = next(iter(dataset(3, seed=2).batch(3)))[0]
    served = loaded.signatures["classify"](image=first)
    predictions = list(mnist_classifier.predict(lambda: dataset(3, seed=2).batch(3)))

    reader = tf.train.load_checkpoint(model_dir)
    result = {
        "train_losses": recorder.losses[::5] + recorder.losses[-1:],
        "steps": len(recorder.losses),
        "logged_cross_entropy": [row["cross_entropy"] for row in logged.rows],
        "logged_learning_rate": [row["learning_rate"] for row in logged.rows],
        "logged_train_accuracy": [row["train_accuracy"] for row in logged.rows],
        "evaluate": {k: float(v) for k, v in eval_results.items()},
        "predictions": [p["probabilities"].tolist() for p in predictions],
        "signature_keys": sorted(loaded.signatures.keys()),
        "served_probabilities": served["probabilities"].numpy().tolist(),
        "checkpoint_variables": sorted(reader.get_variable_to_shape_map()),
    }
    line = json.dumps(result, sort_keys=True)
    print(line)
    with open(output_json, "w") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
