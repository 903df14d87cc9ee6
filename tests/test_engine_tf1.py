"""The TF1 world a legacy model_fn sees inside SpecModel's traced steps (docs/semantics.md, "The TF1 world")."""

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import SpecModel

X = np.random.RandomState(0).randn(64, 3).astype(np.float32)
W_TRUE = np.array([[1.0], [-2.0], [0.5]], np.float32)
Y = X @ W_TRUE + 0.25
W0 = np.array([[0.1], [0.2], [-0.1]], np.float32)


def data(batch=8, repeat=True):
    ds = tf.data.Dataset.from_tensor_slices(({"x": X}, Y))
    return (ds.repeat() if repeat else ds).batch(batch, drop_remainder=True)


def linear(x):
    with tf.compat.v1.variable_scope("lin"):
        w = tf.compat.v1.get_variable("w", initializer=tf.constant(W0))
        b = tf.compat.v1.get_variable("b", shape=[1], initializer=tf.compat.v1.zeros_initializer())
    with tf.compat.v1.variable_scope("lin", reuse=True):  # reuse=True finds the same variable
        assert tf.compat.v1.get_variable("w") is w
    return tf.matmul(x, w) + b


def sgd_model_fn(features, labels, mode, params):
    pred = linear(features["x"])
    if mode == ks.ModeKeys.PREDICT:
        return ks.EstimatorSpec(mode, predictions=pred)
    loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
    if mode == ks.ModeKeys.EVAL:
        return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "mae": tf.compat.v1.metrics.mean_absolute_error(labels, pred)})
    opt = tf.compat.v1.train.GradientDescentOptimizer(params["lr"])
    return ks.EstimatorSpec(mode, loss=loss, train_op=opt.minimize(
        loss, global_step=tf.compat.v1.train.get_global_step()))


def numpy_sgd(steps, lr, batch=8, w=W0, b=0.0):
    w, b = w.astype(np.float64).copy(), float(b)
    n = len(X) // batch
    for step in range(steps):
        i = step % n
        x, y = X[i * batch:(i + 1) * batch], Y[i * batch:(i + 1) * batch]
        err = x @ w + b - y
        w -= lr * 2 * x.T @ err / len(x)
        b -= lr * 2 * err.mean()
    return w, b


def test_variables_created_once_and_shared_across_modes():
    model = SpecModel(sgd_model_fn, params={"lr": 0.05})
    model.fit(data(), epochs=2, steps_per_epoch=4, verbose=0)
    names = model.get_variable_names()
    assert names == ["global_step", "lin/b", "lin/w"]
    count = len(model.weights)
    model.evaluate(data(repeat=False), verbose=0)
    model.predict(data(repeat=False), verbose=0)
    model.fit(data(), epochs=1, steps_per_epoch=2, verbose=0)
    eval_names = set(model.get_variable_names()) - set(names)
    # evaluation adds only the metric's local variables, once
    assert eval_names == {"mean_absolute_error/count", "mean_absolute_error/total"}
    assert len(model.weights) == count + 2
    # what training learned is what prediction sees
    w, b = model.get_variable_value("lin/w"), model.get_variable_value("lin/b")
    pred = model.predict(tf.data.Dataset.from_tensor_slices({"x": X[:8]}).batch(8), verbose=0)
    np.testing.assert_allclose(pred, X[:8] @ w + b, rtol=1e-6)
    ref_w, ref_b = numpy_sgd(10, 0.05)
    np.testing.assert_allclose(w, ref_w, rtol=1e-5)
    np.testing.assert_allclose(b, [ref_b], rtol=1e-5)
    assert model.get_variable_value("global_step") == 10


def test_two_models_do_not_share_variables_or_collections():
    first = SpecModel(sgd_model_fn, params={"lr": 0.05})
    second = SpecModel(sgd_model_fn, params={"lr": 0.05})
    first.fit(data(), epochs=1, steps_per_epoch=5, verbose=0)
    second.build_variables(data())
    np.testing.assert_array_equal(second.get_variable_value("lin/w"), W0)
    assert second.get_variable_value("global_step") == 0
    # nothing leaked into the eager default graph's collections
    assert tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES) == []
    assert tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES) == []


def test_update_ops_run_with_train_op():
    def model_fn(features, labels, mode):
        pred = linear(features["x"])
        counter = tf.compat.v1.get_variable("seen_examples", shape=[], trainable=False,
                                            initializer=tf.compat.v1.zeros_initializer())
        tf.compat.v1.add_to_collection(
            tf.compat.v1.GraphKeys.UPDATE_OPS,
            counter.assign_add(tf.cast(tf.shape(pred)[0], tf.float32)))
        loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
        with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
            train_op = tf.compat.v1.train.GradientDescentOptimizer(0.01).minimize(
                loss, global_step=tf.compat.v1.train.get_or_create_global_step())
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, predictions=pred)

    model = SpecModel(model_fn)
    model.fit(data(), epochs=1, steps_per_epoch=6, verbose=0)
    assert model.get_variable_value("seen_examples") == 48.0
    # the trainable collection held only trainable variables: the counter was not trained
    assert "seen_examples" in model.get_variable_names()


def test_regularization_losses_are_collected():
    scale = 0.3

    def model_fn(features, labels, mode):
        with tf.compat.v1.variable_scope("reg"):
            w = tf.compat.v1.get_variable(
                "w", initializer=tf.constant(W0),
                regularizer=lambda v: scale * tf.reduce_sum(tf.square(v)))
        pred = tf.matmul(features["x"], w)
        data_loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
        loss = data_loss + tf.compat.v1.losses.get_regularization_loss()
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(loss)
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)

    model = SpecModel(model_fn)
    history = model.fit(data(), epochs=1, steps_per_epoch=1, verbose=0)
    x, y = X[:8], Y[:8]
    expected = np.mean((x @ W0 - y) ** 2) + scale * np.sum(W0 ** 2)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)


def test_learning_rate_schedule_reads_global_step():
    def model_fn(features, labels, mode):
        pred = linear(features["x"])
        loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
        step = tf.compat.v1.train.get_global_step()
        lr = tf.compat.v1.train.piecewise_constant(step, [3], [0.05, 0.0])
        train_op = tf.compat.v1.train.GradientDescentOptimizer(lr).minimize(loss, global_step=step)
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)

    model = SpecModel(model_fn)
    model.fit(data(), epochs=1, steps_per_epoch=8, verbose=0)
    ref_w, ref_b = numpy_sgd(4, 0.05)  # steps 0..3 have lr 0.05 (boundary is step > 3)
    np.testing.assert_allclose(model.get_variable_value("lin/w"), ref_w, rtol=1e-5)
    assert model.get_variable_value("global_step") == 8


def test_steps_per_execution_gives_identical_weights():
    results = []
    for spe in (1, 8):
        model = SpecModel(sgd_model_fn, params={"lr": 0.05})
        model.compile(steps_per_execution=spe)
        model.fit(data(), epochs=2, steps_per_epoch=16, verbose=0)
        results.append((model.get_variable_value("lin/w"), model.get_variable_value("global_step")))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1] == 32


def test_summaries_do_not_block_xla_and_xla_matches():
    def model_fn(features, labels, mode, params):
        pred = linear(features["x"])
        loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
        tf.compat.v1.summary.scalar("loss_again", loss)
        tf.compat.v1.summary.histogram("pred", pred)
        if mode == ks.ModeKeys.EVAL:
            return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops={
                "mse": tf.compat.v1.metrics.mean_squared_error(labels, pred)})
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step())
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)

    weights = []
    for jit in (False, True):
        model = SpecModel(model_fn, params={})
        model.compile(jit_compile=jit)
        model.fit(data(), epochs=1, steps_per_epoch=5, verbose=0)
        weights.append(model.get_variable_value("lin/w"))
        result = model.evaluate(data(repeat=False), return_dict=True, verbose=0)
        np.testing.assert_allclose(result["mse"], result["loss"], rtol=1e-6)
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-6)
    np.testing.assert_allclose(weights[0], numpy_sgd(5, 0.05)[0], rtol=1e-5)


def test_xla_error_names_the_unsupported_op():
    from adapters import XlaCompilationError

    def model_fn(features, labels, mode):
        pred = linear(features["x"])
        loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
        text = tf.strings.as_string(loss)  # no XLA kernel
        loss = loss + 0.0 * tf.cast(tf.strings.length(text), tf.float32)
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(loss)
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)

    model = SpecModel(model_fn)
    model.compile(jit_compile=True)
    with pytest.raises(XlaCompilationError, match="AsString.*jit_compile=False"):
        model.fit(data(), epochs=1, steps_per_epoch=1, verbose=0)


def test_metric_values_are_read_after_all_updates():
    """compat.v1 precision reads its variables before its update: the reported value must
    still include the last batch, as tf.estimator's final session.run did."""
    labels = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0], np.int64)
    preds = np.array([1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1], np.int64)

    def model_fn(features, labels, mode):
        p = features["p"]
        v = tf.compat.v1.get_variable("v", shape=[], initializer=tf.compat.v1.zeros_initializer())
        loss = tf.reduce_mean(tf.cast(p, tf.float32)) + 0.0 * v
        return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "precision": tf.compat.v1.metrics.precision(labels, p),
            "recall": tf.compat.v1.metrics.recall(labels, p),
            "batch_mean": (tf.reduce_mean(tf.cast(p, tf.float32)), tf.no_op()),
        })

    ds = tf.data.Dataset.from_tensor_slices(({"p": preds}, labels)).batch(4)
    model = SpecModel(model_fn)
    first = model.evaluate(ds, return_dict=True, verbose=0)
    second = model.evaluate(ds, return_dict=True, verbose=0)
    tp = np.sum((preds == 1) & (labels == 1))
    assert first["precision"] == pytest.approx(tp / np.sum(preds == 1), rel=1e-6)
    assert first["recall"] == pytest.approx(tp / np.sum(labels == 1), rel=1e-6)
    # a value computed from the batch reports the last batch
    assert first["batch_mean"] == pytest.approx(preds[-4:].mean(), rel=1e-6)
    assert first == second
