"""The benchmark's TF1-style model_fns and their data: TensorFlow and numpy only.

This module is shared, unchanged, by the keras-spec benchmark and by
`estimator_script.py`, which runs the same source under the real tf.estimator
(TF 2.15): so it must not import keras_spec, adapters or keras. Like the
conformance cases (tests/conformance/cases.py, whose `bench` and
`mlp_classifier` model_fns are copied here so benchmarks do not depend on
tests/), the model_fns read the spec classes from the module global ``SPEC``
at call time: set ``model_fns.SPEC = keras_spec`` (or ``tf.estimator``) first.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SPEC = None  # keras_spec or tf.estimator; must provide EstimatorSpec and ModeKeys

_F32 = np.float32


# --------------------------------------------------------------------------------------------
# Initial values: numpy, fixed seeds, so that every implementation starts from the same weights.
# --------------------------------------------------------------------------------------------
def bench_init() -> dict:
    """784-256-256-10 MLP weights (the conformance `bench` case's constant initializers)."""
    rs = np.random.RandomState(505)
    return dict(
        w1=(rs.randn(784, 256) * np.sqrt(2.0 / 784)).astype(_F32), b1=np.zeros([256], _F32),
        w2=(rs.randn(256, 256) * np.sqrt(2.0 / 256)).astype(_F32), b2=np.zeros([256], _F32),
        w3=(rs.randn(256, 10) * np.sqrt(1.0 / 256)).astype(_F32), b3=np.zeros([10], _F32))


def mlp_init() -> dict:
    """10-16-3 weights of the conformance `mlp_classifier` case."""
    rs = np.random.RandomState(202)
    return dict(
        w1=(rs.randn(10, 16) * np.sqrt(2.0 / 10)).astype(_F32), b1=np.zeros([16], _F32),
        w2=(rs.randn(16, 3) * np.sqrt(1.0 / 16)).astype(_F32), b2=np.zeros([3], _F32))


def cnn_init() -> dict:
    """28x28x1 -> conv 3x3x8 (valid) -> maxpool 2x2 -> dense 10 weights."""
    rs = np.random.RandomState(606)
    return dict(
        k=(rs.randn(3, 3, 1, 8) * np.sqrt(2.0 / 9)).astype(_F32), kb=np.zeros([8], _F32),
        w=(rs.randn(13 * 13 * 8, 10) * np.sqrt(1.0 / (13 * 13 * 8))).astype(_F32),
        b=np.zeros([10], _F32))


_INITS: dict = {}


def cached_init(name: str, factory) -> dict:
    """Initial values are built once per process (a model_fn is traced several times)."""
    if name not in _INITS:
        _INITS[name] = factory()
    return _INITS[name]


# --------------------------------------------------------------------------------------------
# Data: generated in memory with numpy, fixed seeds.
# --------------------------------------------------------------------------------------------
def bench_data(n: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(5)
    return rs.rand(n, 784).astype(_F32), rs.randint(0, 10, size=n).astype(np.int32)


def mlp_data(n: int = 640) -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(2)
    x = rs.randn(n, 10).astype(_F32)
    teacher_w = rs.randn(10, 3).astype(_F32)
    teacher_b = np.array([0.2, 0.0, -0.2], _F32)
    y = np.argmax(x @ teacher_w + teacher_b + 0.3 * rs.randn(n, 3), axis=1).astype(np.int32)
    return x, y


def cnn_data(n: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(6)
    return rs.rand(n, 28, 28, 1).astype(_F32), rs.randint(0, 10, size=n).astype(np.int32)


# --------------------------------------------------------------------------------------------
# model_fns
# --------------------------------------------------------------------------------------------
def _const_init(array: np.ndarray):
    return tf.compat.v1.constant_initializer(np.asarray(array, dtype=_F32))


def _weight(name: str, array: np.ndarray):
    return tf.compat.v1.get_variable(name, shape=array.shape, dtype=tf.float32,
                                     initializer=_const_init(array))


def _dense(x, w_init, b_init, scope):
    with tf.compat.v1.variable_scope(scope):
        return tf.matmul(x, _weight("kernel", w_init)) + _weight("bias", b_init)


def bench_model_fn(features, labels, mode, params):
    """The conformance `bench` case: 784-256-256-10 MLP, compat.v1 Adam (constant init)."""
    x = features["x"]
    p = cached_init("bench", bench_init)
    with tf.compat.v1.variable_scope("bench"):
        h = tf.nn.relu(_dense(x, p["w1"], p["b1"], "fc1"))
        h = tf.nn.relu(_dense(h, p["w2"], p["b2"], "fc2"))
        logits = _dense(h, p["w3"], p["b3"], "logits")
    if mode == SPEC.ModeKeys.PREDICT:
        return SPEC.EstimatorSpec(mode=mode, predictions={"logits": logits})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    if mode == SPEC.ModeKeys.EVAL:
        return SPEC.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops={
            "accuracy": tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, axis=1))})
    opt = tf.compat.v1.train.AdamOptimizer(params["learning_rate"])
    train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return SPEC.EstimatorSpec(mode=mode, loss=loss, train_op=train_op)


def mlp_model_fn(features, labels, mode, params):
    """The conformance `mlp_classifier` case (10-16-3, Adam + exponential_decay, a summary,
    six metrics); its PREDICT export outputs are left out (the benchmark does not export)."""
    x = features["x"]
    p = cached_init("mlp", mlp_init)
    with tf.compat.v1.variable_scope("mlp"):
        h = tf.nn.relu(_dense(x, p["w1"], p["b1"], "hidden"))
        logits = _dense(h, p["w2"], p["b2"], "logits")
    probabilities = tf.nn.softmax(logits)
    class_ids = tf.argmax(logits, axis=1)
    if mode == SPEC.ModeKeys.PREDICT:
        return SPEC.EstimatorSpec(mode=mode, predictions={
            "class_ids": class_ids, "probabilities": probabilities, "logits": logits})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    if mode == SPEC.ModeKeys.EVAL:
        is_one = tf.equal(labels, 1)
        pred_one = tf.equal(class_ids, 1)
        metrics = {
            "accuracy": tf.compat.v1.metrics.accuracy(labels, class_ids),
            "mean_per_class_accuracy": tf.compat.v1.metrics.mean_per_class_accuracy(
                labels, class_ids, num_classes=3),
            "precision_class1": tf.compat.v1.metrics.precision(is_one, pred_one),
            "recall_class1": tf.compat.v1.metrics.recall(is_one, pred_one),
            "auc_class1": tf.compat.v1.metrics.auc(is_one, probabilities[:, 1]),
            "mean_loss": tf.compat.v1.metrics.mean(loss),
        }
        return SPEC.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops=metrics)
    global_step = tf.compat.v1.train.get_global_step()
    lr = tf.compat.v1.train.exponential_decay(
        params["learning_rate"], global_step, decay_steps=params["decay_steps"],
        decay_rate=params["decay_rate"], staircase=False)
    tf.compat.v1.summary.scalar("learning_rate", lr)
    opt = tf.compat.v1.train.AdamOptimizer(lr)
    train_op = opt.minimize(loss, global_step=global_step)
    return SPEC.EstimatorSpec(mode=mode, loss=loss, train_op=train_op)


MLP_PARAMS = {"learning_rate": 0.01, "decay_steps": 20, "decay_rate": 0.9}
BENCH_PARAMS = {"learning_rate": 1e-3}
CNN_PARAMS = {"learning_rate": 1e-3}


def cnn_model_fn(features, labels, mode, params):
    """A small CNN in compat.v1 ops: conv 3x3x8 (valid) + relu -> maxpool 2x2 -> dense 10."""
    x = features["x"]
    p = cached_init("cnn", cnn_init)
    with tf.compat.v1.variable_scope("cnn"):
        with tf.compat.v1.variable_scope("conv"):
            h = tf.nn.conv2d(x, _weight("kernel", p["k"]), strides=1, padding="VALID")
            h = tf.nn.relu(h + _weight("bias", p["kb"]))
        h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")
        h = tf.reshape(h, [-1, 13 * 13 * 8])
        logits = _dense(h, p["w"], p["b"], "logits")
    if mode == SPEC.ModeKeys.PREDICT:
        return SPEC.EstimatorSpec(mode=mode, predictions={"logits": logits})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    if mode == SPEC.ModeKeys.EVAL:
        return SPEC.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops={
            "accuracy": tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, axis=1))})
    opt = tf.compat.v1.train.AdamOptimizer(params["learning_rate"])
    train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return SPEC.EstimatorSpec(mode=mode, loss=loss, train_op=train_op)


def many_metrics_model_fn(features, labels, mode, params):
    """The 10-16-3 network with ten small compat.v1 metrics in EVAL (params['metrics'] True),
    or none (False): evaluate() throughput with and without a realistic metric set."""
    x = features["x"]
    p = cached_init("mlp", mlp_init)
    with tf.compat.v1.variable_scope("mlp"):
        h = tf.nn.relu(_dense(x, p["w1"], p["b1"], "hidden"))
        logits = _dense(h, p["w2"], p["b2"], "logits")
    probabilities = tf.nn.softmax(logits)
    class_ids = tf.argmax(logits, axis=1)
    if mode == SPEC.ModeKeys.PREDICT:
        return SPEC.EstimatorSpec(mode=mode, predictions={"class_ids": class_ids})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    if mode == SPEC.ModeKeys.EVAL:
        metrics = {}
        if params.get("metrics", True):
            is_one = tf.equal(labels, 1)
            pred_one = tf.equal(class_ids, 1)
            one_hot = tf.one_hot(labels, 3)
            metrics = {
                "accuracy": tf.compat.v1.metrics.accuracy(labels, class_ids),
                "mean_loss": tf.compat.v1.metrics.mean(loss),
                "precision": tf.compat.v1.metrics.precision(is_one, pred_one),
                "recall": tf.compat.v1.metrics.recall(is_one, pred_one),
                "true_positives": tf.compat.v1.metrics.true_positives(is_one, pred_one),
                "false_positives": tf.compat.v1.metrics.false_positives(is_one, pred_one),
                "true_negatives": tf.compat.v1.metrics.true_negatives(is_one, pred_one),
                "false_negatives": tf.compat.v1.metrics.false_negatives(is_one, pred_one),
                "mae": tf.compat.v1.metrics.mean_absolute_error(one_hot, probabilities),
                "mse": tf.compat.v1.metrics.mean_squared_error(one_hot, probabilities),
            }
        return SPEC.EstimatorSpec(mode=mode, loss=loss, eval_metric_ops=metrics)
    opt = tf.compat.v1.train.AdamOptimizer(params["learning_rate"])
    train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return SPEC.EstimatorSpec(mode=mode, loss=loss, train_op=train_op)
