"""A tiny model_fn and input_fns for the checkpoint / model_dir safety tests (issue 13).

The same model_fn as tests/goldens/safety/record_empty_eval.py (which ran it on tf.estimator
2.15), written with compat.v1 variables so it runs through the TF1 emulation.
"""

import numpy as np
import tensorflow as tf

import keras_spec as ks


def model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable("out/kernel", [3, 2],
                                  initializer=tf.compat.v1.constant_initializer(0.1))
    b = tf.compat.v1.get_variable("out/bias", [2], initializer=tf.compat.v1.zeros_initializer())
    logits = tf.matmul(features["x"], w) + b
    if mode == ks.ModeKeys.PREDICT:
        return ks.EstimatorSpec(mode, predictions={"logits": logits},
                                export_outputs={"out": ks.PredictOutput({"logits": logits})})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    metrics = {"accuracy": tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, 1)),
               "mean_logit": tf.compat.v1.metrics.mean(logits)}
    return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics)


def data(n: int):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3) / 10.0
    y = (np.arange(n) % 2).astype(np.int32)
    return {"x": x}, y


def input_fn(n: int, repeat: bool = False):
    def fn():
        dataset = tf.data.Dataset.from_tensor_slices(data(n))
        return (dataset.repeat() if repeat else dataset).batch(2)
    return fn


def predict_input_fn():
    return tf.data.Dataset.from_tensor_slices(data(4)[0]).batch(2)


serving_input_receiver_fn = ks.export.build_raw_serving_input_receiver_fn(
    {"x": tf.TensorSpec([None, 3], tf.float32)})
