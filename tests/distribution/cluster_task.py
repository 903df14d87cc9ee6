"""One task of a TF_CONFIG cluster running a tf.estimator-style train_and_evaluate script.

Run by tests/test_cluster*.py in every process of a local cluster (chief, worker, ps,
evaluator), each with its own TF_CONFIG:

    cluster_task.py MODE MODEL_DIR OUT_DIR [--max-steps N] [--save-steps N] [--wait-for-eval]
                    [--step-delay SECS]

MODE is `mwms` (RunConfig(train_distribute=MultiWorkerMirroredStrategy())) or `ps` (no
strategy: the cluster's ps tasks make it parameter-server training). The task writes
OUT_DIR/<task>.json with what train_and_evaluate returned; the evaluator's exporter writes
OUT_DIR/evaluated-<step>.json for every checkpoint it evaluated. With --wait-for-eval the
chief's saving listener waits (bounded) until the evaluator has evaluated each checkpoint, so
the test sees several evaluations whatever the machine's speed.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_spec as ks  # noqa: E402
from keras_spec import export  # noqa: E402
from adapters import (Estimator, EvalSpec, LatestExporter, RunConfig, TrainSpec,  # noqa: E402
                      train_and_evaluate)

TRUE_W = np.array([[2.0], [-3.0]], np.float32)
BATCH = 16


def make_data(n, seed):
    rs = np.random.RandomState(seed)
    x = rs.randn(n, 2).astype(np.float32)
    y = (x @ TRUE_W + 0.5 > 0).astype(np.int64)[:, 0]
    return x, y


class SlowStepHook(ks.hooks.SessionRunHook):
    """Makes each training step take a while (fault tests need a run that lasts)."""

    def __init__(self, secs):
        self.secs = secs

    def after_run(self, run_context, run_values):
        time.sleep(self.secs)


def model_fn(features, labels, mode, params):
    w = tf.compat.v1.get_variable("w", initializer=tf.zeros([2, 1]))
    b = tf.compat.v1.get_variable("b", initializer=tf.zeros([1]))
    logits = tf.squeeze(tf.matmul(features["x"], w) + b, axis=1)
    probability = tf.sigmoid(logits)
    predicted = tf.cast(probability > 0.5, tf.int64)
    if mode == ks.ModeKeys.PREDICT:
        return ks.EstimatorSpec(mode, predictions={"probability": probability,
                                                   "class": predicted})
    loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
    if mode == ks.ModeKeys.EVAL:
        return ks.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "accuracy": tf.compat.v1.metrics.accuracy(labels, predicted)})
    train_op = tf.compat.v1.train.GradientDescentOptimizer(params["lr"]).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    hooks = [SlowStepHook(params["step_delay"])] if params["step_delay"] else []
    return ks.EstimatorSpec(mode, loss=loss, train_op=train_op, training_hooks=hooks)


class RecordingExporter(LatestExporter):
    """A LatestExporter that also records, per evaluated checkpoint, what it was given."""

    def __init__(self, out_dir, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.out_dir = out_dir

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        path = super().export(estimator, export_path, checkpoint_path, eval_result,
                              is_the_final_export)
        step = int(eval_result["global_step"])
        record = {"step": step, "checkpoint": checkpoint_path, "final": bool(is_the_final_export),
                  "accuracy": float(eval_result["accuracy"]), "export": path.decode()
                  if isinstance(path, bytes) else path}
        tmp = os.path.join(self.out_dir, f".evaluated-{step}.json")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, os.path.join(self.out_dir, f"evaluated-{step}.json"))
        return path


class SlowSaves(tf.compat.v1.train.CheckpointSaverListener):
    """Fault tests: a run that lasts long enough to kill a task in the middle of it."""

    def __init__(self, secs):
        self.secs = secs

    def after_save(self, session, global_step_value):
        time.sleep(self.secs)


class WaitForEvaluator(tf.compat.v1.train.CheckpointSaverListener):
    """Test synchronisation: after each save, wait until the evaluator has evaluated it."""

    def __init__(self, out_dir, timeout=60.0):
        self.out_dir, self.timeout = out_dir, timeout

    def after_save(self, session, global_step_value):
        deadline = time.time() + self.timeout
        target = os.path.join(self.out_dir, f"evaluated-{global_step_value}.json")
        while not os.path.exists(target) and time.time() < deadline:
            time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["mwms", "ps"])
    parser.add_argument("model_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--save-steps", type=int, default=10)
    parser.add_argument("--wait-for-eval", action="store_true")
    parser.add_argument("--step-delay", type=float, default=0.0)
    parser.add_argument("--session-timeout", type=int, default=60)
    parser.add_argument("--save-sleep", type=float, default=0.0)
    args = parser.parse_args()
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    name = f"{task.get('type', 'local')}{task.get('index', 0)}"

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if args.mode == "mwms" else None
    config = RunConfig(model_dir=args.model_dir, train_distribute=strategy,
                       save_checkpoints_steps=args.save_steps, save_summary_steps=args.save_steps,
                       log_step_count_steps=args.save_steps,
                       session_creation_timeout_secs=args.session_timeout)
    estimator = Estimator(model_fn, config=config,
                          params={"lr": 0.5, "step_delay": args.step_delay})
    x_train, y_train = make_data(2048, seed=1)
    x_eval, y_eval = make_data(256, seed=2)
    contexts = []

    def train_input_fn(input_context=None):
        contexts.append(None if input_context is None else [
            input_context.num_input_pipelines, input_context.input_pipeline_id])
        dataset = tf.data.Dataset.from_tensor_slices(({"x": x_train}, y_train))
        if input_context is not None and input_context.num_input_pipelines > 1:
            dataset = dataset.shard(input_context.num_input_pipelines,
                                    input_context.input_pipeline_id)
        return dataset.repeat().batch(BATCH, drop_remainder=True)

    def eval_input_fn():
        return tf.data.Dataset.from_tensor_slices(({"x": x_eval}, y_eval)).batch(64)

    def serving_input_receiver_fn():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        return export.ServingInputReceiver({"x": x}, {"x": x})

    exporter = RecordingExporter(args.out_dir, "latest", serving_input_receiver_fn,
                                 exports_to_keep=None)
    listeners = [WaitForEvaluator(args.out_dir)] if args.wait_for_eval else []
    if args.save_sleep:
        listeners.append(SlowSaves(args.save_sleep))
    latest = tf.train.latest_checkpoint(args.model_dir)
    resumed_from = int(latest.rsplit("-", 1)[1]) if latest else None
    train_spec = TrainSpec(train_input_fn, max_steps=args.max_steps, saving_listeners=listeners)
    eval_spec = EvalSpec(eval_input_fn, steps=None, name="holdout", exporters=[exporter],
                         start_delay_secs=0, throttle_secs=0)
    result = train_and_evaluate(estimator, train_spec, eval_spec)
    report = {"result": repr(result), "is_chief": config.is_chief, "contexts": contexts,
              "resumed_from": resumed_from}
    if config.task_type in ("chief", "worker") and args.mode == "mwms":
        report["w"] = estimator.get_variable_value("w").tolist()
        report["global_step"] = int(estimator.get_variable_value("global_step"))
    with open(os.path.join(args.out_dir, f"{name}-{os.getpid()}.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
