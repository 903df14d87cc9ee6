"""Records the tf.estimator 2.15 golden of a Keras Sequential built inside a model_fn.

Run ONLY under TF 2.15.1 + tensorflow-estimator 2.15.0 (tf.keras = Keras 2):
    /work/tf215/bin/python tests/real_world/goldens/keras_in_model_fn/record.py
It writes, next to itself, the tiny model_dir checkpoint (model.ckpt-6.*, `checkpoint`) and
golden.json: the variable names tf.estimator wrote, evaluate()'s metrics and predict()'s
probabilities on that checkpoint, and the TF1 names of a zoo of Keras constructs (named layer,
name_scope, variable_scope, functional model, deferred Sequential).

The model_fns are written once here, in the style of tensorflow/models official/r1, and the
keras-spec tests import them from this file: `est` is the tf.estimator-shaped namespace.
"""

import json
import os
import shutil
import sys
import tempfile

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_STEPS, BATCH = 12, 8


def data():
    rs = np.random.RandomState(12)
    x = rs.rand(48, 6, 6, 1).astype(np.float32)
    score = x[:, :3, :, 0].mean(axis=(1, 2)) + 0.1 * rs.rand(48)
    return x, (np.argsort(np.argsort(score)) // 16).astype(np.int32)  # balanced thirds


def input_fns():
    x, y = data()

    def train_input_fn():
        return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat().batch(BATCH)

    def eval_input_fn():
        return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(BATCH)

    def predict_input_fn():
        return tf.data.Dataset.from_tensor_slices({"x": x[:16]}).batch(BATCH)

    return train_input_fn, eval_input_fn, predict_input_fn


def make_model_fn(est):
    """model_fn: Conv2D + BatchNormalization + Conv2D + Dropout + Dense in a Sequential, and one
    Dense outside it, all created inside the model_fn on every call."""

    def model_fn(features, labels, mode, params):
        model = tf.keras.Sequential([
            tf.keras.layers.Conv2D(4, 3, activation="relu", input_shape=(6, 6, 1)),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.Conv2D(4, 3, activation="relu"),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dropout(0.25),
            tf.keras.layers.Dense(8, activation="relu"),
        ])
        hidden = model(features["x"], training=mode == est.ModeKeys.TRAIN)
        logits = tf.keras.layers.Dense(3)(hidden)
        probabilities = tf.nn.softmax(logits)
        classes = tf.argmax(logits, axis=1)
        if mode == est.ModeKeys.PREDICT:
            return est.EstimatorSpec(mode, predictions={"classes": classes,
                                                        "probabilities": probabilities})
        loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
        if mode == est.ModeKeys.EVAL:
            return est.EstimatorSpec(mode, loss=loss, eval_metric_ops={
                "accuracy": tf.compat.v1.metrics.accuracy(labels, classes)})
        optimizer = tf.compat.v1.train.AdamOptimizer(params["learning_rate"])
        minimize = optimizer.minimize(loss, tf.compat.v1.train.get_or_create_global_step())
        # Keras 2 in a TF1 graph hands BatchNormalization's moving-average updates out here
        # (official/r1 style); Keras 3 applies them inside the training call itself.
        updates = (model.get_updates_for(features["x"])
                   if hasattr(model, "get_updates_for") else [])
        return est.EstimatorSpec(mode, loss=loss, train_op=tf.group(minimize, *updates))

    return model_fn


def naming_zoo(features, training):
    """Keras constructs whose TF1 variable names tf.estimator 2.15 recorded (one call)."""
    x = features["x"]
    flat = tf.keras.layers.Flatten()(x)                      # flatten
    a = tf.keras.layers.Dense(3)(flat)                       # dense/
    b = tf.keras.layers.Dense(3, name="head")(a)             # head/
    with tf.compat.v1.variable_scope("vs"):
        c = tf.keras.layers.Dense(3)(b)                      # vs/dense_1/
    with tf.name_scope("ns"):
        d = tf.keras.layers.Dense(3)(c)                      # ns/dense_2/
    inputs = tf.keras.Input((3,))
    functional = tf.keras.Model(inputs, tf.keras.layers.Dense(3)(inputs))
    e = functional(d)                                        # dense_3/
    deferred = tf.keras.Sequential([tf.keras.layers.Dense(3),
                                    tf.keras.layers.BatchNormalization()], name="tower")
    f = deferred(e, training=training)                       # tower/dense_4/, tower/batch_normalization/
    built = tf.keras.Sequential([tf.keras.layers.Dense(3, input_shape=(3,))])
    g = built(f)                                             # dense_5/
    twice = tf.keras.layers.Dense(3)
    return twice(twice(g))                                   # dense_6/ (one set, called twice)


def _record() -> None:
    assert tf.__version__.startswith("2.15"), "record with TF 2.15.1 + tensorflow-estimator 2.15.0"
    est = tf.estimator
    workdir = tempfile.mkdtemp()
    config = est.RunConfig(tf_random_seed=3, save_summary_steps=1000, log_step_count_steps=1000)
    estimator = est.Estimator(make_model_fn(est), model_dir=workdir, config=config,
                              params={"learning_rate": 0.05})
    train_input_fn, eval_input_fn, predict_input_fn = input_fns()
    estimator.train(train_input_fn, steps=TRAIN_STEPS)
    metrics = estimator.evaluate(eval_input_fn)
    predictions = list(estimator.predict(predict_input_fn))
    prefix = tf.train.latest_checkpoint(workdir)
    variables = {name: list(shape) for name, shape in tf.train.list_variables(prefix)}

    with tf.Graph().as_default():
        naming_zoo({"x": tf.compat.v1.placeholder(tf.float32, [None, 6, 6, 1])}, training=True)
        zoo = sorted(v.op.name for v in tf.compat.v1.global_variables())

    for old in os.listdir(HERE):
        if old.startswith("model.ckpt-") or old == "checkpoint":
            os.remove(os.path.join(HERE, old))
    for name in os.listdir(workdir):
        if name.startswith(os.path.basename(prefix) + ".") and not name.endswith(".meta"):
            shutil.copy(os.path.join(workdir, name), HERE)
    with open(os.path.join(HERE, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "{os.path.basename(prefix)}"\n'
                f'all_model_checkpoint_paths: "{os.path.basename(prefix)}"\n')
    golden = {
        "versions": {"tensorflow": tf.__version__, "python": sys.version.split()[0]},
        "train_steps": TRAIN_STEPS,
        "learning_rate": 0.05,
        "checkpoint_variables": variables,
        "evaluate": {k: float(v) for k, v in metrics.items()},
        "predict": {"classes": [int(p["classes"]) for p in predictions],
                    "probabilities": [p["probabilities"].tolist() for p in predictions]},
        "naming_zoo": zoo,
    }
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
    shutil.rmtree(workdir)


if __name__ == "__main__":
    _record()
