"""SpecModel.fit without a chosen steps_per_execution runs several steps per call where nothing
needs Python between steps (issue 14 item 3): the same losses (History), variables, summaries,
hook values and callback epochs as one step per call (`compile(steps_per_execution=1)`), never
more steps than asked, and one step per call wherever a callback acts per batch."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import SpecModel

X = np.random.RandomState(3).randn(200, 3).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)


def model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable("w", initializer=tf.zeros([3, 1]))
    b = tf.compat.v1.get_variable("b", initializer=tf.zeros([1]))
    loss = tf.compat.v1.losses.mean_squared_error(labels, tf.matmul(features["x"], w) + b)
    tf.compat.v1.summary.scalar("the_loss", loss)
    step = tf.compat.v1.train.get_global_step()
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(loss, global_step=step)
    return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)


def dataset(kind):
    data = tf.data.Dataset.from_tensor_slices(({"x": X}, Y))
    if kind == "repeated":
        return data.repeat().batch(8, drop_remainder=True)
    if kind == "finite":  # 25 batches
        return data.batch(8)
    return data.filter(lambda f, y: f["x"][0] > -0.5).batch(8)  # unknown cardinality


class EpochRecorder(keras.callbacks.Callback):
    """Acts per epoch only (no per-batch method): does not prevent fusing."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append((epoch, int(self.model.global_step.numpy()), round(logs["loss"], 7)))


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def on_train_batch_end(self, batch, logs=None):
        self.calls += 1


def summaries(logdir):
    values = []
    for path in sorted(glob.glob(os.path.join(logdir, "**", "events.*"), recursive=True)):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                number = (float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
                          else value.simple_value)  # TF1 scalars, as tf.estimator wrote them
                values.append((event.step, value.tag, number))
    return values


def train(tmp_path, name, kind, spe, hooks=None, fast=True, **fit_kwargs):
    tf.keras.utils.set_random_seed(1)
    model = SpecModel(model_fn)
    model.use_fast_loop = fast
    if spe is None:
        model.compile()
    else:
        model.compile(steps_per_execution=spe)
    calls = []
    make = model.make_train_function

    def counting_make(force=False):
        function = make(force)
        if getattr(function, "_counted", False):
            return function

        def counted(iterator):
            calls.append(1)
            return function(iterator)
        counted._counted = True
        counted.drives_hooks = getattr(function, "drives_hooks", False)
        model.train_function = counted
        return counted
    model.make_train_function = counting_make
    recorder = EpochRecorder()
    logdir = str(tmp_path / name)
    with tf.summary.create_file_writer(logdir).as_default():
        history = model.fit(dataset(kind), epochs=2, verbose=0, callbacks=[recorder],
                            hooks=hooks, **fit_kwargs)
    variables = {n: model.get_variable_value(n) for n in model.get_variable_names()}
    return dict(history=history.history, seen=recorder.seen, variables=variables,
                summaries=summaries(logdir), calls=len(calls), spe=model.steps_per_execution)


@pytest.mark.parametrize("kind,fit_kwargs,size", [
    ("repeated", {"steps_per_epoch": 20}, 20),      # grouped, fused executions
    ("finite", {}, 25),                             # 25 batches: one execution per epoch
    ("unknown", {}, 32),                            # executions end where the data ends
    ("repeated", {"steps_per_epoch": 34}, 17),      # a divisor: never past steps_per_epoch
])
def test_auto_execution_equals_one_step_per_call(tmp_path, kind, fit_kwargs, size):
    auto = train(tmp_path, "auto", kind, None, **fit_kwargs)
    single = train(tmp_path, "single", kind, 1, **fit_kwargs)
    assert auto["history"] == single["history"]
    assert auto["seen"] == single["seen"]
    for name, value in single["variables"].items():
        np.testing.assert_array_equal(auto["variables"][name], value, err_msg=name)
    assert auto["summaries"] == single["summaries"]
    steps = single["seen"][-1][1]
    assert [s for s, tag, _ in single["summaries"]] == list(range(1, steps + 1))
    assert auto["spe"] == 1  # restored after fit: compile's choice is unchanged
    per_epoch = steps // 2
    assert single["calls"] >= steps
    assert auto["calls"] <= 2 * (-(-per_epoch // size) + 1)  # executions of `size` steps


class EveryStepHook(tf.compat.v1.train.SessionRunHook):
    """A user hook with no known schedule: sees every step's loss and global step."""

    def __init__(self):
        self.values = []

    def begin(self):
        self.step = tf.compat.v1.train.get_global_step()
        self.loss = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.LOSSES)[0]

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs([self.step, self.loss])

    def after_run(self, run_context, run_values):
        step, loss = run_values.results
        self.values.append((int(step), float(loss)))
        if step >= 30:
            run_context.request_stop()


def test_hooks_see_every_step_when_fused(tmp_path):
    """The hook's fetched values come back with the step's outputs (fast loop) and equal what
    Keras's own loop, reading the mailbox variables after each step, gives."""
    auto_hook, single_hook, keras_hook = EveryStepHook(), EveryStepHook(), EveryStepHook()
    auto = train(tmp_path, "auto", "repeated", None, hooks=[auto_hook], steps_per_epoch=20)
    single = train(tmp_path, "single", "repeated", 1, hooks=[single_hook], steps_per_epoch=20)
    keras_loop = train(tmp_path, "keras", "repeated", 1, hooks=[keras_hook], fast=False,
                       steps_per_epoch=20)
    assert auto_hook.values == single_hook.values == keras_hook.values
    assert keras_loop["history"] == single["history"]
    assert [s for s, _ in single_hook.values] == list(range(0, 31))  # stop after step 31
    assert auto["history"] == single["history"] and auto["seen"] == single["seen"]
    assert auto["summaries"] == single["summaries"]
    assert auto["calls"] < single["calls"]


def test_per_batch_callbacks_keep_one_step_per_call(tmp_path):
    model = SpecModel(model_fn)
    counter = BatchCounter()
    model.fit(dataset("repeated"), steps_per_epoch=12, epochs=1, verbose=0, callbacks=[counter])
    assert counter.calls == 12  # Keras calls on_train_batch_end per execution: 12 executions
    tensorboard = keras.callbacks.TensorBoard(str(tmp_path / "tb"), update_freq=5)
    from adapters.engine import auto_execution
    assert auto_execution.execution_size(model, dataset("repeated"), [tensorboard],
                                         {"steps_per_epoch": 12}) == 1
    quiet = keras.callbacks.TensorBoard(str(tmp_path / "tb"))
    assert auto_execution.execution_size(model, dataset("repeated"), [quiet],
                                         {"steps_per_epoch": 12}) == 12
    assert auto_execution.execution_size(model, dataset("repeated"), [],
                                         {"steps_per_epoch": 12,
                                          "validation_data": dataset("finite")}) == 1
    model.use_fast_loop = False
    assert auto_execution.execution_size(model, dataset("repeated"), [],
                                         {"steps_per_epoch": 12}) == 1
