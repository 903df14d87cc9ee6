"""`keras-spec doctor`: every known problem in the sample sources found at its line, --fix output
(the one install line) that runs through tf.estimator after install(), coverage read from the
real namespace, and a dynamic run that names the user's failing line and unstable layer names."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import types

import pytest

from adapters.doctor import cli, coverage, fix, static
from adapters.doctor.report import BLOCKER, INFO

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
    # line 8: a placeholder in a serving receiver is fine; lines 6, 9: uses of `est`, whose
    # import (line 1) is the finding
    assert found == {(1, "KS100"), (2, "KS110"), (3, "KS110"), (5, "KS110")}
    new, fixed = fix.patched_source(a)
    assert len(fixed) == len(a.findings)
    assert "from tensorflow.data.experimental import map_and_batch\n" in new
    assert "opt = tf.tpu.CrossShardOptimizer(tf.train.AdamOptimizer())" in new  # v1 alias
    # `from tensorflow import estimator` works after install(): the line goes before it
    assert new.startswith(static.INSTALL_LINE + "\nfrom tensorflow import estimator as est\n")
    assert new.count(static.INSTALL_LINE) == 1
    imported = [n.module for n in ast.walk(ast.parse(new)) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if "contrib" in m], imported
    assert "# keras-spec doctor: tf.contrib import no longer needed (was: from tensorflow" in new


def test_coverage_reads_the_real_namespace():
    import adapters.estimator as ns
    assert coverage.lookup("tpu.TPUEstimator").home == ("adapters.estimator", "tpu.TPUEstimator")
    # Every name the namespace lists is covered, every NOT_PROVIDED name carries its advice.
    for sub in ("", "export.", "experimental.", "tpu.", "inputs."):
        module = getattr(ns, sub.rstrip("."), ns) if sub else ns
        for name in module.__all__:
            assert coverage.lookup(sub + name).status == coverage.COVERED, sub + name
    for name, advice in ns.NOT_PROVIDED.items():
        assert (coverage.lookup(name).status, coverage.lookup(name).advice) == (
            coverage.NOT_PROVIDED, advice)
    # In tf.estimator 2.15, in neither table: "not covered".
    assert coverage.lookup("BoostedTreesEstimator").status == coverage.NOT_COVERED
    assert coverage.lookup("NoSuchName").advice == "not a tf.estimator 2.15 name"
    assert {"experimental.RNNClassifier", "tpu.TPUEstimator", "export.PredictOutput",
            "inputs.numpy_input_fn"} <= coverage.TF_ESTIMATOR_NAMES


def test_coverage_falls_back_when_the_namespace_cannot_be_imported(monkeypatch):
    def broken():
        raise ImportError("no module named tf_keras")
    monkeypatch.setattr(coverage, "_namespace", broken)
    assert coverage.lookup("DNNClassifier").status == coverage.NOT_PROVIDED
    c = coverage.lookup("Estimator")
    assert c.status == coverage.NOT_COVERED and "cannot be imported" in c.advice


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


_IMPORT_FORMS = textwrap.dedent("""\
    import tensorflow as tf
    from tensorflow.estimator import Estimator
    from tensorflow.compat.v1.estimator.tpu import TPUEstimator
    from tensorflow.contrib.tpu import TPUConfig
    run_config = tf.contrib.tpu.RunConfig
    dense = tf.compat.v1.layers.dense
    spec = tf.compat.v1.estimator.EstimatorSpec
    """)

# In a fresh process: the patched copies run through install() and tf.estimator.
_RUN_PATCHED = textwrap.dedent("""\
    import json, sys, tempfile
    sys.path.insert(0, sys.argv[1])
    import sample_fixable as m          # runs its install line
    import import_forms as f
    import numpy as np
    import tensorflow as tf
    import adapters.estimator as ns
    out = {"installed": ns.installed(), "forms": [
        f.Estimator is ns.Estimator, f.TPUEstimator is ns.tpu.TPUEstimator,
        f.TPUConfig is ns.tpu.TPUConfig, f.run_config is ns.tpu.RunConfig,
        f.spec is ns.EstimatorSpec]}
    x = tf.zeros([2, 3])
    out["dense"] = f.dense(x, 4).shape.as_list()  # tf_keras's TF1 layer, eagerly
    est = m.main(tempfile.mkdtemp(), max_steps=3)  # the sample's own main()
    out["step"] = int(est.get_variable_value("global_step"))
    out["eval"] = {k: float(v) for k, v in est.evaluate(m.input_fn, steps=2).items()}
    w = est.get_variable_value("w")
    xs, ys = [], []
    for features, labels in m.input_fn({}).take(2):
        xs.append(features["x"].numpy()); ys.append(labels.numpy())
    out["acc"] = float((np.argmax(np.concatenate(xs) @ w, 1) == np.concatenate(ys)).mean())
    out["predict"] = [int(p["class"]) for _, p in zip(range(3), est.predict(
        lambda: m.input_fn({}).map(lambda a, b: a)))]
    out["predict_closed"] = np.argmax(xs[0][:3] @ w, 1).tolist()
    print(json.dumps(out))
    """)


def test_fix_adds_the_one_install_line_and_the_copy_runs_through_tf_estimator(tmp_path):
    original = (SAMPLES / "sample_fixable.py").read_text()
    a = _analyze("sample_fixable.py")
    ks100 = [f for f in a.findings if f.rule == "KS100"]
    assert ks100 and all(f.severity == BLOCKER and f.fixable for f in ks100)
    written, diff = fix.fix_file(a, str(tmp_path), in_place=False)
    assert (SAMPLES / "sample_fixable.py").read_text() == original  # never in place
    assert written == str(tmp_path / "sample_fixable.py") and diff.startswith("--- ")
    assert all(f.fixed for f in a.findings)
    assert all(f.severity == INFO for f in ks100)  # covered now: the copy calls install()
    new = pathlib.Path(written).read_text()
    lines = new.splitlines()
    # exactly one install line, right after `import tensorflow as tf`
    assert [i for i, l in enumerate(lines) if l == static.INSTALL_LINE] == [
        lines.index("import tensorflow as tf") + 1]
    # tf.estimator references stay as written
    assert new.count("tf.estimator.") == original.count("tf.estimator.") == 6
    assert "width = tf.compat.dimension_value(x.shape[1])  # static feature width" in new
    assert "# keras-spec doctor: disable_v2_behavior() removed" in new  # comments kept
    with pytest.raises(FileExistsError):  # a patched copy is never overwritten
        fix.fix_file(_analyze("sample_fixable.py"), str(tmp_path), in_place=False)
    # The doctor on its own output: nothing blocks, KS100 are info
    assert cli.main(["doctor", "--json", written]) == 0

    forms = tmp_path / "forms.py"
    forms.write_text(_IMPORT_FORMS)
    fa = static.analyze_source(str(forms), _IMPORT_FORMS)
    assert {(f.line, f.rule, f.severity) for f in fa.findings} == {
        (2, "KS100", BLOCKER), (3, "KS100", BLOCKER), (4, "KS110", BLOCKER),
        (5, "KS110", BLOCKER), (6, "KS170", BLOCKER), (7, "KS100", BLOCKER)}
    written_forms, _ = fix.fix_file(fa, str(tmp_path / "forms"), in_place=False)
    patched = pathlib.Path(written_forms).read_text()
    assert patched.splitlines()[:5] == [
        "import tensorflow as tf", static.INSTALL_LINE,
        "from tensorflow.estimator import Estimator",
        "from tensorflow.compat.v1.estimator.tpu import TPUEstimator",
        "from tensorflow.compat.v1.estimator.tpu import TPUConfig"]
    assert "run_config = tf.compat.v1.estimator.tpu.RunConfig\n" in patched
    (tmp_path / "import_forms.py").write_text(patched)

    proc = subprocess.run([sys.executable, "-c", _RUN_PATCHED, str(tmp_path)],
                          capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["installed"] and all(out["forms"]) and out["dense"] == [2, 4]
    assert out["step"] == 3
    assert out["eval"]["global_step"] == 3
    assert out["eval"]["acc"] == pytest.approx(out["acc"])  # accuracy of the trained w
    assert out["predict"] == out["predict_closed"]


def test_install_line_makes_covered_names_info_and_the_rest_stay_blockers(tmp_path, monkeypatch):
    import adapters.estimator as ns
    src = tmp_path / "ported.py"
    src.write_text(textwrap.dedent("""\
        import tensorflow as tf
        import adapters.estimator; adapters.estimator.install()
        est = tf.estimator.Estimator
        canned = tf.estimator.DNNClassifier
        unknown = tf.estimator.NoSuchThing
        layer = tf.compat.v1.layers.dense
        """))
    a = static.analyze_source(str(src), src.read_text())
    got = {(f.line, f.rule, f.severity) for f in a.findings}
    assert got == {(3, "KS100", INFO), (4, "KS101", BLOCKER), (5, "KS102", BLOCKER),
                   (6, "KS170", INFO)}
    (canned,) = [f for f in a.findings if f.rule == "KS101"]
    assert canned.fix == ns.NOT_PROVIDED["DNNClassifier"]
    assert fix.patched_source(a)[0] == src.read_text()  # nothing to rewrite
    # Without tf_keras the install line cannot give tf.compat.v1.layers: KS170 names the extra.
    monkeypatch.setattr(static, "_tf_keras_available", lambda: False)
    a = static.analyze_source(str(src), src.read_text())
    (layers,) = [f for f in a.findings if f.rule == "KS170"]
    assert layers.severity == BLOCKER and "legacy-layers" in layers.fix and not layers.fixable


def test_tensorflow_estimator_imports_are_reported_with_the_namespace_advice(tmp_path):
    src = tmp_path / "tfe.py"
    src.write_text(textwrap.dedent("""\
        import tensorflow_estimator as tfe
        from tensorflow_estimator.python.estimator.estimator import Estimator as E2
        from tensorflow_estimator.python.estimator.canned.dnn import DNNClassifier
        from tensorflow_estimator.python.estimator.tpu.tpu_estimator import TPUEstimator
        from tensorflow_estimator import estimator as tf_estimator
        regressor = tfe.estimator.DNNRegressor
        spec = tfe.estimator.EstimatorSpec
        """))
    a = static.analyze_source(str(src), src.read_text())
    got = {(f.line, f.rule) for f in a.findings}
    assert got == {(1, "KS104"), (2, "KS104"), (3, "KS101"), (4, "KS104"), (5, "KS104"),
                   (6, "KS101")}
    by_line = {f.line: f for f in a.findings}
    assert "import adapters.estimator as tf_estimator" in by_line[1].fix
    assert "does not alias `tensorflow_estimator`" in by_line[1].message
    new, _ = fix.patched_source(a)
    assert "from adapters.estimator import Estimator as E2\n" in new
    assert "from adapters.estimator.tpu import TPUEstimator\n" in new
    assert "\nimport adapters.estimator as tf_estimator\n" in new
    assert static.INSTALL_LINE not in new  # adapters.estimator imports need no install()
    assert {r["name"] for r in a.coverage} >= {"Estimator", "DNNClassifier", "tpu.TPUEstimator",
                                               "DNNRegressor", "EstimatorSpec"}


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
    assert not [f for f in report["findings"] if f["rule"] == "KS211"]  # named layers: stable


def test_dynamic_pass_warns_of_keras_layers_with_unstable_names():
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.doctor", "--json", "--no-xla",
         "--model-fn", "sample_unstable_names:model_fn", "--path-root", str(SAMPLES),
         "--feature-spec", json.dumps({"features": {"x": {"shape": [4]}},
                                       "labels": {"shape": [], "dtype": "int64", "max": 3}})],
        capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    pairs = report["dynamic"]["unstable_names"]
    # The first call built logits_0; every later call another number; `hidden` is stable.
    assert {p["first"] for p in pairs} == {"logits_0"}
    assert {p["later_mode"] for p in pairs} >= {"eval", "infer"}
    assert all(p["later"].startswith("logits_") and p["later"] != "logits_0" for p in pairs)
    (warning,) = [f for f in report["findings"] if f["rule"] == "KS211"]
    assert "`logits_0`" in warning["message"] and "hidden" not in warning["message"]


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
    assert f"+{static.INSTALL_LINE}" in out
    assert (tmp_path / "out" / "sample_fixable.py").exists()


def test_command_line_starts_tensorflow_quietly():
    env = {k: v for k, v in ENV.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-m", "adapters.doctor",
                           str(SAMPLES / "sample_fixable.py")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 1  # blockers (fixable) remain in the original
    assert "cuInit" not in proc.stderr and "oneDNN" not in proc.stderr, proc.stderr[-2000:]
    assert "KS100 [blocker]" in proc.stdout and "covered" in proc.stdout
