"""In-process parts of distributed train_and_evaluate (issue 16): RunConfig's cluster fields,
the evaluator loop, a hook's view of the global step, the unreachable-cluster error."""

import json
import os
import socket
import time

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import Estimator, EvalSpec, RunConfig, TrainSpec, train_and_evaluate
from adapters.estimator import cluster
from adapters.estimator.evaluator import run_evaluator
from cluster_helpers import free_ports

CLUSTER = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3"],
           "ps": ["127.0.0.1:4"], "evaluator": ["127.0.0.1:5"]}
# tf.estimator 2.15's RunConfig for this cluster (tests/distribution/record_run_config_215.py).
TF_ESTIMATOR_215 = {
    ("chief", 0): dict(is_chief=True, num_worker_replicas=3, num_ps_replicas=1,
                       global_id_in_cluster=0, master="grpc://127.0.0.1:1"),
    ("worker", 1): dict(is_chief=False, num_worker_replicas=3, num_ps_replicas=1,
                        global_id_in_cluster=3, master="grpc://127.0.0.1:3"),
    ("ps", 0): dict(is_chief=False, num_worker_replicas=3, num_ps_replicas=1,
                    global_id_in_cluster=4, master="grpc://127.0.0.1:4"),
    ("evaluator", 0): dict(is_chief=False, num_worker_replicas=0, num_ps_replicas=0,
                           global_id_in_cluster=None, master="", cluster_spec={}),
}


def _tf_config(monkeypatch, cluster_spec, task_type, index):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster_spec,
                                                "task": {"type": task_type, "index": index}}))


@pytest.mark.parametrize("task", sorted(TF_ESTIMATOR_215))
def test_run_config_cluster_fields_match_tf_estimator(monkeypatch, task):
    _tf_config(monkeypatch, CLUSTER, *task)
    config = RunConfig()
    assert (config.task_type, config.task_id) == task
    for name, value in TF_ESTIMATOR_215[task].items():
        assert getattr(config, name) == value, name
    assert cluster.role_of(config) == task[0]


def test_run_config_names_a_task_missing_from_the_cluster(monkeypatch):
    _tf_config(monkeypatch, CLUSTER, "worker", 5)
    with pytest.raises(ValueError, match=r"'worker', 'index': 5\} is not in its cluster"):
        RunConfig()


# -- a hook's global step -----------------------------------------------------------------------
class StepRecorder(ks.hooks.SessionRunHook):
    """Fetches the global step in before_run, as StepCounterHook-like user hooks did."""

    def __init__(self):
        self.seen = []

    def begin(self):
        self._step = tf.compat.v1.train.get_global_step()

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self._step)

    def after_run(self, run_context, run_values):
        self.seen.append(int(run_values.results))


def _linear_model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable("w", initializer=tf.zeros([2, 1]))
    pred = tf.matmul(features["x"], w)
    loss = tf.reduce_mean(tf.square(pred - labels))
    if mode == ks.ModeKeys.EVAL:
        return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "mse": tf.compat.v1.metrics.mean_squared_error(labels, pred)})
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _input_fn():
    x = np.random.RandomState(0).randn(64, 2).astype(np.float32)
    y = x @ np.array([[1.0], [2.0]], np.float32)
    return tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(8).repeat()


def test_hook_sees_the_global_step_before_each_step_like_tf_estimator(tmp_path):
    """tf.estimator fetched the global step with the train op: 0..N-1, not 1..N."""
    hook = StepRecorder()
    estimator = Estimator(_linear_model_fn, model_dir=str(tmp_path),
                          config=RunConfig(save_checkpoints_steps=100))
    estimator.train(_input_fn, hooks=[hook], steps=5)
    estimator.train(_input_fn, hooks=[hook], steps=3)  # resumes from the checkpoint at 5
    assert hook.seen == [0, 1, 2, 3, 4, 5, 6, 7]


# -- the evaluator task ---------------------------------------------------------------------------
class _FakeEstimator:
    """Checkpoints appear on a schedule; evaluate() records what it was asked."""

    model_dir = "/nonexistent"

    def __init__(self, timeline):
        self.timeline, self.start, self.calls = timeline, time.time(), []

    def latest_checkpoint(self):
        elapsed = time.time() - self.start
        ready = [c for at, c in self.timeline if at <= elapsed]
        return ready[-1] if ready else None

    def evaluate(self, input_fn, steps, name, checkpoint_path, hooks):
        self.calls.append((round(time.time() - self.start, 2), checkpoint_path, steps, name))
        return {"global_step": np.int64(int(checkpoint_path.rsplit("-", 1)[1])), "loss": 0.0}


class _Recorder:
    name = "rec"

    def __init__(self):
        self.finals = []

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        self.finals.append((int(eval_result["global_step"]), is_the_final_export))


def test_evaluator_loop_delay_throttle_skip_and_final_export():
    """start_delay, throttle from the start of each pass, no checkpoint twice, stop at max."""
    timeline = [(0.0, "m/model.ckpt-0"), (0.1, "m/model.ckpt-10"), (0.2, "m/model.ckpt-20"),
                (1.3, "m/model.ckpt-30")]
    fake, exporter = _FakeEstimator(timeline), _Recorder()
    spec = EvalSpec(lambda: None, steps=7, name="holdout", exporters=[exporter],
                    start_delay_secs=0, throttle_secs=1)
    run_evaluator(fake, spec, max_steps=30)
    # ckpt-0 at t=0; the next pass at t=1 takes the latest (20; 10 is never evaluated);
    # t=2: 30 (>= max_steps) -> final export and exit.
    assert [c[1] for c in fake.calls] == ["m/model.ckpt-0", "m/model.ckpt-20", "m/model.ckpt-30"]
    assert [c[2:] for c in fake.calls] == [(7, "holdout")] * 3
    times = [c[0] for c in fake.calls]
    assert times[1] - times[0] >= 0.95 and times[2] - times[1] >= 0.95
    assert exporter.finals == [(0, False), (20, False), (30, True)]


def test_evaluator_task_in_train_and_evaluate_evaluates_the_chiefs_checkpoints(
        tmp_path, monkeypatch):
    """The evaluator role: builds no strategy, evaluates the final checkpoint, returns None."""
    Estimator(_linear_model_fn, model_dir=str(tmp_path),
              config=RunConfig(save_checkpoints_steps=4)).train(_input_fn, max_steps=8)
    _tf_config(monkeypatch, {"chief": ["127.0.0.1:1"]}, "evaluator", 0)
    estimator = Estimator(_linear_model_fn, model_dir=str(tmp_path))
    result = train_and_evaluate(estimator, TrainSpec(_input_fn, max_steps=8),
                                EvalSpec(_input_fn, steps=2, name="side", start_delay_secs=0,
                                         throttle_secs=0))
    assert result is None
    assert os.listdir(tmp_path / "eval_side")  # eval summaries of the final checkpoint
    assert not (tmp_path / "model.ckpt-9.index").exists()  # the evaluator never trains


def test_unreachable_cluster_fails_naming_the_address_in_bounded_time(tmp_path, monkeypatch):
    port, = free_ports(1)  # nothing listens there
    _tf_config(monkeypatch, {"chief": ["127.0.0.1:1"], "worker": [f"127.0.0.1:{port}"]},
               "chief", 0)
    estimator = Estimator(_linear_model_fn, model_dir=str(tmp_path),
                          config=RunConfig(session_creation_timeout_secs=2))
    start = time.monotonic()
    with pytest.raises(cluster.ClusterUnreachableError, match=f"worker:0 at 127.0.0.1:{port}"):
        train_and_evaluate(estimator, TrainSpec(_input_fn, max_steps=4),
                           EvalSpec(_input_fn, steps=1))
    assert time.monotonic() - start < 10
    assert not os.path.exists(os.path.join(tmp_path, "checkpoint"))


def test_worker_and_ps_wait_for_the_chiefs_done_mark_not_only_the_final_checkpoint(tmp_path):
    """The chief still reads variables on the ps after its final checkpoint: the serving tasks
    stop only when the chief says it is done, and only for a step at or past their max_steps."""
    from adapters.estimator import cluster  # pylint: disable=import-outside-toplevel
    model_dir = str(tmp_path)
    assert cluster.training_done_step(model_dir) is None
    cluster.mark_training_done(model_dir, 30)
    assert cluster.training_done_step(model_dir) == 30
    cluster.mark_training_done(model_dir, 40)  # a later run with a larger max_steps
    assert cluster.training_done_step(model_dir) == 40
    assert os.listdir(model_dir) == [cluster.TRAINING_DONE_FILE]  # no temp file left
    (tmp_path / cluster.TRAINING_DONE_FILE).write_text("{garbled")
    assert cluster.training_done_step(model_dir) is None
