"""TF 2.15 recording shim: contrib.learn's ModelFnOps as tf.estimator 2.15 would have run it.

TF 2.15 has no tf.contrib. contrib.learn's Estimator ran a ModelFnOps through
`ModelFnOps.estimator_spec()` (contrib 1.15): the same fields, output alternatives becoming
export outputs by problem type, the 'loss' metric dropped. This shim does exactly that with
tf.estimator 2.15's classes so that logistic_regressor.py records its golden unchanged. Only
record_goldens.py puts it on sys.path (TF 2.15 only); on TF 2.21 `keras_spec` is the real one.
"""

import tensorflow as tf


class ProblemType:
    UNSPECIFIED = 0
    CLASSIFICATION = 1
    LINEAR_REGRESSION = 2
    LOGISTIC_REGRESSION = 3


def _export_output(problem_type, tensors):
    scores = tensors.get("scores", tensors.get("probabilities"))
    if problem_type == ProblemType.LINEAR_REGRESSION:
        return tf.estimator.export.RegressionOutput(scores)
    if problem_type in (ProblemType.CLASSIFICATION, ProblemType.LOGISTIC_REGRESSION):
        classes = tensors.get("classes")
        if classes is not None and classes.dtype != tf.string:
            classes = None
        return tf.estimator.export.ClassificationOutput(scores=scores, classes=classes)
    return tf.estimator.export.PredictOutput(tensors)


def ModelFnOps(mode, predictions=None, loss=None, train_op=None, eval_metric_ops=None,
               output_alternatives=None, training_chief_hooks=None, training_hooks=None,
               scaffold=None):
    export_outputs = None
    if output_alternatives:
        export_outputs = {name: _export_output(*alt) for name, alt in output_alternatives.items()}
    metrics = {k: v for k, v in (eval_metric_ops or {}).items() if k != "loss"}
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions, loss=loss, train_op=train_op, eval_metric_ops=metrics,
        export_outputs=export_outputs, training_chief_hooks=training_chief_hooks,
        training_hooks=training_hooks, scaffold=scaffold)
