"""`tf.estimator.add_metrics`: the same Estimator, with a metric_fn's metrics added to evaluation.

tf.estimator 2.15 returned a new Estimator (same model_dir, config and warm start) whose
model_fn calls the original one and, in EVAL, merges `metric_fn`'s metrics into
`eval_metric_ops` (a name clash: the new metric wins). `metric_fn` takes any of `features`,
`labels`, `predictions` (the spec's predictions) and `config`, by name.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from keras_spec import ModeKeys, ModelFnOps

from adapters.estimator.estimator import Estimator

_METRIC_FN_ARGS = ("features", "labels", "predictions", "config")


def _metric_fn_args(metric_fn: Callable) -> list:
    if not callable(metric_fn):
        raise TypeError(f"metric_fn must be callable; got {metric_fn!r}.")
    args = list(inspect.signature(metric_fn).parameters)
    invalid = [a for a in args if a not in _METRIC_FN_ARGS]
    if invalid:
        raise ValueError(f"metric_fn ({metric_fn}) has following not expected args: {invalid}. "
                         f"It may only take {', '.join(_METRIC_FN_ARGS)}.")
    return args


def add_metrics(estimator: Estimator, metric_fn: Callable) -> Estimator:
    """A new Estimator evaluating `estimator`'s metrics plus those `metric_fn` returns."""
    args = _metric_fn_args(metric_fn)
    original = estimator.model_fn  # bound to the estimator's params

    def new_model_fn(features: Any, labels: Any, mode: str, config: Any) -> Any:
        spec = original(features, labels, mode, config)
        if mode != ModeKeys.EVAL:
            return spec
        if isinstance(spec, ModelFnOps):
            spec = spec.estimator_spec()
        available = {"features": features, "labels": labels,
                     "predictions": spec.predictions, "config": config}
        new_metrics = metric_fn(**{name: available[name] for name in args})
        if not isinstance(new_metrics, dict):
            raise TypeError("metric_fn must return a dict {name: (value, update_op) or a Keras "
                            f"metric}}; got {type(new_metrics).__name__}.")
        metrics = dict(spec.eval_metric_ops or {})
        metrics.update(new_metrics)
        return spec._replace(eval_metric_ops=metrics)

    return Estimator(model_fn=new_model_fn, model_dir=estimator.model_dir,
                     config=estimator.config,
                     warm_start_from=estimator._warm_start_settings)  # pylint: disable=protected-access
