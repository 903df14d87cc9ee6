"""Warm starting (regex, lists, renamed variables, SavedModels), TPUEstimator/TPUConfig rules,
TrainSpec/EvalSpec validation, train_and_evaluate with exporters."""

import os

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import (Estimator, EvalSpec, FinalExporter, LatestExporter, RunConfig, TPUConfig,
                      TPUEstimator, TrainSpec, WarmStartSettings, tpu, train_and_evaluate)
from conformance_runner import GOLDEN, max_relative_error
from estimator_helpers import case_and_fns, checkpoint_steps, read_events


@pytest.fixture(scope="module")
def trained_mlp(tmp_path_factory):
    case, train_fn, _, predict_fn = case_and_fns("mlp_classifier")
    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path_factory.mktemp("source")),
                          params=case["params"])
    estimator.train(train_fn, steps=20)
    return dict(case=case, estimator=estimator, train_fn=train_fn, predict_fn=predict_fn,
                ckpt=estimator.latest_checkpoint())


def initial_checkpoint(estimator):
    """What the warm-started model held before its first step (train writes model.ckpt-<start>)."""
    first = checkpoint_steps(estimator.model_dir)[0]
    prefix = os.path.join(estimator.model_dir, f"model.ckpt-{first}")
    return {name: tf.train.load_variable(prefix, name)
            for name, _ in tf.train.list_variables(prefix)}


# -- warm start ------------------------------------------------------------------------------
def test_warm_start_regex_takes_trainable_variables_only(trained_mlp, tmp_path):
    t = trained_mlp
    source = t["estimator"]
    warm = Estimator(t["case"]["model_fn"], model_dir=str(tmp_path), params=t["case"]["params"],
                     warm_start_from=WarmStartSettings(source.model_dir,
                                                       vars_to_warm_start="mlp/hidden/.*"))
    warm.train(t["train_fn"], steps=1)
    start = initial_checkpoint(warm)
    assert checkpoint_steps(str(tmp_path)) == [0, 1]
    for name in ("mlp/hidden/kernel", "mlp/hidden/bias"):  # warm-started
        np.testing.assert_array_equal(start[name], source.get_variable_value(name))
    mlp = t["case"]["model_fn"].__globals__
    np.testing.assert_array_equal(start["mlp/logits/kernel"], mlp["_MLP_W2"])  # not matched
    np.testing.assert_array_equal(start["mlp/hidden/kernel/Adam"], 0)  # slots are not trainable
    assert start["global_step"] == 0


def test_warm_start_from_a_path_and_a_list_including_non_trainable(trained_mlp, tmp_path):
    t = trained_mlp
    source = t["estimator"]
    # a path: every trainable variable, so predictions equal the source's (no checkpoint yet:
    # tf.estimator warm-started prediction too)
    by_path = Estimator(t["case"]["model_fn"], model_dir=str(tmp_path / "path"),
                        params=t["case"]["params"], warm_start_from=t["ckpt"])
    expected = [p["logits"] for p in source.predict(t["predict_fn"])]
    np.testing.assert_array_equal([p["logits"] for p in by_path.predict(t["predict_fn"])],
                                  expected)
    # a list of regexes: GLOBAL variables, slots and global_step included
    listed = Estimator(t["case"]["model_fn"], model_dir=str(tmp_path / "list"),
                       params=t["case"]["params"],
                       warm_start_from=WarmStartSettings(source.model_dir, [".*"]))
    listed.train(t["train_fn"], steps=1)
    assert checkpoint_steps(listed.model_dir) == [20, 21]  # global_step came along
    start = initial_checkpoint(listed)
    for name in ("mlp/hidden/kernel/Adam_1", "beta1_power", "mlp/logits/bias"):
        np.testing.assert_array_equal(start[name], source.get_variable_value(name))


def test_warm_start_with_renamed_variables_and_from_a_saved_model(tmp_path):
    def model_fn_in(scope):
        def model_fn(features, labels, mode):
            with tf.compat.v1.variable_scope(scope):
                w = tf.compat.v1.get_variable("w", initializer=tf.constant([[0.5], [-1.0]]))
                b = tf.compat.v1.get_variable("b", initializer=tf.constant([0.0]))
            pred = tf.matmul(features, w) + b
            if mode == ks.ModeKeys.PREDICT:
                return ks.EstimatorSpec(mode, predictions={"y": pred[:, 0]})
            loss = tf.reduce_mean(tf.square(pred - labels))
            return ks.EstimatorSpec(mode, loss=loss, train_op=tf.compat.v1.train.AdamOptimizer(
                0.1).minimize(loss, global_step=tf.compat.v1.train.get_global_step()))
        return model_fn

    x = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    data = lambda: (x, np.array([[1.0], [2.0]], np.float32))  # noqa: E731
    old = Estimator(model_fn_in("old"), model_dir=str(tmp_path / "old"))
    old.train(data, steps=5)
    old_w, old_b = old.get_variable_value("old/w"), old.get_variable_value("old/b")

    renamed = Estimator(model_fn_in("new"), model_dir=str(tmp_path / "new"),
                        warm_start_from=WarmStartSettings(
                            old.model_dir, var_name_to_prev_var_name={"new/w": "old/w",
                                                                      "new/b": "old/b"}))
    [p1, p2] = [p["y"] for p in renamed.predict(lambda: x)]
    np.testing.assert_allclose([p1, p2], (x @ old_w + old_b)[:, 0], rtol=1e-6)

    def receiver():
        placeholder = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        return ks.export.TensorServingInputReceiver(placeholder, {"x": placeholder})

    exported = old.export_saved_model(str(tmp_path / "export"), receiver)
    from_saved_model = Estimator(model_fn_in("old"), model_dir=str(tmp_path / "sm"),
                                 warm_start_from=exported)  # object-based variables, TF1 names
    np.testing.assert_allclose([p["y"] for p in from_saved_model.predict(lambda: x)], [p1, p2],
                               rtol=1e-6)
    # export without a checkpoint uses the warm-start checkpoint, as tf.estimator did
    again = Estimator(model_fn_in("old"), model_dir=str(tmp_path / "none"),
                      warm_start_from=old.model_dir)
    assert os.path.isdir(again.export_saved_model(str(tmp_path / "export2"), receiver))

    misspelled = Estimator(model_fn_in("new"), model_dir=str(tmp_path / "bad"),
                           warm_start_from=WarmStartSettings(
                               old.model_dir, var_name_to_prev_var_name={
                               "new/w": "old/w", "new/b": "old/b", "new/v": "old/w"}))
    with pytest.raises(ValueError, match=r"var_name_to_prev_var_name that were not used: "
                                         r"\{'new/v'\}"):
        next(misspelled.predict(lambda: x))
    missing = Estimator(model_fn_in("new"), model_dir=str(tmp_path / "missing"),
                        warm_start_from=old.model_dir)
    with pytest.raises(ValueError, match="Tensor new/b is not found in .*old/model.ckpt-5"):
        missing.train(data, steps=1)


def test_warm_start_settings_errors():
    with pytest.raises(ValueError, match="`ckpt_to_initialize_from` MUST be set"):
        WarmStartSettings("")
    with pytest.raises(NotImplementedError, match="var_name_to_vocab_info"):
        WarmStartSettings("/tmp/x", var_name_to_vocab_info={"emb": object()})
    case, _, _, _ = case_and_fns("linreg")
    with pytest.raises(ValueError, match="warm_start_from must be a string or a WarmStartSettings"):
        Estimator(case["model_fn"], params=case["params"], warm_start_from=3)
    settings = WarmStartSettings("/tmp/x")
    assert settings.vars_to_warm_start == ".*" and settings.var_name_to_prev_var_name == {}


# -- TPUEstimator ------------------------------------------------------------------------------
def tpu_config(**kwargs):
    return tpu.RunConfig(tpu_config=TPUConfig(iterations_per_loop=2), **kwargs)


def test_tpu_estimator_rules():
    case, train_fn, _, _ = case_and_fns("tpu_metrics")
    with pytest.raises(ValueError, match="use_tpu=False") as error:
        TPUEstimator(case["model_fn"], config=tpu_config(), params=case["params"],
                     train_batch_size=32)
    assert "no TPU" in str(error.value) and "MirroredStrategy" in str(error.value)
    with pytest.raises(ValueError, match="`train_batch_size` cannot be `None`"):
        TPUEstimator(case["model_fn"], config=tpu_config(), params=case["params"])
    with pytest.raises(ValueError, match="reserved keys"):
        TPUEstimator(case["model_fn"], config=tpu_config(), params={"batch_size": 8},
                     use_tpu=False)
    with pytest.raises(ValueError, match="`config` must be provided with type"):
        TPUEstimator(case["model_fn"], config=RunConfig(), params=case["params"], use_tpu=False)
    with pytest.raises(TypeError, match="eval_batch_size must be int"):
        TPUEstimator(case["model_fn"], config=tpu_config(), params=case["params"],
                     use_tpu=False, eval_batch_size=1.5)
    with pytest.raises(NotImplementedError, match="time-based"):
        TPUEstimator(case["model_fn"], config=tpu.RunConfig(tpu_config=TPUConfig("30s")),
                     params=case["params"], use_tpu=False)
    estimator = TPUEstimator(case["model_fn"], config=tpu_config(), params=case["params"],
                             use_tpu=False, train_batch_size=32)
    with pytest.raises(ValueError, match="does not include params argument, required by "
                                         "TPUEstimator"):
        estimator.train(train_fn, steps=2)


def test_tpu_config_and_run_config():
    with pytest.raises(ValueError, match="iterations_per_loop"):
        TPUConfig(iterations_per_loop=0)
    with pytest.raises(ValueError, match="num_cores_per_replica must be"):
        TPUConfig(num_cores_per_replica=3)
    with pytest.raises(TypeError, match="num_shards must be int"):
        TPUConfig(num_shards="8")
    assert TPUConfig(per_host_input_for_training=False).per_host_input_for_training == 1
    config = tpu.RunConfig(tpu_config=TPUConfig(iterations_per_loop=7), master="grpc://x",
                           save_checkpoints_steps=50)
    replaced = config.replace(model_dir="/tmp/m", keep_checkpoint_max=2)
    assert isinstance(replaced, tpu.RunConfig) and replaced.tpu_config.iterations_per_loop == 7
    assert (replaced.model_dir, replaced.keep_checkpoint_max, replaced.master) == (
        "/tmp/m", 2, "grpc://x")
    assert replaced.save_checkpoints_steps == 50 and config.model_dir is None
    assert config.replace(tpu_config=TPUConfig(3)).tpu_config.iterations_per_loop == 3
    with pytest.raises(ValueError, match="Both master and cluster are set"):
        tpu.RunConfig(master="a", cluster=object())


def test_iterations_per_loop_is_steps_per_execution_with_exact_step_counts(tmp_path):
    case, _, _, _ = case_and_fns("tpu_metrics")

    def input_fn(params):
        return tf.data.Dataset.from_tensor_slices(({"x": case["train_x"]}, case["train_y"])).repeat(
        ).batch(params["batch_size"], drop_remainder=True)

    estimator = TPUEstimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"],
                             config=tpu.RunConfig(tpu_config=TPUConfig(iterations_per_loop=4),
                                                  save_checkpoints_steps=4),
                             use_tpu=False, train_batch_size=32)
    estimator.train(input_fn, steps=10)  # not a multiple of 4: still exactly 10 steps
    assert estimator.get_variable_value("global_step") == 10
    assert estimator._spec_model().steps_per_execution == 4
    assert checkpoint_steps(str(tmp_path)) == [0, 4, 8, 10]  # saves at loop boundaries + end
    estimator.train(input_fn, max_steps=13)
    assert estimator.get_variable_value("global_step") == 13


# -- TrainSpec / EvalSpec / train_and_evaluate ----------------------------------------------------
def test_spec_validation():
    fn = lambda: None  # noqa: E731
    with pytest.raises(TypeError, match="`input_fn` must be callable"):
        TrainSpec(input_fn=3)
    with pytest.raises(ValueError, match="Must specify max_steps > 0, given: 0"):
        TrainSpec(fn, max_steps=0)
    with pytest.raises(TypeError, match="All hooks must be `SessionRunHook` instances"):
        TrainSpec(fn, hooks=[3])
    with pytest.raises(TypeError, match="All saving_listeners must be `CheckpointSaverListener`"):
        TrainSpec(fn, saving_listeners=[3])
    with pytest.raises(ValueError, match="Must specify steps > 0, given: -1"):
        EvalSpec(fn, steps=-1)
    with pytest.raises(TypeError, match="`name` must be string"):
        EvalSpec(fn, name=3)
    with pytest.raises(ValueError, match="throttle_secs >= 0"):
        EvalSpec(fn, throttle_secs=-1)
    with pytest.raises(ValueError, match="start_delay_secs >= 0"):
        EvalSpec(fn, start_delay_secs=-1)
    with pytest.raises(TypeError, match="`exporters` must be an Exporter"):
        EvalSpec(fn, exporters=[3])
    same = LatestExporter("a", fn)
    with pytest.raises(ValueError, match="unique names"):
        EvalSpec(fn, exporters=[same, FinalExporter("a", fn)])
    with pytest.raises(ValueError, match="exports_to_keep"):
        LatestExporter("b", fn, exports_to_keep=0)
    spec = EvalSpec(fn, exporters=same)
    assert spec.exporters == (same,) and spec.steps == 100 and spec.throttle_secs == 600
    assert TrainSpec(fn).hooks == () and TrainSpec(fn, max_steps=3).max_steps == 3
    with pytest.raises(TypeError, match="`eval_spec` must have type"):
        train_and_evaluate(None, TrainSpec(fn), None)
    with pytest.raises(TypeError, match="`estimator` must have type"):
        train_and_evaluate(object(), TrainSpec(fn), EvalSpec(fn))


def test_train_and_evaluate_alternates_and_exports(tmp_path):
    """linreg, checkpoints every 20 steps to 60: evaluations at 20, 40 and 60 without
    restarting the training input, so the final numbers are tf.estimator's own (golden)."""
    case, train_fn, eval_fn, _ = case_and_fns("linreg")
    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"],
                          config=RunConfig(save_checkpoints_steps=20, tf_random_seed=0))
    receiver = ks.export.build_parsing_serving_input_receiver_fn(
        {"x": tf.io.FixedLenFeature([3], tf.float32)})
    latest, final = LatestExporter("latest", receiver, exports_to_keep=2), FinalExporter("final",
                                                                                         receiver)
    result, exports = train_and_evaluate(
        estimator, TrainSpec(train_fn, max_steps=60),
        EvalSpec(eval_fn, steps=2, throttle_secs=0, exporters=[latest, final]))
    for key, value in GOLDEN["linreg"]["evaluate"].items():
        assert max_relative_error(result[key], value) < 1e-4, key
    assert sorted(read_events(os.path.join(str(tmp_path), "eval"))["loss"]) == [20, 40, 60]
    exports = [path.decode() for path in exports]  # bytes, as tf.estimator's exporters returned
    assert len(exports) == 2 and exports[0].startswith(str(tmp_path / "export" / "latest"))
    assert exports[1].startswith(str(tmp_path / "export" / "final"))
    assert len(os.listdir(tmp_path / "export" / "latest")) == 2  # 3 exports, 2 kept
    assert os.listdir(tmp_path / "export" / "final") == [os.path.basename(exports[1])]
    # max_steps already reached: nothing trains or evaluates
    assert train_and_evaluate(estimator, TrainSpec(train_fn, max_steps=60),
                              EvalSpec(eval_fn, steps=2)) == (None, None)


def test_train_and_evaluate_throttles_evaluations(tmp_path):
    case, train_fn, eval_fn, _ = case_and_fns("linreg")
    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"],
                          config=RunConfig(save_checkpoints_steps=10))
    result, exports = train_and_evaluate(estimator, TrainSpec(train_fn, max_steps=40),
                                         EvalSpec(eval_fn, steps=1))  # throttle_secs=600
    # the first checkpoint after the start is evaluated, then only the final one
    assert sorted(read_events(os.path.join(str(tmp_path), "eval"))["loss"]) == [10, 40]
    assert result["global_step"] == 40 and exports == []
