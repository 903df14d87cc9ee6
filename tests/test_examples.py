"""The examples run end to end: iris (train → evaluate → export → serve elsewhere) and the
TPUStrategy script under MirroredStrategy, the default strategy and (absent) TPU."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
sys.path.insert(0, EXAMPLES)


def test_iris_example_trains_exports_and_serves(tmp_path):
    import iris  # noqa: E402

    results = iris.main(["--steps", "400", "--model-dir", str(tmp_path)])
    assert results["accuracy"] >= 0.9  # 30 held-out flowers; the classic model gets ~0.97
    assert results["served_class_id"] == 0  # the first sample is a setosa
    assert len(os.listdir(tmp_path / "export")) == 1


def _run_tpu_example(strategy, tmp_path):
    script = os.path.join(ROOT, "examples", "tpu_train.py")
    return subprocess.run([sys.executable, script, "--strategy", strategy, "--steps", "40",
                           "--model-dir", str(tmp_path / strategy)],
                          capture_output=True, text=True, timeout=300)


def test_tpu_example_gives_the_same_results_on_two_mirrored_replicas_and_one_device(tmp_path):
    results = {}
    for strategy in ("mirrored", "default"):
        run = _run_tpu_example(strategy, tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        line = [l for l in run.stdout.splitlines() if l.startswith("{")][-1]
        results[strategy] = ast.literal_eval(line)
        assert "replicas=2" in run.stdout if strategy == "mirrored" else "replicas=1" in run.stdout
        assert os.listdir(tmp_path / strategy / "host_call")  # host_call summaries written
    assert results["mirrored"]["global_step"] == results["default"]["global_step"] == 40
    for key in ("loss", "accuracy", "mean_per_class_accuracy"):
        assert abs(results["mirrored"][key] - results["default"][key]) < 1e-3, key


def test_tpu_example_without_a_tpu_says_so_and_names_the_alternative(tmp_path):
    run = _run_tpu_example("tpu", tmp_path)
    assert run.returncode != 0
    assert "No TPU was found" in run.stderr and "--strategy mirrored" in run.stderr
