"""Record tf.estimator 2.15's numbers for tests/real_world/bert_like.py.

Run ONLY under the side virtualenv with TF 2.15.1 + tensorflow-estimator 2.15.0, from the
repository root:  /work/tf215/bin/python tests/real_world/goldens/bert_like_record.py
Writes bert_like.json next to this file (used by tests/test_real_world_bert.py).
"""

import json
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import bert_like  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
TRAIN_STEPS, BATCH = 4, 8


class LossRecorder(tf.compat.v1.train.SessionRunHook):
    def __init__(self):
        self.losses = []

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(tf.compat.v1.get_collection("bert_like_loss")[0])

    def after_run(self, run_context, run_values):
        self.losses.append(float(run_values.results))


def run(use_scaffold, work):
    tpu = tf.compat.v1.estimator.tpu
    records = bert_like.write_tfrecords(os.path.join(work, "data.tfrecord"))
    ckpt = bert_like.write_pretrained_checkpoint(os.path.join(work, "pretrained", "model.ckpt"))
    inner = bert_like.model_fn_builder(tpu.TPUEstimatorSpec, ckpt, use_scaffold=use_scaffold)

    def model_fn(features, labels, mode, params):
        spec = inner(features, labels, mode, params)
        if mode == "train":
            tf.compat.v1.add_to_collection("bert_like_loss", spec.loss)
        return spec

    est = tpu.TPUEstimator(model_fn, model_dir=os.path.join(work, f"model_{use_scaffold}"),
                           use_tpu=False, train_batch_size=BATCH, eval_batch_size=BATCH,
                           predict_batch_size=BATCH,
                           config=tpu.RunConfig(tpu_config=tpu.TPUConfig(iterations_per_loop=1)))
    recorder = LossRecorder()
    est.train(bert_like.input_fn_builder(records, True), steps=TRAIN_STEPS, hooks=[recorder])
    metrics = est.evaluate(bert_like.input_fn_builder(records, False))
    predictions = [p["probabilities"].tolist()
                   for p in est.predict(bert_like.input_fn_builder(records, False))]
    return {"losses": recorder.losses,
            "eval": {k: float(v) for k, v in metrics.items()},
            "probabilities": predictions,
            "variables": {name: float(np.sum(np.abs(est.get_variable_value(name))))
                          for name in est.get_variable_names()}}


def initial_run(work):
    """No training: evaluate/predict straight from the pretrained checkpoint (Estimator)."""
    tpu = tf.compat.v1.estimator.tpu
    records = os.path.join(work, "data.tfrecord")
    ckpt = os.path.join(work, "pretrained", "model.ckpt")
    inner = bert_like.model_fn_builder(tpu.TPUEstimatorSpec, ckpt)

    def model_fn(features, labels, mode, params):
        return inner(features, labels, mode, dict(params, batch_size=BATCH)).as_estimator_spec()

    est = tf.estimator.Estimator(model_fn, model_dir=os.path.join(work, "initial"))
    input_fn = bert_like.input_fn_builder(records, False)
    metrics = est.evaluate(lambda: input_fn({"batch_size": BATCH}))
    predictions = [p["probabilities"].tolist()
                   for p in est.predict(lambda: input_fn({"batch_size": BATCH}))]
    return {"eval": {k: float(v) for k, v in metrics.items()}, "probabilities": predictions}


if __name__ == "__main__":
    work = tempfile.mkdtemp()
    result = {"tensorflow": tf.__version__, "train_steps": TRAIN_STEPS, "batch_size": BATCH,
              "tpu_estimator": run(False, work), "tpu_estimator_scaffold_fn": run(True, work),
              "initial": initial_run(work)}
    with open(os.path.join(HERE, "bert_like.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(json.dumps({k: (v["losses"], v["eval"]) for k, v in result.items()
                      if isinstance(v, dict) and "losses" in v}, indent=1))
    print(result["initial"]["eval"])
