"""A TF1 script kept alive on TF 2.x with `import tensorflow.compat.v1 as tf` + `disable_v2_behavior()`.

The most common way TF1 model code was carried to TF 2.x: every call keeps its TF1 spelling
(`tf.flags`, `tf.app.run`, `tf.logging`, `tf.gfile`, `tf.layers`, `tf.losses`, `tf.metrics`,
`tf.train.*Optimizer`, `tf.estimator`), the process runs in graph mode with TF1 behaviour, and
the exported model is served in a `tf.Session` through `tf.saved_model.loader`. The model is a
small wide-and-deep style classifier over numeric, bucketized and hashed feature columns.

Usage: python tf1_compat_wide_deep.py OUTPUT_JSON WORK_DIR
"""

import json
import os

import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()

flags = tf.flags
FLAGS = flags.FLAGS
flags.DEFINE_integer("train_steps", 30, "Training steps.")
flags.DEFINE_integer("batch_size", 16, "Batch size.")

KINDS = ["a", "b", "c", "d", "e"]


def make_data(n, seed):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, n).astype(np.float32)
    y = rng.uniform(0, 10, n).astype(np.float32)
    kind = rng.choice(KINDS, n)
    score = x + 0.3 * (y - 5) + np.where(np.isin(kind, ["a", "b"]), 1.0, -0.5)
    return {"x": x, "y": y, "kind": kind}, (score > 0).astype(np.int64)


def columns():
    y = tf.feature_column.numeric_column("y")
    wide = [tf.feature_column.bucketized_column(y, [2.0, 4.0, 6.0, 8.0]),
            tf.feature_column.indicator_column(
                tf.feature_column.categorical_column_with_hash_bucket("kind", 10))]
    deep = [tf.feature_column.numeric_column("x"), y]
    return wide, deep


def model_fn(features, labels, mode, params):
    wide_columns, deep_columns = columns()
    wide = tf.feature_column.input_layer(features, wide_columns)
    deep = tf.feature_column.input_layer(features, deep_columns)
    # TF1 code reads static dimensions with .value (a Dimension under TF1 behaviour)
    assert deep.get_shape()[1].value == len(deep_columns)
    deep = tf.layers.dense(deep, params["hidden"], activation=tf.nn.relu,
                           kernel_initializer=tf.glorot_uniform_initializer(seed=1), name="deep")
    logits = tf.layers.dense(tf.concat([wide, deep], axis=1), 2,
                             kernel_initializer=tf.glorot_uniform_initializer(seed=2),
                             name="logits")
    probabilities = tf.nn.softmax(logits)
    classes = tf.argmax(logits, axis=1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(
            mode, predictions={"probabilities": probabilities, "classes": classes},
            export_outputs={"serving_default": tf.estimator.export.PredictOutput(
                {"probabilities": probabilities})})
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "accuracy": tf.metrics.accuracy(labels, classes),
            "auc": tf.metrics.auc(labels, probabilities[:, 1])})
    optimizer = tf.train.AdamOptimizer(params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn(data, labels, training):
    def fn():
        dataset = tf.data.Dataset.from_tensor_slices((data, labels))
        if training:
            dataset = dataset.repeat()
        return dataset.batch(FLAGS.batch_size)
    return fn


class LossHook(tf.train.SessionRunHook):
    def __init__(self):
        self.losses = []

    def begin(self):
        self._loss = tf.get_collection(tf.GraphKeys.LOSSES)[0]

    def before_run(self, run_context):
        return tf.train.SessionRunArgs(self._loss)

    def after_run(self, run_context, run_values):
        self.losses.append(float(run_values.results))


def main(argv):
    output_json, work_dir = argv[1], argv[2]
    tf.logging.set_verbosity(tf.logging.INFO)
    tf.gfile.MakeDirs(work_dir)
    train_x, train_y = make_data(160, seed=0)
    eval_x, eval_y = make_data(48, seed=1)
    estimator = tf.estimator.Estimator(
        model_fn, model_dir=os.path.join(work_dir, "model"),
        config=tf.estimator.RunConfig(tf_random_seed=5),
        params={"hidden": 6, "learning_rate": 0.03})
    hook = LossHook()
    estimator.train(input_fn(train_x, train_y, True), steps=FLAGS.train_steps, hooks=[hook])
    metrics = estimator.evaluate(input_fn(eval_x, eval_y, False))
    predictions = [p["probabilities"].tolist()
                   for p in estimator.predict(input_fn(eval_x, eval_y, False))][:4]

    wide_columns, deep_columns = columns()
    spec = tf.feature_column.make_parse_example_spec(wide_columns + deep_columns)
    export_dir = estimator.export_savedmodel(
        os.path.join(work_dir, "export"),
        tf.estimator.export.build_parsing_serving_input_receiver_fn(spec),
        strip_default_attrs=True)

    examples = []
    for i in range(4):
        examples.append(tf.train.Example(features=tf.train.Features(feature={
            "x": tf.train.Feature(float_list=tf.train.FloatList(value=[eval_x["x"][i]])),
            "y": tf.train.Feature(float_list=tf.train.FloatList(value=[eval_x["y"][i]])),
            "kind": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[eval_x["kind"][i].encode()])),
        })).SerializeToString())
    with tf.Graph().as_default(), tf.Session() as sess:
        meta_graph = tf.saved_model.loader.load(sess, [tf.saved_model.tag_constants.SERVING],
                                                export_dir)
        signature = meta_graph.signature_def["serving_default"]
        served = sess.run(signature.outputs["probabilities"].name,
                          {signature.inputs["examples"].name: examples})

    result = {
        "train_losses": hook.losses[::6] + hook.losses[-1:],
        "evaluate": {k: float(v) for k, v in metrics.items()},
        "predictions": predictions,
        "signature_keys": sorted(meta_graph.signature_def.keys()),
        "served_probabilities": served.tolist(),
        "export_is_bytes": isinstance(export_dir, bytes),
        "variable_names": estimator.get_variable_names(),
    }
    line = json.dumps(result, sort_keys=True)
    print(line)
    with open(output_json, "w") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    tf.app.run()
