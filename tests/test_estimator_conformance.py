"""The Estimator facade reproduces what tf.estimator 2.15 recorded (tests/conformance/golden.json).

Same model_fns, input pipelines and RunConfig as the recording (tf_random_seed 0, one checkpoint
at the start and one at the end); variables are read back from the checkpoint the facade wrote,
as `Estimator.get_variable_value` did. Also: tf.estimator's own model_dir restores and predicts.
"""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from adapters import Estimator, RunConfig, TPUConfig, TPUEstimator, tpu
from conformance_runner import CONFORMANCE_DIR, GOLDEN, max_relative_error
from estimator_helpers import case_and_fns, checkpoint_steps, input_fns

RTOL = 1e-4
GOLDEN_CONFIG = dict(tf_random_seed=0, save_checkpoints_steps=10**9, log_step_count_steps=10**9)


def check_against_golden(name, estimator, evaluation, predictions):
    golden = GOLDEN[name]
    assert set(golden["variables"]) == set(estimator.get_variable_names())
    for var_name, expected in golden["variables"].items():
        actual = estimator.get_variable_value(var_name)
        assert list(np.shape(actual)) == golden["variable_shapes"][var_name], var_name
        assert max_relative_error(actual, expected, floor=1e-3) < RTOL, var_name
    assert set(evaluation) == set(golden["evaluate"])
    assert evaluation["global_step"] == golden["evaluate"]["global_step"]
    assert isinstance(evaluation["global_step"], np.int64)
    for key, expected in golden["evaluate"].items():
        assert isinstance(evaluation[key], np.generic), key
        assert max_relative_error(evaluation[key], expected) < RTOL, key
    for key in golden["predict_first8"][0]:
        expected = [example[key] for example in golden["predict_first8"]]
        actual = [example[key] for example in predictions[:8]]
        assert max_relative_error(actual, expected, floor=1e-3) < RTOL, key


@pytest.mark.parametrize("name", ["linreg", "mlp_classifier"])
def test_estimator_train_evaluate_predict_match_tf_estimator(name, tmp_path):
    case, train_fn, eval_fn, predict_fn = case_and_fns(name)
    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"],
                          config=RunConfig(**GOLDEN_CONFIG))
    assert estimator.train(train_fn, max_steps=case["train_steps"]) is estimator
    evaluation = estimator.evaluate(eval_fn, steps=case["eval_steps"])
    predictions = list(estimator.predict(predict_fn))
    batch = case["predict_batch_size"]
    assert len(predictions) == len(case["eval_x"]) // batch * batch
    check_against_golden(name, estimator, evaluation, predictions)
    # tf.estimator's model_dir held model.ckpt-0 and the final checkpoint
    assert checkpoint_steps(str(tmp_path)) == [0, case["train_steps"]]


def test_tpu_estimator_without_tpu_matches_tf_estimator(tmp_path):
    case, _, _, _ = case_and_fns("tpu_metrics")
    seen = []

    def model_fn(features, labels, mode, params):
        seen.append((mode, params["batch_size"], params["use_tpu"]))
        return case["model_fn"](features, labels, mode, params)

    def input_fn_for(x, y=None, repeat=False):
        def input_fn(params):  # TPUEstimator's input_fn takes params with the mode's batch size
            data = {"x": x} if y is None else ({"x": x}, y)
            dataset = tf.data.Dataset.from_tensor_slices(data)
            return (dataset.repeat() if repeat else dataset).batch(params["batch_size"],
                                                                   drop_remainder=True)
        return input_fn

    config = tpu.RunConfig(tpu_config=TPUConfig(iterations_per_loop=5), **GOLDEN_CONFIG)
    estimator = TPUEstimator(model_fn, model_dir=str(tmp_path),
                             config=config, params=case["params"], use_tpu=False,
                             train_batch_size=32, eval_batch_size=16, predict_batch_size=16)
    estimator.train(input_fn_for(case["train_x"], case["train_y"], repeat=True),
                    max_steps=case["train_steps"])
    evaluation = estimator.evaluate(input_fn_for(case["eval_x"], case["eval_y"]),
                                    steps=case["eval_steps"])
    predictions = list(estimator.predict(input_fn_for(case["eval_x"])))
    check_against_golden("tpu_metrics", estimator, evaluation, predictions)
    assert set(seen) == {("train", 32, False), ("eval", 16, False), ("infer", 16, False)}
    assert estimator.params == case["params"]  # the injected keys are per call only


def test_tf_estimator_model_dir_restores_predicts_and_evaluates(tmp_path):
    model_dir = tmp_path / "linreg"
    shutil.copytree(os.path.join(CONFORMANCE_DIR, "ckpt", "linreg"), model_dir)
    case, _, eval_fn, predict_fn = case_and_fns("linreg")
    estimator = Estimator(case["model_fn"], model_dir=str(model_dir), params=case["params"])
    assert estimator.latest_checkpoint().endswith("model.ckpt-60")
    assert estimator.get_variable_value("global_step") == 60
    predictions = list(estimator.predict(predict_fn))
    expected = [p["value"] for p in GOLDEN["linreg"]["predict_first8"]]
    assert max_relative_error([p["value"] for p in predictions[:8]], expected, floor=1e-3) < 1e-5
    evaluation = estimator.evaluate(eval_fn, steps=case["eval_steps"])
    for key, value in GOLDEN["linreg"]["evaluate"].items():
        assert max_relative_error(evaluation[key], value) < 1e-5, key
    # ... and training continues from it: tf.estimator's model_dir is ours now
    train_fn = input_fns(case)[0]
    estimator.train(train_fn, steps=4)
    assert estimator.get_variable_value("global_step") == 64
    assert checkpoint_steps(str(model_dir)) == [60, 64]
