"""Hooks with a known schedule run fused (issue 14): the steps between the steps a hook acts on
run in one call, and everything the hooks do is what per-step running gives (Keras's own loop,
one step per call: `use_fast_loop = False`): the same lifecycle calls, logged values at the same
steps, checkpoint steps, stop step and trained variables."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import Estimator, RunConfig, SpecModel

X = np.random.RandomState(5).randn(96, 3).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)


def input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).repeat().batch(8, drop_remainder=True)


class Lifecycle(tf.compat.v1.train.SessionRunHook):
    """Only begin / after_create_session / end (no per-step calls): never forces per-step."""

    def __init__(self):
        self.calls = []

    def begin(self):
        self.calls.append("begin")

    def after_create_session(self, session, coord):
        self.calls.append("after_create_session")

    def end(self, session):
        self.calls.append("end")


def counting(hook, counter):
    """Count the hook's before_run calls without changing its class (still scheduled)."""
    original = hook.before_run

    def before_run(run_context):
        counter.append(1)
        return original(run_context)
    hook.before_run = before_run
    return hook


def make_model_fn(log_every, last_step, counter):
    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", initializer=tf.zeros([3, 1]))
        b = tf.compat.v1.get_variable("b", initializer=tf.zeros([1]))
        loss = tf.compat.v1.losses.mean_squared_error(labels, tf.matmul(features["x"], w) + b)
        step = tf.compat.v1.train.get_global_step()
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(loss, global_step=step)
        hooks = [counting(tf.compat.v1.train.LoggingTensorHook(
                     {"loss": loss, "step": tf.identity(step)}, every_n_iter=log_every), counter),
                 tf.compat.v1.train.StopAtStepHook(last_step=last_step)]
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, training_hooks=hooks)
    return model_fn


def train_facade(model_dir, fused, caplog, log_every=7, last_step=38):
    counter, lifecycle, saved = [], Lifecycle(), []

    class Listener(tf.compat.v1.train.CheckpointSaverListener):
        def after_save(self, session, global_step_value):
            saved.append(int(global_step_value))

    estimator = Estimator(make_model_fn(log_every, last_step, counter), model_dir=model_dir,
                          config=RunConfig(save_summary_steps=10, log_step_count_steps=10,
                                           save_checkpoints_steps=None,
                                           save_checkpoints_secs=None))
    estimator._spec_model().use_fast_loop = fused  # pylint: disable=protected-access
    saver = tf.compat.v1.train.CheckpointSaverHook(model_dir, save_steps=6, listeners=[Listener()])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tensorflow"):
        estimator.train(input_fn, steps=100, hooks=[lifecycle, saver])
    logged = [r.getMessage().split(" (")[0] for r in caplog.records  # without "(0.05 sec)"
              if r.getMessage().startswith("loss = ")]
    variables = {n: estimator.get_variable_value(n) for n in ("w", "b", "global_step")}
    return dict(logged=logged, before_runs=len(counter), calls=lifecycle.calls, saved=saved,
                variables=variables, model=estimator._spec_model())  # pylint: disable=protected-access


def test_facade_standard_hooks_fused_equal_per_step(tmp_path, caplog):
    fused = train_facade(str(tmp_path / "fused"), True, caplog)
    per_step = train_facade(str(tmp_path / "per_step"), False, caplog)
    # The same logs (values to the last digit) at the same steps: iterations 0, 7, ..., 35; the
    # global step read with the step is its count before the step, as tf.estimator's hooks saw it.
    assert fused["logged"] == per_step["logged"]
    assert [m.split("step = ")[1] for m in fused["logged"]] == ["0", "7", "14", "21", "28", "35"]
    # StopAtStepHook(last_step=38) stops both at 38; checkpoints at start, every 6, end.
    assert fused["variables"]["global_step"] == per_step["variables"]["global_step"] == 38
    assert fused["saved"] == per_step["saved"] == [0, 6, 12, 18, 24, 30, 36, 38]
    for name in ("w", "b"):
        np.testing.assert_array_equal(fused["variables"][name], per_step["variables"][name])
    assert fused["calls"] == per_step["calls"] == ["begin", "after_create_session", "end"]
    # Fused: LoggingTensorHook.before_run ran only at the steps some hook acts on (logs, saves,
    # the stop), not at all 38; per step, at every step.
    assert per_step["before_runs"] == 38
    assert fused["before_runs"] < 25
    assert fused["model"].steps_per_execution == 10  # TrainLoop's cadence, hooks inside it


def test_user_hook_fetching_every_step_sees_every_step(tmp_path):
    """A hook whose schedule is unknown is called around every step, with that step's values."""

    class EveryStep(tf.compat.v1.train.SessionRunHook):
        def begin(self):
            self.step = tf.compat.v1.train.get_global_step()
            self.seen = []

        def before_run(self, run_context):
            return tf.compat.v1.train.SessionRunArgs(self.step)

        def after_run(self, run_context, run_values):
            self.seen.append(int(run_values.results))
            if len(self.seen) == 13:
                run_context.request_stop()

    results = []
    for fused in (True, False):
        hook = EveryStep()
        estimator = Estimator(make_model_fn(100, 1000, []), model_dir=str(tmp_path / str(fused)),
                              config=RunConfig(save_checkpoints_steps=1000,
                                               save_checkpoints_secs=None))
        estimator._spec_model().use_fast_loop = fused  # pylint: disable=protected-access
        estimator.train(input_fn, steps=50, hooks=[hook])
        results.append((hook.seen, estimator.get_variable_value("global_step"),
                        estimator.get_variable_value("w")))
    (seen, step, w), (seen_ref, step_ref, w_ref) = results
    assert seen == seen_ref and len(seen) == 13  # one call per step, the same values
    assert step == step_ref == 13  # stopped after the 13th step, mid-execution
    np.testing.assert_array_equal(w, w_ref)


def test_spec_model_fit_hooks_at_spe_1_match_keras_loop():
    """SpecModel.fit(hooks=...) at steps_per_execution 1 (given), and at compile's default (several
    steps per call, hooks still exact): the lean hook paths, same results as Keras's own loop."""
    runs = []
    for fused, spe in ((True, 1), (True, None), (False, 1)):
        counter = []
        model = SpecModel(make_model_fn(4, 1000, counter))
        model.use_fast_loop = fused
        model.compile(steps_per_execution=spe)
        history = model.fit(input_fn(), steps_per_epoch=9, epochs=2, verbose=0,
                            hooks=[tf.compat.v1.train.StopAtStepHook(last_step=15)])
        runs.append((history.history["loss"], model.get_variable_value("w"),
                     int(model.global_step.numpy()), len(counter)))
    (loss, w, step, calls), (loss_auto, w_auto, step_auto, calls_auto), \
        (loss_ref, w_ref, step_ref, calls_ref) = runs
    assert loss == loss_auto == loss_ref
    np.testing.assert_array_equal(w, w_ref)
    np.testing.assert_array_equal(w_auto, w_ref)
    assert step == step_auto == step_ref == 15
    assert calls == calls_ref == 15  # at steps_per_execution 1 every step is a call
    # Default: executions of 9 steps, LoggingTensorHook's before_run only at the steps it logs
    # (0, 4, 8, 12) and the stop step.
    assert calls_auto == 5
