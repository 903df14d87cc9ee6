"""Checks and building blocks shared by the heads (tf.estimator 2.15's base_head semantics)."""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Sequence

import tensorflow as tf

REDUCTIONS = ('sum_over_batch_size', 'sum', 'auto')
_V1_REDUCTIONS = {'weighted_sum': 'sum', 'weighted_sum_over_batch_size': 'sum_over_batch_size'}
LABEL_NONE_MESSAGE = ('You must provide a labels Tensor. Given: None. Suggested troubleshooting '
                      'steps: Check that your data contains your label feature. Check that your '
                      'input_fn properly parses and returns labels.')


def validate_loss_reduction(loss_reduction: Any) -> str:
    """tf.losses.Reduction values except NONE ('sum_over_batch_size', 'sum', 'auto')."""
    value = getattr(loss_reduction, 'value', loss_reduction)
    # tf.compat.v1.losses.Reduction's names for the same two reductions (tf.estimator 2.15
    # refused them; they mean the same thing here).
    value = _V1_REDUCTIONS.get(value, value) if isinstance(value, str) else value
    if not isinstance(value, str) or value.lower() not in REDUCTIONS:
        raise ValueError(f'Invalid loss_reduction: {loss_reduction!r}. Expected one of '
                         f'{list(REDUCTIONS)} (tf.losses.Reduction.SUM_OVER_BATCH_SIZE, SUM or '
                         'AUTO; NONE is not allowed: a head needs a scalar loss).')
    return value.lower()


def fn_args(fn: Callable) -> tuple:
    try:
        return tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return ()


def validate_loss_fn_args(loss_fn: Callable) -> None:
    """loss_fn takes labels and logits, optionally features and loss_reduction."""
    args = fn_args(loss_fn)
    for required in ('labels', 'logits'):
        if required not in args:
            raise ValueError(f'loss_fn must contain argument: {required}. Given arguments: '
                             f'{args}')
    invalid = sorted(set(args) - {'labels', 'logits', 'features', 'loss_reduction'})
    if invalid:
        raise ValueError(f'loss_fn has unexpected args: {invalid} (allowed: labels, logits, '
                         'features, loss_reduction)')


def validate_label_vocabulary(label_vocabulary: Any, n_classes: int | None = None) -> Any:
    if label_vocabulary is None:
        return None
    if not isinstance(label_vocabulary, (list, tuple)):
        raise ValueError('label_vocabulary should be a list or a tuple. Given type: '
                         f'{type(label_vocabulary)}')
    if not all(isinstance(v, (str, bytes)) for v in label_vocabulary):
        raise ValueError(f'label_vocabulary must hold strings; got {list(label_vocabulary)!r}')
    if len(set(label_vocabulary)) != len(label_vocabulary):
        raise ValueError(f'label_vocabulary has duplicates: {list(label_vocabulary)!r}')
    if n_classes is not None and len(label_vocabulary) != n_classes:
        raise ValueError(f'"label_vocabulary" does not have "n_classes" items. '
                         f'len(label_vocabulary)={len(label_vocabulary)}, n_classes={n_classes}, '
                         f'label_vocabulary={list(label_vocabulary)}')
    return tuple(v.decode() if isinstance(v, bytes) else v for v in label_vocabulary)


def validate_thresholds(thresholds: Any) -> tuple:
    thresholds = tuple(thresholds) if thresholds else ()
    for threshold in thresholds:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f'thresholds not in (0, 1): {thresholds}.')
    return thresholds


def as_float_logits(logits: Any, expected_dimension: int) -> tf.Tensor:
    """logits of shape [D0, ..., DN, expected_dimension], as float32."""
    logits = tf.cast(tf.convert_to_tensor(logits), tf.float32)
    shape = logits.shape
    if shape.rank is not None and shape.rank < 2:
        raise ValueError(f'logits must have rank at least 2. Received rank {shape.rank}, shape '
                         f'{shape}: logits shape must be [D0, D1, ... DN, logits_dimension] '
                         f'with logits_dimension={expected_dimension}.')
    if shape.rank is not None and shape[-1] is not None and shape[-1] != expected_dimension:
        raise ValueError(f'logits shape must be [D0, D1, ... DN, logits_dimension], got {shape}; '
                         f'this head expects logits_dimension={expected_dimension}.')
    if shape.rank is None or shape[-1] is None:
        logits = _checked(logits, tf.equal(tf.shape(logits)[-1], expected_dimension),
                          f'logits shape must be [D0, D1, ... DN, {expected_dimension}]')
    return logits


def dense_labels(labels: Any, logits: tf.Tensor, expected_dimension: int) -> tf.Tensor:
    """labels of shape [D0, ..., DN, expected_dimension] matching the logits ([D0..DN] gets a
    trailing 1)."""
    if labels is None:
        raise ValueError(LABEL_NONE_MESSAGE)
    if isinstance(labels, tf.SparseTensor):
        raise ValueError('SparseTensor labels are not supported. Labels must be a Tensor of shape '
                         f'[D0, D1, ..., DN, {expected_dimension}], e.g. [batch_size, '
                         f'{expected_dimension}]. In your input_fn, use tf.sparse.to_dense().')
    labels = tf.convert_to_tensor(labels)
    if (labels.shape.rank is not None and logits.shape.rank is not None
            and labels.shape.rank == logits.shape.rank - 1):
        labels = tf.expand_dims(labels, -1)
    if labels.shape.rank is not None:
        if labels.shape.rank < 2:
            raise ValueError(f'labels must have rank at least 2. Received rank '
                             f'{labels.shape.rank}, shape {labels.shape}.')
        last = labels.shape[-1]
        if last is not None and last != expected_dimension:
            raise ValueError(f'Mismatched label shape. Expected labels dimension='
                             f'{expected_dimension}. Received {last}. Suggested Fix: If your '
                             'classifier expects one-hot encoding label, check your n_classes '
                             'argument to the estimator and/or the shape of your label. '
                             'Otherwise, check the shape of your label.')
    if labels.shape.is_fully_defined() and logits.shape.is_fully_defined():
        if labels.shape[:-1] != logits.shape[:-1]:
            raise ValueError(f'labels shape must be [D0, D1, ... DN, {expected_dimension}] '
                             f'matching the logits: expected_labels_shape: '
                             f'{logits.shape[:-1] + [expected_dimension]}. labels_shape: '
                             f'{labels.shape}.')
        return labels
    expected = tf.concat([tf.shape(logits)[:-1], [expected_dimension]], axis=0)
    same = tf.reduce_all(tf.equal(expected, tf.shape(labels)))
    return _checked(labels, same, f'labels shape must be [D0, D1, ... DN, {expected_dimension}] '
                    'matching the logits [D0, D1, ... DN, logits_dimension]; expected, got:',
                    expected, tf.shape(labels))


def _checked(value: tf.Tensor, condition: tf.Tensor, message: str, *data: Any) -> tf.Tensor:
    """`value`, after a runtime check raising InvalidArgumentError(message) when it fails.

    tf.debugging.Assert with a plain message: the assert_* helpers build a formatted summary
    of their inputs, dozens of ops per check, which makes every trace of a model_fn slow.
    """
    check = tf.debugging.Assert(condition, [message, *data])
    with tf.control_dependencies([check]):
        return tf.identity(value)


def check_label_range(labels: tf.Tensor, n_classes: int, message: str | None = None) -> tf.Tensor:
    """labels in [0, n_classes): a runtime check, as tf.estimator's graph-mode heads did."""
    upper = tf.cast(n_classes - 1, labels.dtype)
    ok = tf.reduce_all(tf.logical_and(labels >= tf.cast(0, labels.dtype), labels <= upper))
    return _checked(labels, ok, message or
                    f'Labels must be <= n_classes - 1 and >= 0 (n_classes={n_classes})')


def vocabulary_ids(labels: tf.Tensor, label_vocabulary: Sequence[str]) -> tf.Tensor:
    """String labels -> int64 ids in label_vocabulary; -1 for a label not in it."""
    if labels.dtype != tf.string:
        raise ValueError('Labels dtype should be string if there is a vocabulary. Instead got '
                         f'{labels.dtype} (label_vocabulary={list(label_vocabulary)}).')
    matches = tf.equal(labels[..., tf.newaxis], tf.constant(list(label_vocabulary)))
    ids = tf.argmax(tf.cast(matches, tf.int32), axis=-1)
    return tf.where(tf.reduce_any(matches, axis=-1), ids, tf.constant(-1, tf.int64))


def vocabulary_strings(ids: tf.Tensor, label_vocabulary: Sequence[str]) -> tf.Tensor:
    return tf.gather(tf.constant(list(label_vocabulary)), ids)


def weights_from_features(features: Any, weight_column: Any, logits: tf.Tensor,
                          allow_per_logit_weights: bool = False) -> Any:
    """The weight column as float32 [D0..DN, 1] (or per logit), 1. without a weight column."""
    if weight_column is None:
        return 1.0
    key = weight_column if isinstance(weight_column, str) else getattr(weight_column, 'key', None)
    if not isinstance(key, str):
        raise TypeError('Weight column must be either a string or NumericColumn. Given type: '
                        f'{type(weight_column)}.')
    if not isinstance(features, dict) or key not in features:
        available = sorted(features) if isinstance(features, dict) else type(features).__name__
        raise ValueError(f"weight_column '{key}' is not in features (features: {available}). "
                         'Weights come from the features dict the input_fn returns.')
    weights = features[key]
    if isinstance(weights, tf.SparseTensor):
        raise ValueError(f"weight_column '{key}' must be a dense Tensor; got a SparseTensor.")
    weights = tf.convert_to_tensor(weights)
    normalizer = getattr(weight_column, 'normalizer_fn', None)
    if normalizer is not None:
        weights = normalizer(weights)
    if not (weights.dtype.is_floating or weights.dtype.is_integer):
        raise ValueError(f"Weight column '{key}' should be castable to float. Given dtype: "
                         f'{weights.dtype}')
    weights = tf.cast(weights, tf.float32)
    if (weights.shape.rank is not None and logits.shape.rank is not None
            and weights.shape.rank == logits.shape.rank - 1):
        weights = _checked(weights, tf.reduce_all(tf.equal(tf.shape(logits)[:-1],
                                                           tf.shape(weights))),
                           f"weight_column '{key}': weights shape must be [D0, D1, ... DN] or "
                           '[D0, D1, ... DN, 1] matching the logits')
        return tf.expand_dims(weights, -1)
    allowed = '[D0, D1, ... DN] or [D0, D1, ... DN, 1]'
    one = tf.concat([tf.shape(logits)[:-1], [1]], axis=0)
    same_rank = weights.shape.rank == logits.shape.rank
    ok = tf.reduce_all(tf.equal(one, tf.shape(weights))) if same_rank else tf.constant(False)
    if allow_per_logit_weights:
        allowed += ' or [D0, D1, ... DN, logits_dimension]'
        if weights.shape.rank == logits.shape.rank:
            ok = tf.logical_or(ok, tf.reduce_all(tf.equal(tf.shape(logits), tf.shape(weights))))
    if weights.shape.rank is not None and logits.shape.rank is not None and \
            weights.shape.rank != logits.shape.rank:
        raise ValueError(f"weight_column '{key}': weights shape must be {allowed}; logits "
                         f'shape: {logits.shape}, weights shape: {weights.shape}.')
    return _checked(weights, ok, f"weight_column '{key}': weights shape must be {allowed}",
                    'logits_shape:', tf.shape(logits), 'weights_shape:', tf.shape(weights))


def call_loss_fn(loss_fn: Callable, labels: tf.Tensor, logits: tf.Tensor, features: Any,
                 expected_loss_dim: int) -> tf.Tensor:
    """loss_fn's unreduced loss, checked to be [D0, ..., DN, expected_loss_dim]."""
    kwargs = {'features': features} if 'features' in fn_args(loss_fn) else {}
    loss = tf.convert_to_tensor(loss_fn(labels=labels, logits=logits, **kwargs))
    if loss.shape.rank is not None and logits.shape.rank is not None:
        want = logits.shape[:-1].concatenate([expected_loss_dim])
        if not loss.shape.is_compatible_with(want):
            raise ValueError(f'loss_fn must return Tensor of shape [D0, D1, ... DN, '
                             f'{expected_loss_dim}]. logits_shape: {logits.shape}, '
                             f'loss_shape: {loss.shape}.')
    if loss.shape.is_fully_defined() and logits.shape.is_fully_defined():
        return loss
    expected = tf.concat([tf.shape(logits)[:-1], [expected_loss_dim]], axis=0)
    return _checked(loss, tf.reduce_all(tf.equal(tf.shape(loss), expected)),
                    f'loss_fn must return Tensor of shape [D0, D1, ... DN, {expected_loss_dim}]. '
                    'logits_shape, loss_shape:', tf.shape(logits), tf.shape(loss))


def weighted_loss(unweighted: tf.Tensor, weights: Any, reduction: str) -> tf.Tensor:
    """tf.keras's compute_weighted_loss: sum(w * l), divided by the number of loss elements
    (not by the sum of weights) unless reduction is 'sum'."""
    weighted = tf.cast(unweighted, tf.float32) * tf.cast(weights, tf.float32)
    total = tf.reduce_sum(weighted)
    if reduction == 'sum':
        return total
    return tf.math.divide_no_nan(total, tf.cast(tf.size(weighted), tf.float32))


def add_regularization(loss: tf.Tensor, regularization_losses: Any) -> tf.Tensor:
    if regularization_losses is None:
        return loss
    return loss + tf.math.add_n(list(regularization_losses))


def all_class_ids(logits: tf.Tensor, n_classes: int) -> tf.Tensor:
    return tf.tile(tf.range(n_classes)[tf.newaxis], [tf.shape(logits)[0], 1])


def all_classes(logits: tf.Tensor, n_classes: int, label_vocabulary: Any = None) -> tf.Tensor:
    """Every class name per example, [batch, n_classes] strings ('0', '1', ... by default)."""
    if label_vocabulary:
        names = tf.constant([list(label_vocabulary)])
    else:
        names = tf.strings.as_string(tf.range(n_classes)[tf.newaxis])
    return tf.tile(names, [tf.shape(logits)[0], 1])


def check_prediction_keys(keys: Sequence[str], valid: Sequence[str]) -> None:
    for key in keys:
        if key not in valid:
            raise ValueError(f'Prediction key must be in PredictionKeys, given: {key}. Valid '
                             f'prediction keys include {list(valid)}.')


# -- the train op ---------------------------------------------------------------------------
def _num_replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def _is_keras_optimizer(optimizer: Any) -> bool:
    import keras  # pylint: disable=g-import-not-at-top  (keeps keras_spec importable lean)

    return isinstance(optimizer, keras.optimizers.Optimizer)


def _as_tf_variable(variable: Any) -> Any:
    return getattr(variable, 'value', variable) if not isinstance(variable, tf.Variable) \
        else variable


def _increments_global_step(update_ops: Sequence[Any]) -> bool:
    """Whether an update op is an assign_add on the global step (the documented recipe)."""
    step = tf.compat.v1.train.get_global_step()
    if step is None:
        return False
    graph = tf.compat.v1.get_default_graph()
    try:
        handle = step.handle
        internal = graph.capture(handle) if getattr(graph, 'building_function', False) else handle
    except (AttributeError, ValueError, TypeError):
        return False
    for update in update_ops:
        op = getattr(update, 'op', update)
        if getattr(op, 'type', None) in ('AssignAddVariableOp', 'AssignAdd') and op.inputs:
            if op.inputs[0] is internal or op.inputs[0] is handle:
                return True
        for control in getattr(op, 'control_inputs', ()):  # tf.group(...) of such an op
            if control.type in ('AssignAddVariableOp', 'AssignAdd') and control.inputs and (
                    control.inputs[0] is internal or control.inputs[0] is handle):
                return True
    return False


class _IncrementGlobalStep:
    """Placeholder in update_ops: the head adds the global step's assign_add after its train op."""

    def __repr__(self) -> str:
        return 'keras_spec.heads.increment_global_step()'


def increment_global_step() -> Any:
    """Put it in `update_ops` so that training with `optimizer=` advances the global step.

    tf.estimator 2.15's heads never advanced it with `optimizer=` (its recipe tied a legacy
    Keras optimizer's `iterations` to the global step; a Keras 3 optimizer's cannot be set).
    The head replaces this with `assign_add(global_step, 1)` run after the optimizer's update,
    so it never runs in a step that found no input (a bare `tf.compat.v1.assign_add` in
    update_ops does not depend on the data and may).
    """
    return _IncrementGlobalStep()


def _resolve_update_ops(update_ops: Sequence[Any], after: Any) -> list:
    resolved = []
    for update in update_ops:
        if isinstance(update, _IncrementGlobalStep):
            step = tf.compat.v1.train.get_global_step()
            if step is None:
                raise ValueError('update_ops has increment_global_step() but there is no global '
                                 'step (tf.compat.v1.train.get_or_create_global_step()).')
            with tf.control_dependencies([after]):
                update = tf.compat.v1.assign_add(step, 1, name='increment_global_step').op
        resolved.append(update)
    return resolved


def train_op(*, head_name: str | None, loss: tf.Tensor, optimizer: Any, trainable_variables: Any,
             train_op_fn: Callable | None, update_ops: Any, loss_reduction: str) -> Any:
    """tf.estimator's create_estimator_spec_train_op, under a fresh 'training' name scope.

    optimizer: a Keras 3 optimizer (gradients of `loss` applied to `trainable_variables`) or a
    compat.v1 optimizer (tf.estimator 2.15 refused those; they are applied the same way). Like
    tf.estimator 2.15, `optimizer=` does not advance the global step.
    """
    if update_ops is not None and not isinstance(update_ops, (list, tuple)):
        raise ValueError(f'update_ops should be a list or a tuple. Given type: {type(update_ops)}.')
    graph = tf.compat.v1.get_default_graph()
    with graph.name_scope(None), graph.name_scope('training'):
        if optimizer is not None:
            if train_op_fn is not None:
                raise ValueError('train_op_fn and optimizer cannot both be set.')
            op = _optimizer_train_op(optimizer, loss, trainable_variables, loss_reduction)
            if not (update_ops and (
                    any(isinstance(u, _IncrementGlobalStep) for u in update_ops)
                    or _increments_global_step(update_ops))):
                warnings.warn(
                    f"Head{' ' + repr(head_name) if head_name else ''}: create_estimator_spec("
                    'optimizer=...) does not advance the global step, as in tf.estimator 2.15: '
                    'checkpoints stay at step 0, so the facade never saves the trained values '
                    'and step-based schedules do not move. Pass update_ops=['
                    'keras_spec.heads.increment_global_step()] to advance it once per step.',
                    UserWarning, stacklevel=4)
        elif train_op_fn is not None:
            op = train_op_fn(loss)
        else:
            raise ValueError('train_op_fn and optimizer cannot both be None.')
        if update_ops:
            op = tf.group(op, *_resolve_update_ops(update_ops, after=op))
        return op


def _optimizer_train_op(optimizer: Any, loss: tf.Tensor, trainable_variables: Any,
                        loss_reduction: str) -> Any:
    if trainable_variables is None:
        raise ValueError('trainable_variables cannot be None. Given None: with optimizer=, pass '
                         'the variables to train (e.g. model.trainable_variables, or '
                         'tf.compat.v1.trainable_variables()).')
    if not isinstance(trainable_variables, (list, tuple)):
        raise ValueError('trainable_variables should be a list or a tuple. Given type: '
                         f'{type(trainable_variables)}.')
    keras_optimizer = _is_keras_optimizer(optimizer)
    if not keras_optimizer and not isinstance(optimizer, tf.compat.v1.train.Optimizer):
        raise ValueError(
            'The given optimizer is not a Keras 3 optimizer (keras.optimizers.Optimizer) or a '
            f'tf.compat.v1.train.Optimizer. Received optimizer of type {type(optimizer)}.')
    if loss_reduction == 'sum_over_batch_size' and _num_replicas() > 1:
        loss = loss * (1.0 / _num_replicas())  # tf.estimator's loss scaling: replicas' sum = mean
    variables = list(trainable_variables)
    if not keras_optimizer:
        return optimizer.minimize(loss, var_list=[_as_tf_variable(v) for v in variables])
    grads = tf.gradients(loss, [_as_tf_variable(v) for v in variables])
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    if not pairs:
        raise ValueError('The loss does not depend on any of trainable_variables; nothing to '
                         'optimize.')
    optimizer.apply_gradients(pairs)
    return tf.group(tf.identity(tf.convert_to_tensor(optimizer.iterations)))


def summaries(loss: tf.Tensor, regularization_losses: Any, key: Callable[[str], str]) -> None:
    """The TRAIN summaries tf.estimator's heads wrote (loss, regularization_loss)."""
    graph = tf.compat.v1.get_default_graph()
    with graph.name_scope(None):
        tf.compat.v1.summary.scalar(key('loss'), loss)
        if regularization_losses is not None:
            tf.compat.v1.summary.scalar(key('regularization_loss'),
                                        tf.math.add_n(list(regularization_losses)))
