"""Issue 12 item 5 / test (c): Keras layers built inside a model_fn get tf.estimator's TF1 names.

The golden (tests/real_world/goldens/keras_in_model_fn, recorded with TF 2.15.1 +
tensorflow-estimator 2.15.0 by record.py there) holds a tf.estimator model_dir of a Keras
Sequential (Conv2D, BatchNormalization, Conv2D, Dropout, Dense) plus a Dense built in the
model_fn; the model_fn itself is imported from record.py, so both sides run the same code.
"""

import importlib.util
import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import Estimator, SpecModel, WarmStartSettings

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "real_world", "goldens", "keras_in_model_fn")
_spec = importlib.util.spec_from_file_location("keras_in_model_fn_record",
                                               os.path.join(GOLDEN_DIR, "record.py"))
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)
with open(os.path.join(GOLDEN_DIR, "golden.json")) as _f:
    GOLDEN = json.load(_f)


class _Namespace:  # the few tf.estimator names record.py's model_fn uses
    ModeKeys = ks.ModeKeys
    EstimatorSpec = ks.EstimatorSpec


MODEL_FN = record.make_model_fn(_Namespace)
PARAMS = {"learning_rate": GOLDEN["learning_rate"]}


def _build_unrelated_keras_models(n=3):
    """Process history that used to leak into names (`sequential_5/conv2d_10/bias`)."""
    for _ in range(n):
        model = keras.Sequential([keras.layers.Conv2D(2, 1), keras.layers.Dense(2),
                                  keras.layers.Dropout(0.1), keras.layers.BatchNormalization()])
        model(np.zeros((1, 2, 2, 1), np.float32))


def _checkpoint_variables(path):
    return {name: list(shape) for name, shape in tf.train.list_variables(path)}


def test_checkpoint_names_are_tf_estimators_whatever_the_process_built_before(tmp_path):
    train_input_fn, _, _ = record.input_fns()
    for i in range(2):  # a second Estimator in the same process gets the same names
        _build_unrelated_keras_models()
        estimator = Estimator(MODEL_FN, model_dir=str(tmp_path / str(i)), params=PARAMS)
        estimator.train(train_input_fn, steps=2)
        written = _checkpoint_variables(estimator.model_dir)
        assert written == GOLDEN["checkpoint_variables"]  # names and shapes; no seed state
        assert set(estimator.get_variable_names()) == set(GOLDEN["checkpoint_variables"])


def _zoo_model_fn(features, labels, mode):
    return ks.EstimatorSpec(mode, predictions=record.naming_zoo(features, mode == ks.ModeKeys.TRAIN))


def test_named_layers_scopes_functional_and_deferred_models_get_tf215_names():
    _build_unrelated_keras_models()
    model = SpecModel(_zoo_model_fn)
    x, _ = record.data()
    model.predict(tf.data.Dataset.from_tensor_slices({"x": x[:4]}).batch(4), verbose=0)
    names = set(model.get_variable_names()) - {"global_step"}
    assert names == set(GOLDEN["naming_zoo"])


def _assert_golden_predictions(predictions):
    probabilities = np.array([p["probabilities"] for p in predictions])
    np.testing.assert_allclose(probabilities, GOLDEN["predict"]["probabilities"],
                               rtol=1e-4, atol=1e-6)
    assert [int(p["classes"]) for p in predictions] == GOLDEN["predict"]["classes"]


def test_facade_restores_a_tf_estimator_model_dir(tmp_path):
    model_dir = str(tmp_path / "from_tf215")
    shutil.copytree(GOLDEN_DIR, model_dir, ignore=shutil.ignore_patterns("*.py", "*.json"))
    _build_unrelated_keras_models()
    estimator = Estimator(MODEL_FN, model_dir=model_dir, params=PARAMS)
    _, eval_input_fn, predict_input_fn = record.input_fns()
    metrics = estimator.evaluate(eval_input_fn)
    for key, value in GOLDEN["evaluate"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-4), key
    _assert_golden_predictions(list(estimator.predict(predict_input_fn)))


def test_spec_model_restores_a_tf_estimator_checkpoint():
    _build_unrelated_keras_models()
    model = SpecModel(MODEL_FN, params=PARAMS)
    x, _ = record.data()
    data = tf.data.Dataset.from_tensor_slices({"x": x[:16]}).batch(record.BATCH)
    model.build_variables(data, mode=ks.ModeKeys.PREDICT)
    model.restore_checkpoint(GOLDEN_DIR)
    outputs = model.predict(data, verbose=0)
    np.testing.assert_allclose(outputs["probabilities"], GOLDEN["predict"]["probabilities"],
                               rtol=1e-4, atol=1e-6)


def test_warm_starts_from_a_tf_estimator_model_dir(tmp_path):
    reader = tf.train.load_checkpoint(GOLDEN_DIR)
    train_input_fn, _, _ = record.input_fns()
    _build_unrelated_keras_models()
    # learning rate 0: after one step the trainable variables still hold the warm-start values.
    estimator = Estimator(MODEL_FN, model_dir=str(tmp_path / "warm"), params={"learning_rate": 0.0},
                          warm_start_from=WarmStartSettings(GOLDEN_DIR, vars_to_warm_start=".*"))
    estimator.train(train_input_fn, steps=1)
    trainable = [n for n in GOLDEN["checkpoint_variables"]
                 if n.endswith(("/kernel", "/bias", "/gamma", "/beta"))]
    assert len(trainable) == 10
    for name in trainable:
        np.testing.assert_array_equal(estimator.get_variable_value(name), reader.get_tensor(name),
                                      err_msg=name)
    assert estimator.get_variable_value("global_step") == 1  # a regex string: trainables only
