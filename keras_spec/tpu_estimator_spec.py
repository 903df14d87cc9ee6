"""``TPUEstimatorSpec``: a model_fn's result for TPUEstimator, and its CPU equivalent.

On a TPU, metrics and ``host_call`` cannot run inside the replicated step; the
model_fn instead returns ``(fn, tensors)`` pairs. TPUEstimator concatenated
``tensors`` of all replicas along the batch dimension and called ``fn`` once on
the host. :func:`call_host_fn` is that call, for an engine that gathers the
tensors itself; :meth:`TPUEstimatorSpec.as_estimator_spec` is the single-device
translation TPUEstimator used without a TPU.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
from typing import Any, Callable

from keras_spec import _checks
from keras_spec import validation
from keras_spec.estimator_spec import EstimatorSpec
from keras_spec.hooks import HostCallHook, Scaffold
from keras_spec.mode_keys import ModeKeys, validate_mode

_FIELDS = ('mode', 'predictions', 'loss', 'train_op', 'eval_metrics', 'export_outputs',
           'scaffold_fn', 'host_call', 'training_hooks', 'evaluation_hooks',
           'prediction_hooks')

_FN_LABELS = {'eval_metrics': 'metric_fn', 'host_call': 'host_call function'}
_P = inspect.Parameter


def _fn_signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and C callables: nothing to check
        return None


def _check_positional_call(fn: Callable, count: int, name: str) -> None:
    sig = _fn_signature(fn)
    if sig is None:
        return
    params = list(sig.parameters.values())
    if any(p.kind == _P.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is _P.empty]
    kw_required = [p.name for p in params
                   if p.kind == _P.KEYWORD_ONLY and p.default is _P.empty]
    label = _FN_LABELS.get(name, 'function')
    if not len(required) <= count <= len(positional) or kw_required:
        takes = (f'{len(positional)}' if len(required) == len(positional)
                 else f'{len(required)} to {len(positional)}')
        extra = f' and requires keyword-only {kw_required}' if kw_required else ''
        raise ValueError(
            f'In TPUEstimatorSpec.{name}, the {count} tensors of {name}[1] (a list, passed '
            f'positionally) do not match the arguments of the {label} '
            f'{getattr(fn, "__name__", fn)}{sig}, which takes {takes} positional '
            f'arguments{extra}. Pass a dict of tensors to call it with keyword arguments.')


def _check_keyword_call(fn: Callable, keys: list, name: str) -> None:
    sig = _fn_signature(fn)
    if sig is None:
        return
    params = list(sig.parameters.values())
    has_var_kw = any(p.kind == _P.VAR_KEYWORD for p in params)
    by_name = {p.name for p in params if p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)}
    required = [p.name for p in params if p.default is _P.empty and p.kind in (
        _P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)]
    unknown = [] if has_var_kw else [k for k in keys if k not in by_name]
    missing = [k for k in required if k not in keys]
    if unknown or missing:
        label = _FN_LABELS.get(name, 'function')
        raise ValueError(
            f'In TPUEstimatorSpec.{name}, the keys of {name}[1] (a dict, passed as keyword '
            f'arguments) do not match the arguments of the {label} '
            f'{getattr(fn, "__name__", fn)}{sig}: unknown {unknown}, missing {missing}.')


def _check_batch_tensor(value: Any, field: str) -> Any:
    value = _checks.check_tensor(value, field)
    if _checks.static_rank(value) == 0:
        raise ValueError(
            f'{field} must have rank >= 1: eval_metrics/host_call tensors are batch-major '
            '(concatenated across replicas along dimension 0); got a scalar: '
            f'{_checks.describe(value)}. Reshape it to [1] (tf.reshape(t, [1])) or tile it '
            'to the batch size.')
    return value


def validate_host_call(host_call: Any, name: str) -> tuple | None:
    """Checks an ``(fn, tensors)`` pair (``name``: 'eval_metrics' or 'host_call').

    Returns ``(fn, tensors)`` with the tensors checked (keras.Variables unwrapped),
    keeping list/tuple/dict as given.
    """
    if host_call is None:
        return None
    if not isinstance(host_call, (tuple, list)) or len(host_call) != 2:
        raise ValueError(
            f'{name} must be a tuple or list of two elements, ({_FN_LABELS[name]}, tensors); '
            f'got {_checks.describe(host_call)}.')
    fn, tensors = host_call
    if not callable(fn):
        raise TypeError(f'{name}[0] ({_FN_LABELS[name]}) must be callable; got '
                        f'{_checks.describe(fn)}.')
    if isinstance(tensors, dict):
        for key in tensors:
            if not isinstance(key, str):
                raise ValueError(f'{name}[1] keys must be strings (argument names of the '
                                 f'{_FN_LABELS[name]}); got {_checks.describe(key)}.')
        checked = {k: _check_batch_tensor(v, f'{name}[1][{k!r}]') for k, v in tensors.items()}
        _check_keyword_call(fn, list(checked), name)
    elif isinstance(tensors, (list, tuple)):
        checked = [_check_batch_tensor(v, f'{name}[1][{i}]') for i, v in enumerate(tensors)]
        if isinstance(tensors, tuple):
            checked = tuple(checked)
        _check_positional_call(fn, len(checked), name)
    else:
        raise ValueError(
            f'{name}[1] must be a list or tuple (positional arguments of the '
            f'{_FN_LABELS[name]}) or a dict (keyword arguments); got '
            f'{_checks.describe(tensors)}.')
    return (fn, checked)


def call_host_fn(fn_and_tensors: Any, tensors: Any = None) -> Any:
    """Calls ``fn`` of an ``(fn, tensors)`` pair: positional args for a list, keywords for a dict.

    ``tensors`` replaces the pair's own tensors, e.g. with their cross-replica
    concatenation; it must have the same form (same length, or same keys).
    """
    fn, own = fn_and_tensors
    if tensors is None:
        tensors = own
    elif isinstance(own, dict) != isinstance(tensors, dict) or (
            set(own) != set(tensors) if isinstance(own, dict) else len(own) != len(tensors)):
        raise ValueError(
            'call_host_fn: the replacement tensors must have the form of the pair\'s own '
            f'tensors ({_checks.describe(own)}); got {_checks.describe(tensors)}.')
    if isinstance(tensors, dict):
        return fn(**tensors)
    return fn(*tensors)


class TPUEstimatorSpec(validation.ReplaceKeepsMode,
                       collections.namedtuple('TPUEstimatorSpec', _FIELDS)):
    """Ops and objects returned from a ``model_fn`` for TPUEstimator.

    ``eval_metrics``: ``(metric_fn, tensors)``; ``metric_fn`` returns a dict like
    ``EstimatorSpec.eval_metric_ops``. ``host_call``: ``(fn, tensors)`` whose
    results run every step. ``tensors`` is a list/tuple (positional arguments)
    or a dict (keyword arguments) of batch-major tensors. ``scaffold_fn`` builds
    the Scaffold (called once). Mode, loss, train_op, predictions,
    export_outputs and hook rules are EstimatorSpec's.
    """

    __slots__ = ()

    def __new__(cls,
                mode: str,
                predictions: Any = None,
                loss: Any = None,
                train_op: Any = None,
                eval_metrics: Any = None,
                export_outputs: Any = None,
                scaffold_fn: Any = None,
                host_call: Any = None,
                training_hooks: Any = None,
                evaluation_hooks: Any = None,
                prediction_hooks: Any = None) -> 'TPUEstimatorSpec':
        owner = cls.__name__
        mode = validate_mode(mode, owner)
        eval_metrics = validate_host_call(eval_metrics, 'eval_metrics')
        host_call = validate_host_call(host_call, 'host_call')
        if scaffold_fn is not None and not callable(scaffold_fn):
            raise TypeError('scaffold_fn must be a callable returning a '
                            f'tf.compat.v1.train.Scaffold; got {_checks.describe(scaffold_fn)}.')
        train_op = validation.validate_train_op(train_op, mode, owner)
        loss = validation.validate_loss(loss, mode, owner)
        predictions = validation.validate_predictions(predictions, mode, owner, default={})
        return super().__new__(
            cls,
            mode=mode,
            predictions=predictions,
            loss=loss,
            train_op=train_op,
            eval_metrics=eval_metrics,
            export_outputs=validation.validate_export_outputs(export_outputs, predictions, mode),
            scaffold_fn=scaffold_fn,
            host_call=host_call,
            training_hooks=validation.validate_hooks(training_hooks, 'training_hooks'),
            evaluation_hooks=validation.validate_hooks(evaluation_hooks, 'evaluation_hooks'),
            prediction_hooks=validation.validate_hooks(prediction_hooks, 'prediction_hooks'))

    def as_estimator_spec(self) -> EstimatorSpec:
        """The equivalent single-device EstimatorSpec (TPUEstimator's CPU path).

        Calls ``metric_fn`` (its dict becomes ``eval_metric_ops``), ``host_call``'s
        function (its results ride on a :class:`~keras_spec.hooks.HostCallHook`
        appended to training, evaluation and prediction hooks) and ``scaffold_fn``
        (once; its result is the scaffold).
        """
        eval_metric_ops = None
        if self.eval_metrics is not None:
            eval_metric_ops = call_host_fn(self.eval_metrics)
            if not isinstance(eval_metric_ops, dict):
                raise TypeError(
                    'eval_metrics: metric_fn must return a dict of name -> '
                    '(metric_value, update_op) or keras.metrics.Metric; got '
                    f'{_checks.describe(eval_metric_ops)}.')
        hooks: tuple = ()
        if self.host_call is not None:
            hooks = (HostCallHook(call_host_fn(self.host_call)),)
        scaffold = self.scaffold_fn() if self.scaffold_fn is not None else None
        if scaffold is not None and not isinstance(scaffold, Scaffold):
            raise TypeError('scaffold_fn must return a tf.compat.v1.train.Scaffold (or None); '
                            f'got {_checks.describe(scaffold)}.')
        # This spec was accepted without train_op, so its translation is too.
        allow = self.mode == ModeKeys.TRAIN and self.train_op is None
        with validation.train_op_optional() if allow else contextlib.nullcontext():
            return EstimatorSpec(
                mode=self.mode,
                predictions=self.predictions,
                loss=self.loss,
                train_op=self.train_op,
                eval_metric_ops=eval_metric_ops,
                export_outputs=self.export_outputs,
                scaffold=scaffold,
                training_hooks=self.training_hooks + hooks,
                evaluation_hooks=self.evaluation_hooks + hooks,
                prediction_hooks=self.prediction_hooks + hooks)
