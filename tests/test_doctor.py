"""`keras-spec doctor`: every known problem in the sample sources found at its line, --fix output
that runs through SpecModel, and a dynamic run that names the user's failing line."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

from adapters.doctor import cli, coverage, fix, static
from adapters.doctor.report import BLOCKER

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "doctor_samples"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}

# (line, rule) of every problem written into the samples, nothing else.
EXPECTED_FIXABLE = {(5, "KS130"), (12, "KS110"), (17, "KS120"), (21, "KS100"), (22, "KS100"),
                    (23, "KS100"), (25, "KS110"), (26, "KS160"), (28, "KS100"), (32, "KS100"),
                    (33, "KS100")}
EXPECTED_BLOCKERS = {(3, "KS110"), (7, "KS170"), (8, "KS111"), (10, "KS120"), (11, "KS141"),
                     (12, "KS170"), (13, "KS100"), (18, "KS100"), (23, "KS151"), (26, "KS152"),
                     (30, "KS150"), (31, "KS101"), (32, "KS101"), (33, "KS180"), (34, "KS140")}


def _analyze(name: str) -> static.FileAnalysis:
    path = SAMPLES / name
    return static.analyze_source(str(path), path.read_text())


@pytest.mark.parametrize("name, expected", [("sample_fixable.py", EXPECTED_FIXABLE),
                                            ("sample_blockers.py", EXPECTED_BLOCKERS)])
def test_static_pass_finds_every_problem_at_its_line(name, expected):
    found = {(f.line, f.rule) for f in _analyze(name).findings}
    assert found == expected


def test_static_pass_resolves_aliases_and_spares_serving_receivers(tmp_path):
    src = tmp_path / "aliased.py"
    src.write_text(
        "from tensorflow import estimator as est\n"
        "from tensorflow.contrib.data import map_and_batch\n"
        "from tensorflow.contrib import tpu as contrib_tpu\n"
        "import tensorflow.compat.v1 as tf\n"
        "opt = contrib_tpu.CrossShardOptimizer(tf.train.AdamOptimizer())\n"
        "spec = est.EstimatorSpec\n"
        "def serving_input_fn():\n"
        "    x = tf.placeholder(tf.float32, [None, 3])\n"
        "    return est.export.ServingInputReceiver({'x': x}, x)\n")
    a = static.analyze_source(str(src), src.read_text())
    found = {(f.line, f.rule) for f in a.findings}
    assert found == {(1, "KS100"), (2, "KS110"), (3, "KS110"), (5, "KS110"), (6, "KS100"),
                     (9, "KS100")}  # line 8: a placeholder in a serving receiver is fine
    new, fixed = fix.patched_source(a)
    assert len(fixed) == len(a.findings)
    assert "from tensorflow.data.experimental import map_and_batch\n" in new
    assert "opt = tf.compat.v1.tpu.CrossShardOptimizer(" not in new  # v1 alias spelling
    assert "opt = tf.tpu.CrossShardOptimizer(tf.train.AdamOptimizer())" in new
    assert "import adapters.estimator as est\n" in new
    imported = [n.module for n in ast.walk(ast.parse(new)) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if "contrib" in m or m == "tensorflow"], imported
    assert "# keras-spec doctor: tf.contrib import no longer needed (was: from tensorflow" in new


def test_coverage_names_that_are_certain():
    assert coverage.lookup("Estimator").status == coverage.COVERED
    assert coverage.lookup("EstimatorSpec").status == coverage.COVERED
    assert coverage.lookup("RunConfig").status == coverage.COVERED
    assert coverage.lookup("TrainSpec").status == coverage.COVERED
    for name in ("DNNClassifier", "BoostedTreesClassifier"):
        c = coverage.lookup(name)
        assert c.status == coverage.NOT_PROVIDED and "model_fn" in c.advice
    # The fallback table is tf.estimator 2.15's API.
    assert {"experimental.RNNClassifier", "tpu.TPUEstimator", "export.PredictOutput",
            "inputs.numpy_input_fn"} <= coverage.TF_ESTIMATOR_NAMES


def test_coverage_follows_the_namespace_contract():
    ns = types.ModuleType("fake_estimator")
    tpu = types.ModuleType("fake_estimator.tpu")
    tpu.TPUEstimator, tpu.TPUConfig, tpu.__all__ = object(), object(), ["TPUEstimator"]
    ns.Estimator, ns.SessionRunHook, ns.tpu = object(), object(), tpu
    ns.__all__ = ["Estimator", "tpu"]
    ns.NOT_PROVIDED = {"DNNClassifier": "write a model_fn", "SessionRunHook": "use keras_spec"}
    assert coverage.lookup("Estimator", ns).home == ("fake_estimator", "Estimator")
    assert coverage.lookup("tpu.TPUEstimator", ns).status == coverage.COVERED
    assert coverage.lookup("tpu.TPUConfig", ns).status == coverage.NOT_COVERED  # not in __all__
    c = coverage.lookup("SessionRunHook", ns)  # present but not listed: NOT_PROVIDED decides
    assert (c.status, c.advice) == (coverage.NOT_PROVIDED, "use keras_spec")
    assert coverage.lookup("LinearRegressor", ns).status == coverage.NOT_COVERED


def _import_path(path: pathlib.Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fix_writes_a_copy_that_runs_through_spec_model(tmp_path):
    a = _analyze("sample_fixable.py")
    original = (SAMPLES / "sample_fixable.py").read_text()
    written, diff = fix.fix_file(a, str(tmp_path), in_place=False)
    assert (SAMPLES / "sample_fixable.py").read_text() == original  # never in place
    assert written == str(tmp_path / "sample_fixable.py") and diff.startswith("--- ")
    assert all(f.fixed for f in a.findings)
    new = pathlib.Path(written).read_text()
    assert "width = tf.compat.dimension_value(x.shape[1])  # static feature width" in new
    assert "# keras-spec doctor: disable_v2_behavior() removed" in new  # comments kept
    with pytest.raises(FileExistsError):  # a patched copy is never overwritten
        fix.fix_file(_analyze("sample_fixable.py"), str(tmp_path), in_place=False)

    from adapters import SpecModel
    from adapters.estimator import input_fn as input_fns
    module = _import_path(pathlib.Path(written), "doctor_fixed_sample")
    ds = input_fns.to_dataset(module.input_fn({}), "train")
    model = SpecModel(module.model_fn)
    history = model.fit(ds, epochs=1, steps_per_epoch=3, verbose=0)
    assert model.get_variable_value("global_step") == 3
    # The loss of the first step is the closed form for the (untrained) variable w.
    x, y = next(iter(ds.take(1)))
    assert np.isfinite(history.history["loss"]).all()
    metrics = model.evaluate(ds.take(2), verbose=0, return_dict=True)
    w = model.get_variable_value("w")
    preds = []
    for features, labels in ds.take(2):
        preds.append((np.argmax(features["x"].numpy() @ w, 1) == labels.numpy()))
    assert metrics["acc"] == pytest.approx(np.concatenate(preds).mean())
    out = model.predict(input_fns.features_only(ds).take(1), verbose=0)
    np.testing.assert_array_equal(out["class"], np.argmax(x["x"].numpy() @ w, 1))


def test_dynamic_pass_names_the_users_failing_line():
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.doctor", "--json", "--no-xla",
         "--model-fn", "sample_failing_model_fn:model_fn", "--path-root", str(SAMPLES),
         "--feature-spec", json.dumps({"features": {"x": {"shape": [4]}},
                                       "labels": {"shape": [], "dtype": "int64", "max": 3}})],
        capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    stages = {s["stage"]: s for s in report["dynamic"]["stages"]}
    assert stages["train"]["status"] == "failed"
    assert stages["train"]["path"] == str(SAMPLES / "sample_failing_model_fn.py")
    assert stages["train"]["line"] == 12 and "tf.reshape" in stages["train"]["source"]
    assert all(stages[s]["status"] == "ok" for s in ("eval", "predict", "export"))
    (blocker,) = [f for f in report["findings"] if f["severity"] == BLOCKER]
    assert (blocker["line"], blocker["rule"]) == (12, "KS201")
    assert "your line 12" in blocker["message"]


def test_help_answers_without_importing_tensorflow():
    code = ("import sys; from adapters.doctor.cli import main; rc = main(['doctor', '--help']);"
            " assert 'tensorflow' not in sys.modules, 'TF imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--model-fn" in proc.stdout and "--fix" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "adapters.doctor", "--help"],
                          capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and "usage: python -m adapters.doctor" in proc.stdout


@pytest.mark.parametrize("argv", [[], ["doctor"], ["lint", "x.py"], ["doctor", "nope.py"],
                                  ["doctor", "--model-fn", "m", "--feature-spec", "{}"],
                                  ["doctor", "--model-fn", "m:f"],
                                  ["doctor", "--out", "d", str(SAMPLES)]])
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err


def test_exit_code_and_json(tmp_path, capsys):
    clean = tmp_path / "clean.py"
    clean.write_text("import tensorflow as tf\nx = tf.compat.v1.train.get_global_step\n")
    assert cli.main(["doctor", str(clean)]) == 0
    assert "0 blocker(s)" in capsys.readouterr().out
    assert cli.main(["doctor", "--json", str(SAMPLES / "sample_blockers.py")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["blocked"] is True
    rows = {r["name"]: r["status"] for r in report["coverage"]}
    assert rows["DNNClassifier"] == "not provided" and rows["EstimatorSpec"] == "covered"
    # --fix fixes all of sample_fixable: nothing blocks any more.
    assert cli.main(["doctor", "--fix", "--out", str(tmp_path / "out"),
                     str(SAMPLES / "sample_fixable.py")]) == 0
    out = capsys.readouterr().out
    assert "+    width = tf.compat.dimension_value(x.shape[1])" in out
    assert (tmp_path / "out" / "sample_fixable.py").exists()
