"""Record what tf.estimator 2.15 wrote for a small run: event tags per step, variable names.

Run ONLY under the side virtualenv with TF 2.15.1 + tensorflow-estimator 2.15.0:
    /work/tf215/bin/python tests/real_world/goldens/engine_summaries_record.py
Writes engine_summaries.json next to this file (used by tests/test_real_world_engine.py).
"""

import glob
import json
import os
import tempfile

import numpy as np
import tensorflow as tf

tf.compat.v1.disable_eager_execution()
tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine_summaries.json")


def model_fn(features, labels, mode, params):
    x = features["x"]
    w = tf.compat.v1.get_variable("dense/kernel", [4, 3],
                                  initializer=tf.compat.v1.constant_initializer(0.1))
    logits = tf.matmul(x, w)
    predicted = tf.argmax(logits, 1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(mode, predictions={"class": predicted})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32))
    tf.compat.v1.summary.scalar("train_accuracy", accuracy)
    tf.compat.v1.summary.scalar("train_accuracy", accuracy * 2.0)
    with tf.name_scope("scope"):
        tf.compat.v1.summary.scalar("inner", loss)
        tf.compat.v1.summary.scalar("inner", loss * 2.0)
    optimizer = tf.compat.v1.train.GradientDescentOptimizer(0.1)
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())

    def metric_fn(labels, predicted, loss):
        return {"accuracy": tf.compat.v1.metrics.accuracy(labels, predicted),
                "mean_loss": tf.compat.v1.metrics.mean(loss)}

    return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
        mode, loss=loss, train_op=train_op,
        eval_metrics=(metric_fn, [labels, predicted, tf.fill([params["batch_size"]], loss)]))


def data():
    rng = np.random.RandomState(3)
    return rng.randn(64, 4).astype(np.float32), rng.randint(0, 3, 64).astype(np.int64)


def input_fn(params):
    x, y = data()
    return (tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat()
            .batch(params["batch_size"], drop_remainder=True))


def events(model_dir):
    found = []
    for path in sorted(glob.glob(os.path.join(model_dir, "events.out.tfevents*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.append([int(event.step), value.tag])
    return sorted(found)


def run(kind):
    model_dir = tempfile.mkdtemp()
    if kind == "estimator":
        def est_model_fn(features, labels, mode, params):
            return model_fn(features, labels, mode, dict(params, batch_size=8)).as_estimator_spec()
        est = tf.estimator.Estimator(est_model_fn, model_dir=model_dir,
                                     config=tf.estimator.RunConfig(save_summary_steps=3,
                                                                   log_step_count_steps=2))
        est.train(lambda: input_fn({"batch_size": 8}), steps=7)
        metrics = est.evaluate(lambda: input_fn({"batch_size": 8}), steps=4)
    else:
        config = tf.compat.v1.estimator.tpu.RunConfig(
            save_summary_steps=3, log_step_count_steps=2,
            tpu_config=tf.compat.v1.estimator.tpu.TPUConfig(iterations_per_loop=2))
        est = tf.compat.v1.estimator.tpu.TPUEstimator(
            model_fn, model_dir=model_dir, config=config, use_tpu=False,
            train_batch_size=8, eval_batch_size=8)
        est.train(input_fn, steps=7)
        metrics = est.evaluate(input_fn, steps=4)
    return {"events": events(model_dir), "variable_names": est.get_variable_names(),
            "eval": {k: float(v) for k, v in metrics.items()}}


if __name__ == "__main__":
    result = {"tensorflow": tf.__version__, "estimator": run("estimator"),
              "tpu_estimator": run("tpu_estimator")}
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(json.dumps(result, indent=1))
