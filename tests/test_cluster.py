"""train_and_evaluate on a TF_CONFIG cluster of real processes on 127.0.0.1 (issue 16).

Every process runs the same script (tests/distribution/cluster_task.py) with its own TF_CONFIG,
as cluster managers (Kubeflow TFJob, Cloud ML Engine, TonY) ran tf.estimator scripts. Checked:
each task exits 0 by itself, the chief's final checkpoint is at max_steps, the evaluator
evaluated several checkpoints including the last and its exporter's SavedModel serves the
checkpoint's numbers, and the model learned (accuracy threshold).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from cluster_helpers import LocalCluster, make_cluster
from estimator_helpers import checkpoint_steps

MAX_STEPS, SAVE_STEPS = 30, 10
ACCURACY = 0.9  # logistic regression on a linearly separable 2-feature problem, 30 SGD steps


def _serve(export_dir, x):
    loaded = tf.saved_model.load(export_dir)
    return loaded.signatures["serving_default"](x=tf.constant(x))


def _check_evaluator_and_export(run, model_dir):
    records = run.evaluated()
    steps = [r["step"] for r in records]
    # Every checkpoint the chief wrote was evaluated (the chief's listener waits for it), once.
    assert steps == list(range(0, MAX_STEPS + 1, SAVE_STEPS)), steps
    assert [r["final"] for r in records] == [False] * (len(steps) - 1) + [True]
    assert records[-1]["checkpoint"].endswith(f"model.ckpt-{MAX_STEPS}")
    assert records[-1]["accuracy"] > ACCURACY, records[-1]
    # Eval summaries under model_dir/eval_holdout, one event per evaluated step.
    eval_dir = os.path.join(model_dir, "eval_holdout")
    assert any(f.startswith("events.out") for f in os.listdir(eval_dir))
    # The last export serves the final checkpoint: sigmoid(x @ w + b) from its variables.
    last = os.path.join(model_dir, "export", "latest", sorted(
        os.listdir(os.path.join(model_dir, "export", "latest")))[-1])
    w = tf.train.load_variable(os.path.join(model_dir, f"model.ckpt-{MAX_STEPS}"), "w")
    b = tf.train.load_variable(os.path.join(model_dir, f"model.ckpt-{MAX_STEPS}"), "b")
    x = np.random.RandomState(5).randn(8, 2).astype(np.float32)
    served = _serve(last, x)
    np.testing.assert_allclose(served["probability"].numpy(),
                               1 / (1 + np.exp(-(x @ w + b)[:, 0])), rtol=1e-5, atol=1e-6)


def test_multi_worker_mirrored_chief_worker_evaluator(tmp_path):
    """(a) chief + worker train synchronously (MWMS), the evaluator evaluates and exports."""
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "out")
    cluster = make_cluster(chief=1, worker=1, evaluator=1)
    with LocalCluster(cluster, "mwms", model_dir, out, ["--wait-for-eval"]) as run:
        run.start_all()
        codes = run.wait(timeout=150)
        assert codes == {"chief0": 0, "worker0": 0, "evaluator0": 0}, run.logs()
        chief, worker, evaluator = (run.report(n) for n in ("chief0", "worker0", "evaluator0"))
        _check_evaluator_and_export(run, model_dir)
    # train_and_evaluate returns None on every task, as tf.estimator's distributed modes.
    assert {chief["result"], worker["result"], evaluator["result"]} == {"None"}
    # Only the chief checkpoints; the final step is exactly max_steps.
    assert checkpoint_steps(model_dir) == [0, 10, 20, 30]
    assert chief["global_step"] == MAX_STEPS
    # The input_fn got this worker's input_context: 2 pipelines, ids 0 (chief) and 1 (worker).
    assert chief["contexts"][-1] == [2, 0] and worker["contexts"][-1] == [2, 1]
    assert evaluator["contexts"] == []  # the evaluator never trains
    assert not os.path.exists(os.path.join(model_dir, "eval"))  # the chief evaluated nothing


def test_parameter_server_chief_worker_ps_evaluator(tmp_path):
    """(b) ps training: the chief coordinates, worker and ps serve and exit by themselves."""
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "out")
    cluster = make_cluster(chief=1, worker=2, ps=1, evaluator=1)
    with LocalCluster(cluster, "ps", model_dir, out, ["--wait-for-eval"]) as run:
        run.start_all()
        codes = run.wait(timeout=150)
        assert set(codes.values()) == {0}, run.logs()
        reports = {n: run.report(n) for n in codes}
        _check_evaluator_and_export(run, model_dir)
    assert {r["result"] for r in reports.values()} == {"None"}
    # The global step lives on the ps and the chief scheduled exactly max_steps steps.
    assert checkpoint_steps(model_dir) == [0, 10, 20, 30]
    assert tf.train.load_variable(model_dir, "global_step") == MAX_STEPS
    # Workers and ps only served: their input_fn ran on the workers (through the chief's
    # coordinator), never as a Python call in those processes; the evaluator never trained.
    assert reports["worker0"]["contexts"] == reports["ps0"]["contexts"] == []
    assert reports["evaluator0"]["contexts"] == []


def test_example_through_the_local_cluster_launcher(tmp_path):
    """examples/launch_local_cluster.py runs the distributed example (ps training + evaluator)."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    model_dir = str(tmp_path / "model")
    done = subprocess.run(
        [sys.executable, os.path.join(root, "examples", "launch_local_cluster.py"), "--workers",
         "1", "--ps", "1", "--evaluator", "--model-dir", model_dir, "--timeout", "150", "--",
         "--max-steps", "200"], capture_output=True, text=True, timeout=180,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES="-1", TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stdout + done.stderr
    for task in ("chief0", "worker0", "ps0", "evaluator0"):
        assert f"{task} exited 0" in done.stdout
    with open(os.path.join(model_dir, "task_logs", "evaluator0.log")) as f:
        line = [l for l in f.read().splitlines() if l.startswith("final accuracy")][-1]
    accuracy, step = float(line.split()[2]), int(line.split()[-1])
    assert step == 200 and accuracy > 0.9, line
    assert os.listdir(os.path.join(model_dir, "export", "classifier"))
