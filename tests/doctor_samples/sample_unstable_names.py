"""A model_fn whose layer name depends on how often it was called (keras-spec doctor sample).

TRAIN builds `logits_0/kernel`, EVAL `logits_1/kernel`: EVAL uses fresh, untrained weights.
"""
import itertools

import tensorflow as tf

import keras_spec

_calls = itertools.count()


def model_fn(features, labels, mode):
    hidden = tf.keras.layers.Dense(4, name="hidden")(features["x"])  # a stable name
    logits = tf.keras.layers.Dense(3, name=f"logits_{next(_calls)}")(hidden)
    predictions = {"class": tf.argmax(logits, 1)}
    if mode == keras_spec.ModeKeys.PREDICT:
        return keras_spec.EstimatorSpec(mode, predictions=predictions)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    opt = tf.compat.v1.train.GradientDescentOptimizer(0.1)
    train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return keras_spec.EstimatorSpec(mode, loss=loss, train_op=train_op)
