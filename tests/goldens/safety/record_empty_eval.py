"""Record what tf.estimator 2.15 returns for an evaluation on an empty input (issue 13, item 4).

Run only under the TF 2.15 side virtualenv:  /work/tf215/bin/python record_empty_eval.py
Writes empty_eval.json next to this file (committed; CI never runs this script).
"""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf


def model_fn(features, labels, mode):
    logits = tf.compat.v1.layers.dense(features["x"], 2, name="out")
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    metrics = {"accuracy": tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, 1)),
               "mean_logit": tf.compat.v1.metrics.mean(logits)}
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      eval_metric_ops=metrics, predictions={"logits": logits})


def input_fn(n):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3) / 10.0
    y = (np.arange(n) % 2).astype(np.int32)
    return lambda: tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(2)


def main():
    model_dir = tempfile.mkdtemp()
    est = tf.estimator.Estimator(model_fn, model_dir=model_dir,
                                 config=tf.estimator.RunConfig(tf_random_seed=1))
    est.train(input_fn(20), steps=10)
    result = est.evaluate(input_fn(0))
    out = {"tensorflow": tf.__version__, "global_step_trained": 10,
           "empty_evaluate": {k: (float(v) if "global_step" not in k else int(v))
                              for k, v in result.items()}}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "empty_eval.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    print(out)


if __name__ == "__main__":
    main()
