"""Running tests/goldens/heads/heads_cases.py on keras-spec and comparing with heads_2_15.json."""

import json
import os
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import keras_spec as ks

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_DIR = os.path.join(HERE, "goldens", "heads")
sys.path.insert(0, GOLDEN_DIR)
import heads_cases as cases  # noqa: E402  pylint: disable=g-import-not-at-top

with open(os.path.join(GOLDEN_DIR, "heads_2_15.json")) as f:
    GOLDEN = json.load(f)["cases"]

RTOL = 1e-4
# Cases trained with optimizer= and no global-step update: tf.estimator checkpointed step 0
# only, so its evaluate/predict/export ran on the initial values.
STEPLESS = {"binary_keras_optimizer"}
# Keras 3 optimizers name their variables differently from tf.keras's legacy ones.
KERAS_OPTIMIZER = {"binary_keras_optimizer", "regression_keras_optimizer_step"}


def dataset(case, split, batch=None):
    features, labels = cases.data(case, split)
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    if split == "train":
        return ds.repeat(cases.TRAIN_REPEAT).batch(batch or cases.TRAIN_BATCH)
    return ds.batch(batch or cases.EVAL_BATCH)


def parsing_receiver():
    return ks.export.build_parsing_serving_input_receiver_fn(
        {"x": tf.io.FixedLenFeature([cases.DIM], tf.float32)})


def raw_receiver():
    return ks.export.build_raw_serving_input_receiver_fn(
        {"x": tf.TensorSpec([None, cases.DIM], tf.float32)})


def assert_close(got, want, what, rtol=RTOL, atol=1e-6):
    want = np.asarray(want)
    got = np.asarray(got)
    if want.dtype.kind in "OUS" or got.dtype.kind in "OUS":
        decode = np.vectorize(lambda b: b.decode() if isinstance(b, bytes) else str(b),
                              otypes=[object])
        assert decode(got).tolist() == want.tolist(), what
        return
    assert got.shape == want.shape, (what, got.shape, want.shape)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                               atol=atol, err_msg=what)


def metric_tolerance(key):
    # AUC: 200 fixed thresholds; a probability within float32 rounding of a threshold can move
    # one bucket between two float32 computations of the same logits.
    return 1e-3 if key.startswith("auc") else RTOL


def compare_evaluate(got, golden, what):
    golden = {k: v for k, v in golden.items() if k != "global_step"}
    got = {k: v for k, v in got.items() if k != "global_step"}
    assert sorted(got) == sorted(golden), what
    for key, value in golden.items():
        assert_close(got[key], value, f"{what}: {key}", rtol=metric_tolerance(key))


def _examples(x):
    return [tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=row.tolist()))}))
        .SerializeToString() for row in x]


def compare_export(export_dir, golden, what):
    """Signature keys, method names, input/output names, dtypes, shapes, and outputs."""
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    meta = [m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags][0]
    defs = {k: v for k, v in meta.signature_def.items() if not k.startswith("__")}
    assert sorted(defs) == sorted(golden), what
    loaded = tf.saved_model.load(export_dir)
    x = cases.EVAL_X[:GOLDEN_META_EXAMPLES]
    for key, want in golden.items():
        sd = defs[key]
        assert sd.method_name == want["method_name"], (what, key)
        for side in ("inputs", "outputs"):
            infos = getattr(sd, side)
            assert sorted(infos) == sorted(want[side]), (what, key, side)
            for name, info in want[side].items():
                mine = infos[name]
                shape = None if mine.tensor_shape.unknown_rank else [
                    d.size for d in mine.tensor_shape.dim]
                assert {"dtype": tf.as_dtype(mine.dtype).name, "shape": shape} == info, (
                    what, key, side, name)
        inputs = {name: tf.constant(_examples(x)) if info["dtype"] == "string" else tf.constant(x)
                  for name, info in want["inputs"].items()}
        outputs = loaded.signatures[key](**inputs)
        for name, value in want["values"].items():
            assert_close(outputs[name].numpy(), value, f"{what}: {key}/{name}")


GOLDEN_META_EXAMPLES = 3
