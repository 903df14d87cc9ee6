"""Estimator facade semantics users rely on: steps/max_steps, resume after a crash, evaluating
older checkpoints, eval summaries, predict modes, input_fn forms, errors, logs and summaries."""

import inspect
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import Estimator, RunConfig, SpecModel
from conformance_runner import GOLDEN
from estimator_helpers import case_and_fns, checkpoint_steps, read_events

hooks_supported = "hooks" in inspect.signature(SpecModel.fit).parameters


def files_with_mtimes(directory):
    return {f: os.stat(os.path.join(directory, f)).st_mtime_ns for f in os.listdir(directory)
            if f.startswith("model.ckpt") or f == "checkpoint"}


def all_checkpoint_values(path):
    return {name: tf.train.load_variable(path, name) for name, _ in tf.train.list_variables(path)}


# -- steps / max_steps -----------------------------------------------------------------------
def test_steps_add_and_max_steps_stops_at_the_global_step(tmp_path):
    case, train_fn, _, _ = case_and_fns("linreg")
    calls = []

    def counting_input_fn():
        calls.append(1)
        return train_fn()

    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"])
    estimator.train(counting_input_fn, steps=7)
    assert estimator.get_variable_value("global_step") == 7
    estimator.train(counting_input_fn, steps=5)  # steps add
    assert estimator.get_variable_value("global_step") == 12
    estimator.train(counting_input_fn, max_steps=20)  # max_steps stops at global step 20
    assert estimator.get_variable_value("global_step") == 20
    assert len(calls) == 3

    before = files_with_mtimes(str(tmp_path))
    estimator.train(counting_input_fn, max_steps=20)  # reached: a no-op
    estimator.train(counting_input_fn, max_steps=15)
    assert len(calls) == 3  # input_fn not even called
    assert files_with_mtimes(str(tmp_path)) == before  # no new or rewritten checkpoint
    assert estimator.get_variable_value("global_step") == 20

    # A second Estimator on the same model_dir knows where training stands.
    other = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"])
    other.train(counting_input_fn, max_steps=20)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="Can not provide both steps and max_steps"):
        estimator.train(train_fn, steps=1, max_steps=30)
    with pytest.raises(ValueError, match="Must specify steps > 0, given: 0"):
        estimator.train(train_fn, steps=0)
    with pytest.raises(ValueError, match="Must specify max_steps > 0, given: -1"):
        estimator.train(train_fn, max_steps=-1)
    with pytest.raises(TypeError, match="All hooks must be `SessionRunHook` instances"):
        estimator.train(train_fn, steps=1, hooks=[object()])


def test_training_stops_when_the_input_ends(tmp_path):
    case, _, _, _ = case_and_fns("linreg")

    def five_batches():
        return tf.data.Dataset.from_tensor_slices(
            ({"x": case["train_x"][:160]}, case["train_y"][:160])).batch(32)

    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"])
    estimator.train(five_batches)
    assert estimator.get_variable_value("global_step") == 5
    estimator.train(five_batches, steps=100)  # OutOfRange ends training before 100 steps
    assert estimator.get_variable_value("global_step") == 10
    assert checkpoint_steps(str(tmp_path)) == [0, 5, 10]


# -- a crash in the middle of train, then a restart ---------------------------------------------
def test_restart_after_a_crash_resumes_from_the_last_checkpoint_and_matches(tmp_path):
    """mlp_classifier (Adam, decaying learning rate on the global step), checkpoints every 5
    steps, input of period 5 batches: a run killed at step 13 and restarted ends where an
    uninterrupted run ends, bit for bit (slots, beta powers and global_step included)."""
    case, _, _, _ = case_and_fns("mlp_classifier")
    config = RunConfig(save_checkpoints_steps=5, tf_random_seed=0)

    def input_fn(fail_at=None):
        def fn():
            data = tf.data.Dataset.from_tensor_slices(
                ({"x": case["train_x"][:160]}, case["train_y"][:160])).batch(32).repeat()
            if fail_at is None:
                return data

            def check(i, element):  # the pipeline breaks at batch `fail_at`
                alive = tf.debugging.assert_less(i, tf.constant(fail_at, tf.int64),
                                                 message="input died")
                with tf.control_dependencies([alive]):
                    return tf.nest.map_structure(tf.identity, element)
            return data.enumerate().map(check)
        return fn

    straight = Estimator(case["model_fn"], model_dir=str(tmp_path / "straight"),
                         params=case["params"], config=config)
    straight.train(input_fn(), max_steps=20)

    crashed_dir = str(tmp_path / "crashed")
    crashed = Estimator(case["model_fn"], model_dir=crashed_dir, params=case["params"],
                        config=config)
    with pytest.raises(tf.errors.InvalidArgumentError, match="input died"):
        crashed.train(input_fn(fail_at=13), max_steps=20)
    assert checkpoint_steps(crashed_dir) == [0, 5, 10]  # nothing half-written, nothing at 13
    assert crashed.get_variable_value("global_step") == 10

    restarted = Estimator(case["model_fn"], model_dir=crashed_dir, params=case["params"],
                          config=config)  # a new process would build a new Estimator
    restarted.train(input_fn(), max_steps=20)
    assert checkpoint_steps(crashed_dir) == [0, 5, 10, 15, 20]
    expected = all_checkpoint_values(straight.latest_checkpoint())
    actual = all_checkpoint_values(restarted.latest_checkpoint())
    assert set(actual) == set(expected) == set(GOLDEN["mlp_classifier"]["variable_shapes"])
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    # the crashed Estimator object itself also resumes (it restores before training)
    crashed.train(input_fn(), steps=5)
    assert crashed.get_variable_value("global_step") == 25


def test_nan_loss_stops_training_without_a_checkpoint(tmp_path):
    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([[1.0]]))
        loss = tf.reduce_mean(tf.matmul(features, w) * labels)
        gs = tf.compat.v1.train.get_global_step()
        loss = tf.where(gs >= 3, tf.constant(np.nan), loss)
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=gs)
        return ks.EstimatorSpec(mode, loss=loss, train_op=train_op)

    def input_fn():
        return tf.constant([[1.0]]), tf.constant([[1.0]])  # tensors: the same batch every step

    estimator = Estimator(model_fn, model_dir=str(tmp_path),
                          config=RunConfig(save_checkpoints_steps=2))
    with pytest.raises(tf.compat.v1.train.NanLossDuringTrainingError):
        estimator.train(input_fn, steps=10)
    assert checkpoint_steps(str(tmp_path)) == [0, 2]


def test_saving_listeners_see_every_checkpoint_and_can_stop_training(tmp_path):
    case, train_fn, _, _ = case_and_fns("linreg")
    calls = []

    class Listener(tf.compat.v1.train.CheckpointSaverListener):
        def begin(self):
            calls.append("begin")

        def before_save(self, session, global_step_value):
            calls.append(("before", global_step_value, os.path.exists(
                tmp_path / f"model.ckpt-{global_step_value}.index")))

        def after_save(self, session, global_step_value):
            calls.append(("after", global_step_value, os.path.exists(
                tmp_path / f"model.ckpt-{global_step_value}.index")))
            return global_step_value >= 10  # asks training to stop

        def end(self, session, global_step_value):
            calls.append(("end", global_step_value))

    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"],
                          config=RunConfig(save_checkpoints_steps=5, keep_checkpoint_max=2))
    estimator.train(train_fn, steps=30, saving_listeners=[Listener()])
    assert calls == ["begin", ("before", 0, False), ("after", 0, True), ("before", 5, False),
                     ("after", 5, True), ("before", 10, False), ("after", 10, True), ("end", 10)]
    assert checkpoint_steps(str(tmp_path)) == [5, 10]  # keep_checkpoint_max=2
    with pytest.raises(TypeError, match="All saving_listeners must be `CheckpointSaverListener`"):
        estimator.train(train_fn, steps=1, saving_listeners=[object()])
    no_saving = Estimator(case["model_fn"], model_dir=str(tmp_path / "n"), params=case["params"],
                          config=RunConfig(save_checkpoints_steps=None, save_checkpoints_secs=None))
    with pytest.raises(ValueError, match="There should be a CheckpointSaverHook"):
        no_saving.train(train_fn, steps=1, saving_listeners=[Listener()])


# -- evaluate ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_linreg(tmp_path_factory):
    """linreg trained 10 steps (evaluated), then 20 more; checkpoints every 10 steps."""
    case, train_fn, eval_fn, predict_fn = case_and_fns("linreg")
    model_dir = str(tmp_path_factory.mktemp("linreg"))
    estimator = Estimator(case["model_fn"], model_dir=model_dir, params=case["params"],
                          config=RunConfig(save_checkpoints_steps=10, save_summary_steps=5,
                                           log_step_count_steps=10))
    estimator.train(train_fn, steps=10)
    at_10 = estimator.evaluate(eval_fn)
    estimator.train(train_fn, steps=20)
    at_30 = estimator.evaluate(eval_fn, name="holdout")
    return dict(case=case, estimator=estimator, eval_fn=eval_fn, predict_fn=predict_fn,
                model_dir=model_dir, at_10=at_10, at_30=at_30)


def test_evaluate_an_older_checkpoint_gives_its_numbers(trained_linreg):
    t = trained_linreg
    estimator = t["estimator"]
    assert checkpoint_steps(t["model_dir"]) == [0, 10, 20, 30]
    assert t["at_10"]["global_step"] == 10 and t["at_30"]["global_step"] == 30
    assert t["at_30"]["loss"] < t["at_10"]["loss"] / 5  # training went on
    older = estimator.evaluate(t["eval_fn"], checkpoint_path=os.path.join(t["model_dir"],
                                                                          "model.ckpt-10"))
    assert older == t["at_10"]
    assert estimator.evaluate(t["eval_fn"]) == t["at_30"]  # the latest again afterwards
    one_batch = estimator.evaluate(t["eval_fn"], steps=1)
    assert one_batch["loss"] != t["at_30"]["loss"]  # steps=1: the first of the two batches
    with pytest.raises(ValueError, match="Must specify steps > 0"):
        estimator.evaluate(t["eval_fn"], steps=0)


def test_evaluation_results_are_summaries_under_eval_dirs(trained_linreg):
    t = trained_linreg
    events = read_events(os.path.join(t["model_dir"], "eval"))
    for key in ("loss", "mse", "mae", "rmse"):
        assert events[key][10] == pytest.approx(float(t["at_10"][key]), rel=1e-6), key
    assert "global_step" not in events
    assert events["checkpoint_path"][10].decode().endswith("model.ckpt-10")
    holdout = read_events(os.path.join(t["model_dir"], "eval_holdout"))
    assert holdout["loss"][30] == pytest.approx(float(t["at_30"]["loss"]), rel=1e-6)
    assert t["estimator"].eval_dir("holdout") == os.path.join(t["model_dir"], "eval_holdout")


def test_training_summaries_and_logs_land_in_model_dir(trained_linreg, tmp_path, caplog):
    t = trained_linreg
    events = read_events(t["model_dir"])
    # save_summary_steps=5: tf.estimator's SummarySaverHook wrote at the first step of each
    # train() (10 steps, then 20 more), then every 5 steps (engine_summaries.json shows it)
    assert sorted(events["loss"]) == [1, 6, 11, 16, 21, 26]
    assert all(np.isfinite(v) for v in events["loss"].values())
    # StepCounterHook: each train()'s first step starts its timer, then every 10 steps (tf.estimator:
    # 21); hook-free training runs executions of gcd(cadences) = 5 steps, ending on 25
    assert sorted(events["global_step/sec"]) == [25]
    assert all(v > 0 for v in events["global_step/sec"].values())

    case, train_fn, _, _ = case_and_fns("mlp_classifier")
    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"],
                          config=RunConfig(save_checkpoints_steps=10, log_step_count_steps=5,
                                           save_summary_steps=4))
    with caplog.at_level(logging.INFO, logger="keras_spec"):
        estimator.train(train_fn, steps=12)
    messages = [r.getMessage() for r in caplog.records]
    logged = [int(m.split("step = ")[1].split(" ")[0]) for m in messages if m.startswith("loss = ")]
    assert logged == [1, 6, 11]
    assert len([m for m in messages if m.startswith("global_step/sec: ")]) == 2  # at 6, 11
    assert [m for m in messages if m.startswith("Saving checkpoints")] == [
        f"Saving checkpoints for {s} into {tmp_path}/model.ckpt-{s}." for s in (0, 10, 12)]
    assert any(m.startswith("Loss for final step: ") for m in messages)
    events = read_events(str(tmp_path))
    assert sorted(events["loss"]) == [1, 5, 9]
    assert sorted(events["learning_rate"]) == [1, 5, 9]  # the model_fn's own summary
    # written at the global step a training step ended on, with the rate that step used
    # (exponential decay of the step's starting global step: 0.01 * 0.9 ** (4 / 20) for step 5)
    assert events["learning_rate"][5] == pytest.approx(0.01 * 0.9 ** (4 / 20), rel=1e-6)


# -- predict -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_mlp(tmp_path_factory):
    case, train_fn, _, predict_fn = case_and_fns("mlp_classifier")
    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path_factory.mktemp("mlp")),
                          params=case["params"])
    estimator.train(train_fn, steps=20)
    reference = SpecModel(case["model_fn"], params=case["params"])
    reference.build_variables(predict_fn(), mode="infer")
    reference.restore_checkpoint(estimator.model_dir)
    return dict(case=case, estimator=estimator, predict_fn=predict_fn,
                expected=reference.predict(predict_fn(), verbose=0))


def test_predict_single_examples_and_batches_equal_spec_model_predict(trained_mlp):
    t = trained_mlp
    examples = list(t["estimator"].predict(t["predict_fn"]))
    assert len(examples) == 128
    assert set(examples[0]) == {"class_ids", "probabilities", "logits"}
    assert examples[0]["probabilities"].shape == (3,) and examples[0]["class_ids"].shape == ()
    for key, expected in t["expected"].items():
        np.testing.assert_allclose(np.stack([e[key] for e in examples]), expected, rtol=1e-6)
    batches = list(t["estimator"].predict(t["predict_fn"], predict_keys=["probabilities"],
                                          yield_single_examples=False))
    assert len(batches) == 4 and all(set(b) == {"probabilities"} for b in batches)
    assert batches[0]["probabilities"].shape == (32, 3)
    np.testing.assert_allclose(np.concatenate([b["probabilities"] for b in batches]),
                               t["expected"]["probabilities"], rtol=1e-6)
    only_ids = list(t["estimator"].predict(t["predict_fn"], predict_keys="class_ids"))
    assert set(only_ids[0]) == {"class_ids"}
    np.testing.assert_array_equal([e["class_ids"] for e in only_ids], t["expected"]["class_ids"])


def test_predict_keys_errors_and_non_dict_predictions(trained_mlp, tmp_path, caplog):
    t = trained_mlp
    with pytest.raises(ValueError, match=r"Expected to run at least one output from "
                                         r"\['class_ids', 'logits', 'probabilities'\]"):
        next(t["estimator"].predict(t["predict_fn"], predict_keys=["nope"]))
    with caplog.at_level(logging.WARNING, logger="keras_spec"):
        first = next(t["estimator"].predict(t["predict_fn"], predict_keys=["logits", "nope"]))
    assert set(first) == {"logits"}
    assert any("['nope']" in r.getMessage() for r in caplog.records)

    def model_fn(features, mode):
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([[2.0], [1.0]]))
        return ks.EstimatorSpec(mode, predictions=tf.matmul(features, w))

    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    estimator = Estimator(model_fn, model_dir=str(tmp_path))
    rows = list(estimator.predict(lambda: tf.data.Dataset.from_tensor_slices(x).batch(2)))
    assert [r.tolist() for r in rows] == [[2.0], [1.0], [3.0]]
    whole = list(estimator.predict(lambda: x, yield_single_examples=False))  # features tensor
    assert len(whole) == 1 and whole[0].tolist() == [[2.0], [1.0], [3.0]]
    with pytest.raises(ValueError, match="not valid in case of non-dict predictions"):
        next(estimator.predict(lambda: x, predict_keys=["y"]))


# -- no checkpoint yet ---------------------------------------------------------------------------
def test_without_a_checkpoint(tmp_path, caplog):
    case, _, eval_fn, predict_fn = case_and_fns("linreg")
    estimator = Estimator(case["model_fn"], model_dir=str(tmp_path), params=case["params"])
    message = f"Could not find trained model in model_dir: {tmp_path}."
    with pytest.raises(ValueError, match=message):
        estimator.get_variable_names()
    with pytest.raises(ValueError, match=message):
        estimator.get_variable_value("global_step")
    with pytest.raises(ValueError, match=f"Couldn't find trained model at {tmp_path}."):
        estimator.export_saved_model(str(tmp_path / "export"), lambda: None)
    assert estimator.latest_checkpoint() is None
    # evaluate / predict run on the initial values (tf.estimator >= 1.9: "running initialization")
    with caplog.at_level(logging.INFO, logger="keras_spec"):
        values = [p["value"] for p in estimator.predict(predict_fn)]
    assert any("running initialization to predict" in r.getMessage() for r in caplog.records)
    initial_w = case["model_fn"].__globals__["_LINREG_W0"]
    np.testing.assert_allclose(values, (case["eval_x"] @ initial_w)[:, 0], rtol=1e-5)
    assert estimator.evaluate(eval_fn)["global_step"] == 0
    assert estimator.latest_checkpoint() is None


def test_temporary_model_dir_and_config_checks(caplog):
    case, _, _, _ = case_and_fns("linreg")
    with caplog.at_level(logging.WARNING, logger="keras_spec"):
        estimator = Estimator(case["model_fn"], params=case["params"])
    assert os.path.isdir(estimator.model_dir)
    assert estimator.config.model_dir == estimator.model_dir
    assert any(f"Using temporary folder as model directory: {estimator.model_dir}" in
               r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="`model_dir` are set both in constructor and `RunConfig`"):
        Estimator(case["model_fn"], model_dir="/tmp/a", config=RunConfig(model_dir="/tmp/b"),
                  params=case["params"])
    with pytest.raises(ValueError, match="config must be an instance of `RunConfig`"):
        Estimator(case["model_fn"], config={"model_dir": "/tmp/a"}, params=case["params"])
    with pytest.raises(ValueError, match="does not take a 'params' argument"):
        Estimator(lambda features, labels, mode: None, params={"a": 1})
    assert Estimator(case["model_fn"], config=RunConfig(model_dir="/tmp/a"),
                     params=case["params"]).model_dir == "/tmp/a"


# -- input_fn forms --------------------------------------------------------------------------------
def test_input_fn_arguments_and_return_forms(tmp_path):
    case, _, _, _ = case_and_fns("linreg")
    config = RunConfig(model_dir=str(tmp_path), tf_random_seed=3)
    estimator = Estimator(case["model_fn"], config=config, params=case["params"])
    seen = {}

    def input_fn(params, mode, config, input_context):  # every name tf.estimator could pass
        seen.update(params=params, mode=mode, config=config, context=input_context)
        return {"x": case["train_x"][:32]}, case["train_y"][:32]  # numpy (features, labels)

    estimator.train(input_fn, steps=3)
    assert seen["params"] == case["params"] and seen["mode"] == "train"
    assert seen["config"].model_dir == str(tmp_path) and seen["config"].tf_random_seed == 3
    assert seen["context"].num_replicas_in_sync == 1
    assert estimator.get_variable_value("global_step") == 3
    evaluation = estimator.evaluate(lambda mode: ({"x": case["eval_x"][:32]},
                                                  case["eval_y"][:32]))
    assert evaluation["global_step"] == 3 and seen["mode"] == "train"

    def three_parts():
        return tf.data.Dataset.from_tensors(({"x": case["train_x"][:32]}, case["train_y"][:32],
                                             case["train_y"][:32]))

    with pytest.raises(ValueError, match=r"\(features, labels\) as a len 2 tuple"):
        estimator.train(three_parts, steps=1)
    with pytest.raises(TypeError, match="`input_fn` must be callable"):
        estimator.train("not a function", steps=1)


def test_model_fn_without_labels_rejects_labelled_input(tmp_path):
    def model_fn(features, mode):
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([[1.0]]))
        return ks.EstimatorSpec(mode, predictions=tf.matmul(features, w))

    estimator = Estimator(model_fn, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="model_fn does not take labels, but input_fn returns "
                                         "labels"):
        estimator.evaluate(lambda: (tf.ones([2, 1]), tf.ones([2, 1])))
    # prediction ignores labels
    assert [p.tolist() for p in estimator.predict(lambda: (tf.ones([2, 1]), tf.ones([2, 1])))] == [
        [1.0], [1.0]]


def test_seed_makes_initial_values_repeatable(tmp_path):
    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", [4, 1],
                                      initializer=tf.compat.v1.glorot_uniform_initializer())
        pred = tf.matmul(features, w)
        if mode == "infer":
            return ks.EstimatorSpec(mode, predictions=pred)
        loss = tf.reduce_mean(tf.square(pred - labels))
        optimizer = tf.compat.v1.train.GradientDescentOptimizer(0.1)
        return ks.EstimatorSpec(mode, loss=loss, train_op=optimizer.minimize(
            loss, global_step=tf.compat.v1.train.get_global_step()))

    def initial_w(seed, name):
        estimator = Estimator(model_fn, model_dir=str(tmp_path / name),
                              config=RunConfig(tf_random_seed=seed))
        estimator.train(lambda: (tf.ones([2, 4]), tf.zeros([2, 1])), steps=1)
        return tf.train.load_variable(os.path.join(estimator.model_dir, "model.ckpt-0"), "w")

    numpy_state, tf_seed = np.random.get_state()[1].copy(), tf.compat.v1.get_seed(None)[0]
    np.testing.assert_array_equal(initial_w(7, "a"), initial_w(7, "b"))
    assert not np.array_equal(initial_w(7, "c"), initial_w(8, "d"))
    # the seed was set for those calls only, as tf.estimator set it per graph
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    assert tf.compat.v1.get_seed(None)[0] == tf_seed


# -- export ------------------------------------------------------------------------------------
def test_export_saved_model_of_the_latest_or_a_given_checkpoint(trained_linreg, tmp_path):
    t = trained_linreg
    receiver = ks.export.build_parsing_serving_input_receiver_fn(
        {"x": tf.io.FixedLenFeature([3], tf.float32)})
    x = t["case"]["eval_x"][:4]
    examples = [tf.train.Example(features=tf.train.Features(feature={"x": tf.train.Feature(
        float_list=tf.train.FloatList(value=row))})).SerializeToString() for row in x]

    def served(path):
        loaded = tf.saved_model.load(path)
        return loaded.signatures["serving_default"](inputs=tf.constant(examples))["outputs"].numpy()

    latest = t["estimator"].export_saved_model(str(tmp_path / "export"), receiver)
    older = t["estimator"].export_saved_model(
        str(tmp_path / "export"), receiver,
        checkpoint_path=os.path.join(t["model_dir"], "model.ckpt-10"))
    assert isinstance(latest, bytes) and isinstance(older, bytes)  # as tf.estimator returned
    latest, older = latest.decode(), older.decode()
    assert latest != older and sorted(os.listdir(tmp_path / "export")) == sorted(
        [os.path.basename(latest), os.path.basename(older)])
    for path, step in ((latest, t["estimator"].get_variable_value("global_step")), (older, 10)):
        prefix = os.path.join(t["model_dir"], f"model.ckpt-{step}")
        w = tf.train.load_variable(prefix, "linreg/dense/kernel")
        b = tf.train.load_variable(prefix, "linreg/dense/bias")
        np.testing.assert_allclose(served(path), (x @ w + b)[:, 0], rtol=1e-5)
    with pytest.raises(ValueError, match="An input_receiver_fn must be defined"):
        t["estimator"].export_saved_model(str(tmp_path / "export"), None)


@pytest.mark.skipif(not hooks_supported, reason="SpecModel has no hooks= yet")
def test_hooks_reach_the_engine(trained_linreg):
    class Counting(tf.compat.v1.train.SessionRunHook):
        def __init__(self):
            self.runs = 0

        def after_run(self, run_context, run_values):
            self.runs += 1

    t = trained_linreg
    train_hook, eval_hook = Counting(), Counting()
    t["estimator"].train(case_and_fns("linreg")[1], steps=3, hooks=[train_hook])
    t["estimator"].evaluate(t["eval_fn"], hooks=[eval_hook])
    assert train_hook.runs == 3 and eval_hook.runs == 2
    predict_hook = Counting()
    examples = list(t["estimator"].predict(t["predict_fn"], hooks=[predict_hook]))
    assert len(examples) == 64 and predict_hook.runs == 2
    np.testing.assert_allclose([e["value"] for e in examples],
                               [e["value"] for e in t["estimator"].predict(t["predict_fn"])])
