"""Issue 12 item 6 / test (b): a feature-column model_fn like tf.estimator, exported and served.

The golden (tests/real_world/goldens/feature_columns/feature_columns.json, recorded with TF 2.15.1
+ tensorflow-estimator 2.15.0 by record.py there, whose model_fn and columns this test imports)
holds evaluate/predict/variables after training and what tf.estimator's own SavedModel answered
for serialized tf.Examples through a parsing receiver built from make_parse_example_spec.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from adapters import Estimator, SpecModel

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "real_world", "goldens", "feature_columns")
_spec = importlib.util.spec_from_file_location("feature_columns_record",
                                               os.path.join(GOLDEN_DIR, "record.py"))
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)
with open(os.path.join(GOLDEN_DIR, "feature_columns.json")) as _f:
    GOLDEN = json.load(_f)


class _Namespace:  # the tf.estimator names record.py's model_fn uses
    ModeKeys = ks.ModeKeys
    EstimatorSpec = ks.EstimatorSpec
    export = ks.export


def _trained(model_dir, vocab_file=record.VOCAB_FILE):
    estimator = Estimator(record.make_model_fn(_Namespace), model_dir=model_dir,
                          params={"feature_columns": record.columns(vocab_file),
                                  "learning_rate": GOLDEN["learning_rate"]})
    estimator.train(record.input_fns()[0], steps=GOLDEN["train_steps"])
    return estimator


def test_train_evaluate_predict_match_tf_estimator(tmp_path):
    estimator = _trained(str(tmp_path / "model"))
    _, eval_input_fn, predict_input_fn = record.input_fns()
    metrics = estimator.evaluate(eval_input_fn)
    for key, value in GOLDEN["evaluate"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-4), key
    predictions = list(estimator.predict(predict_input_fn))
    np.testing.assert_allclose([p["probabilities"] for p in predictions],
                               GOLDEN["predict"]["probabilities"], rtol=1e-4, atol=1e-6)
    assert [int(p["class_ids"]) for p in predictions] == GOLDEN["predict"]["class_ids"]
    assert sorted(estimator.get_variable_names()) == sorted(GOLDEN["variables"])
    for name, value in GOLDEN["variables"].items():
        np.testing.assert_allclose(estimator.get_variable_value(name), value, rtol=1e-4,
                                   atol=1e-6, err_msg=name)


_SERVE = """
import json, sys
import tensorflow as tf
examples = tf.constant([bytes.fromhex(h) for h in json.loads(sys.argv[2])])
out = {}
for i, path in enumerate(json.loads(sys.argv[1])):
    signature = tf.saved_model.load(path).signatures["serving_default"]
    out[i] = {k: v.numpy().tolist() for k, v in signature(examples=examples).items()}
print("SERVED" + json.dumps(out))
"""


def _serve_in_fresh_process(export_dirs, examples, cwd):
    """Served by plain TensorFlow in a new process: no keras-spec import, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", _SERVE, json.dumps(export_dirs),
         json.dumps([e.hex() for e in examples])],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("SERVED")][-1]
    return json.loads(line[len("SERVED"):])


def _lookup_model_fn(features, labels, mode):
    """A TF1 lookup table used directly (not through a feature column) in the model_fn."""
    parsed = tf.compat.v1.io.parse_example(
        features["examples"], {"city": tf.io.FixedLenFeature([1], tf.string)})
    table = tf.compat.v1.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(record.CITIES[:4]), tf.range(4, dtype=tf.int64)), default_value=4)
    ids = tf.reshape(table.lookup(parsed["city"]), [-1])
    weights = tf.compat.v1.get_variable(
        "w", initializer=tf.compat.v1.constant_initializer([[1.0], [2.0], [3.0], [4.0], [9.0]]),
        shape=[5, 1])
    predictions = {"score": tf.gather(weights, ids)[:, 0]}
    return ks.EstimatorSpec(mode, predictions=predictions, export_outputs={
        "serving_default": ks.export.PredictOutput(predictions)})


def _raw_examples_receiver():
    examples = tf.compat.v1.placeholder(tf.string, [None], name="examples")
    return ks.export.ServingInputReceiver({"examples": examples}, {"examples": examples})


def test_export_with_vocabulary_tables_serves_tf_examples_in_a_fresh_process(tmp_path):
    vocab = str(tmp_path / "cities.txt")  # deleted before serving: the export must carry it
    shutil.copy(record.VOCAB_FILE, vocab)
    estimator = _trained(str(tmp_path / "model"), vocab)
    receiver_fn = record.serving_input_receiver_fn(_Namespace)
    export_dir = estimator.export_saved_model(str(tmp_path / "export"), receiver_fn)
    export_dir = os.fsdecode(export_dir)
    assert os.listdir(os.path.join(export_dir, "assets")) == GOLDEN["export_assets"]

    lookup_dir = os.fsdecode(SpecModel(_lookup_model_fn).export_saved_model(
        str(tmp_path / "lookup_export"), _raw_examples_receiver))
    os.remove(vocab)
    served = _serve_in_fresh_process([export_dir, lookup_dir], record.serialized_examples(),
                                     str(tmp_path))
    np.testing.assert_allclose(served["0"]["probabilities"], GOLDEN["served"]["probabilities"],
                               rtol=1e-4, atol=1e-6)
    assert served["0"]["class_ids"] == GOLDEN["served"]["class_ids"]
    features, _ = record.data(8, 9)
    expected = [{"paris": 1.0, "london": 2.0, "tokyo": 3.0, "lima": 4.0}.get(c, 9.0)
                for c in features["city"][:, 0]]
    assert served["1"]["score"] == expected
