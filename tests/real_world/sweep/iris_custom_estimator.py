"""In the style of the TF 1.x custom-Estimator tutorial (premade-style iris model_fn).

Written for tf.estimator 2.15 (TF 2.x spellings of the tutorial's calls): numeric feature
columns through `tf.compat.v1.feature_column.input_layer`, `tf.compat.v1.layers.dense` hidden
layers from `params['hidden_units']`, `sparse_softmax_cross_entropy`, an `acc_op` accuracy with a
summary, Adagrad, `tf.estimator.Estimator(model_fn, params=...)`, train/evaluate/predict with
`(features, labels)` datasets and a features-only predict input_fn, and an export with a
parsing receiver. Initializers carry seeds so that two runs (and two TensorFlows) agree.

Usage: python iris_custom_estimator.py OUTPUT_JSON WORK_DIR
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

CSV_COLUMN_NAMES = ["SepalLength", "SepalWidth", "PetalLength", "PetalWidth"]
SPECIES = ["Setosa", "Versicolor", "Virginica"]


def load_data(n, seed):
    """Iris-like data: three classes with shifted petal measurements."""
    rng = np.random.RandomState(seed)
    label = rng.randint(0, 3, n)
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    x = (centers[label] + rng.normal(0, 0.35, (n, 4))).astype(np.float32)
    return {name: x[:, i] for i, name in enumerate(CSV_COLUMN_NAMES)}, label.astype(np.int32)


def train_input_fn(features, labels, batch_size):
    dataset = tf.data.Dataset.from_tensor_slices((dict(features), labels))
    return dataset.shuffle(64, seed=3).repeat().batch(batch_size)


def eval_input_fn(features, labels, batch_size):
    features = dict(features)
    inputs = features if labels is None else (features, labels)
    dataset = tf.data.Dataset.from_tensor_slices(inputs)
    return dataset.batch(batch_size)


def my_model(features, labels, mode, params):
    net = tf.compat.v1.feature_column.input_layer(features, params["feature_columns"])
    for i, units in enumerate(params["hidden_units"]):
        net = tf.compat.v1.layers.dense(
            net, units=units, activation=tf.nn.relu,
            kernel_initializer=tf.compat.v1.glorot_uniform_initializer(seed=10 + i))
    logits = tf.compat.v1.layers.dense(
        net, params["n_classes"], activation=None,
        kernel_initializer=tf.compat.v1.glorot_uniform_initializer(seed=20))

    predicted_classes = tf.argmax(logits, 1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        predictions = {
            "class_ids": predicted_classes[:, tf.newaxis],
            "probabilities": tf.nn.softmax(logits),
            "logits": logits,
        }
        return tf.estimator.EstimatorSpec(mode, predictions=predictions, export_outputs={
            "serving_default": tf.estimator.export.PredictOutput(predictions)})

    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    accuracy = tf.compat.v1.metrics.accuracy(labels=labels, predictions=predicted_classes,
                                             name="acc_op")
    metrics = {"accuracy": accuracy}
    tf.compat.v1.summary.scalar("accuracy", accuracy[1])

    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)

    assert mode == tf.estimator.ModeKeys.TRAIN
    optimizer = tf.compat.v1.train.AdagradOptimizer(learning_rate=0.1)
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def scalar_events(directory, tag):
    """{step: value} of one scalar summary tag in a directory's event files."""
    found = {}
    for name in sorted(tf.io.gfile.listdir(directory)):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
                for value in event.summary.value:
                    if value.tag == tag:
                        found[int(event.step)] = float(
                            value.simple_value if value.HasField("simple_value")
                            else tf.make_ndarray(value.tensor))
    return found


def main(output_json, work_dir):
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.WARN)
    train_x, train_y = load_data(120, seed=0)
    test_x, test_y = load_data(30, seed=1)

    my_feature_columns = [tf.feature_column.numeric_column(key=key) for key in train_x]
    model_dir = os.path.join(work_dir, "iris_model")
    classifier = tf.estimator.Estimator(
        model_fn=my_model, model_dir=model_dir,
        config=tf.estimator.RunConfig(tf_random_seed=7, save_summary_steps=10),
        params={"feature_columns": my_feature_columns, "hidden_units": [10, 10],
                "n_classes": 3})

    classifier.train(input_fn=lambda: train_input_fn(train_x, train_y, 20), steps=40)
    eval_result = classifier.evaluate(input_fn=lambda: eval_input_fn(test_x, test_y, 20))

    predict_x = {"SepalLength": [5.1, 5.9, 6.9], "SepalWidth": [3.3, 3.0, 3.1],
                 "PetalLength": [1.7, 4.2, 5.4], "PetalWidth": [0.5, 1.5, 2.1]}
    predictions = classifier.predict(input_fn=lambda: eval_input_fn(predict_x, None, 20))
    predicted = []
    for pred_dict in predictions:
        class_id = int(pred_dict["class_ids"][0])
        predicted.append({"class": SPECIES[class_id],
                          "probabilities": pred_dict["probabilities"].tolist()})

    serving_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(
        tf.feature_column.make_parse_example_spec(my_feature_columns))
    export_dir = classifier.export_saved_model(os.path.join(work_dir, "export"), serving_fn)
    loaded = tf.saved_model.load(export_dir.decode("utf-8"))
    example = tf.train.Example(features=tf.train.Features(feature={
        key: tf.train.Feature(float_list=tf.train.FloatList(value=[values[1]]))
        for key, values in predict_x.items()}))
    served = loaded.signatures["serving_default"](
        examples=tf.constant([example.SerializeToString()]))

    # train_and_evaluate with a BestExporter: evaluations at steps 10, 20, 30, an export each
    # time the eval loss improved on the best so far (read back from the eval event files).
    best_dir = os.path.join(work_dir, "iris_best")
    best_classifier = tf.estimator.Estimator(
        model_fn=my_model, model_dir=best_dir,
        config=tf.estimator.RunConfig(tf_random_seed=7, save_checkpoints_steps=10),
        params={"feature_columns": my_feature_columns, "hidden_units": [10, 10],
                "n_classes": 3})
    best_exporter = tf.estimator.BestExporter(serving_input_receiver_fn=serving_fn,
                                              exports_to_keep=2)
    final_metrics, export_results = tf.estimator.train_and_evaluate(
        best_classifier,
        tf.estimator.TrainSpec(lambda: train_input_fn(train_x, train_y, 20), max_steps=30),
        tf.estimator.EvalSpec(lambda: eval_input_fn(test_x, test_y, 20), steps=None,
                              exporters=[best_exporter], start_delay_secs=0, throttle_secs=0))
    eval_losses = scalar_events(os.path.join(best_dir, "eval"), "loss")

    losses = scalar_events(model_dir, "loss")
    result = {
        "train_losses": {str(k): v for k, v in sorted(losses.items())},
        "train_accuracy_summary": {str(k): v for k, v in sorted(
            scalar_events(model_dir, "accuracy").items())},
        "evaluate": {k: float(v) for k, v in eval_result.items()},
        "predictions": predicted,
        "signature_keys": sorted(loaded.signatures.keys()),
        "served_probabilities": served["probabilities"].numpy().tolist(),
        "variable_names": classifier.get_variable_names(),
        "best_exporter": {
            "eval_losses": {str(k): v for k, v in sorted(eval_losses.items())},
            "final_metrics": {k: float(v) for k, v in final_metrics.items()},
            "final_export_kinds": [type(r).__name__ for r in export_results],
            "exports_kept": len([d for d in tf.io.gfile.listdir(
                os.path.join(best_dir, "export", "best_exporter")) if d.strip("/").isdigit()]),
        },
    }
    line = json.dumps(result, sort_keys=True)
    print(line)
    with open(output_json, "w") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
