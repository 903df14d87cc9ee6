"""TF1-named checkpoints: tf.estimator's model_dir restores, and ours read like tf.estimator's."""

import os

import numpy as np
import pytest
import tensorflow as tf

from adapters import SpecModel
from adapters.tf1.checkpoint import CheckpointError
from conformance_runner import (CONFORMANCE_DIR, GOLDEN, eval_dataset, make_case,
                                max_relative_error, predict_dataset, run_case, train_dataset)


def test_tf_estimator_checkpoint_restores_and_reproduces_its_predictions():
    case = make_case("linreg")
    model = SpecModel(case["model_fn"], params=case["params"])
    model.build_variables(predict_dataset(case), mode="infer")
    model.build_variables(train_dataset(case))
    used = model.restore_checkpoint(os.path.join(CONFORMANCE_DIR, "ckpt", "linreg"))
    assert used.endswith("model.ckpt-60")
    assert model.get_variable_value("global_step") == 60
    predictions = model.predict(predict_dataset(case), verbose=0)
    expected = [p["value"] for p in GOLDEN["linreg"]["predict_first8"]]
    assert max_relative_error(predictions["value"][:8], expected, floor=1e-3) < 1e-5
    result = model.evaluate(eval_dataset(case), return_dict=True, verbose=0)
    for key in ("loss", "mse", "mae", "rmse"):
        assert max_relative_error(result[key], GOLDEN["linreg"]["evaluate"][key]) < 1e-5, key


def test_saved_checkpoint_has_tf1_names_and_restores_into_a_fresh_model(tmp_path):
    result = run_case("mlp_classifier")
    model, case = result["model"], result["case"]
    prefix = model.save_checkpoint(str(tmp_path))
    assert os.path.basename(prefix) == "model.ckpt-100"
    names = dict(tf.train.list_variables(str(tmp_path)))
    # exactly what tf.estimator's checkpoint held (metric locals are not saved)
    assert names == {k: v for k, v in GOLDEN["mlp_classifier"]["variable_shapes"].items()}
    fresh = SpecModel(case["model_fn"], params=case["params"])
    fresh.build_variables(train_dataset(case))
    fresh.restore_checkpoint(str(tmp_path))
    for name in names:
        np.testing.assert_array_equal(fresh.get_variable_value(name), model.get_variable_value(name))
    np.testing.assert_array_equal(fresh.predict(predict_dataset(case), verbose=0)["logits"],
                                  result["predict"]["logits"])


def test_max_to_keep_and_missing_variables(tmp_path):
    case = make_case("linreg")
    model = SpecModel(case["model_fn"], params=case["params"])
    for _ in range(3):
        model.fit(train_dataset(case), epochs=1, steps_per_epoch=2, verbose=0)
        model.save_checkpoint(str(tmp_path), max_to_keep=2)
    kept = sorted(f for f in os.listdir(tmp_path) if f.endswith(".index"))
    assert kept == ["model.ckpt-4.index", "model.ckpt-6.index"]
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-6")

    other = make_case("mlp_classifier")
    mismatched = SpecModel(other["model_fn"], params=other["params"])
    mismatched.build_variables(train_dataset(other))
    with pytest.raises(CheckpointError, match="lacks variables of this model_fn: .*mlp/hidden/bias"):
        mismatched.restore_checkpoint(str(tmp_path))
    with pytest.raises(CheckpointError, match="neither a checkpoint prefix"):
        model.restore_checkpoint(str(tmp_path / "nope"))


def test_keras_metric_state_is_not_checkpointed(tmp_path):
    import keras
    import keras_spec as ks

    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([[1.0]]))
        pred = tf.matmul(features["x"], w)
        loss = tf.reduce_mean(tf.square(pred - labels))
        mean = keras.metrics.Mean(name="mean_pred")
        mean.update_state(pred)
        return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops={"mean_pred": mean})

    data = tf.data.Dataset.from_tensor_slices(({"x": [[1.0], [3.0]]}, [[0.0], [0.0]])).batch(2)
    model = SpecModel(model_fn)
    assert model.evaluate(data, return_dict=True, verbose=0)["mean_pred"] == pytest.approx(2.0)
    model.save_checkpoint(str(tmp_path))
    assert sorted(n for n, _ in tf.train.list_variables(str(tmp_path))) == ["global_step", "w"]
    model.restore_checkpoint(str(tmp_path))  # metric state need not be in the checkpoint


def test_init_from_checkpoint_in_a_model_fn_sets_initial_values_only():
    case = make_case("linreg")
    ckpt_dir = os.path.join(CONFORMANCE_DIR, "ckpt", "linreg")

    def model_fn(features, labels, mode, params):
        spec = case["model_fn"](features, labels, mode, params)
        tf.compat.v1.train.init_from_checkpoint(ckpt_dir, params["assignment_map"])
        return spec

    expected = [p["value"] for p in GOLDEN["linreg"]["predict_first8"]]
    model = SpecModel(model_fn, params=dict(case["params"], assignment_map={"linreg/": "linreg/"}))
    predictions = model.predict(predict_dataset(case), verbose=0)
    assert max_relative_error(predictions["value"][:8], expected, floor=1e-3) < 1e-5
    assert model.get_variable_value("global_step") == 0  # not in the map: not loaded

    kernel_only = SpecModel(model_fn, params=dict(
        case["params"], assignment_map={"linreg/dense/kernel": "linreg/dense/kernel"}))
    kernel_only.build_variables(train_dataset(case))
    reader = tf.train.load_checkpoint(ckpt_dir)
    np.testing.assert_array_equal(kernel_only.get_variable_value("linreg/dense/kernel"),
                                  reader.get_tensor("linreg/dense/kernel"))
    np.testing.assert_array_equal(kernel_only.get_variable_value("linreg/dense/bias"), [0.0])
    # training then retracing (evaluate) keeps the trained values
    kernel_only.fit(train_dataset(case), epochs=1, steps_per_epoch=3, verbose=0)
    trained = kernel_only.get_variable_value("linreg/dense/kernel")
    kernel_only.evaluate(eval_dataset(case), verbose=0)
    np.testing.assert_array_equal(kernel_only.get_variable_value("linreg/dense/kernel"), trained)

    missing = SpecModel(model_fn, params=dict(case["params"], assignment_map={"nope/": "linreg/"}))
    with pytest.raises(ValueError, match="tensor 'nope/dense/bias' is not in checkpoint"):
        missing.build_variables(train_dataset(case))
