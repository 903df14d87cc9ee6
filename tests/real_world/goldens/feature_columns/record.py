"""Records the tf.estimator 2.15 golden of a feature-column model_fn (TF 1.x tutorial style).

Run ONLY under TF 2.15.1 + tensorflow-estimator 2.15.0:
    /work/tf215/bin/python tests/real_world/goldens/feature_columns/record.py
Writes feature_columns.json next to itself: evaluate() metrics, predict() outputs, the trained
variables, and what the exported SavedModel (parsing receiver from make_parse_example_spec)
answers for serialized tf.Examples. Columns: vocabulary list, vocabulary file (cities.txt),
hashed, numeric, bucketized, crossed; dense through indicator and embedding columns and
`tf.compat.v1.feature_column.input_layer`. The keras-spec test imports the model_fn from here.
"""

import json
import os
import shutil
import sys
import tempfile

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB_FILE = os.path.join(HERE, "cities.txt")
COLORS = ["red", "green", "blue"]
CITIES = ["paris", "london", "tokyo", "lima", "oslo"]  # oslo: out of the file's vocabulary
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
TRAIN_STEPS, BATCH, N = 8, 16, 64


def columns(vocab_file=VOCAB_FILE):
    fc = tf.feature_column
    color = fc.categorical_column_with_vocabulary_list("color", COLORS)
    city = fc.categorical_column_with_vocabulary_file("city", vocab_file, num_oov_buckets=1)
    word = fc.categorical_column_with_hash_bucket("word", 5)
    age = fc.numeric_column("age")
    age_buckets = fc.bucketized_column(age, [20.0, 40.0, 60.0])
    cross = fc.crossed_column([age_buckets, color], hash_bucket_size=7)

    def init(seed):  # deterministic in any TF version (no op-level random seeds)
        def initializer(shape, dtype=tf.float32, partition_info=None):
            values = np.random.RandomState(seed).uniform(-0.5, 0.5, size=shape)
            return tf.constant(values, dtype=dtype)
        return initializer

    return [
        fc.numeric_column("age", normalizer_fn=lambda x: x / 100.0),
        fc.indicator_column(color),
        fc.embedding_column(city, 2, initializer=init(1)),
        fc.embedding_column(word, 3, initializer=init(2)),
        fc.indicator_column(age_buckets),
        fc.embedding_column(cross, 2, initializer=init(3)),
    ]  # 1 + 3 + 2 + 3 + 4 + 2 = 15 inputs


def data(n=N, seed=5):
    rs = np.random.RandomState(seed)
    features = {
        "age": rs.uniform(5, 80, size=(n, 1)).astype(np.float32),
        "color": rs.choice(COLORS, size=(n, 1)).astype(object),
        "city": rs.choice(CITIES, size=(n, 1)).astype(object),
        "word": rs.choice(WORDS, size=(n, 1)).astype(object),
    }
    score = (features["age"][:, 0] / 40 + (features["color"][:, 0] == "red")
             + (features["city"][:, 0] == "tokyo") + 0.3 * rs.rand(n))
    labels = (np.argsort(np.argsort(score)) * 3 // n).astype(np.int32)
    return features, labels


def input_fns():
    features, labels = data()
    as_tf = {k: v.astype(str) if v.dtype == object else v for k, v in features.items()}

    def train_input_fn():
        return (tf.data.Dataset.from_tensor_slices((as_tf, labels)).repeat()
                .batch(BATCH, drop_remainder=True))

    def eval_input_fn():
        return tf.data.Dataset.from_tensor_slices((as_tf, labels)).batch(BATCH)

    def predict_input_fn():
        return tf.data.Dataset.from_tensor_slices(as_tf).batch(BATCH)

    return train_input_fn, eval_input_fn, predict_input_fn


def serialized_examples(n=8, seed=9):
    """tf.Example protos (bytes) as a serving client sends them."""
    features, _ = data(n, seed)
    out = []
    for i in range(n):
        feature = {"age": tf.train.Feature(float_list=tf.train.FloatList(value=[features["age"][i, 0]]))}
        for key in ("color", "city", "word"):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[features[key][i, 0].encode()]))
        out.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return out


def make_model_fn(est):
    def model_fn(features, labels, mode, params):
        net = tf.compat.v1.feature_column.input_layer(features, params["feature_columns"])
        rs = np.random.RandomState(4)
        weights = tf.compat.v1.get_variable(
            "logits/kernel", initializer=tf.compat.v1.constant_initializer(rs.randn(15, 3) * 0.3),
            shape=[15, 3])
        bias = tf.compat.v1.get_variable("logits/bias", shape=[3],
                                         initializer=tf.compat.v1.zeros_initializer())
        logits = tf.matmul(net, weights) + bias
        class_ids = tf.argmax(logits, axis=1)
        probabilities = tf.nn.softmax(logits)
        if mode == est.ModeKeys.PREDICT:
            predictions = {"class_ids": class_ids, "probabilities": probabilities}
            return est.EstimatorSpec(mode, predictions=predictions, export_outputs={
                "serving_default": est.export.PredictOutput(predictions)})
        loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
        if mode == est.ModeKeys.EVAL:
            return est.EstimatorSpec(mode, loss=loss, eval_metric_ops={
                "accuracy": tf.compat.v1.metrics.accuracy(labels, class_ids)})
        optimizer = tf.compat.v1.train.AdagradOptimizer(params["learning_rate"])
        train_op = optimizer.minimize(loss, tf.compat.v1.train.get_global_step())
        return est.EstimatorSpec(mode, loss=loss, train_op=train_op)

    return model_fn


def serving_input_receiver_fn(est):
    spec = tf.feature_column.make_parse_example_spec(columns())
    return est.export.build_parsing_serving_input_receiver_fn(spec)


def _record() -> None:
    assert tf.__version__.startswith("2.15"), "record with TF 2.15.1 + tensorflow-estimator 2.15.0"
    est = tf.estimator
    workdir = tempfile.mkdtemp()
    estimator = est.Estimator(make_model_fn(est), model_dir=workdir,
                              config=est.RunConfig(tf_random_seed=1, save_summary_steps=1000),
                              params={"feature_columns": columns(), "learning_rate": 0.3})
    train_input_fn, eval_input_fn, predict_input_fn = input_fns()
    estimator.train(train_input_fn, steps=TRAIN_STEPS)
    metrics = estimator.evaluate(eval_input_fn)
    predictions = list(estimator.predict(predict_input_fn))
    variables = {name: estimator.get_variable_value(name).tolist()
                 for name in estimator.get_variable_names()}
    export_dir = estimator.export_saved_model(os.path.join(workdir, "export"),
                                              serving_input_receiver_fn(est))
    export_dir = os.fsdecode(export_dir)  # tf.estimator returns bytes
    served = tf.saved_model.load(export_dir).signatures["serving_default"](
        examples=tf.constant(serialized_examples()))
    golden = {
        "versions": {"tensorflow": tf.__version__, "python": sys.version.split()[0]},
        "train_steps": TRAIN_STEPS,
        "learning_rate": 0.3,
        "evaluate": {k: float(v) for k, v in metrics.items()},
        "predict": {"class_ids": [int(p["class_ids"]) for p in predictions],
                    "probabilities": [p["probabilities"].tolist() for p in predictions]},
        "variables": variables,
        "served": {k: v.numpy().tolist() for k, v in served.items()},
        "export_assets": sorted(os.listdir(os.path.join(export_dir, "assets"))),
    }
    with open(os.path.join(HERE, "feature_columns.json"), "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
    shutil.rmtree(workdir)


if __name__ == "__main__":
    _record()
