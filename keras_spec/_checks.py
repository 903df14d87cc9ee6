"""Judging the values a model_fn hands back: is this a runtime tensor, an op, ...?

tf.estimator accepted anything of TensorFlow's core tensor type: graph tensors,
eager tensors and variables. On TF 2.21 that set also holds Keras 3 variables
(``keras.Variable`` subclasses the same core type), while Keras's symbolic
``KerasTensor`` is not a runtime tensor at all. Every check here names the field
it judged and says what it expected and what it was given, because the value
usually comes from deep inside a user's model_fn.

Keras and tf_keras are looked up in ``sys.modules`` instead of being imported:
if a module was never imported, no object of its types can exist, so this costs
nothing and keeps tf_keras optional.
"""

from __future__ import annotations

import sys
from typing import Any

import tensorflow as tf

_CORE_TENSOR = tf.__internal__.types.Tensor  # tf.Tensor (eager/graph), tf.Variable, keras.Variable

TENSOR = 'a tensor (tf.Tensor, eager or graph, or a tf.Variable)'
TENSOR_OR_OP = 'a tensor, tf.Variable or tf.Operation'
_MAX_REPR = 160


def _loaded_attr(module: str, *path: str) -> Any:
    """Returns module.path... if ``module`` is already imported, else None."""
    obj = sys.modules.get(module)
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


def describe(value: Any) -> str:
    """``type repr`` of a value, the repr shortened, for error messages."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = '<unprintable>'
    text = ' '.join(text.split())
    if len(text) > _MAX_REPR:
        text = text[:_MAX_REPR - 3] + '...'
    return f'{type(value).__module__}.{type(value).__qualname__} {text}'


def is_keras_tensor(value: Any) -> bool:
    """True for Keras 3 (or tf_keras) symbolic tensors of functional-model construction."""
    for cls in (_loaded_attr('keras', 'KerasTensor'),
                _loaded_attr('tf_keras', 'KerasTensor')):
        if isinstance(cls, type) and isinstance(value, cls):
            return True
    return False


def keras_variable_class() -> type | None:
    """Keras 3's backend-independent Variable base, if Keras is loaded."""
    cls = _loaded_attr('keras', 'src', 'backend', 'common', 'variables', 'Variable')
    if not isinstance(cls, type):
        cls = _loaded_attr('keras', 'Variable')
    return cls if isinstance(cls, type) else None


def unwrap_keras_variable(value: Any) -> Any:
    """A ``keras.Variable`` becomes the ``tf.Variable`` it holds (``.value``).

    tf.estimator accepted a variable wherever it expected a tensor; the TF
    variable behind a Keras variable is what the TF1-style code around it reads.
    """
    cls = keras_variable_class()
    if cls is not None and isinstance(value, cls):
        return value.value
    return value


def _type_error(field: str, expected: str, value: Any) -> TypeError:
    if is_keras_tensor(value):
        return TypeError(
            f'{field} must be {expected}; got a symbolic keras.KerasTensor '
            f'({describe(value)}). A KerasTensor only describes a layer output while a '
            'functional Keras model is being built; it has no value at run time. A '
            'model_fn must return tensors computed from its `features` (call the Keras '
            'model or layer on the features instead).')
    return TypeError(f'{field} must be {expected}; got {describe(value)}.')


def is_tensor(value: Any) -> bool:
    """Dense runtime tensor or variable (what tf.estimator's ``_check_is_tensor`` took)."""
    return isinstance(value, _CORE_TENSOR) and not is_keras_tensor(value)


def check_graph(value: Any, field: str) -> None:
    """Rejects a graph tensor/op that belongs to a graph not being built now.

    tf.estimator demanded the default graph; a TF2 function may also read tensors
    of its outer graphs (they are captured), so those are accepted too. Typical
    failure: a tensor kept from an earlier call of the model_fn (another trace).
    """
    if tf.executing_eagerly() or isinstance(value, tf.Variable):
        return
    graph = getattr(value, 'graph', None) if isinstance(value, (tf.Tensor, tf.Operation)) else None
    if graph is None:
        return
    current = tf.compat.v1.get_default_graph()
    while current is not None:
        if current is graph:
            return
        current = getattr(current, 'outer_graph', None)
    raise ValueError(
        f'{field} ({describe(value)}) belongs to graph {graph!r}, not to the graph '
        f'being built ({tf.compat.v1.get_default_graph()!r}) or one of its outer graphs. '
        'Possible causes: it was created outside the model_fn, or kept from an earlier '
        'call of the model_fn; return tensors created in the current call.')


def check_tensor(value: Any, field: str, *, expected: str = TENSOR,
                 allow_sparse: bool = False) -> Any:
    """Returns ``value`` (a keras.Variable unwrapped) if it is a dense tensor-like.

    ``allow_sparse`` also admits ``tf.SparseTensor`` (contrib's ModelFnOps
    predictions). Raises TypeError naming ``field`` otherwise.
    """
    value = unwrap_keras_variable(value)
    if is_tensor(value) or (allow_sparse and isinstance(value, tf.SparseTensor)):
        check_graph(value, field)
        return value
    if isinstance(value, tf.SparseTensor):
        expected = f'{expected} (a tf.SparseTensor is accepted only in ModelFnOps predictions)'
    raise _type_error(field, expected, value)


def check_tensor_or_op(value: Any, field: str) -> Any:
    """Like :func:`check_tensor` but also accepts a ``tf.Operation`` (train_op, update ops)."""
    value = unwrap_keras_variable(value)
    if isinstance(value, tf.Operation) or is_tensor(value):
        check_graph(value, field)
        return value
    raise _type_error(field, TENSOR_OR_OP, value)


def static_rank(value: Any) -> int | None:
    """Static rank of a tensor-like, None when unknown."""
    shape = getattr(value, 'shape', None)
    try:
        return tf.TensorShape(shape).rank
    except (TypeError, ValueError):
        return None
