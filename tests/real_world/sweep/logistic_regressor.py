"""In the style of a contrib.learn LogisticRegressor model_fn, ported to TF 2.x.

contrib.learn's LogisticRegressor wrapped a user model_fn that returned `ModelFnOps` with
probabilities as predictions, and added the logistic metrics (accuracy, AUC, precision and recall
at 0.5, label and prediction means). Ported to TF 2.15 + tf.estimator, the model_fn keeps
returning ModelFnOps (`keras_spec.ModelFnOps`, the contrib class) with those metrics and a
LOGISTIC_REGRESSION output alternative, and runs through `tf.estimator.Estimator` with contrib's
`numpy_input_fn` (now `tf.compat.v1.estimator.inputs.numpy_input_fn`) and an Ftrl optimizer;
`tf.estimator.add_metrics` adds an RMSE to the evaluation, as contrib's metric specs did.

Usage: python logistic_regressor.py OUTPUT_JSON WORK_DIR
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf
from keras_spec import ModelFnOps, ProblemType

FEATURES = ["x0", "x1", "x2"]


def make_data(n, seed):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    logit = 1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.5 * x[:, 2] + 0.3
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    return {k: x[:, i] for i, k in enumerate(FEATURES)}, y.reshape(-1, 1)


def logistic_model_fn(features, labels, mode, params):
    columns = [tf.feature_column.numeric_column(k) for k in FEATURES]
    net = tf.compat.v1.feature_column.input_layer(features, columns)
    logits = tf.compat.v1.layers.dense(
        net, 1, kernel_initializer=tf.compat.v1.zeros_initializer(), name="logits")
    probabilities = tf.sigmoid(logits)
    predictions = {"probabilities": probabilities}
    alternatives = {"logistic": (ProblemType.LOGISTIC_REGRESSION,
                                 {"probabilities": probabilities})}
    if mode == tf.estimator.ModeKeys.PREDICT:
        return ModelFnOps(mode=mode, predictions=predictions,
                          output_alternatives=alternatives)
    loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
    train_op = tf.compat.v1.train.FtrlOptimizer(params["learning_rate"]).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    predicted = tf.cast(probabilities > 0.5, tf.float32)
    metrics = {
        "accuracy": tf.compat.v1.metrics.accuracy(labels, predicted),
        "auc": tf.compat.v1.metrics.auc(labels, probabilities),
        "precision/positive_threshold_0.500000_mean":
            tf.compat.v1.metrics.precision(labels, predicted),
        "recall/positive_threshold_0.500000_mean":
            tf.compat.v1.metrics.recall(labels, predicted),
        "labels/actual_label_mean": tf.compat.v1.metrics.mean(labels),
        "labels/prediction_mean": tf.compat.v1.metrics.mean(probabilities),
        "loss": tf.compat.v1.metrics.mean(loss),
    }
    return ModelFnOps(mode=mode, predictions=predictions, loss=loss, train_op=train_op,
                      eval_metric_ops=metrics, output_alternatives=alternatives)


class LossRecorder(tf.estimator.SessionRunHook):
    """The loss at every step. (The event files' loss steps race under numpy_input_fn in
    tf.estimator: its SummarySaverHook reads the global step next to the train op.)"""

    def __init__(self):
        self.losses = []

    def begin(self):
        self._loss = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.LOSSES)[0]

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs(self._loss)

    def after_run(self, run_context, run_values):
        self.losses.append(float(run_values.results))


def main(output_json, work_dir):
    train_x, train_y = make_data(256, seed=0)
    test_x, test_y = make_data(100, seed=1)
    numpy_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn
    regressor = tf.estimator.Estimator(
        model_fn=logistic_model_fn, model_dir=os.path.join(work_dir, "logistic"),
        params={"learning_rate": 0.3}, config=tf.estimator.RunConfig(save_summary_steps=5))
    recorder = LossRecorder()
    regressor.train(numpy_input_fn(train_x, train_y, batch_size=32, num_epochs=None,
                                   shuffle=False), steps=30, hooks=[recorder])
    metrics = regressor.evaluate(numpy_input_fn(test_x, test_y, batch_size=25, num_epochs=1,
                                                shuffle=False))

    def extra_metrics(labels, predictions):
        return {"rmse": tf.compat.v1.metrics.root_mean_squared_error(
            labels, predictions["probabilities"])}

    with_rmse = tf.estimator.add_metrics(regressor, extra_metrics)
    metrics_with_rmse = with_rmse.evaluate(numpy_input_fn(
        test_x, test_y, batch_size=25, num_epochs=1, shuffle=False), name="with_rmse")
    first = {k: v[:4] for k, v in test_x.items()}
    predictions = [p["probabilities"].tolist() for p in regressor.predict(
        numpy_input_fn(first, batch_size=4, num_epochs=1, shuffle=False))]

    receiver = tf.estimator.export.build_parsing_serving_input_receiver_fn(
        {k: tf.io.FixedLenFeature([1], tf.float32) for k in FEATURES})
    export_dir = regressor.export_saved_model(os.path.join(work_dir, "export"), receiver)
    loaded = tf.saved_model.load(export_dir.decode())
    examples = [tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(float_list=tf.train.FloatList(value=[first[k][i]]))
        for k in FEATURES})).SerializeToString() for i in range(4)]
    served = loaded.signatures["serving_default"](inputs=tf.constant(examples))

    result = {
        "train_losses": recorder.losses[::5] + recorder.losses[-1:],
        "steps": len(recorder.losses),
        "evaluate": {k: float(v) for k, v in metrics.items()},
        "evaluate_with_added_metrics": {k: float(v) for k, v in metrics_with_rmse.items()},
        "predictions": predictions,
        "signature_keys": sorted(loaded.signatures.keys()),
        "served_outputs": sorted(served),
        "served_scores": served["scores"].numpy().tolist(),
        "variable_names": regressor.get_variable_names(),
    }
    line = json.dumps(result, sort_keys=True)
    print(line)
    with open(output_json, "w") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
