"""Serving input receivers: what an exported model is fed, and how it becomes features.

Same types and rules as ``tf.estimator.export``. A receiver function is a plain
function returning a :class:`ServingInputReceiver`; the exporting engine calls
it while it traces the serving graph (``tf.compat.v1.wrap_function``), so the
builders here create ``tf.compat.v1.placeholder`` inputs, as TF1 did.
"""

from __future__ import annotations

import collections
import re
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from keras_spec import _checks

SINGLE_FEATURE_DEFAULT_NAME = 'feature'
SINGLE_RECEIVER_DEFAULT_NAME = 'input'
_SINGLE_NAMES = {
    'feature': SINGLE_FEATURE_DEFAULT_NAME,
    'receiver_tensor': SINGLE_RECEIVER_DEFAULT_NAME,
    'receiver_tensors_alternative': SINGLE_RECEIVER_DEFAULT_NAME,
}
_INPUT_TYPES = (tf.Tensor, tf.SparseTensor, tf.RaggedTensor)
_FEATURE_SPEC_TYPES = (tf.io.FixedLenFeature, tf.io.FixedLenSequenceFeature,
                       tf.io.VarLenFeature, tf.io.SparseFeature, tf.io.RaggedFeature)


def _check_input_tensor(tensor: Any, field: str) -> None:
    if not isinstance(tensor, _INPUT_TYPES):
        if _checks.is_keras_tensor(tensor):
            hint = (' A keras.KerasTensor is a symbolic Keras placeholder, not a graph '
                    'tensor: create inputs with tf.compat.v1.placeholder.')
        else:
            hint = ''
        raise ValueError(f'{field} must be a Tensor, SparseTensor, or RaggedTensor; got '
                         f'{_checks.describe(tensor)}.{hint}')


def wrap_and_check_input_tensors(tensors: Any, field_name: str,
                                 allow_int_keys: bool = False) -> dict:
    """A lone tensor becomes ``{default_name: tensor}``; keys and values are checked."""
    if tensors is None:
        raise ValueError(f'{field_name}s must be defined.')
    if not isinstance(tensors, dict):
        tensors = {_SINGLE_NAMES[field_name]: tensors}
    for name, tensor in tensors.items():
        if not (isinstance(name, str) or (allow_int_keys and isinstance(name, int)
                                          and not isinstance(name, bool))):
            kinds = 'strings or ints' if allow_int_keys else 'strings'
            raise ValueError(f'{field_name} keys must be {kinds}; got {_checks.describe(name)}.')
        _check_input_tensor(tensor, f'{field_name} {name!r}')
    return dict(tensors)


class ServingInputReceiver(collections.namedtuple(
        'ServingInputReceiver', ['features', 'receiver_tensors', 'receiver_tensors_alternatives'])):
    """Returned by a serving_input_receiver_fn: model features and the tensors fed to make them.

    ``features``: a tensor (wrapped as ``{'feature': t}``) or dict (str or int
    keys). ``receiver_tensors``: a tensor (wrapped as ``{'input': t}``) or dict of
    the inputs fed at serving time. ``receiver_tensors_alternatives``: optional
    dict name -> tensor or dict, extra input groups for extra signatures.
    """

    __slots__ = ()

    def __new__(cls, features: Any, receiver_tensors: Any,
                receiver_tensors_alternatives: Any = None) -> 'ServingInputReceiver':
        features = wrap_and_check_input_tensors(features, 'feature', allow_int_keys=True)
        receiver_tensors = wrap_and_check_input_tensors(receiver_tensors, 'receiver_tensor')
        if receiver_tensors_alternatives is not None:
            if not isinstance(receiver_tensors_alternatives, dict):
                raise ValueError(
                    'receiver_tensors_alternatives must be a dict of name -> tensor or dict '
                    f'of tensors; got {_checks.describe(receiver_tensors_alternatives)}.')
            receiver_tensors_alternatives = {
                name: wrap_and_check_input_tensors(alt, 'receiver_tensors_alternative')
                for name, alt in receiver_tensors_alternatives.items()}
        return super().__new__(cls, features, receiver_tensors, receiver_tensors_alternatives)


class TensorServingInputReceiver(collections.namedtuple(
        'TensorServingInputReceiver',
        ['features', 'receiver_tensors', 'receiver_tensors_alternatives'])):
    """Like ServingInputReceiver, for a model_fn whose ``features`` is one tensor, not a dict."""

    __slots__ = ()

    def __new__(cls, features: Any, receiver_tensors: Any,
                receiver_tensors_alternatives: Any = None) -> 'TensorServingInputReceiver':
        if features is None:
            raise ValueError('features must be defined.')
        _check_input_tensor(features, 'features')
        receiver = ServingInputReceiver(features, receiver_tensors, receiver_tensors_alternatives)
        return super().__new__(cls, receiver.features[SINGLE_FEATURE_DEFAULT_NAME],
                               receiver.receiver_tensors, receiver.receiver_tensors_alternatives)


def _check_batch_size(default_batch_size: Any) -> None:
    if default_batch_size is not None and not (
            isinstance(default_batch_size, (int, np.integer))
            and not isinstance(default_batch_size, bool) and default_batch_size > 0):
        raise ValueError('default_batch_size must be None (any batch size) or a positive int; '
                         f'got {_checks.describe(default_batch_size)}.')


def _require_graph(builder: str) -> None:
    if tf.executing_eagerly():
        raise RuntimeError(
            f'The receiver function from {builder} builds tf.compat.v1.placeholder inputs, so '
            'it must be called while a graph is being built; it was called eagerly. '
            'export_saved_model calls it inside tf.compat.v1.wrap_function; to call it '
            'yourself, do so inside tf.compat.v1.wrap_function or '
            '`with tf.Graph().as_default():`.')


def build_parsing_serving_input_receiver_fn(
        feature_spec: dict, default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn fed serialized tf.Examples, parsed with ``feature_spec``.

    Input: one string placeholder ``input_example_tensor`` of shape
    ``[default_batch_size]`` under receiver key ``'examples'``; features:
    ``tf.io.parse_example`` of it.
    """
    if not isinstance(feature_spec, dict) or not feature_spec:
        raise ValueError('feature_spec must be a non-empty dict of feature name -> '
                         'tf.io.FixedLenFeature/VarLenFeature/...; got '
                         f'{_checks.describe(feature_spec)}.')
    for key, spec in feature_spec.items():
        if not isinstance(key, str):
            raise ValueError(f'feature_spec keys must be strings; got {_checks.describe(key)}.')
        if not isinstance(spec, _FEATURE_SPEC_TYPES):
            raise ValueError(
                f'feature_spec[{key!r}] must be a tf.io.FixedLenFeature, '
                'FixedLenSequenceFeature, VarLenFeature, SparseFeature or RaggedFeature; got '
                f'{_checks.describe(spec)}.')
    _check_batch_size(default_batch_size)
    feature_spec = dict(feature_spec)

    def serving_input_receiver_fn() -> ServingInputReceiver:
        """Parses serialized tf.Examples fed to 'input_example_tensor'."""
        _require_graph('build_parsing_serving_input_receiver_fn')
        serialized = tf.compat.v1.placeholder(
            dtype=tf.string, shape=[default_batch_size], name='input_example_tensor')
        features = tf.io.parse_example(serialized, feature_spec)
        return ServingInputReceiver(features, {'examples': serialized})

    return serving_input_receiver_fn


def _op_name(key: str) -> str:
    """A valid TF op name derived from a feature key."""
    name = re.sub(r'[^A-Za-z0-9_.\-/]', '_', key).strip('/')
    if not name or not re.match(r'[A-Za-z0-9.]', name[0]):
        name = 'input_' + name
    return name


def _dtype_and_shape(value: Any, field: str) -> tuple[tf.DType, tf.TensorShape]:
    value = _checks.unwrap_keras_variable(value)
    if isinstance(value, tf.TensorSpec) or _checks.is_tensor(value) or isinstance(value, np.ndarray):
        return tf.as_dtype(value.dtype), tf.TensorShape(value.shape)
    raise ValueError(f'{field} must be a tf.TensorSpec or an example tensor (its dtype and '
                     f'shape are used); got {_checks.describe(value)}.')


def build_raw_serving_input_receiver_fn(
        features: dict, default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn fed the features themselves, one placeholder per feature.

    ``features`` maps names to ``tf.TensorSpec``s or example tensors; each
    placeholder (named after its key) has their dtype and shape, with the first
    (batch) dimension set to ``default_batch_size``. Features are the receiver
    tensors.
    """
    if not isinstance(features, dict) or not features:
        raise ValueError('features must be a non-empty dict of name -> tf.TensorSpec or '
                         f'example tensor; got {_checks.describe(features)}.')
    _check_batch_size(default_batch_size)
    specs = {}
    for key, value in features.items():
        if not isinstance(key, str):
            raise ValueError(f'features keys must be strings; got {_checks.describe(key)}.')
        dtype, shape = _dtype_and_shape(value, f'features[{key!r}]')
        if shape.rank is not None:
            shape = tf.TensorShape([default_batch_size]).concatenate(shape[1:])
        specs[key] = (dtype, shape)

    def serving_input_receiver_fn() -> ServingInputReceiver:
        """Feeds each feature directly through its own placeholder."""
        _require_graph('build_raw_serving_input_receiver_fn')
        receivers = {key: tf.compat.v1.placeholder(dtype=dtype, shape=shape, name=_op_name(key))
                     for key, (dtype, shape) in specs.items()}
        return ServingInputReceiver(dict(receivers), receivers)

    return serving_input_receiver_fn


# tf.estimator.export also offered the export outputs under this module.
from keras_spec.export_output import (  # noqa: E402  pylint: disable=g-import-not-at-top
    ClassificationOutput, ExportOutput, PredictOutput, RegressionOutput)

__all__ = ['ServingInputReceiver', 'TensorServingInputReceiver',
           'build_parsing_serving_input_receiver_fn', 'build_raw_serving_input_receiver_fn',
           'ExportOutput', 'ClassificationOutput', 'RegressionOutput', 'PredictOutput']
