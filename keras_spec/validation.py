"""Field rules shared by EstimatorSpec, TPUEstimatorSpec and ModelFnOps.

tf.estimator applied the same rules to every spec type (mode, loss, train_op,
predictions, hooks, ...); they live here once. ``train_op_optional()`` is the
one deliberate relaxation: the Keras engine differentiates ``loss`` itself when
the model was compiled with an optimizer (docs/semantics.md, "train_op"), so a TRAIN spec built
while it is active may leave ``train_op`` out.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import tensorflow as tf

from keras_spec import _checks
from keras_spec import export_output as export_output_lib
from keras_spec.mode_keys import ModeKeys

DEFAULT_SERVING_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY  # 'serving_default'

# Process-wide, not thread-local: the engine may build specs in replica threads
# (MirroredStrategy) while the context was entered on the main thread.
_optional_lock = threading.Lock()
_optional_depth = 0


@contextlib.contextmanager
def train_op_optional() -> Iterator[None]:
    """While active (re-entrant, any thread), TRAIN specs may have ``train_op=None``."""
    global _optional_depth
    with _optional_lock:
        _optional_depth += 1
    try:
        yield
    finally:
        with _optional_lock:
            _optional_depth -= 1


def is_train_op_optional() -> bool:
    """True inside :func:`train_op_optional`."""
    with _optional_lock:
        return _optional_depth > 0


def validate_train_op(train_op: Any, mode: str, owner: str) -> Any:
    """``train_op``: a tensor, op or variable; required in TRAIN (see train_op_optional)."""
    if train_op is None:
        if mode == ModeKeys.TRAIN and not is_train_op_optional():
            raise ValueError(
                f'Missing train_op: {owner} in TRAIN mode needs `train_op`. Pass '
                'train_op (e.g. optimizer.minimize(loss, '
                'global_step=tf.compat.v1.train.get_global_step())), or run the '
                'model_fn through adapters.SpecModel compiled with an optimizer '
                '(model.compile(optimizer=...)), which then minimizes `loss` itself.')
        return None
    # A variable stays as it is: in TF2 there is no graph op to take from it.
    return _checks.check_tensor_or_op(train_op, 'train_op')


def validate_loss(loss: Any, mode: str, owner: str) -> Any:
    """``loss``: one-element tensor, required in TRAIN and EVAL; ``[1]`` becomes a scalar."""
    if loss is None:
        if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
            raise ValueError(
                f'Missing loss: {owner} in mode {mode!r} needs `loss`, a scalar tensor.')
        return None
    loss = _checks.check_tensor(loss, 'loss', expected='a scalar tensor (tf.Tensor or tf.Variable)')
    shape = tf.TensorShape(loss.shape)
    if shape.num_elements() not in (None, 1):
        raise ValueError(
            f'loss must be a scalar (one element, shape [] or [1]); got shape {shape}: '
            f'{_checks.describe(loss)}.')
    if not shape.is_compatible_with(tf.TensorShape([])):
        loss = tf.reshape(loss, [])
    return loss


def validate_predictions(predictions: Any, mode: str, owner: str, *,
                         required_modes: tuple = (ModeKeys.PREDICT,),
                         allow_sparse: bool = False, default: Any = None) -> Any:
    """``predictions``: a tensor or a dict of tensors; required in ``required_modes``."""
    if predictions is None:
        if mode in required_modes:
            raise ValueError(
                f'Missing predictions: {owner} in mode {mode!r} needs `predictions`, a '
                'tensor or a dict of tensors.')
        return default
    if isinstance(predictions, dict):
        return {k: _checks.check_tensor(v, f'predictions[{k!r}]', allow_sparse=allow_sparse)
                for k, v in predictions.items()}
    return _checks.check_tensor(
        predictions, 'predictions',
        expected='a tensor or a dict of tensors', allow_sparse=allow_sparse)


def validate_hooks(hooks: Any, field: str) -> tuple:
    """A hooks field: None -> (), else every item a SessionRunHook -> tuple."""
    if hooks is None:
        return ()
    if isinstance(hooks, tf.compat.v1.train.SessionRunHook):
        raise TypeError(
            f'{field} must be a list or tuple of SessionRunHook instances; got a single '
            f'hook ({_checks.describe(hooks)}): wrap it in a list.')
    try:
        hooks = tuple(hooks)
    except TypeError:
        raise TypeError(
            f'{field} must be a list or tuple of SessionRunHook instances; got '
            f'{_checks.describe(hooks)}.') from None
    for i, hook in enumerate(hooks):
        if not isinstance(hook, tf.compat.v1.train.SessionRunHook):
            raise TypeError(
                f'{field}[{i}] must be a tf.compat.v1.train.SessionRunHook instance '
                f'(a subclass of it is fine); got {_checks.describe(hook)}.')
    return hooks


def validate_scaffold(scaffold: Any, *, default_new: bool = True) -> Any:
    """``scaffold``: a tf.compat.v1.train.Scaffold; None becomes a fresh one if ``default_new``."""
    if scaffold is None:
        return tf.compat.v1.train.Scaffold() if default_new else None
    if not isinstance(scaffold, tf.compat.v1.train.Scaffold):
        raise TypeError(
            'scaffold must be a tf.compat.v1.train.Scaffold; got '
            f'{_checks.describe(scaffold)}.')
    return scaffold


def _metric_classes() -> tuple:
    classes = []
    for module in ('keras', 'tf_keras'):
        cls = _checks._loaded_attr(module, 'metrics', 'Metric')
        if isinstance(cls, type):
            classes.append(cls)
    return tuple(classes)


def validate_eval_metric_ops(eval_metric_ops: Any) -> dict:
    """``eval_metric_ops``: dict name -> Metric object or ``(value, update_op)`` tuple."""
    if eval_metric_ops is None:
        return {}
    if not isinstance(eval_metric_ops, dict):
        raise TypeError(
            'eval_metric_ops must be a dict of name -> keras.metrics.Metric or '
            f'(metric_value, update_op) tuple; got {_checks.describe(eval_metric_ops)}.')
    metric_classes = _metric_classes()
    result = {}
    for key, value in eval_metric_ops.items():
        field = f'eval_metric_ops[{key!r}]'
        if not isinstance(key, str):
            raise TypeError(
                f'eval_metric_ops keys must be strings (they become metric names); got '
                f'{_checks.describe(key)}.')
        if metric_classes and isinstance(value, metric_classes):
            result[key] = value
            continue
        if not (isinstance(value, tuple) and len(value) == 2):
            raise TypeError(
                f'{field} must be a keras.metrics.Metric or a (metric_value, update_op) '
                f'tuple; got {_checks.describe(value)}.')
        metric_value, update_op = value
        # The value may be a (nested) tuple of tensors, as tf.estimator allowed.
        flat = tf.nest.flatten(metric_value)
        if not flat:
            raise TypeError(f'{field}[0] (metric_value) must be a tensor; got '
                            f'{_checks.describe(metric_value)}.')
        checked = [_checks.check_tensor_or_op(v, f'{field}[0]') for v in flat]
        metric_value = tf.nest.pack_sequence_as(metric_value, checked)
        update_op = _checks.check_tensor_or_op(update_op, f'{field}[1] (update_op)')
        result[key] = (metric_value, update_op)
    return result


def validate_export_outputs(export_outputs: Any, predictions: Any, mode: str) -> Any:
    """``export_outputs`` (PREDICT only): dict of ExportOutput with a 'serving_default'."""
    if mode != ModeKeys.PREDICT:
        return export_outputs
    if export_outputs is None:
        try:
            default = export_output_lib.PredictOutput(predictions)
        except ValueError as e:
            raise ValueError(
                f'export_outputs[{DEFAULT_SERVING_KEY!r}]: no export_outputs were given, so '
                f'a PredictOutput is built from predictions, which failed: {e}') from None
        return {DEFAULT_SERVING_KEY: default}
    if not isinstance(export_outputs, dict):
        raise TypeError(
            'export_outputs must be a dict of signature name -> ExportOutput '
            '(ClassificationOutput, RegressionOutput or PredictOutput); got '
            f'{_checks.describe(export_outputs)}.')
    for key, value in export_outputs.items():
        if not isinstance(key, str):
            raise TypeError(
                f'export_outputs keys must be strings (signature names); got '
                f'{_checks.describe(key)}.')
        if not isinstance(value, export_output_lib.ExportOutput):
            raise TypeError(
                f'export_outputs[{key!r}] must be an ExportOutput (ClassificationOutput, '
                f'RegressionOutput or PredictOutput); got {_checks.describe(value)}.')
    export_outputs = dict(export_outputs)  # never edit the caller's dict
    if len(export_outputs) == 1:
        ((key, value),) = export_outputs.items()
        export_outputs.setdefault(DEFAULT_SERVING_KEY, value)
    elif DEFAULT_SERVING_KEY not in export_outputs:
        raise ValueError(
            f'Multiple export_outputs were provided ({sorted(export_outputs)}), but none '
            f'of them is named {DEFAULT_SERVING_KEY!r}: name the default one '
            f'{DEFAULT_SERVING_KEY!r} (tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY).')
    return export_outputs


class ReplaceKeepsMode:
    """``_replace`` for spec namedtuples: re-validates, and refuses to change ``mode``."""

    __slots__ = ()

    def _replace(self, **kwds: Any) -> Any:
        name = type(self).__name__
        if 'mode' in kwds and kwds['mode'] != self.mode:
            raise ValueError(
                f'mode of {name} cannot be changed (from {self.mode!r} to '
                f'{kwds["mode"]!r}); build a new {name} instead.')
        unknown = set(kwds) - set(self._fields)
        if unknown:
            raise ValueError(f'{name}._replace() got unexpected field names: {sorted(unknown)}')
        fields = self._asdict()
        fields.update(kwds)
        return type(self)(**fields)
