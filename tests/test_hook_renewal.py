"""A second train()/evaluate() with hooks keeps the traced step (issue 14) and still gives each call
the hooks tf.estimator gave it: new spec hooks (from the same constructor arguments, or from the
model_fn called again), the user's hooks begun again, and each hook's values from its own call."""

import logging

import numpy as np
import tensorflow as tf

import keras_spec as ks
from adapters import Estimator, RunConfig

X = np.random.RandomState(3).randn(64, 2).astype(np.float32)
Y = (X @ np.array([[2.0], [-1.0]], np.float32) + 0.5).astype(np.float32)
CONFIG = RunConfig(save_checkpoints_steps=1000, save_checkpoints_secs=None,
                   save_summary_steps=1000, log_step_count_steps=1000)


def input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).repeat().batch(8, drop_remainder=True)


def eval_input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).batch(8)


def linear(features, labels):
    w = tf.compat.v1.get_variable("w", initializer=tf.zeros([2, 1]))
    b = tf.compat.v1.get_variable("b", initializer=tf.zeros([1]))
    loss = tf.compat.v1.losses.mean_squared_error(labels, tf.matmul(features["x"], w) + b)
    step = tf.compat.v1.train.get_global_step()
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    return loss, train_op, step


def closed_form_losses(steps_per_call: list) -> list:
    """The loss of every step, by NumPy gradient descent on the same batches (each train() call
    reads its input_fn's dataset from the start)."""
    w, b, losses = np.zeros((2, 1)), np.zeros(1), []
    for i in [i for steps in steps_per_call for i in range(steps)]:
        lo = (i * 8) % 64
        x, y = X[lo:lo + 8].astype(np.float64), Y[lo:lo + 8].astype(np.float64)
        err = x @ w + b - y
        losses.append(float(np.mean(err ** 2)))
        w, b = w - 0.1 * 2 * x.T @ err / 8, b - 0.1 * 2 * err.mean(axis=0)
    return losses


def train_traces(estimator) -> tuple:
    """(the traced TRAIN step function, how many times it was traced)."""
    core = estimator._spec_model()._core(ks.ModeKeys.TRAIN)  # pylint: disable=protected-access
    return core, core.experimental_get_tracing_count()


def test_standard_spec_hooks_are_new_each_train_without_tracing_again(caplog):
    calls = []

    def model_fn(features, labels, mode):
        calls.append(mode)
        loss, train_op, step = linear(features, labels)
        hooks = [tf.compat.v1.train.LoggingTensorHook({"step": tf.identity(step)}, every_n_iter=2),
                 tf.compat.v1.train.StopAtStepHook(num_steps=5)]
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, training_hooks=hooks)

    estimator = Estimator(model_fn, config=CONFIG)
    logged = []
    for _ in range(3):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tensorflow"):
            estimator.train(input_fn, steps=100)
        logged.append([r.getMessage().split(" (")[0] for r in caplog.records
                       if r.getMessage().startswith("step = ")])
        if len(logged) == 1:
            traced = (len(calls), train_traces(estimator))
    # tf.estimator: each train() built new hooks, so StopAtStepHook(num_steps=5) counted 5 steps
    # from where that call started, and the LoggingTensorHook counted iterations from 0 again
    # (the global step read with the step is its value before the step).
    assert estimator.get_variable_value("global_step") == 15
    assert logged == [["step = 0", "step = 2", "step = 4"], ["step = 5", "step = 7", "step = 9"],
                      ["step = 10", "step = 12", "step = 14"]]
    # ...without calling the model_fn or tracing the step again.
    assert (len(calls), train_traces(estimator)) == traced


class CountingHook(tf.compat.v1.train.SessionRunHook):
    """A user's hook class with state begin() does not reset (so a reused object would differ
    from tf.estimator's new one), fetching the loss at every step."""

    instances = []

    def __init__(self, loss, scale):
        self.loss, self.scale, self.losses = loss, scale, []
        CountingHook.instances.append(self)

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self.loss)

    def after_run(self, run_context, run_values):
        self.losses.append(float(run_values.results) / self.scale)


def test_other_spec_hooks_come_from_the_model_fn_again_with_their_own_values():
    CountingHook.instances = []
    scale = {"value": 1.0}

    def model_fn(features, labels, mode):
        loss, train_op, _ = linear(features, labels)
        hook = CountingHook(loss * scale["value"], scale["value"])
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, training_hooks=[hook])

    estimator = Estimator(model_fn, config=CONFIG)
    ran = []

    def train():
        before = len(CountingHook.instances)
        estimator.train(input_fn, steps=3)
        ran.append([h.losses for h in CountingHook.instances[before:] if h.losses])

    train()
    traces = train_traces(estimator)
    train()
    # The model_fn ran again (a new hook, fresh state) but the step was not traced again.
    assert train_traces(estimator) == traces
    scale["value"] = 2.0  # the model_fn now builds another tensor for its hook: traced again
    train()
    assert train_traces(estimator)[0] is not traces[0]
    # Each call's hook is a new one, and saw that call's three steps.
    assert [len(hooks) for hooks in ran] == [1, 1, 1]
    expected = closed_form_losses([3, 3, 3])
    for i, hooks in enumerate(ran):
        np.testing.assert_allclose(hooks[0], expected[3 * i:3 * i + 3], rtol=1e-5)


def test_user_hooks_given_to_train_begin_again_on_the_kept_step(caplog):
    class Lifecycle(tf.compat.v1.train.SessionRunHook):
        def __init__(self):
            self.calls = []

        def begin(self):
            self.calls.append("begin")

        def end(self, session):
            self.calls.append("end")

    def model_fn(features, labels, mode):
        loss, train_op, _ = linear(features, labels)
        return ks.EstimatorSpec(mode, loss=tf.identity(loss, name="the_loss"), train_op=train_op)

    lifecycle = Lifecycle()
    by_name = tf.compat.v1.train.LoggingTensorHook(["the_loss"], every_n_iter=1)
    estimator = Estimator(model_fn, config=CONFIG)
    logged = []
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tensorflow"):
            estimator.train(input_fn, steps=2, hooks=[lifecycle, by_name])
        logged += [float(r.getMessage().split(" = ")[1].split(" (")[0]) for r in caplog.records
                   if r.getMessage().startswith("the_loss = ")]
    assert lifecycle.calls == ["begin", "end", "begin", "end"]
    np.testing.assert_allclose(logged, closed_form_losses([2, 2]), rtol=1e-5)


def test_evaluation_hooks_are_renewed_for_a_second_evaluate(caplog):
    def model_fn(features, labels, mode):
        loss, train_op, _ = linear(features, labels)
        hooks = [tf.compat.v1.train.LoggingTensorHook({"eval_loss": loss}, every_n_iter=3)]
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, evaluation_hooks=hooks)

    estimator = Estimator(model_fn, config=CONFIG)
    estimator.train(input_fn, steps=4)
    runs = []
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tensorflow"):
            metrics = estimator.evaluate(eval_input_fn)
        runs.append(([r.getMessage().split(" (")[0] for r in caplog.records
                      if r.getMessage().startswith("eval_loss = ")], metrics["loss"]))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) == 3  # batches 0, 3, 6 of 8


def test_a_hook_added_after_a_call_without_hooks_begins_once():
    class Lifecycle(tf.compat.v1.train.SessionRunHook):
        def __init__(self):
            self.calls = []

        def begin(self):
            self.calls.append("begin")
            self.step = tf.compat.v1.train.get_global_step()

        def before_run(self, run_context):
            return tf.compat.v1.train.SessionRunArgs(self.step)

        def after_run(self, run_context, run_values):
            self.calls.append(int(run_values.results))

        def end(self, session):
            self.calls.append("end")

    def model_fn(features, labels, mode):
        loss, train_op, _ = linear(features, labels)
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)

    estimator = Estimator(model_fn, config=CONFIG)
    estimator.train(input_fn, steps=2)
    hook = Lifecycle()
    estimator.train(input_fn, steps=2, hooks=[hook])  # the step is traced again, for the hook
    assert hook.calls == ["begin", 2, 3, "end"]
