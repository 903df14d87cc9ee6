"""A model_fn that fails in TRAIN on its own line 12 (keras-spec doctor sample)."""
import tensorflow as tf

import keras_spec


def model_fn(features, labels, mode):
    x = features["x"]
    logits = tf.keras.layers.Dense(3, name="logits")(x)
    predictions = {"class": tf.argmax(logits, 1)}
    if mode == keras_spec.ModeKeys.TRAIN:
        logits = tf.reshape(logits, [-1, 5])  # wrong on purpose: 3 logits per example
    if mode == keras_spec.ModeKeys.PREDICT:
        return keras_spec.EstimatorSpec(mode, predictions=predictions)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    opt = tf.compat.v1.train.GradientDescentOptimizer(0.1)
    train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return keras_spec.EstimatorSpec(mode, loss=loss, train_op=train_op)
