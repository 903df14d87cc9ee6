"""SpecModel and the Estimator facade under tf.distribute strategies (docs/semantics.md, "Distribution").

MirroredStrategy over 2 logical CPU devices (configured in conftest.py) stands in for a TPU:
the TPU path differs only in how the strategy is made. Numbers are compared with the
tf.estimator 2.15 conformance fixtures, a 1-replica run of the same data, or closed forms.
"""

import functools
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import SpecModel
from cluster_helpers import free_ports
from conformance_runner import GOLDEN, eval_dataset, make_case, train_dataset
from estimator_helpers import checkpoint_steps, read_events

HERE = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=None)
def two_replicas():
    """One strategy for the whole process: TF allocates collective instance keys per strategy
    object, and two MirroredStrategy objects over the same devices collide on them."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def build(model_fn, params, strategy=None, **compile_kwargs):
    scope = strategy.scope() if strategy is not None else tf.distribute.get_strategy().scope()
    with scope:
        model = SpecModel(model_fn, params=params)
        model.compile(**compile_kwargs)
    return model


def relative_error(got, want, floor=1e-3):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), floor)))


# -- TPUEstimatorSpec natively under a strategy ---------------------------------------------
@pytest.mark.parametrize("steps_per_execution", [1, 5])
def test_tpu_metrics_case_on_two_replicas_matches_tf_estimator(steps_per_execution):
    """eval_metrics gathered from both replicas, metric_fn once: the golden numbers."""
    case, golden = make_case("tpu_metrics"), GOLDEN["tpu_metrics"]
    model = build(case["model_fn"], case["params"], two_replicas(),
                  steps_per_execution=steps_per_execution)
    history = model.fit(train_dataset(case), epochs=case["train_steps"] // steps_per_execution,
                        steps_per_epoch=steps_per_execution, verbose=0)
    if steps_per_execution == 1:
        assert relative_error(history.history["loss"], golden["train_losses"]) < 1e-4
    for name, value in golden["variables"].items():
        assert relative_error(model.get_variable_value(name), value) < 1e-4, name
    evaluation = model.evaluate(eval_dataset(case), return_dict=True, verbose=0)
    for key in ("loss", "accuracy", "mean_example_loss"):
        assert abs(evaluation[key] - golden["evaluate"][key]) < 1e-5, key


def _all_examples_model_fn(features, labels, mode, params):
    """A TPUEstimatorSpec whose metric_fn needs the whole batch at once."""
    x = features["x"]
    w = tf.compat.v1.get_variable("w", initializer=tf.constant(
        np.random.RandomState(3).randn(4, 3).astype(np.float32)))
    logits = tf.matmul(x, w)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                          logits=logits))
    assert params["batch_size"] == params["expected_batch"]  # per-replica batch size

    def metric_fn(labels, logits):
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
        positive = tf.nn.softmax(logits)[:, 1]
        return {
            "accuracy": tf.compat.v1.metrics.accuracy(labels, predicted),
            "per_class": tf.compat.v1.metrics.mean_per_class_accuracy(labels, predicted, 3),
            "auc_class1": tf.compat.v1.metrics.auc(tf.equal(labels, 1), positive),
            # Not decomposable per replica: the rows of the whole global batch at once.
            "batch_rows": (tf.cast(tf.shape(labels)[0], tf.float32), tf.no_op()),
            "batch_max_logit": (tf.reduce_max(logits), tf.no_op()),
        }

    return ks.TPUEstimatorSpec(mode, loss=loss, eval_metrics=(metric_fn, [labels, logits]))


def test_uneven_classes_metrics_equal_on_one_and_two_replicas():
    rs = np.random.RandomState(11)
    x = rs.randn(96, 4).astype(np.float32)
    y = rs.choice(3, size=96, p=[0.7, 0.2, 0.1]).astype(np.int32)  # uneven classes
    data = tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(16, drop_remainder=True)
    one = build(_all_examples_model_fn, {"expected_batch": 16})
    two = build(_all_examples_model_fn, {"expected_batch": 8}, two_replicas())
    single = one.evaluate(data, return_dict=True, verbose=0)
    double = two.evaluate(data, return_dict=True, verbose=0)
    assert set(single) == set(double)
    for key in single:
        assert abs(single[key] - double[key]) < 1e-5, (key, single[key], double[key])
    # The concatenated batch: both replicas' rows, and the last batch's max over all of them.
    assert double["batch_rows"] == 16
    w = one.get_variable_value("w")
    assert abs(double["batch_max_logit"] - np.max(x[-16:] @ w)) < 1e-5
    assert abs(double["accuracy"] - np.mean(np.argmax(x @ w, 1) == y)) < 1e-6


# -- training: 2 replicas x b == 1 replica x 2b -----------------------------------------------
def _linear_data(batch):
    rs = np.random.RandomState(5)
    x = rs.randn(12 * 16, 3).astype(np.float32)
    y = (x @ np.array([[1.5], [-2.0], [0.7]], np.float32) + 0.2
         + 0.1 * rs.randn(12 * 16, 1)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(batch, drop_remainder=True)


def _linear_model_fn(optimizer):
    def model_fn(features, labels, mode, params):
        w = tf.compat.v1.get_variable("w", initializer=tf.zeros([3, 1]))
        b = tf.compat.v1.get_variable("b", initializer=tf.zeros([1]))
        loss = tf.compat.v1.losses.mean_squared_error(labels, tf.matmul(features["x"], w) + b)
        if optimizer == "keras":
            return ks.EstimatorSpec(mode, loss=loss)
        opt = tf.compat.v1.train.GradientDescentOptimizer(0.1)
        if optimizer == "cross_shard":
            opt = tf.compat.v1.tpu.CrossShardOptimizer(opt)
        train_op = opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
        spec_class = ks.TPUEstimatorSpec if optimizer == "cross_shard" else ks.EstimatorSpec
        return spec_class(mode, loss=loss, train_op=train_op)
    return model_fn


@pytest.mark.parametrize("optimizer", ["compat_v1", "cross_shard", "keras"])
def test_two_replicas_of_batch_b_train_like_one_replica_of_batch_2b(optimizer):
    def compiled():  # a spec without train_op, trained by compile(optimizer=...)
        return {"optimizer": keras.optimizers.SGD(0.1)} if optimizer == "keras" else {}

    one = build(_linear_model_fn(optimizer), {}, **compiled())
    two = build(_linear_model_fn(optimizer), {}, two_replicas(), **compiled())
    one.fit(_linear_data(16), epochs=1, verbose=0)
    two.fit(_linear_data(16), epochs=1, verbose=0)   # 8 examples per replica
    # Closed form: SGD on the mean squared error of each global batch of 16.
    w, b = np.zeros([3, 1]), np.zeros([1])
    for features, labels in _linear_data(16).as_numpy_iterator():
        x, y = features["x"].astype(np.float64), labels.astype(np.float64)
        err = x @ w + b - y
        w, b = w - 0.1 * 2 * x.T @ err / len(x), b - 0.1 * 2 * err.mean(0)
    for model in (one, two):
        np.testing.assert_allclose(model.get_variable_value("w"), w, atol=1e-5)
        np.testing.assert_allclose(model.get_variable_value("b"), b, atol=1e-5)
    assert int(two.get_variable_value("global_step")) == 12


def test_cross_replica_sum_in_a_model_fn_sums_over_replicas():
    def model_fn(features, labels, mode):
        rows = tf.cast(tf.shape(features["x"])[0], tf.float32)
        total = tf.compat.v1.tpu.cross_replica_sum(rows)
        w = tf.compat.v1.get_variable("w", initializer=tf.ones([2, 1]))
        return ks.EstimatorSpec(mode, predictions={
            "rows_in_all_replicas": tf.fill(tf.shape(features["x"])[:1], total),
            "y": tf.matmul(features["x"], w)[:, 0]})

    data = tf.data.Dataset.from_tensor_slices({"x": np.ones([12, 2], np.float32)}).batch(6)
    single = build(model_fn, None).predict(data, verbose=0)
    double = build(model_fn, None, two_replicas()).predict(data, verbose=0)
    np.testing.assert_array_equal(single["rows_in_all_replicas"], np.full([12], 6.0))
    np.testing.assert_array_equal(double["rows_in_all_replicas"], np.full([12], 6.0))
    np.testing.assert_array_equal(double["y"], np.full([12], 2.0))


# -- plain EstimatorSpec under a strategy ----------------------------------------------------
def test_estimator_spec_metric_tuples_aggregate_across_replicas_like_tf_estimator():
    case, golden = make_case("mlp_classifier"), GOLDEN["mlp_classifier"]
    model = build(case["model_fn"], case["params"], two_replicas())
    model.fit(train_dataset(case), epochs=1, steps_per_epoch=case["train_steps"], verbose=0)
    for name, value in golden["variables"].items():
        assert relative_error(model.get_variable_value(name), value) < 1e-4, name
    evaluation = model.evaluate(eval_dataset(case), return_dict=True, verbose=0)
    for key, value in golden["evaluate"].items():
        if key != "global_step":  # AUC, precision, recall, mean_per_class_accuracy, accuracy
            assert abs(evaluation[key] - value) < 1e-5, key


# -- host_call and hooks under a strategy ----------------------------------------------------
def test_host_call_runs_once_per_step_on_all_replicas_tensors(tmp_path):
    logdir = str(tmp_path / "host_call")

    def model_fn(features, labels, mode, params):
        w = tf.compat.v1.get_variable("w", initializer=tf.zeros([2, 1]))
        loss = tf.reduce_mean(tf.square(tf.matmul(features["x"], w) - labels))
        gs = tf.compat.v1.train.get_global_step()
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(loss, global_step=gs)

        def host_call_fn(gs, loss, rows):
            with tf.summary.create_file_writer(logdir).as_default():
                tf.summary.scalar("loss", tf.reduce_mean(loss), step=gs[0])
                tf.summary.scalar("replicas", tf.cast(tf.shape(loss)[0], tf.float32), step=gs[0])
                tf.summary.scalar("rows", tf.reduce_sum(rows), step=gs[0])
            return tf.compat.v1.summary.all_v2_summary_ops()

        host_call = (host_call_fn, [tf.reshape(gs, [1]), tf.reshape(loss, [1]),
                                    tf.reshape(tf.cast(tf.shape(labels)[0], tf.float32), [1])])
        return ks.TPUEstimatorSpec(mode, loss=loss, train_op=train_op, host_call=host_call)

    rs = np.random.RandomState(2)
    x = rs.randn(40, 2).astype(np.float32)
    y = (x @ [[1.0], [2.0]]).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(8, drop_remainder=True)
    model = build(model_fn, None, two_replicas())
    history = model.fit(data, epochs=5, steps_per_epoch=1, verbose=0)
    events = read_events(logdir)
    # Written once per step from both replicas' tensors; a global step read in the step sees
    # the step's own increment (as a TF1 session.run fetching it with train_op did).
    assert sorted(events["replicas"]) == [1, 2, 3, 4, 5]
    assert set(events["replicas"].values()) == {2.0}
    assert set(events["rows"].values()) == {8.0}
    np.testing.assert_allclose([events["loss"][s] for s in range(1, 6)], history.history["loss"],
                               rtol=1e-5)


class _CountingHook(ks.hooks.SessionRunHook):
    def __init__(self, tensor_name=None):
        self.calls, self.values, self._name = 0, [], tensor_name

    def begin(self):
        self._tensor = (tf.compat.v1.get_default_graph().get_tensor_by_name(self._name)
                        if self._name else None)

    def before_run(self, run_context):
        return ks.hooks.SessionRunArgs(self._tensor) if self._tensor is not None else None

    def after_run(self, run_context, run_values):
        self.calls += 1
        if self._tensor is not None:
            self.values.append(float(run_values.results))


def test_spec_hooks_run_once_per_step_not_per_replica():
    chief, every = _CountingHook(), _CountingHook()

    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", initializer=tf.zeros([2, 1]))
        loss = tf.reduce_mean(tf.square(tf.matmul(features["x"], w) - labels))
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step())
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                training_chief_hooks=[chief], training_hooks=[every])

    data = tf.data.Dataset.from_tensor_slices(
        ({"x": np.ones([48, 2], np.float32)}, np.ones([48, 1], np.float32))).batch(8)
    model = build(model_fn, None, two_replicas())
    model.fit(data, epochs=1, verbose=0)
    assert chief.calls == 6 and every.calls == 6


# -- MultiWorkerMirroredStrategy: 2 worker processes on 127.0.0.1 -----------------------------
def test_multi_worker_training_runs_chief_hooks_once_and_writes_one_checkpoint(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    model_dir = str(tmp_path / "model")
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, os.path.join(HERE, "distribution", "multiworker_worker.py"),
             model_dir, str(tmp_path / f"worker{index}.json")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [w.communicate(timeout=110)[0] for w in workers]
    finally:
        for w in workers:
            w.kill()
    for w, out in zip(workers, outputs):
        assert w.returncode == 0, out[-4000:]
    chief, other = (json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2))
    assert chief["is_chief"] and not other["is_chief"] and chief["replicas"] == 2
    assert chief["counts"] == {"chief_hook": 6, "every_worker_hook": 6}
    assert other["counts"] == {"every_worker_hook": 6}
    # One writer: the chief's checkpoints at steps 0, 3, 6; one events file.
    assert checkpoint_steps(model_dir) == [0, 3, 6]
    assert len([f for f in os.listdir(model_dir) if f.startswith("events.out")]) == 1
    # Both workers hold the weights of SGD on each global batch of 8 (closed form).
    rs = np.random.RandomState(7)
    x = rs.randn(48, 3).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    w, b = np.zeros([3, 1]), np.zeros([1])
    for step in range(6):
        xb, yb = x[step * 8:(step + 1) * 8].astype(np.float64), y[step * 8:(step + 1) * 8]
        err = xb @ w + b - yb
        w, b = w - 0.1 * 2 * xb.T @ err / 8, b - 0.1 * 2 * err.mean(0)
    for worker in (chief, other):
        np.testing.assert_allclose(worker["w"], w, atol=1e-5)
        np.testing.assert_allclose(worker["b"], b, atol=1e-5)
        assert worker["global_step"] == 6
    saved = dict(tf.train.list_variables(model_dir))
    assert {"w", "b", "global_step"} <= set(saved)
    np.testing.assert_allclose(tf.train.load_variable(model_dir, "w"), w, atol=1e-5)
