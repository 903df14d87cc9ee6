"""A TF 1.x custom-Estimator script (keras-spec doctor sample): --fix repairs all of it."""
import numpy as np
import tensorflow as tf

tf.compat.v1.disable_v2_behavior()  # the script's TF1 switch


def input_fn(params):
    x = np.random.RandomState(0).rand(64, 4).astype("float32")
    y = (x.sum(axis=1) > 2).astype("int64")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat()
    return ds.apply(tf.contrib.data.map_and_batch(lambda a, b: ({"x": a}, b), 8))


def model_fn(features, labels, mode, params):
    x = features["x"]
    width = x.shape[1].value  # static feature width
    w = tf.compat.v1.get_variable("w", [width, 2])
    logits = tf.matmul(x, w)
    predictions = {"class": tf.argmax(logits, 1)}
    if mode == tf.estimator.ModeKeys.PREDICT:
        outputs = {"p": tf.estimator.export.PredictOutput(predictions)}
        return tf.estimator.EstimatorSpec(mode, predictions=predictions, export_outputs=outputs)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    opt = tf.contrib.tpu.CrossShardOptimizer(tf.compat.v1.train.GradientDescentOptimizer(0.1))
    train_op = opt.minimize(loss, global_step=tf.train.get_global_step())
    metrics = {"acc": tf.compat.v1.metrics.accuracy(labels, predictions["class"])}
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics)


def main(model_dir="/tmp/sample_fixable", max_steps=10):
    config = tf.estimator.RunConfig(model_dir=model_dir)
    est = tf.estimator.Estimator(model_fn, config=config)
    est.train(input_fn, max_steps=max_steps)
    return est
