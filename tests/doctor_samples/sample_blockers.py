"""A TF1-era trainer with problems --fix cannot solve (keras-spec doctor sample)."""
import tensorflow.compat.v1 as tf
from tensorflow.contrib import layers as contrib_layers


def model_fn(features, labels, mode, params):
    x = tf.layers.dense(features["x"], 16)
    x = contrib_layers.layer_norm(x)
    dims = x.shape
    units = dims[1].value
    feed = tf.placeholder(tf.float32, [None, units])
    logits = tf.layers.dense(x + feed, 2)
    return tf.estimator.EstimatorSpec(mode, predictions={"logits": logits})


def serving_input_receiver_fn():
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    return tf.estimator.export.ServingInputReceiver({"x": x}, {"x": x})


class ResetHook(tf.train.SessionRunHook):
    def after_create_session(self, session, coord):
        session.run(tf.assign(self._counter, 0))

    def after_run(self, run_context, run_values):
        print(run_context.session.run(self._counter))


def main():
    hook = tf.train.FeedFnHook(lambda: {})
    canned = tf.estimator.DNNClassifier(hidden_units=[8], feature_columns=[])
    boosted = tf.estimator.BoostedTreesClassifier(feature_columns=[], n_batches_per_layer=1)
    keras_est = tf.keras.estimator.model_to_estimator(keras_model=None)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
    return hook, canned, boosted, keras_est
