"""A script written for tf.estimator 2.15, as a user would have (keras-spec's own code).

Run unchanged under TF 2.15.1 + tensorflow-estimator 2.15.0 it records the golden
(record_tf215_script.py); tests/test_namespace_script.py runs the very same file on TF 2.21 with
one line added after `import tensorflow as tf`. What it uses: feature columns (numeric,
bucketized, hashed + indicator, hashed + embedding) through
`tf.compat.v1.feature_column.input_layer`, `tf.compat.v1.layers.dense`, a custom SessionRunHook,
LoggingTensorHook, `train_and_evaluate` with a LatestExporter and early stopping, `evaluate`,
`predict(predict_keys=...)`, `export_saved_model` (bytes, `.decode()`), and serving tf.Examples.

Usage: python tf215_script.py OUTPUT_JSON WORK_DIR
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

COLORS = ["red", "green", "blue", "amber"]
CITIES = ["oslo", "lima", "pune", "kobe", "faro", "bern"]


def make_data(n, seed):
    rng = np.random.RandomState(seed)
    age = rng.uniform(18, 70, n).astype(np.float32)
    hours = rng.uniform(0, 60, n).astype(np.float32)
    color = rng.choice(COLORS, n)
    city = rng.choice(CITIES, n)
    score = 0.05 * (age - 40) + 0.04 * (hours - 30) + np.where(color == "red", 1.2, 0.0)
    label = np.digitize(score, [-0.6, 0.6]).astype(np.int64)  # 3 classes
    return {"age": age, "hours": hours, "color": color, "city": city}, label


def feature_columns():
    fc = tf.feature_column
    age = fc.numeric_column("age")
    return [
        fc.numeric_column("hours", normalizer_fn=lambda x: (x - 30.0) / 20.0),
        fc.bucketized_column(age, boundaries=[25.0, 35.0, 45.0, 55.0]),
        # A vocabulary column here would stop the export on TF 2.21 until issue 12 item 6
        # (lookup tables in SavedModels) lands; the hashed column needs no table.
        fc.indicator_column(fc.categorical_column_with_hash_bucket("color", 8)),
        fc.embedding_column(fc.categorical_column_with_hash_bucket("city", 16), dimension=3,
                            initializer=tf.compat.v1.truncated_normal_initializer(
                                stddev=0.1, seed=7)),
    ]


def model_fn(features, labels, mode, params):
    net = tf.compat.v1.feature_column.input_layer(features, feature_columns())
    net = tf.compat.v1.layers.dense(
        net, params["hidden"], activation=tf.nn.relu,
        kernel_initializer=tf.compat.v1.glorot_uniform_initializer(seed=1))
    logits = tf.compat.v1.layers.dense(
        net, 3, kernel_initializer=tf.compat.v1.glorot_uniform_initializer(seed=2))
    probabilities = tf.nn.softmax(logits)
    class_ids = tf.argmax(logits, axis=1)
    predictions = {"class_ids": class_ids, "probabilities": probabilities, "logits": logits}
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions, export_outputs={
            "serving_default": tf.estimator.export.ClassificationOutput(
                scores=probabilities,
                classes=tf.as_string(class_ids)),
            "predict": tf.estimator.export.PredictOutput(predictions)})
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "accuracy": tf.compat.v1.metrics.accuracy(labels, class_ids)})
    optimizer = tf.compat.v1.train.AdamOptimizer(params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    logging_hook = tf.estimator.LoggingTensorHook({"loss": loss}, every_n_iter=25)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      training_hooks=[logging_hook])


def input_fn(data, labels, batch_size, training):
    def fn():
        dataset = tf.data.Dataset.from_tensor_slices((data, labels))
        if training:
            dataset = dataset.repeat()
        return dataset.batch(batch_size)
    return fn


class StepRecorder(tf.estimator.SessionRunHook):
    """Records the global step after each training step (a typical user hook)."""

    def __init__(self):
        self.steps = []

    def begin(self):
        self._global_step = tf.compat.v1.train.get_global_step()

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs(self._global_step)

    def after_run(self, run_context, run_values):
        self.steps.append(int(run_values.results))


def eval_steps(eval_dir):
    steps = set()
    for name in sorted(os.listdir(eval_dir)):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(eval_dir, name)):
                if any(v.tag == "accuracy" for v in event.summary.value):
                    steps.add(int(event.step))
    return sorted(steps)


def serialized_examples(data, count):
    examples = []
    for i in range(count):
        feature = {
            "age": tf.train.Feature(float_list=tf.train.FloatList(value=[data["age"][i]])),
            "hours": tf.train.Feature(float_list=tf.train.FloatList(value=[data["hours"][i]])),
            "color": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[data["color"][i].encode()])),
            "city": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[data["city"][i].encode()])),
        }
        examples.append(tf.train.Example(
            features=tf.train.Features(feature=feature)).SerializeToString())
    return examples


def main(output_json, work_dir):
    train_x, train_y = make_data(240, seed=0)
    eval_x, eval_y = make_data(90, seed=1)
    model_dir = os.path.join(work_dir, "model")
    config = tf.estimator.RunConfig(model_dir=model_dir, tf_random_seed=42,
                                    save_checkpoints_steps=10, log_step_count_steps=50)
    estimator = tf.estimator.Estimator(model_fn, config=config,
                                       params={"hidden": 8, "learning_rate": 0.05})
    serving_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(
        tf.feature_column.make_parse_example_spec(feature_columns()))
    recorder = StepRecorder()
    early_stop = tf.estimator.experimental.stop_if_higher_hook(
        estimator, "accuracy", 0.9, run_every_secs=None, run_every_steps=5)
    train_spec = tf.estimator.TrainSpec(input_fn(train_x, train_y, 16, True), max_steps=300,
                                        hooks=[recorder, early_stop])
    eval_spec = tf.estimator.EvalSpec(
        input_fn(eval_x, eval_y, 30, False), steps=None, start_delay_secs=0, throttle_secs=0,
        exporters=[tf.estimator.LatestExporter("latest", serving_fn, exports_to_keep=2)])
    metrics, export_results = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)

    final = estimator.evaluate(input_fn(eval_x, eval_y, 30, False))
    predictions = list(estimator.predict(input_fn(eval_x, eval_y, 30, False),
                                         predict_keys=["probabilities"]))
    export_dir = estimator.export_saved_model(os.path.join(work_dir, "export"), serving_fn)
    served = tf.saved_model.load(export_dir.decode()).signatures["predict"](
        examples=tf.constant(serialized_examples(eval_x, 5)))
    latest = tf.train.latest_checkpoint(model_dir)
    reader = tf.train.load_checkpoint(latest)
    result = {
        "train_and_evaluate_metrics": {k: float(v) for k, v in metrics.items()},
        "export_results_are_bytes": [isinstance(p, bytes) for p in export_results],
        "exports_kept": len([d for d in os.listdir(os.path.join(model_dir, "export", "latest"))
                             if d.isdigit()]),
        "stopped_at_step": int(estimator.get_variable_value("global_step")),
        "recorded_steps": recorder.steps,
        "eval_steps": eval_steps(estimator.eval_dir()),
        "stop_variable": bool(reader.get_tensor("signal_early_stopping/STOP")),
        "checkpoint_variables": sorted(reader.get_variable_to_shape_map()),
        "evaluate": {k: float(v) for k, v in final.items()},
        "predict_keys": sorted(predictions[0]),
        "probabilities": [p["probabilities"].tolist() for p in predictions[:5]],
        "served_probabilities": served["probabilities"].numpy().tolist(),
        "export_is_bytes": isinstance(export_dir, bytes),
    }
    with open(output_json, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
