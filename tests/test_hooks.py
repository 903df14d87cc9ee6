"""SessionRunHooks around SpecModel's steps (docs/semantics.md, "Hooks and checkpoints"): the hook lifecycle, fetched values,
request_stop, the standard hooks' observable effects, chief-only hooks."""

import glob
import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import RunConfig, SpecModel
from adapters.hooks.bridge import HookSessionError

X = np.random.RandomState(3).randn(64, 2).astype(np.float32)
Y = (X @ np.array([[1.5], [-0.5]], np.float32) + 0.2).astype(np.float32)


def data():
    return tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).repeat().batch(8, drop_remainder=True)


class RecordingHook(tf.compat.v1.train.SessionRunHook):
    """Records the lifecycle and every value it fetched."""

    def __init__(self, fetches_fn=None):
        self.fetches_fn = fetches_fn
        self.calls, self.values = [], []

    def begin(self):
        self.calls.append("begin")
        self.global_step = tf.compat.v1.train.get_global_step()
        self.fetches = self.fetches_fn() if self.fetches_fn else {
            "step": tf.compat.v1.train.get_global_step()}

    def after_create_session(self, session, coord):
        self.calls.append("after_create_session")
        self.step_at_start = session.run(self.global_step)

    def before_run(self, run_context):
        self.calls.append("before_run")
        return tf.compat.v1.train.SessionRunArgs(self.fetches)

    def after_run(self, run_context, run_values):
        self.calls.append("after_run")
        self.values.append(run_values.results)

    def end(self, session):
        self.calls.append("end")


def make_model_fn(spec_hooks=None, chief_hooks=None, nan_after=None, eval_hooks=None):
    def model_fn(features, labels, mode, params, config):
        w = tf.compat.v1.get_variable("w", initializer=tf.zeros([2, 1]))
        b = tf.compat.v1.get_variable("b", initializer=tf.zeros([1]))
        pred = tf.matmul(features["x"], w) + b
        if mode == ks.ModeKeys.PREDICT:
            return ks.EstimatorSpec(mode, predictions=pred)
        loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
        step = tf.compat.v1.train.get_global_step()
        if nan_after is not None:
            loss = tf.where(step >= nan_after, tf.constant(np.nan), loss)
        tf.compat.v1.summary.scalar("loss_summary", loss)
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
        hooks = [h(loss) for h in (spec_hooks or [])]
        chief = [h(loss) for h in (chief_hooks or [])]
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, training_hooks=hooks,
                                training_chief_hooks=chief,
                                evaluation_hooks=[h(loss) for h in (eval_hooks or [])],
                                eval_metric_ops={"mse": tf.compat.v1.metrics.mean_squared_error(labels, pred)})
    return model_fn


def test_custom_hook_lifecycle_and_fetched_values_every_step():
    hooks = []

    def make_hook(loss):
        hook = RecordingHook(lambda: {"loss": loss, "step": tf.compat.v1.train.get_global_step()})
        hooks.append(hook)
        return hook

    model = SpecModel(make_model_fn(spec_hooks=[make_hook]), params={})
    history = model.fit(data(), epochs=6, steps_per_epoch=1, verbose=0)
    (hook,) = [h for h in hooks if "after_create_session" in h.calls]  # the trace that ran
    assert hook.calls[:3] == ["begin", "after_create_session", "before_run"]
    assert hook.calls[-1] == "end" and hook.calls.count("after_run") == 6
    assert hook.step_at_start == 0
    np.testing.assert_allclose([v["loss"] for v in hook.values], history.history["loss"], rtol=1e-6)
    # The global step fetched with the step is the one before it, as tf.estimator's session.run
    # (no dependency on the train op) gave it: 0..N-1.
    assert [int(v["step"]) for v in hook.values] == [0, 1, 2, 3, 4, 5]


def test_user_hooks_stop_at_step_and_nan():
    model = SpecModel(make_model_fn(), params={})
    model.fit(data(), epochs=1, steps_per_epoch=20, verbose=0,
              hooks=[tf.compat.v1.train.StopAtStepHook(last_step=7)])
    assert model.get_variable_value("global_step") == 7
    model.fit(data(), epochs=1, steps_per_epoch=20, verbose=0,
              hooks=[tf.compat.v1.train.StopAtStepHook(num_steps=3)])
    assert model.get_variable_value("global_step") == 10

    nan_model = SpecModel(make_model_fn(
        spec_hooks=[lambda loss: tf.compat.v1.train.NanTensorHook(loss)], nan_after=4), params={})
    with pytest.raises(tf.compat.v1.train.NanLossDuringTrainingError):
        nan_model.fit(data(), epochs=1, steps_per_epoch=20, verbose=0)
    assert nan_model.get_variable_value("global_step") == 5


def test_logging_tensor_hook_logs_every_n_iter(caplog):
    model = SpecModel(make_model_fn(spec_hooks=[
        lambda loss: tf.compat.v1.train.LoggingTensorHook({"the_loss": loss}, every_n_iter=3)]),
        params={})
    with caplog.at_level(logging.INFO, logger="tensorflow"):
        history = model.fit(data(), epochs=7, steps_per_epoch=1, verbose=0)
    lines = [r.getMessage() for r in caplog.records if "the_loss" in r.getMessage()]
    assert len(lines) == 3  # steps 1, 4, 7
    logged = [float(line.split("=")[1].split()[0].rstrip(",")) for line in lines]
    np.testing.assert_allclose(logged, np.array(history.history["loss"])[[0, 3, 6]], rtol=1e-5)


def test_checkpoint_summary_and_step_counter_hooks_write_files(tmp_path):
    class Listener(tf.compat.v1.train.CheckpointSaverListener):
        saved = []

        def after_save(self, session, global_step_value):
            self.saved.append(global_step_value)

    model = SpecModel(make_model_fn(), params={})
    ckpt_dir, summary_dir, counter_dir = (str(tmp_path / d) for d in ("ckpt", "summ", "count"))
    model.fit(data(), epochs=1, steps_per_epoch=12, verbose=0, hooks=[
        tf.compat.v1.train.CheckpointSaverHook(ckpt_dir, save_steps=5, listeners=[Listener()]),
        tf.compat.v1.train.SummarySaverHook(save_steps=4, output_dir=summary_dir,
                                            summary_op=tf.constant("")),
        tf.compat.v1.train.StepCounterHook(every_n_steps=4, output_dir=counter_dir)])
    assert Listener.saved == [0, 5, 10, 12]
    kept = sorted(int(p.split("-")[-1].split(".")[0]) for p in glob.glob(ckpt_dir + "/*.index"))
    assert kept == [0, 5, 10, 12]
    assert dict(tf.train.list_variables(ckpt_dir)) == {"b": [1], "global_step": [], "w": [2, 1]}

    def events(directory, tag):
        out = []
        for f in glob.glob(directory + "/events*"):
            for e in tf.compat.v1.train.summary_iterator(f):
                out += [(e.step, v) for v in e.summary.value if v.tag == tag]
        return out

    assert [step for step, _ in events(summary_dir, "loss_summary")] == [4, 8, 12]
    rates = events(counter_dir, "global_step/sec")
    assert [step for step, _ in rates] == [4, 8, 12]


def test_chief_only_hooks_run_only_on_the_chief(monkeypatch):
    runs = {}

    def counting(name):
        def make(loss):
            hook = RecordingHook()
            runs.setdefault(name, []).append(hook)
            return hook
        return make

    for task, expected in (({"type": "worker", "index": 0}, 0), ({"type": "chief", "index": 0}, 1)):
        monkeypatch.setenv("TF_CONFIG", json.dumps({
            "cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}, "task": task}))
        runs.clear()
        model = SpecModel(make_model_fn(chief_hooks=[counting("chief")]), params={},
                          config=RunConfig())
        model.fit(data(), epochs=1, steps_per_epoch=3, verbose=0)
        begun = [h for h in runs.get("chief", []) if "after_create_session" in h.calls]
        assert len(begun) == expected
        if expected:
            assert begun[0].calls.count("after_run") == 3


def test_evaluation_hooks_and_sessionless_requests():
    eval_hooks = []

    def make_eval_hook(loss):
        hook = RecordingHook(lambda: {"loss": loss})
        eval_hooks.append(hook)
        return hook

    model = SpecModel(make_model_fn(eval_hooks=[make_eval_hook]), params={})
    eval_data = tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).batch(16)
    result = model.evaluate(eval_data, return_dict=True, verbose=0)
    active = [h for h in eval_hooks if "after_create_session" in h.calls][-1]
    assert active.calls[-1] == "end"
    losses = [v["loss"] for v in active.values]
    assert len(losses) == 4 and result["loss"] == pytest.approx(np.mean(losses), rel=1e-6)

    class RunsNewOps(tf.compat.v1.train.SessionRunHook):
        def begin(self):
            self.doubled = tf.constant(2.0) * 3.0

        def after_create_session(self, session, coord):
            session.run(self.doubled)

    with pytest.raises(HookSessionError, match="RunsNewOps asked session.run for"):
        SpecModel(make_model_fn(), params={}).fit(data(), epochs=1, steps_per_epoch=1, verbose=0,
                                                  hooks=[RunsNewOps()])
    with pytest.raises(TypeError, match=r"hooks\[0\] must be a tf.compat.v1.train.SessionRunHook"):
        SpecModel(make_model_fn(), params={}).fit(data(), epochs=1, steps_per_epoch=1,
                                                  hooks=["not a hook"])
