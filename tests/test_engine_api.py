"""SpecModel's contract with the model_fn: argument binding, spec handling, errors, metrics."""

import functools
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import RunConfig, SpecModel

X = np.arange(24, dtype=np.float32).reshape(12, 2) / 10.0
Y = (X[:, :1] * 2.0 - X[:, 1:]).astype(np.float32)


def dataset(batch=4):
    return tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).batch(batch, drop_remainder=True)


def weight():
    return tf.compat.v1.get_variable("w", initializer=tf.constant([[0.5], [0.5]]))


def good_model_fn(features, labels, mode, params, config):
    pred = tf.matmul(features["x"], weight())
    if mode == ks.ModeKeys.PREDICT:
        return ks.EstimatorSpec(mode, predictions={"pred": pred, "bs": tf.fill(
            [tf.shape(pred)[0]], params["batch_size"])})
    loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops={
        "rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, pred),
        "batch_size": (tf.constant(params["batch_size"], tf.float32), tf.no_op())})


# -- argument binding -----------------------------------------------------------------------
def test_model_fn_without_features_is_rejected():
    with pytest.raises(ValueError, match="must include a 'features' argument"):
        SpecModel(lambda inputs, labels: None)


def test_unknown_model_fn_argument_is_rejected():
    with pytest.raises(ValueError, match=r"arguments keras-spec cannot pass: \['hparams'\]"):
        SpecModel(lambda features, labels, hparams: None)


def test_params_given_but_not_accepted_is_rejected():
    with pytest.raises(ValueError, match="does not take a 'params' argument"):
        SpecModel(lambda features, labels, mode: None, params={"lr": 1})


def test_partial_bound_arguments_are_not_expected():
    def fn(features, labels, mode, extra):
        return good_model_fn(features, labels, mode, {"batch_size": 4}, None)
    SpecModel(functools.partial(fn, extra=1))  # extra is bound: accepted


def test_labels_from_input_but_not_taken_is_an_error():
    def fn(features, mode):
        return ks.EstimatorSpec(mode, predictions=features["x"])
    model = SpecModel(fn)
    with pytest.raises(ValueError, match="does not take 'labels'"):
        model.evaluate(dataset(), verbose=0)


def test_config_and_params_are_passed_and_batch_size_injected_per_mode():
    seen = {}

    def fn(features, labels, mode, params, config):
        seen[mode] = (dict(params), config)
        return good_model_fn(features, labels, mode, params, config)

    config = RunConfig(tf_random_seed=3)
    model = SpecModel(fn, params={"unused": 1}, config=config)
    model.fit(dataset(4).repeat(), epochs=1, steps_per_epoch=2, verbose=0)
    result = model.evaluate(dataset(6), return_dict=True, verbose=0)
    preds = model.predict(tf.data.Dataset.from_tensor_slices({"x": X}).batch(3), verbose=0)
    assert seen["train"][0] == {"unused": 1, "batch_size": 4}
    assert seen["eval"][0]["batch_size"] == 6 and result["batch_size"] == 6
    assert seen["infer"][0]["batch_size"] == 3 and set(preds["bs"]) == {3}
    assert seen["train"][1] is config and config.tf_random_seed == 3
    assert model.params == {"unused": 1}  # the user's params are never mutated


def test_explicit_batch_size_param_is_kept():
    model = SpecModel(good_model_fn, params={"batch_size": 99})
    assert model.evaluate(dataset(), return_dict=True, verbose=0)["batch_size"] == 99


# -- what the model_fn returns ---------------------------------------------------------------
def test_model_fn_returning_a_non_spec_is_a_clear_error():
    model = SpecModel(lambda features, labels, mode: {"loss": tf.constant(1.0)})
    with pytest.raises(TypeError, match="must return a keras_spec.EstimatorSpec.*got builtins.dict"):
        model.evaluate(dataset(), verbose=0)


def test_spec_for_another_mode_is_a_clear_error():
    def fn(features, labels, mode):
        return ks.EstimatorSpec(ks.ModeKeys.PREDICT, predictions=features["x"])
    with pytest.raises(ValueError, match="called with mode='eval' but returned a spec with mode='infer'"):
        SpecModel(fn).evaluate(dataset(), verbose=0)


def test_train_spec_without_train_op_or_optimizer_names_both_remedies():
    def fn(features, labels, mode):
        loss = tf.reduce_mean(tf.matmul(features["x"], weight()))
        return ks.EstimatorSpec(mode, loss=loss)
    model = SpecModel(fn)
    with pytest.raises(ValueError, match=r"return train_op.*compile the SpecModel with an optimizer"):
        model.fit(dataset().repeat(), epochs=1, steps_per_epoch=1, verbose=0)


def test_invalid_spec_errors_surface_with_the_field_name():
    def fn(features, labels, mode):
        return ks.EstimatorSpec(mode, loss=tf.ones([2]) * tf.reduce_sum(weight()), train_op=tf.no_op())
    with pytest.raises(ValueError, match="loss"):
        SpecModel(fn).fit(dataset().repeat(), epochs=1, steps_per_epoch=1, verbose=0)


def test_loss_key_in_eval_metric_ops_is_rejected():
    def fn(features, labels, mode):
        loss = tf.reduce_mean(tf.matmul(features["x"], weight()))
        return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "loss": tf.compat.v1.metrics.mean(loss)})
    with pytest.raises(ValueError, match="must not have a key named 'loss'"):
        SpecModel(fn).evaluate(dataset(), verbose=0)


def test_compile_rejects_loss_metrics_and_run_eagerly():
    model = SpecModel(good_model_fn, params={})
    with pytest.raises(ValueError, match="compile\\(loss=...\\) is not used"):
        model.compile(loss="mse")
    with pytest.raises(ValueError, match="compile\\(metrics=...\\) is not used"):
        model.compile(metrics=["accuracy"])
    with pytest.raises(ValueError, match="run_eagerly=True"):
        model.compile(run_eagerly=True)


# -- evaluation ------------------------------------------------------------------------------
def test_evaluate_twice_gives_identical_results_and_loss_is_mean_over_batches():
    model = SpecModel(good_model_fn, params={})
    first = model.evaluate(dataset(), return_dict=True, verbose=0)
    second = model.evaluate(dataset(), return_dict=True, verbose=0)
    assert first == second
    # good_model_fn returns train_op in EVAL too (one-return style): like tf.estimator, evaluate
    # must not run it
    np.testing.assert_array_equal(model.get_variable_value("w"), [[0.5], [0.5]])
    assert model.get_variable_value("global_step") == 0
    pred = X @ np.array([[0.5], [0.5]], np.float32)
    batch_losses = [np.mean((pred[i:i + 4] - Y[i:i + 4]) ** 2) for i in range(0, 12, 4)]
    assert first["loss"] == pytest.approx(np.mean(batch_losses), rel=1e-6)
    assert first["rmse"] == pytest.approx(np.sqrt(np.mean((pred - Y) ** 2)), rel=1e-6)
    assert set(first) == {"loss", "rmse", "batch_size"}


def test_model_fn_ops_and_tpu_specs_run_through_their_estimator_spec():
    def contrib_fn(features, labels, mode):
        pred = tf.matmul(features["x"], weight())
        loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step())
        return ks.ModelFnOps(mode, predictions={"pred": pred}, loss=loss, train_op=train_op,
                             eval_metric_ops={"loss": tf.compat.v1.metrics.mean(loss),
                                              "mae": tf.compat.v1.metrics.mean_absolute_error(labels, pred)})

    def metric_fn(labels, pred):
        return {"mae": tf.compat.v1.metrics.mean_absolute_error(labels, pred)}

    def tpu_fn(features, labels, mode, params):
        pred = tf.matmul(features["x"], weight())
        loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step())
        return ks.TPUEstimatorSpec(mode, predictions={"pred": pred}, loss=loss, train_op=train_op,
                                   eval_metrics=(metric_fn, [labels, pred]))

    results = []
    for fn in (contrib_fn, tpu_fn):
        model = SpecModel(fn) if fn is contrib_fn else SpecModel(fn, params={})
        model.fit(dataset().repeat(), epochs=1, steps_per_epoch=3, verbose=0)
        results.append((model.get_variable_value("w"),
                        model.evaluate(dataset(), return_dict=True, verbose=0)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
    assert set(results[0][1]) == {"loss", "mae"}  # contrib's 'loss' metric is dropped


def test_scaffold_parts_not_run_are_named_in_a_warning():
    def fn(features, labels, mode):
        pred = tf.matmul(features["x"], weight())
        loss = tf.reduce_mean(tf.square(pred - labels))
        # init_fn / init_op / saver are run (tests/test_scaffold_and_savers.py); summary_op is not
        scaffold = tf.compat.v1.train.Scaffold(init_fn=lambda scaffold, session: None,
                                               summary_op=tf.constant(b""))
        return ks.EstimatorSpec(mode, loss=loss, scaffold=scaffold)

    from adapters.engine import spec_model
    spec_model._warned_scaffold_parts.discard("summary_op")  # warned once per process
    with pytest.warns(UserWarning, match=r"Scaffold sets \['summary_op'\]"):
        SpecModel(fn).evaluate(dataset(), verbose=0)


def test_spec_model_in_a_script_that_disabled_eager_names_the_cause_and_the_way_out():
    """disable_v2_behavior() is process-wide: checked in a fresh process."""
    code = ("import tensorflow as tf\ntf.compat.v1.disable_v2_behavior()\n"
            "from adapters import SpecModel\nSpecModel(lambda features: None)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 1
    assert "eager execution is off" in done.stderr and "Estimator facade" in done.stderr
