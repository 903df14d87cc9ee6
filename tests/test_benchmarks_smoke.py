"""`python -m benchmarks.run --quick` runs end to end and writes a complete JSON report.

Nothing about speed is asserted (CI machines are noisy); only that every configuration was
measured and every figure is a positive number. Runs in a subprocess: the benchmark builds a
few dozen models, which should not stay in the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RESULT_KEYS = {
    "key", "workload", "impl", "label", "steps_per_execution", "jit_compile", "batch_size",
    "train_steps_per_s", "train_examples_per_s", "fit_call_overhead_s", "time_to_first_step_s",
    "time_to_first_evaluate_s", "time_to_first_predict_s", "eval_examples_per_s",
    "predict_examples_per_s", "memory", "final_train_loss"}


def _positive(stats: dict, name: str) -> None:
    assert stats["median"] is not None and stats["median"] > 0, (name, stats)
    assert stats["reps"] and all(v > 0 for v in stats["reps"]), (name, stats)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "steps/s" in done.stdout  # the table was printed
    with open(out / "benchmark.json") as f:
        return json.load(f)


def test_every_configuration_measured(quick_report):
    results = quick_report["results"]
    keys = {(r["workload"], r["impl"]) for r in results}
    assert {("bench", "legacy"), ("bench", "keras_fn"), ("bench", "keras"),
            ("mlp_classifier", "legacy"), ("mlp_classifier", "keras"), ("cnn", "legacy"),
            ("cnn", "keras"), ("many_metrics", "metrics10"), ("many_metrics", "metrics0")} <= keys
    assert {r["steps_per_execution"] for r in results if r["workload"] == "bench"} == {1, 32}
    for r in results:
        assert RESULT_KEYS <= set(r), sorted(RESULT_KEYS - set(r))
        for name in ("time_to_first_step_s", "eval_examples_per_s", "predict_examples_per_s"):
            _positive(r[name], f"{r['key']} {name}")
        if r["workload"] != "many_metrics":
            _positive(r["train_steps_per_s"], f"{r['key']} train_steps_per_s")
        assert r["memory"]["process_peak_rss_mb"] > 0


def test_ratios_and_metadata(quick_report):
    ratios = quick_report["ratios"]
    bench = [q for q in ratios if q["workload"] == "bench"]
    assert {q["impl"] for q in bench} == {"legacy", "keras_fn"}
    for q in bench:
        assert q["vs"] == "keras"
        assert q["train_steps_per_s"] > 0 and q["time_to_first_step_s"] > 0
    assert any(q["workload"] == "many_metrics" and q["eval_examples_per_s"] > 0 for q in ratios)
    meta = quick_report["meta"]
    assert meta["quick"] is True and meta["machine"]["logical_cores"] >= 1
    assert isinstance(quick_report["targets"], list) and quick_report["estimator"] is None


def test_missing_estimator_python_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-python"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path),
         "--estimator-python", str(missing)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])))
    assert done.returncode == 2
    assert "does not exist" in done.stderr and str(missing) in done.stderr
    assert not (tmp_path / "benchmark.json").exists()


def test_estimator_python_without_tf_estimator_is_a_clear_error():
    from benchmarks import estimator_runner  # pylint: disable=g-import-not-at-top

    # This environment's TF 2.21 has no tf.estimator: the import check must say so.
    with pytest.raises(estimator_runner.EstimatorUnavailable, match="cannot import tensorflow"):
        estimator_runner.check(sys.executable)


def test_quick_runs_never_write_the_committed_results():
    from benchmarks import run  # pylint: disable=g-import-not-at-top

    committed = os.path.join("benchmarks", "results")
    assert run.output_dir(None, quick=False) == committed
    quick = run.output_dir(None, quick=True)
    assert os.path.abspath(quick) != os.path.abspath(committed)
    assert not os.path.abspath(quick).startswith(os.path.join(ROOT, "benchmarks"))
    assert run.output_dir("/x/y", quick=True) == "/x/y"
