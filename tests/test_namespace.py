"""Issue 12 items 1, 7, 11, 13: the drop-in tf.estimator namespace, install(), export names.

The name lists below are `dir()` of TF 2.15.1 + tensorflow-estimator 2.15.0's `tf.estimator`,
`tf.compat.v1.estimator` and their submodules (public names), recorded with /work/tf215.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import adapters.estimator as tf_estimator
from adapters.estimator.not_provided import NotProvidedError

TF215 = {
    "": ["BaselineClassifier", "BaselineEstimator", "BaselineRegressor", "BestExporter",
         "BinaryClassHead", "CheckpointSaverHook", "CheckpointSaverListener", "DNNClassifier",
         "DNNEstimator", "DNNLinearCombinedClassifier", "DNNLinearCombinedEstimator",
         "DNNLinearCombinedRegressor", "DNNRegressor", "Estimator", "EstimatorSpec", "EvalSpec",
         "Exporter", "FeedFnHook", "FinalExporter", "FinalOpsHook", "GlobalStepWaiterHook",
         "Head", "LatestExporter", "LinearClassifier", "LinearEstimator", "LinearRegressor",
         "LoggingTensorHook", "LogisticRegressionHead", "ModeKeys", "MultiClassHead",
         "MultiHead", "MultiLabelHead", "NanLossDuringTrainingError", "NanTensorHook",
         "PoissonRegressionHead", "ProfilerHook", "RegressionHead", "RunConfig",
         "SecondOrStepTimer", "SessionRunArgs", "SessionRunContext", "SessionRunHook",
         "SessionRunValues", "StepCounterHook", "StopAtStepHook", "SummarySaverHook",
         "TrainSpec", "VocabInfo", "WarmStartSettings", "add_metrics",
         "classifier_parse_example_spec", "experimental", "export", "inputs",
         "regressor_parse_example_spec", "tpu", "train_and_evaluate"],
    "export": ["ClassificationOutput", "EvalOutput", "ExportOutput", "PredictOutput",
               "RegressionOutput", "ServingInputReceiver", "TensorServingInputReceiver",
               "build_parsing_serving_input_receiver_fn", "build_raw_serving_input_receiver_fn"],
    "experimental": ["InMemoryEvaluatorHook", "KMeans", "LinearSDCA", "RNNClassifier",
                     "RNNEstimator", "build_raw_supervised_input_receiver_fn", "call_logit_fn",
                     "dnn_logit_fn_builder", "linear_logit_fn_builder", "make_early_stopping_hook",
                     "make_stop_at_checkpoint_step_hook", "stop_if_higher_hook",
                     "stop_if_lower_hook", "stop_if_no_decrease_hook",
                     "stop_if_no_increase_hook"],
    "tpu": ["InputPipelineConfig", "RunConfig", "TPUConfig", "TPUEstimator", "TPUEstimatorSpec",
            "experimental"],
    "tpu.experimental": ["EmbeddingConfigSpec"],
    "inputs": ["numpy_input_fn", "pandas_input_fn"],
}


def _module(dotted: str):
    module = tf_estimator
    for part in filter(None, dotted.split(".")):
        module = getattr(module, part)
    return module


@pytest.mark.parametrize("prefix", sorted(TF215))
def test_every_tf_estimator_name_is_provided_or_names_its_replacement(prefix):
    module = _module(prefix)
    for name in TF215[prefix]:
        dotted = f"{prefix}.{name}" if prefix else name
        if dotted in tf_estimator.NOT_PROVIDED:
            assert not hasattr(module, name), dotted
            with pytest.raises(NotProvidedError, match=f"tf.estimator.{dotted} is not provided"
                               ) as error:
                getattr(module, name)
            assert isinstance(error.value, AttributeError)
            assert tf_estimator.NOT_PROVIDED[dotted] in str(error.value)
            assert name not in getattr(module, "__all__", [])
        else:
            assert getattr(module, name) is not None, dotted
            if prefix != "tpu.experimental":
                assert name in module.__all__, dotted
    assert not (set(tf_estimator.NOT_PROVIDED) & set(tf_estimator.__all__))


def test_names_are_the_ones_model_fns_already_use():
    ns = tf_estimator
    # hooks are TensorFlow's own classes, as tf.estimator re-exported them
    assert ns.SessionRunHook is tf.compat.v1.train.SessionRunHook
    assert ns.LoggingTensorHook is tf.compat.v1.train.LoggingTensorHook
    assert ns.NanLossDuringTrainingError is tf.compat.v1.train.NanLossDuringTrainingError
    assert ns.ModeKeys.PREDICT == "infer" and ns.ModeKeys.EVAL == "eval"
    import keras_spec
    assert ns.tpu.TPUEstimatorSpec is keras_spec.TPUEstimatorSpec
    assert ns.EstimatorSpec is keras_spec.EstimatorSpec
    assert ns.export.ServingInputReceiver is keras_spec.export.ServingInputReceiver
    assert issubclass(ns.tpu.TPUEstimator, ns.Estimator)


def test_not_provided_advice_names_a_replacement():
    for dotted, advice in tf_estimator.NOT_PROVIDED.items():
        assert len(advice) > 30, dotted
        assert advice[0].islower() or advice.startswith(("TPU", "TensorFlow")), dotted
    assert "keras" in tf_estimator.NOT_PROVIDED["DNNClassifier"].lower()
    assert "LSTM" in tf_estimator.NOT_PROVIDED["experimental.RNNClassifier"]


def _run(code: str, block_tf_keras: bool = False) -> str:
    prelude = "import sys; sys.modules['tf_keras'] = None\n" if block_tf_keras else ""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_install_makes_tf_estimator_the_namespace_and_brings_tf1_layers():
    out = _run("""
        import tensorflow as tf
        import keras_spec, adapters, adapters.estimator as ns
        assert not hasattr(tf, "estimator") and not hasattr(tf.compat.v1, "estimator")
        assert ns.install() is ns and ns.install() is ns       # idempotent
        assert tf.estimator is ns and tf.compat.v1.estimator is ns and tf.compat.v2.estimator is ns
        import tensorflow.compat.v1 as tf1
        from tensorflow.estimator import Estimator, RunConfig
        from tensorflow.compat.v1.estimator.tpu import TPUEstimator, TPUEstimatorSpec
        from tensorflow.estimator.experimental import stop_if_no_decrease_hook
        from tensorflow.compat.v1.estimator.export import ServingInputReceiver
        assert tf1.estimator.tpu.TPUEstimator is TPUEstimator is ns.tpu.TPUEstimator
        assert tf.estimator.experimental.stop_if_no_decrease_hook is stop_if_no_decrease_hook
        assert not hasattr(tf.estimator, "DNNClassifier") and ns.installed()
        # tf.compat.v1.layers are tf_keras's TF1 layers (no "not available with Keras 3")
        import tf_keras
        y = tf1.layers.dense(tf.ones([2, 3]), 4)
        print("dense", tuple(y.shape), tf1.layers.dense.__module__.split(".")[0])
    """)
    assert "dense (2, 4) tf_keras" in out


def test_install_without_tf_keras_names_the_extra():
    out = _run("""
        import tensorflow as tf
        import adapters.estimator as ns
        ns.install()
        assert tf.estimator is ns and tf.compat.v1.estimator.Estimator is ns.Estimator
        try:
            tf.compat.v1.layers.dense(tf.ones([2, 3]), 4)
        except ImportError as e:
            print("ERROR", e)
    """, block_tf_keras=True)
    assert "ERROR tf.compat.v1.layers.dense needs the tf_keras package" in out
    assert 'pip install "keras-spec[legacy-layers]"' in out


# -- export: TF 1.x name, bytes -------------------------------------------------------------------
def _linear_model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable("w", [3, 1], initializer=tf.compat.v1.ones_initializer())
    y = tf.matmul(features["x"], w)[:, 0]
    if mode == tf_estimator.ModeKeys.PREDICT:
        return tf_estimator.EstimatorSpec(mode, predictions={"y": y}, export_outputs={
            "serving_default": tf_estimator.export.RegressionOutput(y)})
    loss = tf.reduce_mean(tf.square(y - labels))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.01).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return tf_estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_export_savedmodel_tf1_name_returns_bytes_and_serves(tmp_path):
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32)
    estimator = tf_estimator.Estimator(_linear_model_fn, model_dir=str(tmp_path / "m"))
    estimator.train(lambda: tf.data.Dataset.from_tensors(({"x": x}, np.float32([1, 2]))).repeat(),
                    steps=3)
    receiver = tf_estimator.export.build_parsing_serving_input_receiver_fn(
        {"x": tf.io.FixedLenFeature([3], tf.float32)})
    old = estimator.export_savedmodel(str(tmp_path / "e"), receiver, strip_default_attrs=True)
    new = estimator.export_saved_model(str(tmp_path / "e"), receiver)
    assert isinstance(old, bytes) and isinstance(new, bytes) and old != new
    assert os.path.dirname(old.decode()) == str(tmp_path / "e")
    examples = [tf.train.Example(features=tf.train.Features(feature={"x": tf.train.Feature(
        float_list=tf.train.FloatList(value=row))})).SerializeToString() for row in x]
    w = estimator.get_variable_value("w")
    for path in (old, new):
        served = tf.saved_model.load(path.decode()).signatures["serving_default"](
            inputs=tf.constant(examples))["outputs"].numpy()
        np.testing.assert_allclose(served, (x @ w)[:, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="An input_receiver_fn must be defined"):
        estimator.export_savedmodel(str(tmp_path / "e"), None)


# -- small tf.estimator functions kept ------------------------------------------------------------
def test_parse_example_specs_add_label_and_weight():
    columns = [tf.feature_column.numeric_column("x", shape=[2]),
               tf.feature_column.categorical_column_with_hash_bucket("c", 10)]
    spec = tf_estimator.classifier_parse_example_spec(columns, "label", weight_column="w")
    assert spec == {"x": tf.io.FixedLenFeature((2,), tf.float32),
                    "c": tf.io.VarLenFeature(tf.string),
                    "label": tf.io.FixedLenFeature((1,), tf.int64),
                    "w": tf.io.FixedLenFeature((1,), tf.float32)}
    spec = tf_estimator.regressor_parse_example_spec(columns, "y", label_dimension=3)
    assert spec["y"] == tf.io.FixedLenFeature((3,), tf.float32) and len(spec) == 3
    with pytest.raises(ValueError, match="label should not be used as feature"):
        tf_estimator.classifier_parse_example_spec(columns, "x")


def test_numpy_input_fn_batches_in_order():
    x = {"a": np.arange(5, dtype=np.float32)}
    y = np.arange(5, dtype=np.int64) * 10
    batches = list(tf_estimator.inputs.numpy_input_fn(x, y, batch_size=2, shuffle=False)())
    assert [b[0]["a"].numpy().tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert [b[1].numpy().tolist() for b in batches] == [[0, 10], [20, 30], [40]]
    two_epochs = list(tf_estimator.inputs.numpy_input_fn(x, None, 5, num_epochs=2,
                                                         shuffle=True)())
    assert [sorted(b["a"].numpy().tolist()) for b in two_epochs] == [[0, 1, 2, 3, 4]] * 2
    with pytest.raises(ValueError, match="shuffle must be provided"):
        tf_estimator.inputs.numpy_input_fn(x, y)
    with pytest.raises(ValueError, match="differ in length"):
        tf_estimator.inputs.numpy_input_fn(x, y[:3], shuffle=False)


def test_vocab_info_builds_and_warm_start_refuses_it_clearly():
    info = tf_estimator.VocabInfo("new.txt", 10, 1, "old.txt")
    assert info.old_vocab_size == -1 and info.axis == 0
    with pytest.raises(NotImplementedError, match="var_name_to_vocab_info"):
        tf_estimator.WarmStartSettings("ckpt", var_name_to_vocab_info={"emb": info})


def test_early_stopping_hook_arguments_are_checked(tmp_path):
    estimator = tf_estimator.Estimator(_linear_model_fn, model_dir=str(tmp_path))
    experimental = tf_estimator.experimental
    with pytest.raises(ValueError, match="Only one of `run_every_secs` and `run_every_steps`"):
        experimental.stop_if_no_decrease_hook(estimator, "loss", 10, run_every_steps=5)
    with pytest.raises(TypeError, match="must have type `tf.estimator.Estimator`"):
        experimental.stop_if_lower_hook(object(), "loss", 1.0)
    hook = experimental.stop_if_higher_hook(estimator, "accuracy", 0.9)
    assert isinstance(hook, tf.compat.v1.train.SessionRunHook)
    assert estimator.eval_dir() == str(tmp_path / "eval")
