"""SavedModel export matches what tf.estimator wrote for the conformance model_fns."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import keras_spec as ks
from adapters import SpecModel
from conformance_runner import GOLDEN, max_relative_error, run_case

CASES = ["linreg", "mlp_classifier", "tpu_metrics"]
KINDS = ["export_raw", "export_parsing"]


def receiver_fn(kind, dim):
    if kind == "export_raw":
        return ks.export.build_raw_serving_input_receiver_fn(
            {"x": tf.TensorSpec([None, dim], tf.float32)})
    return ks.export.build_parsing_serving_input_receiver_fn(
        {"x": tf.io.FixedLenFeature([dim], tf.float32)})


def serialized_examples(x):
    return np.array([tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=row))})).SerializeToString()
        for row in x])


def read_signature_defs(export_dir):
    """Signatures as the golden recording described them (from saved_model.pb)."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    (meta_graph,) = [m for m in saved_model.meta_graphs if list(m.meta_info_def.tags) == ["serve"]]

    def tensor_info(info):
        shape = None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]
        return {"dtype": tf.as_dtype(info.dtype).name, "shape": shape}

    return {key: {"method_name": sig.method_name,
                  "inputs": {k: tensor_info(v) for k, v in sig.inputs.items()},
                  "outputs": {k: tensor_info(v) for k, v in sig.outputs.items()}}
            for key, sig in meta_graph.signature_def.items() if not key.startswith("__")}


@pytest.fixture(scope="module", params=CASES)
def trained(request, tmp_path_factory):
    result = run_case(request.param)
    base = tmp_path_factory.mktemp(request.param)
    dim = result["case"]["feature_dim"]
    exports = {kind: result["model"].export_saved_model(str(base / kind), receiver_fn(kind, dim))
               for kind in KINDS}
    return request.param, result, exports


@pytest.mark.parametrize("kind", KINDS)
def test_signatures_match_tf_estimator(trained, kind):
    name, _, exports = trained
    golden = GOLDEN[name][kind]["meta_graphs"][0]["signature_defs"]
    mine = read_signature_defs(exports[kind])
    assert sorted(mine) == sorted(golden)
    for key, expected in golden.items():
        assert mine[key]["method_name"] == expected["method_name"], key
        for side in ("inputs", "outputs"):
            assert sorted(mine[key][side]) == sorted(expected[side]), (key, side)
            for tensor_key, info in expected[side].items():
                assert mine[key][side][tensor_key] == {"dtype": info["dtype"],
                                                       "shape": info["shape"]}, (key, tensor_key)


@pytest.mark.parametrize("kind", KINDS)
def test_signature_outputs_match_tf_estimator(trained, kind):
    name, result, exports = trained
    golden = GOLDEN[name][kind]["signature_outputs_first4"]
    loaded = tf.saved_model.load(exports[kind])
    x = result["case"]["eval_x"][:4]
    for key, expected_outputs in golden.items():
        signature = loaded.signatures[key]
        (input_key,) = signature.structured_input_signature[1]
        value = serialized_examples(x) if kind == "export_parsing" else x
        outputs = signature(**{input_key: tf.constant(value)})
        for out_key, expected in expected_outputs.items():
            actual = outputs[out_key].numpy()
            if actual.dtype == object:
                assert actual.astype(str).tolist() == expected
            else:
                assert max_relative_error(actual, expected, floor=1e-3) < 1e-4, (key, out_key)


def test_export_serves_in_a_clean_process_with_only_tensorflow(trained):
    name, result, exports = trained
    if name != "mlp_classifier":
        pytest.skip("one case is enough for the subprocess check")
    x = result["case"]["eval_x"][:2]
    script = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({exports['export_raw']!r})\n"
        f"out = m.signatures['predict'](x=tf.constant(np.array({x.tolist()!r}, np.float32)))\n"
        "assert not any(k.startswith(('keras_spec', 'adapters')) for k in sys.modules)\n"
        "print(json.dumps(out['probabilities'].numpy().tolist()))\n")
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd="/", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    served = np.array(eval(done.stdout.strip().splitlines()[-1]))  # list of lists from json
    expected = [e["probabilities"] for e in GOLDEN[name]["predict_first8"][:2]]
    assert max_relative_error(served, expected, floor=1e-3) < 1e-4


def linear_model_fn(features, labels, mode, params):
    w = tf.compat.v1.get_variable("w", initializer=tf.constant([[2.0]]))
    y = tf.matmul(features["x"], w)
    if params.get("fail_in_predict") and mode == ks.ModeKeys.PREDICT:
        raise RuntimeError("model_fn failed in PREDICT")
    if mode == ks.ModeKeys.PREDICT:
        return ks.EstimatorSpec(mode, predictions={"y": y})
    loss = tf.reduce_mean(tf.square(y - labels))
    return ks.EstimatorSpec(mode, loss=loss, train_op=tf.compat.v1.train.GradientDescentOptimizer(
        0.1).minimize(loss, global_step=tf.compat.v1.train.get_global_step()))


RAW_X = ks.export.build_raw_serving_input_receiver_fn({"x": tf.TensorSpec([None, 1], tf.float32)})


def test_failed_export_leaves_nothing_behind(tmp_path):
    model = SpecModel(linear_model_fn, params={"fail_in_predict": True})
    base = tmp_path / "exports"
    with pytest.raises(RuntimeError, match="failed in PREDICT"):
        model.export_saved_model(str(base), RAW_X)
    assert not base.exists() or list(base.iterdir()) == []


def test_exports_get_new_directories_and_trained_values(tmp_path):
    model = SpecModel(linear_model_fn, params={})
    first = model.export_saved_model(str(tmp_path), RAW_X)
    data = tf.data.Dataset.from_tensor_slices(({"x": [[1.0]] * 4}, [[3.0]] * 4)).repeat().batch(4)
    model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)
    asset = tmp_path / "vocab.txt"
    asset.write_text("a\nb\n")
    second = model.export_saved_model(str(tmp_path), RAW_X, assets_extra={"vocab.txt": str(asset)})
    assert first != second and os.path.basename(first).isdigit()
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(first),
                                                   os.path.basename(second), "vocab.txt"])
    x = tf.constant([[1.0], [2.0]])
    y_first = tf.saved_model.load(first).signatures["serving_default"](x=x)["y"].numpy()
    y_second = tf.saved_model.load(second).signatures["serving_default"](x=x)["y"].numpy()
    np.testing.assert_allclose(y_first[:, 0], [2.0, 4.0])
    w = model.get_variable_value("w")[0, 0]
    assert w != 2.0
    np.testing.assert_allclose(y_second[:, 0], [w, 2 * w], rtol=1e-6)
    assert (tmp_path / os.path.basename(second) / "assets.extra" / "vocab.txt").read_text() == "a\nb\n"


def test_receiver_alternatives_add_signatures(tmp_path):
    def receiver():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="input_example_tensor")
        parsed = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        return ks.export.ServingInputReceiver(
            parsed, {"examples": serialized},
            receiver_tensors_alternatives={"raw": {"x": parsed["x"]}})

    model = SpecModel(linear_model_fn, params={})
    export_dir = model.export_saved_model(str(tmp_path), receiver)
    signatures = read_signature_defs(export_dir)
    assert sorted(signatures) == ["raw:serving_default", "serving_default"]
    assert signatures["raw:serving_default"]["inputs"] == {"x": {"dtype": "float32", "shape": [-1, 1]}}
    loaded = tf.saved_model.load(export_dir)
    out = loaded.signatures["raw:serving_default"](x=tf.constant([[1.5]]))
    np.testing.assert_allclose(out["y"].numpy(), [[3.0]])


def test_bad_receiver_fn_result_is_a_clear_error(tmp_path):
    model = SpecModel(linear_model_fn, params={})
    with pytest.raises(TypeError, match="must return a keras_spec.export.ServingInputReceiver"):
        model.export_saved_model(str(tmp_path), lambda: {"x": 1})
    assert list(tmp_path.iterdir()) == []


def test_model_fn_ops_output_alternatives_export_as_text(tmp_path):
    def contrib_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([[2.0]]))
        y = tf.matmul(features["x"], w)[:, 0]
        return ks.ModelFnOps(mode, predictions={"y": y}, output_alternatives={
            "head": (ks.ProblemType.LINEAR_REGRESSION, {"scores": y})})

    model = SpecModel(contrib_fn)
    parsing = ks.export.build_parsing_serving_input_receiver_fn(
        {"x": tf.io.FixedLenFeature([1], tf.float32)})
    export_dir = model.export_saved_model(str(tmp_path), parsing, as_text=True)
    assert os.path.exists(os.path.join(export_dir, "saved_model.pbtxt"))
    assert not os.path.exists(os.path.join(export_dir, "saved_model.pb"))
    loaded = tf.saved_model.load(export_dir)
    assert sorted(loaded.signatures) == ["head", "serving_default"]
    out = loaded.signatures["head"](inputs=tf.constant(serialized_examples([[1.0], [4.0]])))
    np.testing.assert_allclose(out["outputs"].numpy(), [2.0, 8.0])


def test_saved_model_cli_lists_signatures_and_methods(trained):
    name, _, exports = trained
    if name != "mlp_classifier":
        pytest.skip("one case is enough for the CLI check")
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    done = subprocess.run([cli, "show", "--all", "--dir", exports["export_parsing"]],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    for key, method in (("predict", "tensorflow/serving/predict"),
                        ("regression", "tensorflow/serving/regress"),
                        ("serving_default", "tensorflow/serving/classify")):
        block = done.stdout.split(f"signature_def['{key}']:")[1].split("signature_def[")[0]
        assert f"Method name is: {method}" in block, key
    assert "inputs['inputs'] tensor_info" in done.stdout
    assert "outputs['classes'] tensor_info" in done.stdout
