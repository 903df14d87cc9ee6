"""Early-stopping cases whose evaluation metric is a known function of the global step.

`run_cases(estimator_ns, work_dir)` runs each case with `train_and_evaluate` and returns, per
case, the step training stopped at, the steps evaluated and the `signal_early_stopping/STOP`
value in the last checkpoint. The metric `m` evaluated at checkpoint step s is `CURVE[s]`, so
the stop step follows from tf.estimator's rules by hand; record_tf215_goldens.py records the same
cases with tf.estimator 2.15 (`estimator_ns=tf.estimator`), the test passes keras-spec's
namespace. Written for both: only names tf.estimator 2.15 had.
"""

import os

import numpy as np
import tensorflow as tf

# m at step s: falls to its minimum 0.2 at step 12, then rises slowly; peaks mirror it.
CURVE = [1.0 - 0.8 * min(s, 12) / 12 + 0.01 * max(s - 12, 0) for s in range(64)]
MAX_STEPS = 30


def make_model_fn(ns):
    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", [], initializer=tf.compat.v1.zeros_initializer())
        loss = tf.reduce_mean(tf.square(features - w))
        global_step = tf.compat.v1.train.get_global_step()
        if mode == "eval":
            value = tf.gather(tf.constant(CURVE), tf.cast(global_step, tf.int32))
            return ns.EstimatorSpec(mode, loss=loss, eval_metric_ops={
                "m": tf.compat.v1.metrics.mean(value),
                "neg_m": tf.compat.v1.metrics.mean(-value)})
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=global_step)
        return ns.EstimatorSpec(mode, loss=loss, train_op=train_op)

    return model_fn


def _input_fn():
    return tf.data.Dataset.from_tensors((tf.constant([1.0, 2.0]), tf.constant([0.0]))).repeat()


def _eval_input_fn():
    return tf.data.Dataset.from_tensors((tf.constant([1.0, 2.0]), tf.constant([0.0])))


def _hooks(ns, estimator):
    calls = []

    def stop_on_fourth_call():
        calls.append(1)
        return len(calls) >= 4

    experimental = ns.experimental
    return {
        "no_decrease": experimental.stop_if_no_decrease_hook(
            estimator, "m", 6, run_every_secs=None, run_every_steps=1),
        "no_increase_min_steps": experimental.stop_if_no_increase_hook(
            estimator, "neg_m", 4, min_steps=14, run_every_secs=None, run_every_steps=1),
        "lower": experimental.stop_if_lower_hook(
            estimator, "m", 0.5, run_every_secs=None, run_every_steps=3),
        "higher": experimental.stop_if_higher_hook(
            estimator, "neg_m", -0.35, run_every_secs=None, run_every_steps=4),
        "custom_predicate": experimental.make_early_stopping_hook(
            estimator, stop_on_fourth_call, run_every_secs=None, run_every_steps=5),
    }


def _eval_steps(eval_dir):
    steps = set()
    for name in os.listdir(eval_dir):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(eval_dir, name)):
                if any(v.tag == "m" for v in event.summary.value):
                    steps.add(int(event.step))
    return sorted(steps)


def run_cases(ns, work_dir):
    results = {}
    for name in ["no_decrease", "no_increase_min_steps", "lower", "higher", "custom_predicate"]:
        model_dir = os.path.join(work_dir, name)
        estimator = ns.Estimator(make_model_fn(ns), config=ns.RunConfig(
            model_dir=model_dir, save_checkpoints_steps=2, tf_random_seed=1,
            keep_checkpoint_max=100))
        hook = _hooks(ns, estimator)[name]
        metrics, _ = ns.train_and_evaluate(
            estimator, ns.TrainSpec(_input_fn, max_steps=MAX_STEPS, hooks=[hook]),
            ns.EvalSpec(_eval_input_fn, steps=1, start_delay_secs=0, throttle_secs=0))
        reader = tf.train.load_checkpoint(model_dir)
        first = tf.train.load_checkpoint(os.path.join(model_dir, "model.ckpt-2"))
        results[name] = {
            "stopped_at": int(estimator.get_variable_value("global_step")),
            "final_m": float(np.float32(metrics["m"])),
            "eval_steps": _eval_steps(estimator.eval_dir()),
            "stop_in_last_checkpoint": reader.get_tensor("signal_early_stopping/STOP").item(),
            "stop_in_step_2_checkpoint": first.get_tensor("signal_early_stopping/STOP").item(),
        }
    return results
