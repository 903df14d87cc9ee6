"""Issue 12 test (d): a tf.estimator 2.15 script runs on TF 2.21 with one line added.

tests/real_world/tf215_script.py was written for tf.estimator 2.15 (feature columns,
tf.compat.v1.layers, train_and_evaluate with a LatestExporter, a user hook, early stopping,
predict with predict_keys, export and serving). Its outputs under TF 2.15.1 +
tensorflow-estimator 2.15.0 are in tests/real_world/tf215_goldens.json
(record_tf215_goldens.py). Here the same file runs in a fresh process with
`import adapters.estimator; adapters.estimator.install()` inserted after `import tensorflow as
tf` and nothing else changed. The early-stopping cases (a metric known per global step) run
in-process against the same goldens.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import adapters.estimator as tf_estimator
from estimator_helpers import assert_nested_close

HERE = pathlib.Path(__file__).resolve().parent
REAL_WORLD = HERE / "real_world"
GOLDEN = json.loads((REAL_WORLD / "tf215_goldens.json").read_text())
INSTALL_LINE = "import adapters.estimator; adapters.estimator.install()"


def _with_install_line(source: str) -> str:
    lines = source.splitlines(keepends=True)
    at = lines.index("import tensorflow as tf\n") + 1
    return "".join(lines[:at] + [INSTALL_LINE + "\n"] + lines[at:])


@pytest.fixture(scope="module")
def script_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("script")
    script = work / "tf215_script.py"
    original = (REAL_WORLD / "tf215_script.py").read_text()
    script.write_text(_with_install_line(original))
    # exactly one line differs from the script tf.estimator 2.15 ran
    assert len(script.read_text().splitlines()) == len(original.splitlines()) + 1
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = work / "out.json"
    done = subprocess.run([sys.executable, str(script), str(out), str(work)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


def test_script_matches_tf_estimator_with_one_line_added(script_run):
    golden = GOLDEN["script"]
    for key in ("train_and_evaluate_metrics", "evaluate", "probabilities",
                "served_probabilities"):
        assert_nested_close(script_run[key], golden[key], key)
    # early stopping (accuracy > 0.9, checked every 5 steps) stops at the same step, after the
    # same evaluations, and the STOP variable is checkpointed as tf.estimator did
    for key in ("stopped_at_step", "eval_steps", "stop_variable", "exports_kept",
                "export_results_are_bytes", "export_is_bytes", "predict_keys"):
        assert script_run[key] == golden[key], key
    assert golden["stopped_at_step"] < 300  # it did stop early


def test_script_checkpoint_holds_what_tf_estimator_checkpointed(script_run):
    assert script_run["checkpoint_variables"] == GOLDEN["script"]["checkpoint_variables"]
    assert "signal_early_stopping/STOP" in script_run["checkpoint_variables"]


def test_script_user_hook_sees_global_steps_as_tf_estimator(script_run):
    assert script_run["recorded_steps"] == GOLDEN["script"]["recorded_steps"]


def test_early_stopping_hooks_stop_where_tf_estimator_stopped(tmp_path):
    sys.path.insert(0, str(REAL_WORLD))
    try:
        import early_stopping_cases  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.remove(str(REAL_WORLD))
    results = early_stopping_cases.run_cases(tf_estimator, str(tmp_path))
    for name, golden in GOLDEN["early_stopping_cases"].items():
        golden = {k: v for k, v in golden.items() if k != "agreeing_runs"}
        assert results[name] == golden, name
    # closed form for one case: m = CURVE[step] is lowest (0.2) at step 12; evaluated every 2
    # steps, it has not decreased for 6 steps at the evaluation of step 18, which the hook
    # (checking every step) reads right after that checkpoint's evaluation
    curve = early_stopping_cases.CURVE
    assert int(np.argmin(curve)) == 12 and results["no_decrease"]["stopped_at"] == 18
    np.testing.assert_allclose(results["no_decrease"]["final_m"], curve[18], rtol=1e-6)
