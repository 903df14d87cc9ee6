"""Calling a model_fn with the arguments tf.estimator would have given it.

tf.estimator inspected the model_fn's signature: `features` is required, `labels`, `mode`,
`params` and `config` are passed only when named, `params` given to a model_fn that cannot take
them (or unknown argument names) is an error at construction, not at the first step.
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
from typing import Any, Callable

import keras
import tensorflow as tf

import keras_spec

_VALID_ARGS = frozenset({"features", "labels", "mode", "params", "config", "self"})
_log = logging.getLogger("keras_spec")

# Objects with state (variables) that a model_fn uses as they are: deep-copying them would make
# a new, unused object per call (and a built Keras 3 layer cannot be deep-copied inside a trace:
# its copy is made by saving its weights with numpy(), which fails with "numpy() is only
# available when eager execution is enabled").
_SHARED_PARAM_TYPES = (keras.Layer, keras.metrics.Metric, keras.optimizers.Optimizer,
                       keras.Variable, tf.Variable, tf.Module)


def _copy_params(value: Any) -> Any:
    """copy.deepcopy through dicts, lists and tuples, sharing _SHARED_PARAM_TYPES objects."""
    if isinstance(value, _SHARED_PARAM_TYPES):
        return value
    if type(value) is dict:
        return {k: _copy_params(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_copy_params(v) for v in value)
    return copy.deepcopy(value)


def model_fn_arg_names(fn: Callable) -> tuple[str, ...]:
    """Argument names a caller may pass by keyword (functools.partial-bound ones excluded)."""
    if isinstance(fn, functools.partial):
        bound = set(fn.keywords or {})
        names = model_fn_arg_names(fn.func)
        return tuple(n for n in names[len(fn.args):] if n not in bound)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        raise TypeError(f"model_fn must be a callable with an inspectable signature; got {fn!r}") from e
    return tuple(
        name for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


class BoundModelFn:
    """A model_fn checked once, then called per mode with tf.estimator's argument rules."""

    def __init__(self, model_fn: Callable, params: dict | None, config: Any):
        if not callable(model_fn):
            raise TypeError(f"model_fn must be callable; got {type(model_fn).__name__}: {model_fn!r}")
        names = set(model_fn_arg_names(model_fn))
        if "features" not in names:
            raise ValueError(f"model_fn ({model_fn!r}) must include a 'features' argument; "
                             f"its arguments are {sorted(names)}.")
        unknown = sorted(names - _VALID_ARGS)
        if unknown:
            raise ValueError(f"model_fn ({model_fn!r}) has arguments keras-spec cannot pass: {unknown}; "
                             f"expected a subset of {sorted(_VALID_ARGS - {'self'})}.")
        if params is not None and "params" not in names:
            raise ValueError(f"model_fn ({model_fn!r}) does not take a 'params' argument, but "
                             f"params ({params!r}) were given.")
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"params must be a dict; got {type(params).__name__}: {params!r}")
        if params is None and "params" in names:
            _log.warning("model_fn %r takes 'params' but none were given; it receives {} "
                         "(plus the injected batch_size).", model_fn)
        self.model_fn = model_fn
        self.arg_names = names
        self.params = dict(params) if params is not None else None
        self.config = config

    def params_for(self, batch_size: Any) -> dict:
        """A fresh copy per call (as TPUEstimator did), with batch_size injected when absent.

        Keras layers, models, metrics, optimizers and variables in params are passed as they
        are (not copied), so a model_fn can reuse layer objects created outside it.
        """
        params = _copy_params(self.params) if self.params is not None else {}
        if "batch_size" not in params and batch_size is not None:
            params["batch_size"] = batch_size
        return params

    def __call__(self, features: Any, labels: Any, mode: str, batch_size: Any = None) -> Any:
        kwargs: dict[str, Any] = {}
        if "labels" in self.arg_names:
            kwargs["labels"] = labels
        elif labels is not None:
            raise ValueError("model_fn does not take 'labels', but the input yields labels "
                             "(a (features, labels) pair); yield features only or add a labels "
                             "argument to model_fn.")
        if "mode" in self.arg_names:
            kwargs["mode"] = mode
        if "params" in self.arg_names:
            kwargs["params"] = self.params_for(batch_size)
        if "config" in self.arg_names:
            kwargs["config"] = self.config
        return self.model_fn(features=features, **kwargs)


def static_batch_size(features: Any) -> Any:
    """Per-replica batch size from the first feature's leading dimension.

    A Python int when the shape is static (drop_remainder=True datasets, as TPUEstimator
    required); otherwise a scalar int32 tensor.
    """
    flat = tf.nest.flatten(features)
    if not flat:
        return None
    first = flat[0]
    shape = getattr(first, "shape", None)
    # dimension_value: a TF1 Dimension when a script disabled v2 TensorShapes
    if shape is not None and shape.rank and tf.compat.dimension_value(shape[0]) is not None:
        return int(tf.compat.dimension_value(shape[0]))
    if isinstance(first, tf.SparseTensor):
        return tf.cast(first.dense_shape[0], tf.int32)
    return tf.shape(first)[0]


def to_estimator_spec(spec: Any, mode: str) -> keras_spec.EstimatorSpec:
    """Normalize what a model_fn returned to an EstimatorSpec for `mode` (single device)."""
    if isinstance(spec, keras_spec.EstimatorSpec):
        result = spec
    elif isinstance(spec, keras_spec.TPUEstimatorSpec):
        result = spec.as_estimator_spec()
    elif isinstance(spec, keras_spec.ModelFnOps):
        result = spec.estimator_spec()
    else:
        raise TypeError(
            "model_fn must return a keras_spec.EstimatorSpec, TPUEstimatorSpec or ModelFnOps; "
            f"got {type(spec).__module__}.{type(spec).__name__}: {spec!r:.200}")
    if result.mode != mode:
        raise ValueError(f"model_fn was called with mode={mode!r} but returned a spec with "
                         f"mode={result.mode!r}; return a spec for the mode it was called with.")
    return result


def split_features_labels(data: Any) -> tuple[Any, Any]:
    """A dataset element as an Estimator input_fn gave it: features, or (features, labels)."""
    if isinstance(data, tuple) and len(data) == 2:
        return data[0], data[1]
    if isinstance(data, tuple) and len(data) == 3:
        raise ValueError("The input yields (features, labels, sample_weight); a model_fn has no "
                         "sample weights: put weights into features and use them in the model_fn.")
    if isinstance(data, tuple) and len(data) == 1:
        return data[0], None
    return data, None
