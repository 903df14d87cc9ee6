"""Engine / TF1-emulation behaviour real model_fns rely on (issue 12, items 2, 4, 8, 9, 10, 12).

Reference numbers and event-file layouts come from tf.estimator 2.15
(tests/real_world/goldens/engine_summaries_record.py -> engine_summaries.json) or closed forms.
"""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_spec
from adapters.engine.spec_model import SpecModel
from adapters.estimator.estimator import Estimator
from adapters.estimator import tpu as tpu_facade
from keras_spec.run_config import RunConfig

from estimator_helpers import read_events

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "real_world", "goldens",
                                     "engine_summaries.json")))


def two_replicas():
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


# -- item 2 / item 4: features-only eval input; eval loss = mean of per-batch losses ---------
RNG = np.random.RandomState(0)
X = RNG.randn(128, 3).astype(np.float32)
Y = (X.sum(1, keepdims=True) * 0.5 + RNG.randn(128, 1)).astype(np.float32)
W0 = np.array([[1.0], [-0.5], [0.25]], np.float32)


def labels_in_features_model_fn(features, labels, mode, params):
    """A TPU-style model_fn: the input yields a features dict only, the label is a feature."""
    assert labels is None  # as tf.estimator passed it
    w = tf.compat.v1.get_variable("w", initializer=tf.constant(W0))
    pred = tf.matmul(features["x"], w)
    if mode == keras_spec.ModeKeys.PREDICT:
        return keras_spec.EstimatorSpec(mode, predictions={"y": pred})
    y = features["label"]
    loss = tf.reduce_mean(tf.square(pred - y))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return keras_spec.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops={
        "mse": tf.compat.v1.metrics.mean_squared_error(y, pred),
        "mean_label": tf.compat.v1.metrics.mean(y)})


def features_only(n=128, batch=16, drop=False, unknown_size=False):
    data = tf.data.Dataset.from_tensor_slices({"x": X[:n], "label": Y[:n]})
    if unknown_size:  # as TFRecord input_fns: Keras runs until get_next fails
        data = data.filter(lambda example: True)
    return data.batch(batch, drop)


def expected_eval(n, batch, replicas=1):
    """tf.estimator's numbers: loss = mean of (replica-)batch losses, metrics over examples."""
    pred, labels = X[:n] @ W0, Y[:n]
    losses = []
    for start in range(0, n, batch):
        p, y = pred[start:start + batch], labels[start:start + batch]
        for part_p, part_y in zip(np.array_split(p, replicas), np.array_split(y, replicas)):
            losses.append(np.mean(np.square(part_p - part_y)))
    return {"loss": np.mean(losses), "mse": np.mean(np.square(pred - Y[:n])),
            "mean_label": Y[:n].mean()}


def assert_eval(got, want):
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key


@pytest.mark.parametrize("drop", [False, True])
def test_features_only_evaluate_twice_on_one_device(drop):
    model = SpecModel(labels_in_features_model_fn, params={})
    want = expected_eval(128, 16)
    assert_eval(model.evaluate(features_only(), return_dict=True, verbose=0), want)
    # unknown cardinality: the execution that finds the data exhausted counts nothing
    assert_eval(model.evaluate(features_only(drop=drop, unknown_size=True), return_dict=True,
                               verbose=0), want)


@pytest.mark.parametrize("n,batch,drop,spe,unknown", [
    (128, 16, False, 1, True), (128, 16, True, 4, False), (100, 16, False, 10, True),
    (100, 16, True, 4, True)])
def test_features_only_evaluate_on_two_replicas_reports_true_means(n, batch, drop, spe, unknown):
    with two_replicas().scope():
        model = SpecModel(labels_in_features_model_fn, params={})
    model.compile(steps_per_execution=spe)
    kept = n - n % batch if drop else n
    want = expected_eval(kept, batch, replicas=2)
    for _ in range(2):
        assert_eval(model.evaluate(features_only(n, batch, drop, unknown), return_dict=True,
                                   verbose=0), want)


def test_features_only_input_through_the_facade(tmp_path):
    est = Estimator(labels_in_features_model_fn, model_dir=str(tmp_path), params={})
    est.train(lambda: features_only().repeat(), steps=1)
    first = est.evaluate(lambda: features_only())
    second = est.evaluate(lambda: features_only())
    assert first == second and first["global_step"] == 1
    assert first["mse"] == pytest.approx(first["loss"], rel=1e-5)  # equal batches
    assert first["mean_label"] == pytest.approx(Y.mean(), rel=1e-5)


# -- item 8 / 9 / 12: what tf.estimator 2.15 wrote and listed --------------------------------
def summaries_model_fn(features, labels, mode, params):
    """The recorder's model_fn (engine_summaries_record.py), with keras-spec's specs."""
    w = tf.compat.v1.get_variable("dense/kernel", [4, 3],
                                  initializer=tf.compat.v1.constant_initializer(0.1))
    logits = tf.matmul(features["x"], w)
    predicted = tf.argmax(logits, 1)
    if mode == "infer":
        return keras_spec.TPUEstimatorSpec(mode, predictions={"class": predicted})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32))
    tf.compat.v1.summary.scalar("train_accuracy", accuracy)
    tf.compat.v1.summary.scalar("train_accuracy", accuracy * 2.0)
    with tf.name_scope("scope"):
        tf.compat.v1.summary.scalar("inner", loss)
        tf.compat.v1.summary.scalar("inner", loss * 2.0)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())

    def metric_fn(labels, predicted, loss):
        return {"accuracy": tf.compat.v1.metrics.accuracy(labels, predicted),
                "mean_loss": tf.compat.v1.metrics.mean(loss)}

    return keras_spec.TPUEstimatorSpec(
        mode, loss=loss, train_op=train_op,
        eval_metrics=(metric_fn, [labels, predicted, tf.fill([params["batch_size"]], loss)]))


def summaries_input_fn(params):
    rng = np.random.RandomState(3)
    x, y = rng.randn(64, 4).astype(np.float32), rng.randint(0, 3, 64).astype(np.int64)
    return (tf.data.Dataset.from_tensor_slices(({"x": x}, y)).repeat()
            .batch(params["batch_size"], drop_remainder=True))


def event_steps(model_dir):
    return sorted([step, tag] for tag, by_step in read_events(model_dir).items()
                  for step in by_step)


def assert_golden_eval(metrics, golden):
    for key, value in golden["eval"].items():
        assert float(metrics[key]) == pytest.approx(value, rel=1e-4), key


def test_estimator_summaries_names_and_steps_match_tf_estimator(tmp_path):
    golden = GOLDEN["estimator"]

    def model_fn(features, labels, mode, params):
        return summaries_model_fn(features, labels, mode, dict(params, batch_size=8))

    est = Estimator(model_fn, model_dir=str(tmp_path), params={},
                    config=RunConfig(save_summary_steps=3, log_step_count_steps=2))
    est.train(lambda: summaries_input_fn({"batch_size": 8}), steps=7)
    # First step too, uniquified tags (train_accuracy_1, scope/inner_1), loss, global_step/sec.
    assert event_steps(str(tmp_path)) == golden["events"]
    assert est.get_variable_names() == golden["variable_names"]
    assert_golden_eval(est.evaluate(lambda: summaries_input_fn({"batch_size": 8}), steps=4),
                       golden)


def test_tpu_estimator_writes_loss_and_rates_like_tf_estimator(tmp_path):
    golden = GOLDEN["tpu_estimator"]
    config = tpu_facade.RunConfig(save_summary_steps=3, log_step_count_steps=2,
                                  tpu_config=tpu_facade.TPUConfig(iterations_per_loop=2))
    est = tpu_facade.TPUEstimator(summaries_model_fn, model_dir=str(tmp_path), config=config,
                                  use_tpu=False, train_batch_size=8, eval_batch_size=8)
    est.train(summaries_input_fn, steps=7)
    got = event_steps(str(tmp_path))
    rates = {"global_step/sec", "examples/sec"}
    # model_fn summaries and loss: exactly tf.estimator's steps and tags
    assert [e for e in got if e[1] not in rates] == [e for e in golden["events"]
                                                     if e[1] not in rates]
    # global_step/sec and examples/sec: tf.estimator (use_tpu=False) wrote them after every
    # step from 2; keras-spec runs iterations_per_loop steps per execution and writes them at
    # execution ends (a subset of those steps), both tags together.
    got_rates = [e for e in got if e[1] in rates]
    assert len(got_rates) >= 4 and {t for _, t in got_rates} == rates
    assert all(e in golden["events"] for e in got_rates)
    examples = read_events(str(tmp_path))
    for step, value in examples["examples/sec"].items():
        assert value == pytest.approx(8 * examples["global_step/sec"][step], rel=1e-5)
    assert est.get_variable_names() == golden["variable_names"]
    assert_golden_eval(est.evaluate(summaries_input_fn, steps=4), golden)


def test_spec_model_get_variable_names_lists_checkpointed_variables_only():
    model = SpecModel(summaries_model_fn, params={})
    data = summaries_input_fn({"batch_size": 8}).take(4)
    model.fit(data, verbose=0)
    model.evaluate(data, verbose=0)  # creates accuracy/count, mean/total, ...
    assert model.get_variable_names() == GOLDEN["estimator"]["variable_names"]
    assert len(model.weights) > 2  # the metric state exists, it is just not listed


# -- item 10: hooks fetching non-scalar tensors -------------------------------------------
def test_logging_tensor_hook_on_a_batch_tensor_is_not_a_model_variable(tmp_path, caplog):
    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", [4, 3], initializer=tf.compat.v1.ones_initializer())
        probs = tf.nn.softmax(tf.matmul(features["x"], w), name="probs")
        loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, tf.math.log(probs))
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step())
        hook = tf.compat.v1.train.LoggingTensorHook({"probs": probs}, every_n_iter=1)
        return keras_spec.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                        training_hooks=[hook])

    est = Estimator(model_fn, model_dir=str(tmp_path))
    with caplog.at_level(logging.INFO):
        est.train(lambda: summaries_input_fn({"batch_size": 8}), steps=2,
                  hooks=[tf.compat.v1.train.LoggingTensorHook(["probs:0"], every_n_iter=1)])
    logged = [r.getMessage() for r in caplog.records if "probs" in r.getMessage()]
    assert len(logged) == 4  # both hooks, both steps: every row of the [8, 3] tensor
    assert "0.33333334 0.33333334 0.33333334" in logged[0] and logged[0].count("[") == 9
    assert est.get_variable_names() == ["global_step", "w"]  # no hook mailbox in the checkpoint


def test_variables_of_unknown_shape_keep_it():
    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", [4, 3], initializer=tf.compat.v1.ones_initializer())
        logits = tf.matmul(features["x"], w)
        last = tf.Variable(tf.zeros([0, 3]), shape=tf.TensorShape([None, 3]), trainable=False,
                           name="last_logits")
        keep = last.assign(logits)
        loss = tf.reduce_mean(tf.square(logits))
        with tf.control_dependencies([keep]):
            train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
                loss, global_step=tf.compat.v1.train.get_global_step())
        return keras_spec.EstimatorSpec(mode, loss=loss, train_op=train_op)

    model = SpecModel(model_fn)
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    model.fit(tf.data.Dataset.from_tensor_slices(({"x": x}, np.zeros(5))).batch(5), verbose=0)
    np.testing.assert_allclose(model.get_variable_value("last_logits"),
                               np.repeat(x.sum(1, keepdims=True), 3, axis=1))


# -- item 3: init_from_checkpoint fills every replica's copy ---------------------------------
PRE_W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
PRE_B = np.array([0.5, -0.5, 0.25], np.float32)


def write_tf1_checkpoint(prefix, values):
    """A 'pretrained' checkpoint with TF1 names, written by a TF1 Saver."""
    with tf.Graph().as_default():
        for name, value in values.items():
            tf.compat.v1.Variable(value, name=name)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, prefix)


@pytest.mark.parametrize("through", ["model_fn", "scaffold_fn"])
def test_init_from_checkpoint_fills_every_replica(tmp_path, through):
    prefix = str(tmp_path / "pretrained")
    write_tf1_checkpoint(prefix, {"bert/w": PRE_W, "bert/b": PRE_B})

    def model_fn(features, labels, mode, params):
        with tf.compat.v1.variable_scope("enc"):
            w = tf.compat.v1.get_variable("w", [4, 3])
            b = tf.compat.v1.get_variable("b", [3])
        logits = tf.matmul(features["x"], w) + b

        def init():
            tf.compat.v1.train.init_from_checkpoint(prefix, {"bert/": "enc/"})
            return tf.compat.v1.train.Scaffold()

        scaffold_fn = init if through == "scaffold_fn" else None
        if scaffold_fn is None:
            init()
        return keras_spec.TPUEstimatorSpec(mode, predictions={"logits": logits},
                                           scaffold_fn=scaffold_fn)

    strategy = two_replicas()
    with strategy.scope():
        model = SpecModel(model_fn, params={})
    x = np.random.RandomState(1).randn(8, 4).astype(np.float32)
    got = model.predict(tf.data.Dataset.from_tensor_slices({"x": x}).batch(8), verbose=0)
    np.testing.assert_allclose(got["logits"], x @ PRE_W + PRE_B, rtol=1e-6, atol=1e-6)
    for name, value in (("enc/w", PRE_W), ("enc/b", PRE_B)):
        copies = strategy.experimental_local_results(model._world.variable(name).value)
        assert len(copies) == 2
        for copy in copies:
            np.testing.assert_array_equal(copy.numpy(), value)
