"""Issue 12 test (a): a tiny BERT-like TF1 classifier (tests/real_world/bert_like.py) gives
tf.estimator 2.15's numbers (goldens/bert_like.json, rtol 1e-4) through the TPUEstimator facade,
the Estimator facade (init_from_checkpoint in scaffold_fn), SpecModel, and MirroredStrategy."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import keras_spec
from adapters.engine.spec_model import SpecModel
from adapters.estimator import tpu as tpu_facade
from adapters.estimator.estimator import Estimator

from real_world import bert_like

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "real_world", "goldens",
                                     "bert_like.json")))
BATCH, STEPS = GOLDEN["batch_size"], GOLDEN["train_steps"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    work = tmp_path_factory.mktemp("bert_like")
    return {"records": bert_like.write_tfrecords(str(work / "data.tfrecord")),
            "ckpt": bert_like.write_pretrained_checkpoint(str(work / "pretrained" / "model.ckpt"))}


class LossHook(tf.compat.v1.train.SessionRunHook):
    """Fetches the TRAIN loss every step (the tensor is handed over by the model_fn)."""

    def __init__(self):
        self.loss, self.losses = None, []

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self.loss)

    def after_run(self, run_context, run_values):
        self.losses.append(float(run_values.results))


def recording(model_fn, hook):
    def wrapped(features, labels, mode, params):
        spec = model_fn(features, labels, mode, params)
        if mode == "train":
            hook.loss = spec.loss
        return spec
    return wrapped


def assert_matches(golden, losses=None, metrics=None, probabilities=None):
    if losses is not None:
        np.testing.assert_allclose(losses, golden["losses"], rtol=1e-4)
    if metrics is not None:
        for key, value in golden["eval"].items():
            if key == "global_step" and key not in metrics:  # SpecModel: checked separately
                continue
            assert float(metrics[key]) == pytest.approx(value, rel=1e-4), key
    if probabilities is not None:
        np.testing.assert_allclose(probabilities, golden["probabilities"], rtol=1e-4, atol=1e-6)


def test_tpu_estimator_facade_matches_tf_estimator(files, tmp_path):
    hook = LossHook()
    model_fn = recording(bert_like.model_fn_builder(keras_spec.TPUEstimatorSpec, files["ckpt"]),
                         hook)
    est = tpu_facade.TPUEstimator(
        model_fn, model_dir=str(tmp_path), use_tpu=False, train_batch_size=BATCH,
        eval_batch_size=BATCH, predict_batch_size=BATCH,
        config=tpu_facade.RunConfig(tpu_config=tpu_facade.TPUConfig(iterations_per_loop=1)))
    est.train(bert_like.input_fn_builder(files["records"], True), steps=STEPS, hooks=[hook])
    metrics = est.evaluate(bert_like.input_fn_builder(files["records"], False))
    probabilities = [p["probabilities"] for p in
                     est.predict(bert_like.input_fn_builder(files["records"], False))]
    golden = GOLDEN["tpu_estimator"]
    assert_matches(golden, hook.losses, metrics, probabilities)
    # the checkpoint holds what tf.estimator's held: weights, hand-made adam_m/adam_v slots
    assert est.get_variable_names() == sorted(golden["variables"])
    for name, abs_sum in golden["variables"].items():
        # (abs: key biases get ~1e-10 gradients, attention is invariant to them)
        assert np.abs(est.get_variable_value(name)).sum() == pytest.approx(
            abs_sum, rel=1e-4, abs=1e-6), name


def test_estimator_facade_with_scaffold_fn_matches_tf_estimator(files, tmp_path):
    hook = LossHook()
    model_fn = recording(bert_like.model_fn_builder(keras_spec.TPUEstimatorSpec, files["ckpt"],
                                                    use_scaffold=True), hook)
    input_fn = bert_like.input_fn_builder(files["records"], False)
    train_fn = bert_like.input_fn_builder(files["records"], True)
    est = Estimator(model_fn, model_dir=str(tmp_path), params={"batch_size": BATCH})
    est.train(lambda params: train_fn(params), steps=STEPS, hooks=[hook])
    metrics = est.evaluate(lambda params: input_fn(params))
    probabilities = [p["probabilities"] for p in est.predict(lambda params: input_fn(params))]
    assert_matches(GOLDEN["tpu_estimator_scaffold_fn"], hook.losses, metrics, probabilities)


def test_spec_model_matches_tf_estimator(files):
    model = SpecModel(bert_like.model_fn_builder(keras_spec.TPUEstimatorSpec, files["ckpt"]),
                      params={})
    train = bert_like.input_fn_builder(files["records"], True)({"batch_size": BATCH})
    history = model.fit(train, epochs=STEPS, steps_per_epoch=1, verbose=0)
    data = bert_like.input_fn_builder(files["records"], False)({"batch_size": BATCH})
    metrics = model.evaluate(data, return_dict=True, verbose=0)
    again = model.evaluate(data, return_dict=True, verbose=0)  # a second evaluate works too
    golden = GOLDEN["tpu_estimator"]
    assert_matches(golden, history.history["loss"], metrics,
                   model.predict(data, verbose=0)["probabilities"])
    assert again == metrics
    assert int(model.global_step.numpy()) == STEPS


def test_two_replicas_start_from_the_pretrained_checkpoint(files):
    """MirroredStrategy, 2 replicas: every replica initialized from the checkpoint, features-only
    evaluation with eval_metrics over all replicas, the true mean loss."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = SpecModel(bert_like.model_fn_builder(keras_spec.TPUEstimatorSpec, files["ckpt"]),
                          params={})
    data = bert_like.input_fn_builder(files["records"], False)({"batch_size": BATCH})
    metrics = model.evaluate(data, return_dict=True, verbose=0)
    assert_matches(GOLDEN["initial"], metrics=metrics,
                   probabilities=model.predict(data, verbose=0)["probabilities"])
    name = "bert/encoder/layer_0/attention/self/query/kernel"
    copies = strategy.experimental_local_results(model._world.variable(name).value)
    for copy in copies:
        np.testing.assert_array_equal(copy.numpy(), bert_like.pretrained_values()[name])
