"""Scaffold (init_op, init_fn, local_init_op, saver), ProfilerHook and who checkpoints a
train(): what a TF1 MonitoredSession / tf.estimator did, observed through values and files."""

import glob
import logging
import os
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import Estimator, RunConfig, SpecModel
from adapters.estimator import train_loop
from adapters.tf1.trace_session import TraceSessionError
from estimator_helpers import checkpoint_steps

X = np.random.RandomState(7).randn(64, 2).astype(np.float32)
Y = (X @ np.array([[1.5], [-0.5]], np.float32) + 0.25).astype(np.float32)
PRETRAINED = {"w": np.array([[0.5], [2.0]], np.float32), "b": np.array([-1.0], np.float32)}


def data():
    return tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).repeat().batch(8, drop_remainder=True)


def input_fn():
    return data()


def write_pretrained(directory) -> str:
    """A TF1-named checkpoint holding w and b (what a pretrained model_dir held)."""
    variables = {name: tf.Variable(value) for name, value in PRETRAINED.items()}
    saver = tf.compat.v1.train.Saver(var_list=variables)
    return saver.save(None, os.path.join(str(directory), "pretrained"), write_meta_graph=False)


def make_model_fn(scaffold_fn=None, chief_hooks_fn=None, hooks_fn=None):
    """Linear regression trained with compat.v1 SGD; the Scaffold comes from scaffold_fn."""
    def model_fn(features, labels, mode, params):
        w = tf.compat.v1.get_variable("w", initializer=tf.zeros([2, 1]))
        b = tf.compat.v1.get_variable("b", initializer=tf.zeros([1]))
        pred = tf.matmul(features["x"], w) + b
        step = tf.compat.v1.train.get_global_step()
        scaffold = scaffold_fn(w=w, b=b, step=step, features=features) if scaffold_fn else None
        if mode == ks.ModeKeys.PREDICT:  # the same Scaffold in every mode, as model_fns did
            return ks.EstimatorSpec(mode, predictions=pred, scaffold=scaffold)
        loss = tf.reduce_mean(tf.square(pred - labels))
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(
            loss, global_step=step)
        return ks.EstimatorSpec(
            mode, loss=loss, train_op=train_op, scaffold=scaffold,
            eval_metric_ops={"mse": tf.compat.v1.metrics.mean_squared_error(labels, pred)},
            training_chief_hooks=chief_hooks_fn() if chief_hooks_fn else [],
            training_hooks=hooks_fn() if hooks_fn else [])
    return model_fn


def reference_run(start: dict, *steps: int) -> dict:
    """The same model without a Scaffold, started from `start`, trained `steps` steps (one
    fit per entry, each from the first batch, as each train() called input_fn again)."""
    model = SpecModel(make_model_fn(), params={})
    model.build_variables(data())
    for name, value in start.items():
        model.checkpoint_variables()[name].assign(value)
    for count in steps:
        model.fit(data(), epochs=1, steps_per_epoch=count, verbose=0)
    return {name: model.get_variable_value(name) for name in ("w", "b")}


# -- init_fn ---------------------------------------------------------------------------------
def restoring_init_fn(prefix, runs):
    """What slim.assign_from_checkpoint_fn and hand-written init_fns did: saver.restore."""
    def scaffold_fn(w, b, **_):
        saver = tf.compat.v1.train.Saver(var_list={"w": w, "b": b})  # built in the model_fn

        def init_fn(scaffold, session):
            runs.append("dry" if session.runs_nothing else "ran")
            saver.restore(session, prefix)
        return tf.compat.v1.train.Scaffold(init_fn=init_fn)
    return scaffold_fn


def test_init_fn_restores_before_training_and_training_continues_from_there(tmp_path):
    prefix = write_pretrained(tmp_path)
    runs = []
    model = SpecModel(make_model_fn(restoring_init_fn(prefix, runs)), params={})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "keras-spec does not run init_fn" warning any more
        model.build_variables(data())
    for name, value in PRETRAINED.items():
        np.testing.assert_array_equal(model.get_variable_value(name), value)
    model.fit(data(), epochs=1, steps_per_epoch=5, verbose=0)
    assert runs.count("ran") == 1  # once; later traces only learn what it would run
    expected = reference_run(PRETRAINED, 5)
    for name in ("w", "b"):
        np.testing.assert_array_equal(model.get_variable_value(name), expected[name])
    assert not np.array_equal(model.get_variable_value("w"), PRETRAINED["w"])  # it trained


def test_estimator_runs_init_fn_only_when_no_checkpoint_is_restored(tmp_path):
    prefix = write_pretrained(tmp_path)
    runs = []
    model_dir = str(tmp_path / "model")
    config = RunConfig(save_checkpoints_steps=2)
    first = Estimator(make_model_fn(restoring_init_fn(prefix, runs)), model_dir=model_dir,
                      params={}, config=config)
    first.train(input_fn, steps=2)
    at_0 = os.path.join(model_dir, "model.ckpt-0")
    for name, value in PRETRAINED.items():  # the first checkpoint holds what init_fn restored
        np.testing.assert_array_equal(tf.train.load_variable(at_0, name), value)
    assert runs.count("ran") == 1
    for path in glob.glob(prefix + "*"):
        os.remove(path)  # the pretrained checkpoint is gone: a resumed run must not need it
    resumed = Estimator(make_model_fn(restoring_init_fn(prefix, runs)), model_dir=model_dir,
                        params={}, config=config)
    resumed.train(input_fn, steps=2)
    assert runs.count("ran") == 1  # restored from model_dir instead, as TF1 did
    assert checkpoint_steps(model_dir) == [0, 2, 4]
    expected = reference_run(PRETRAINED, 2, 2)
    np.testing.assert_allclose(resumed.get_variable_value("w"), expected["w"], rtol=1e-6)


def test_init_fn_runs_model_fn_ops_with_a_feed_dict_once():
    """The pretrained-embedding pattern: an assign from a placeholder, fed in init_fn."""
    def scaffold_fn(w, **_):
        value = tf.compat.v1.placeholder(tf.float32, [2, 1], name="pretrained_w")
        assign = tf.compat.v1.assign(w, value)

        def init_fn(scaffold, session):
            session.run(assign, feed_dict={value.name: PRETRAINED["w"]})
        return tf.compat.v1.train.Scaffold(init_fn=init_fn)

    model = SpecModel(make_model_fn(scaffold_fn), params={})
    model.build_variables(data())
    np.testing.assert_array_equal(model.get_variable_value("w"), PRETRAINED["w"])
    # the assignment (and its unfed placeholder) is not part of the training step
    model.fit(data(), epochs=1, steps_per_epoch=4, verbose=0)
    expected = reference_run({"w": PRETRAINED["w"]}, 4)
    np.testing.assert_array_equal(model.get_variable_value("w"), expected["w"])


def test_tpu_scaffold_fn_init_fn(tmp_path):
    prefix = write_pretrained(tmp_path)

    def model_fn(features, labels, mode, params):
        spec = make_model_fn()(features, labels, mode, params)
        variables = {"w": tf.compat.v1.get_variable("w"), "b": tf.compat.v1.get_variable("b")}

        def scaffold_fn():
            saver = tf.compat.v1.train.Saver(var_list=variables)
            return tf.compat.v1.train.Scaffold(
                init_fn=lambda scaffold, session: saver.restore(session, prefix))
        return ks.TPUEstimatorSpec(mode, loss=spec.loss, train_op=spec.train_op,
                                   scaffold_fn=scaffold_fn)

    model = SpecModel(model_fn, params={})
    model.build_variables(data())
    np.testing.assert_array_equal(model.get_variable_value("b"), PRETRAINED["b"])


# -- init_op / local_init_op --------------------------------------------------------------------
def test_init_op_assigns_once_before_the_first_step(tmp_path):
    w0, b0 = np.array([[1.0], [2.0]], np.float32), np.array([3.0], np.float32)

    def scaffold_fn(w, b, **_):
        return tf.compat.v1.train.Scaffold(
            init_op=tf.group(w.assign(tf.constant(w0)), tf.compat.v1.assign(b, b0)))

    model = SpecModel(make_model_fn(scaffold_fn), params={})
    first = model.fit(data(), epochs=1, steps_per_epoch=1, verbose=0).history["loss"][0]
    x, y = X[:8], Y[:8]
    assert first == pytest.approx(float(np.mean((x @ w0 + b0 - y) ** 2)), rel=1e-6)
    model.fit(data(), epochs=1, steps_per_epoch=3, verbose=0)  # not re-assigned on later steps
    expected = reference_run({"w": w0, "b": b0}, 1, 3)
    np.testing.assert_allclose(model.get_variable_value("w"), expected["w"], rtol=1e-6)
    # predictions and a SavedModel (the PREDICT spec has the Scaffold too) use trained values
    trained = model.get_variable_value("w"), model.get_variable_value("b")
    predicted = model.predict(tf.data.Dataset.from_tensor_slices({"x": X[:4]}).batch(4), verbose=0)
    np.testing.assert_allclose(predicted, X[:4] @ trained[0] + trained[1], rtol=1e-5)
    receiver = ks.export.build_raw_serving_input_receiver_fn(
        {"x": tf.TensorSpec([None, 2], tf.float32)})
    served = tf.saved_model.load(model.export_saved_model(str(tmp_path), receiver))
    output = served.signatures["serving_default"](x=tf.constant(X[:4]))["output"].numpy()
    np.testing.assert_allclose(output, X[:4] @ trained[0] + trained[1], rtol=1e-5)


def test_local_init_op_with_its_feed_dict_and_init_ops_that_cannot_be_kept_out():
    def local_init(b, **_):
        fed = tf.compat.v1.placeholder(tf.float32, [1])
        return tf.compat.v1.train.Scaffold(local_init_op=b.assign(fed),
                                           local_init_feed_dict={fed.name: [4.0]})

    model = SpecModel(make_model_fn(local_init), params={})
    model.build_variables(data())
    np.testing.assert_array_equal(model.get_variable_value("b"), [4.0])

    def adds(w, **_):
        return tf.compat.v1.train.Scaffold(init_op=w.assign_add(tf.ones([2, 1])))

    with pytest.raises(TraceSessionError, match=r"AssignAddVariableOp.*plain assignment"):
        SpecModel(make_model_fn(adds), params={}).build_variables(data())

    def from_features(w, features, **_):
        return tf.compat.v1.train.Scaffold(init_op=w.assign(tf.transpose(features["x"][:1])))

    with pytest.raises(TraceSessionError, match="the input batch or a placeholder"):
        SpecModel(make_model_fn(from_features), params={}).build_variables(data())


# -- Scaffold.saver --------------------------------------------------------------------------------
def subset_saver(w, step, **_):
    return tf.compat.v1.train.Scaffold(saver=tf.compat.v1.train.Saver(
        var_list={"renamed/w": w, "global_step": step}, max_to_keep=2))


def test_scaffold_saver_decides_what_checkpoints_hold_and_how_many_are_kept(tmp_path):
    model_dir = str(tmp_path)
    config = RunConfig(save_checkpoints_steps=2, keep_checkpoint_max=5)
    estimator = Estimator(make_model_fn(subset_saver), model_dir=model_dir, params={},
                          config=config)
    estimator.train(input_fn, steps=6)
    assert checkpoint_steps(model_dir) == [4, 6]  # the Saver's max_to_keep, not RunConfig's
    assert dict(tf.train.list_variables(model_dir)) == {"renamed/w": [2, 1], "global_step": []}
    trained_w = tf.train.load_variable(model_dir, "renamed/w")

    resumed = Estimator(make_model_fn(subset_saver), model_dir=model_dir, params={}, config=config)
    result = resumed.evaluate(input_fn, steps=1)  # restores through the same Saver
    assert result["global_step"] == 6
    x, y = X[:8], Y[:8]  # b was not saved: it starts from its initial value (0)
    assert result["loss"] == pytest.approx(float(np.mean((x @ trained_w - y) ** 2)), rel=1e-5)

    # CheckpointSaverHook in fit(hooks=...) follows the same Saver
    hook_dir = str(tmp_path / "hook")
    model = SpecModel(make_model_fn(subset_saver), params={})
    model.fit(data(), epochs=1, steps_per_epoch=5, verbose=0,
              hooks=[tf.compat.v1.train.CheckpointSaverHook(hook_dir, save_steps=1)])
    assert checkpoint_steps(hook_dir) == [4, 5]
    assert sorted(n for n, _ in tf.train.list_variables(hook_dir)) == ["global_step", "renamed/w"]


def test_keep_checkpoint_every_n_hours(tmp_path):
    def saver_fn(w, step, **_):
        return tf.compat.v1.train.Scaffold(saver=tf.compat.v1.train.Saver(
            var_list=[w, step], max_to_keep=1, keep_checkpoint_every_n_hours=2.0 / 3600))

    model = SpecModel(make_model_fn(saver_fn), params={})
    for i in range(4):
        if i == 2:  # well past the first 2 seconds of this Saver's life (TF reads file
            time.sleep(3.5)  # mtimes, which may be whole seconds)
        model.fit(data(), epochs=1, steps_per_epoch=1, verbose=0)
        model.save_checkpoint(str(tmp_path))
    # max_to_keep=1 keeps the latest; the first checkpoint written after 2 s stays as well
    assert checkpoint_steps(str(tmp_path)) == [3, 4]


# -- ProfilerHook ----------------------------------------------------------------------------------
def profile_runs(output_dir) -> dict:
    runs = {}
    for run in glob.glob(os.path.join(output_dir, "plugins", "profile", "*")):
        runs[os.path.basename(run)] = [os.path.basename(f) for f in os.listdir(run)]
    return runs


def test_profiler_hook_traces_the_steps_it_would_have_traced(tmp_path):
    out = str(tmp_path / "spec_hook")
    model = SpecModel(make_model_fn(hooks_fn=lambda: [
        tf.compat.v1.train.ProfilerHook(save_steps=2, output_dir=out)]), params={})
    model.fit(data(), epochs=1, steps_per_epoch=5, verbose=0)
    runs = profile_runs(out)
    assert sorted(runs) == ["timeline-2", "timeline-4"]  # not the first step, then every 2
    assert all(any(f.endswith(".xplane.pb") for f in files) for files in runs.values())
    assert not glob.glob(os.path.join(out, ".keras_spec_profile-*"))  # nothing half-written

    user_out = str(tmp_path / "user_hook")
    with tf.Graph().as_default():  # TF 2.21 builds ProfilerHook's FileWriter in a graph only
        hook = tf.compat.v1.train.ProfilerHook(save_steps=3, output_dir=user_out)
    SpecModel(make_model_fn(), params={}).fit(data(), epochs=1, steps_per_epoch=4, verbose=0,
                                              hooks=[hook])
    assert sorted(profile_runs(user_out)) == ["timeline-3"]


# -- who checkpoints a train() ---------------------------------------------------------------------
class Listener(tf.compat.v1.train.CheckpointSaverListener):
    def __init__(self):
        self.saved = []

    def after_save(self, session, global_step_value):
        self.saved.append(global_step_value)


def test_a_users_checkpoint_saver_hook_replaces_the_default_one(tmp_path):
    config = RunConfig(save_checkpoints_steps=2, keep_checkpoint_max=3)
    user_dir, spec_dir = str(tmp_path / "user"), str(tmp_path / "spec")
    listener = Listener()
    estimator = Estimator(make_model_fn(), model_dir=user_dir, params={}, config=config)
    estimator.train(input_fn, steps=7, saving_listeners=[listener], hooks=[
        tf.compat.v1.train.CheckpointSaverHook(user_dir, save_steps=3)])
    assert listener.saved == [0, 3, 6, 7]  # the hook's cadence only (the default: every 2)
    assert checkpoint_steps(user_dir) == [3, 6, 7]  # RunConfig.keep_checkpoint_max

    listener = Listener()
    estimator = Estimator(make_model_fn(chief_hooks_fn=lambda: [
        tf.compat.v1.train.CheckpointSaverHook(spec_dir, save_steps=3)]), model_dir=spec_dir,
        params={}, config=config)
    estimator.train(input_fn, steps=7, saving_listeners=[listener])
    assert listener.saved == [0, 3, 6, 7]
    assert checkpoint_steps(spec_dir) == [3, 6, 7]

    no_default = Estimator(make_model_fn(), model_dir=str(tmp_path / "none"), params={},
                           config=RunConfig(save_checkpoints_steps=None, save_checkpoints_secs=None))
    listener = Listener()
    no_default.train(input_fn, steps=2, saving_listeners=[listener], hooks=[
        tf.compat.v1.train.CheckpointSaverHook(str(tmp_path / "none"), save_steps=1)])
    assert listener.saved == [0, 1, 2]  # a user saver hook is enough for saving_listeners


class FakeTime:
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now


def test_save_checkpoints_secs_and_keep_checkpoint_max(tmp_path, monkeypatch, caplog):
    clock = FakeTime()
    monkeypatch.setattr(train_loop, "time", clock)

    class OneSecondPerStep(tf.compat.v1.train.SessionRunHook):
        # the second passes during the step: the saver (run before hooks after each step, as
        # tf.estimator's chief CheckpointSaverHook was) sees it
        def before_run(self, run_context):
            clock.now += 1.0

    estimator = Estimator(make_model_fn(), model_dir=str(tmp_path), params={},
                          config=RunConfig(save_checkpoints_secs=3, keep_checkpoint_max=2))
    with caplog.at_level(logging.INFO, logger="keras_spec"):
        estimator.train(input_fn, steps=10, hooks=[OneSecondPerStep()])
    saved = [int(r.getMessage().split()[3]) for r in caplog.records
             if r.getMessage().startswith("Saving checkpoints for")]
    assert saved == [0, 3, 6, 9, 10]
    assert checkpoint_steps(str(tmp_path)) == [9, 10]
