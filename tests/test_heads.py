"""tf.estimator 2.15's Heads on keras-spec, against goldens recorded with tf.estimator 2.15.

tests/goldens/heads/record_heads.py (run under TF 2.15.1 + tensorflow-estimator 2.15.0) ran
every head configuration of tests/goldens/heads/heads_cases.py through tf.estimator.Estimator; here
the same model_fns run with keras_spec's heads through SpecModel and the Estimator facade.
"""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import Estimator, RunConfig, SpecModel
from heads_golden import (GOLDEN, KERAS_OPTIMIZER, STEPLESS, assert_close, cases,
                          compare_evaluate, compare_export, dataset, parsing_receiver,
                          raw_receiver)

ROOT = str(pathlib.Path(__file__).resolve().parents[1])


RAW_EXPORT = {"binary", "multi_label", "regression", "multi_head"}


def _fit(name):
    model = SpecModel(cases.make_model_fn(name, ks))
    model.compile()
    steps = cases.N_TRAIN * cases.TRAIN_REPEAT // cases.TRAIN_BATCH
    history = model.fit(dataset(name, "train"), epochs=steps, steps_per_epoch=1, verbose=0)
    return model, history.history["loss"]


@pytest.mark.filterwarnings("ignore:Head")
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_spec_model_reproduces_tf_estimator(name, tmp_path):
    """Per-step losses, variables, metrics, predictions and both exports' signatures."""
    golden = GOLDEN[name]
    model, losses = _fit(name)
    assert_close(losses, golden["train_losses"], "train losses")
    if name in STEPLESS:  # tf.estimator kept global_step at 0 (and so will the facade)
        assert int(model.global_step.numpy()) == 0
        return
    assert int(model.global_step.numpy()) == golden["variables"]["global_step"] == 6
    for var, value in golden["variables"].items():
        if var == "global_step" or (name in KERAS_OPTIMIZER and var.startswith("training/")):
            continue
        assert_close(model.get_variable_value(var), value, var)
    evaluation = model.evaluate(dataset(name, "eval"), return_dict=True, verbose=0)
    compare_evaluate(evaluation, golden["evaluate"], name)
    features, _ = cases.data(name, "eval")
    predictions = model.predict(tf.data.Dataset.from_tensor_slices(features).batch(5), verbose=0)
    keys = [tuple(k) if isinstance(k, list) else k for k in golden["predict_keys"]]
    assert sorted(predictions) == sorted(keys)
    for key in keys:
        flat = "|".join(key) if isinstance(key, tuple) else key
        assert_close(predictions[key], golden["predict"][flat], f"predict {flat}")
    receivers = [("parsing", parsing_receiver())]
    if name in RAW_EXPORT:  # raw receivers keep the predict signatures only
        receivers.append(("raw", raw_receiver()))
    for kind, receiver in receivers:
        path = model.export_saved_model(str(tmp_path / kind), receiver)
        compare_export(path, golden["exports"][kind], f"{name} {kind} export")


def _input_fn(name, split):
    return lambda: dataset(name, split)


@pytest.mark.filterwarnings("ignore:Head")
@pytest.mark.parametrize("name", ["binary_keras_optimizer", "multi_head",
                                  "regression_keras_optimizer_step"])
def test_estimator_facade_reproduces_tf_estimator(name, tmp_path):
    """train / evaluate / predict / export_saved_model through adapters.Estimator.

    binary_keras_optimizer shows tf.estimator's optimizer= behaviour: the global step stays 0,
    so the checkpoint holds the initial values and evaluate reports the untrained model.
    """
    golden = GOLDEN[name]
    estimator = Estimator(cases.make_model_fn(name, ks), model_dir=str(tmp_path / "model"),
                          config=RunConfig(tf_random_seed=1))
    estimator.train(_input_fn(name, "train"))
    for var in ("linear/kernel", "linear/bias"):
        assert_close(estimator.get_variable_value(var), golden["variables"][var], var)
    evaluation = estimator.evaluate(_input_fn(name, "eval"))
    compare_evaluate(evaluation, golden["evaluate"], name)
    expected_step = 0 if name in STEPLESS else 6
    assert evaluation["global_step"] == expected_step
    predictions = list(estimator.predict(_input_fn(name, "eval")))
    keys = [tuple(k) if isinstance(k, list) else k for k in golden["predict_keys"]]
    assert sorted(predictions[0]) == sorted(keys)
    for key in keys:
        flat = "|".join(key) if isinstance(key, tuple) else key
        assert_close(np.stack([p[key] for p in predictions]), golden["predict"][flat], flat)
    if name == "multi_head":
        path = estimator.export_saved_model(str(tmp_path / "export"), parsing_receiver())
        compare_export(path.decode() if isinstance(path, bytes) else path,
                       golden["exports"]["parsing"], f"{name} facade export")


# -- optimizer= and the global step ----------------------------------------------------------
def _keras_optimizer_model_fn(advance):
    def model_fn(features, labels, mode):
        kernel = tf.compat.v1.get_variable("kernel", [cases.DIM, 1],
                                           initializer=tf.compat.v1.zeros_initializer())
        logits = tf.matmul(features["x"], kernel)
        return ks.RegressionHead().create_estimator_spec(
            features=features, mode=mode, logits=logits, labels=labels,
            optimizer=keras.optimizers.SGD(cases.LEARNING_RATE), trainable_variables=[kernel],
            update_ops=[ks.heads.increment_global_step()] if advance else None)
    return model_fn


def test_optimizer_without_step_update_warns_and_keeps_global_step(tmp_path):
    """As in tf.estimator 2.15: trained, but global_step stays 0, so no checkpoint holds it."""
    estimator = Estimator(_keras_optimizer_model_fn(False), model_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="does not advance the global step"):
        estimator.train(_input_fn("regression_keras_optimizer_step", "train"))
    assert estimator.get_variable_value("global_step") == 0
    assert not np.any(estimator.get_variable_value("kernel"))  # step 0: the initial values


def test_increment_global_step_advances_once_per_step(tmp_path, recwarn):
    estimator = Estimator(_keras_optimizer_model_fn(True), model_dir=str(tmp_path))
    estimator.train(_input_fn("regression_keras_optimizer_step", "train"))
    evaluation = estimator.evaluate(_input_fn("regression_keras_optimizer_step", "eval"))
    assert evaluation["global_step"] == 6  # evaluation does not run the TRAIN-only update
    assert np.any(estimator.get_variable_value("kernel"))
    assert not [w for w in recwarn if "global step" in str(w.message)]


# -- under MirroredStrategy ------------------------------------------------------------------
def test_head_on_two_replicas_matches_tf_estimator():
    """multi_class_vocab_weights (weights, vocabulary, SGD train_op_fn) on 2 replicas: each
    replica gets half of every batch; compat.v1 SGD averages their gradients."""
    # One MirroredStrategy per process (TF's collective keys): reuse test_distribution's.
    from test_distribution import two_replicas  # pylint: disable=g-import-not-at-top

    name, golden = "multi_class_vocab_weights", GOLDEN["multi_class_vocab_weights"]
    with two_replicas().scope():
        model = SpecModel(cases.make_model_fn(name, ks))
        model.compile()
    history = model.fit(dataset(name, "train"), epochs=6, steps_per_epoch=1, verbose=0)
    assert_close(history.history["loss"], golden["train_losses"], "train losses")
    for var in ("linear/kernel", "linear/bias"):
        assert_close(model.get_variable_value(var), golden["variables"][var], var)
    evaluation = model.evaluate(dataset(name, "eval", batch=6), return_dict=True, verbose=0)
    for key in ("accuracy/mc", "average_loss/mc"):  # batch-independent: the same over replicas
        assert_close(evaluation[key], golden["evaluate"][key], key)


# -- the tf.estimator names ------------------------------------------------------------------
def test_tf_estimator_names():
    assert ks.heads.TF_ESTIMATOR_NAMES["MultiClassHead"] is ks.MultiClassHead
    assert sorted(ks.heads.TF_ESTIMATOR_NAMES) == sorted(
        ["Head", "BinaryClassHead", "MultiClassHead", "MultiLabelHead", "RegressionHead",
         "LogisticRegressionHead", "PoissonRegressionHead", "MultiHead"])
    # install() changes tf for the whole process: check it in a fresh one.
    code = ("import tensorflow as tf, keras_spec as ks\n"
            "import adapters.estimator; adapters.estimator.install()\n"
            "assert tf.estimator.MultiClassHead is ks.MultiClassHead\n"
            "assert tf.compat.v1.estimator.BinaryClassHead is ks.BinaryClassHead\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


# -- clear errors ----------------------------------------------------------------------------
def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="label_vocabulary.*n_classes"):
        ks.MultiClassHead(3, label_vocabulary=["a", "b"])
    with pytest.raises(ValueError, match="label_vocabulary should be a list or a tuple"):
        ks.BinaryClassHead(label_vocabulary="ab")
    with pytest.raises(ValueError, match="n_classes must be > 2"):
        ks.MultiClassHead(2)
    with pytest.raises(ValueError, match="thresholds not in"):
        ks.BinaryClassHead(thresholds=[1.5])
    with pytest.raises(ValueError, match="Invalid loss_reduction"):
        ks.RegressionHead(loss_reduction="none")
    with pytest.raises(ValueError, match="loss_fn must contain argument: logits"):
        ks.RegressionHead(loss_fn=lambda labels, preds: labels)
    with pytest.raises(ValueError, match="classes_for_class_based_metrics"):
        ks.MultiLabelHead(3, classes_for_class_based_metrics=[3])
    with pytest.raises(ValueError, match="must have name"):
        ks.MultiHead([ks.RegressionHead()])


def test_batch_errors_name_the_field():
    logits = tf.zeros([2, 3])
    with pytest.raises(ValueError, match="logits_dimension=4"):
        ks.MultiClassHead(4).loss(labels=[[0], [1]], logits=logits)
    with pytest.raises(ValueError, match="weight_column 'w' is not in features"):
        ks.MultiClassHead(3, weight_column="w").loss(labels=[[0], [1]], logits=logits,
                                                      features={"x": logits})
    with pytest.raises(ValueError, match="Mismatched label shape"):
        ks.MultiClassHead(3).loss(labels=tf.zeros([2, 2], tf.int64), logits=logits)
    with pytest.raises(ValueError, match="Labels dtype should be integer"):
        ks.MultiClassHead(3).loss(labels=[[0.0], [1.0]], logits=logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match="n_classes=3"):
        ks.MultiClassHead(3).loss(labels=[[0], [3]], logits=logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"label_vocabulary \['a', 'b', 'c'\]"):
        ks.MultiClassHead(3, label_vocabulary=["a", "b", "c"]).loss(labels=[["a"], ["z"]],
                                                                    logits=logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match="indicator"):
        ks.MultiLabelHead(3).loss(labels=[[0, 2, 1], [1, 0, 0]], logits=logits)
    with pytest.raises(ValueError, match="labels has missing values for head"):
        ks.MultiHead([ks.RegressionHead(name="a"), ks.RegressionHead(name="b")]).loss(
            labels={"a": [[0.0], [1.0]]}, logits=tf.zeros([2, 2]))
    with pytest.raises(ValueError, match="You must provide a labels Tensor"):
        ks.RegressionHead().loss(labels=None, logits=tf.zeros([2, 1]))


def test_train_op_argument_errors():
    head = ks.RegressionHead()
    with tf.Graph().as_default():
        logits, labels = tf.zeros([2, 1]), tf.zeros([2, 1])
        with pytest.raises(ValueError, match="cannot both be None"):
            head.create_estimator_spec({}, "train", logits, labels)
        with pytest.raises(ValueError, match="cannot both be set"):
            head.create_estimator_spec({}, "train", logits, labels, optimizer=object(),
                                       train_op_fn=lambda loss: tf.no_op())
        with pytest.raises(ValueError, match="not a Keras 3 optimizer"):
            head.create_estimator_spec({}, "train", logits, labels, optimizer="sgd",
                                       trainable_variables=[])
        with pytest.raises(ValueError, match="trainable_variables cannot be None"):
            head.create_estimator_spec({}, "train", logits, labels,
                                       optimizer=keras.optimizers.SGD())
