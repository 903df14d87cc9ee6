"""What one SavedModel signature serves: classification, regression or predict.

Same classes and rules as ``tf.estimator.export.*Output``. Each also states the
signature it stands for without needing a graph (``method_name``,
``signature_outputs()``, ``signature_inputs(receiver_tensors)``), because the
exporting engine writes signatures through ``tf.saved_model``/Keras, not through
SignatureDef protos; ``as_signature_def`` is kept for graph-mode callers.
"""

from __future__ import annotations

import abc
from typing import Any, Mapping

import tensorflow as tf

from keras_spec import _checks

CLASSIFY_METHOD_NAME = 'tensorflow/serving/classify'
REGRESS_METHOD_NAME = 'tensorflow/serving/regress'
PREDICT_METHOD_NAME = 'tensorflow/serving/predict'

# Input key of classify/regress signatures (serialized tf.Examples), as TF Serving expects.
CLASSIFY_INPUTS = 'inputs'
REGRESS_INPUTS = 'inputs'
CLASSIFY_OUTPUT_CLASSES = 'classes'
CLASSIFY_OUTPUT_SCORES = 'scores'
REGRESS_OUTPUTS = 'outputs'
# Key a lone receiver tensor gets (tf.estimator's SINGLE_RECEIVER_DEFAULT_NAME).
SINGLE_RECEIVER_DEFAULT_NAME = 'input'


def _receiver_dict(receiver_tensors: Any) -> dict:
    if isinstance(receiver_tensors, Mapping):
        return dict(receiver_tensors)
    return {SINGLE_RECEIVER_DEFAULT_NAME: receiver_tensors}


class ExportOutput(abc.ABC):
    """One output signature of a served model (typically one model head)."""

    _SEPARATOR_CHAR = '/'

    @property
    @abc.abstractmethod
    def method_name(self) -> str:
        """The SignatureDef method name TF Serving dispatches on."""

    @abc.abstractmethod
    def signature_outputs(self) -> dict[str, Any]:
        """Output key -> tensor of the signature this output produces."""

    def signature_inputs(self, receiver_tensors: Any) -> dict[str, Any]:
        """Input key -> tensor of the signature, given the receiver's tensors."""
        return _receiver_dict(receiver_tensors)

    def as_signature_def(self, receiver_tensors: Any) -> Any:
        """A ``SignatureDef`` proto; needs graph tensors (TF1-style export)."""
        if tf.executing_eagerly():
            raise RuntimeError(
                f'{type(self).__name__}.as_signature_def() describes graph tensors by name '
                'and only works while a graph is being built (e.g. inside '
                'tf.compat.v1.wrap_function); it was called eagerly. Use '
                'signature_inputs()/signature_outputs()/method_name instead.')
        build = tf.compat.v1.saved_model.build_tensor_info
        return tf.compat.v1.saved_model.build_signature_def(
            inputs={k: build(v) for k, v in self.signature_inputs(receiver_tensors).items()},
            outputs={k: build(v) for k, v in self.signature_outputs().items()},
            method_name=self.method_name)

    def _check_output_key(self, key: Any, error_label: str) -> str:
        # Multi-head models may use tuple keys; they are joined with '/'.
        if isinstance(key, tuple) and all(isinstance(k, str) for k in key):
            key = self._SEPARATOR_CHAR.join(key)
        if not isinstance(key, str):
            raise ValueError(
                f'{error_label} output key must be a string (or a tuple of strings, '
                f'joined with "/"); got {_checks.describe(key)}.')
        return key

    def _wrap_and_check_outputs(self, outputs: Any, single_output_default_name: str,
                                error_label: str) -> dict[str, Any]:
        if not isinstance(outputs, Mapping):
            outputs = {single_output_default_name: outputs}
        result = {}
        for key, value in outputs.items():
            key = self._check_output_key(key, error_label)
            value = _checks.unwrap_keras_variable(value)
            if not _checks.is_tensor(value):
                raise ValueError(
                    f'{error_label} output value {key!r} must be a tensor; '
                    f'got {_checks.describe(value)}.')
            result[key] = value
        return result

    def _single_string_input(self, receiver_tensors: Any, kind: str) -> Any:
        tensors = _receiver_dict(receiver_tensors)
        if len(tensors) == 1:
            (tensor,) = tensors.values()
            if isinstance(tensor, tf.Tensor) and tensor.dtype == tf.string:
                return tensor
        shown = ', '.join(
            f'{k}: {v.dtype.name}' if isinstance(v, (tf.Tensor, tf.SparseTensor)) else
            f'{k}: {_checks.describe(v)}' for k, v in tensors.items())
        raise ValueError(
            f'{kind} signatures can only accept a single tensor input of type tf.string. '
            'Make the serving_input_receiver_fn create a single string placeholder (e.g. '
            'build_parsing_serving_input_receiver_fn); if the model function needs '
            'several inputs, parse that string into them with tf.io.parse_example(). '
            f'Received: {{{shown}}}')


def _float_tensor(value: Any, what: str) -> Any:
    value = _checks.unwrap_keras_variable(value)
    if not (_checks.is_tensor(value) and tf.as_dtype(value.dtype).is_floating):
        raise ValueError(f'{what} must be a float tensor; got {_checks.describe(value)}.')
    return value


class ClassificationOutput(ExportOutput):
    """Output of a classification head: ``scores`` (float) and/or ``classes`` (string).

    Only ``classes``: top-k labels in descending order. Only ``scores``: one score
    per class id. Both: zipped, each score belongs to the class at the same index.
    """

    def __init__(self, scores: Any = None, classes: Any = None):
        if scores is not None:
            scores = _float_tensor(scores, 'ClassificationOutput scores')
        if classes is not None:
            classes = _checks.unwrap_keras_variable(classes)
            if not (_checks.is_tensor(classes) and tf.as_dtype(classes.dtype) == tf.string):
                raise ValueError(
                    'ClassificationOutput classes must be a string tensor (class labels, '
                    f'not integer ids); got {_checks.describe(classes)}.')
        if scores is None and classes is None:
            raise ValueError(
                'Cannot create a ClassificationOutput with empty arguments: at least one '
                'of `scores` and `classes` must be given.')
        self._scores = scores
        self._classes = classes

    @property
    def scores(self) -> Any:
        return self._scores

    @property
    def classes(self) -> Any:
        return self._classes

    @property
    def method_name(self) -> str:
        return CLASSIFY_METHOD_NAME

    def signature_outputs(self) -> dict[str, Any]:
        outputs = {}
        if self._classes is not None:
            outputs[CLASSIFY_OUTPUT_CLASSES] = self._classes
        if self._scores is not None:
            outputs[CLASSIFY_OUTPUT_SCORES] = self._scores
        return outputs

    def signature_inputs(self, receiver_tensors: Any) -> dict[str, Any]:
        return {CLASSIFY_INPUTS: self._single_string_input(receiver_tensors, 'Classification')}

    def __repr__(self) -> str:
        return f'ClassificationOutput(scores={self._scores!r}, classes={self._classes!r})'


class RegressionOutput(ExportOutput):
    """Output of a regression head: one float tensor of predicted values."""

    def __init__(self, value: Any):
        self._value = _float_tensor(value, 'RegressionOutput value')

    @property
    def value(self) -> Any:
        return self._value

    @property
    def method_name(self) -> str:
        return REGRESS_METHOD_NAME

    def signature_outputs(self) -> dict[str, Any]:
        return {REGRESS_OUTPUTS: self._value}

    def signature_inputs(self, receiver_tensors: Any) -> dict[str, Any]:
        return {REGRESS_INPUTS: self._single_string_input(receiver_tensors, 'Regression')}

    def __repr__(self) -> str:
        return f'RegressionOutput(value={self._value!r})'


class PredictOutput(ExportOutput):
    """Output of a generic head: named tensors (a lone tensor is named 'output')."""

    _SINGLE_OUTPUT_DEFAULT_NAME = 'output'

    def __init__(self, outputs: Any):
        self._outputs = self._wrap_and_check_outputs(
            outputs, self._SINGLE_OUTPUT_DEFAULT_NAME, error_label='Prediction')

    @property
    def outputs(self) -> dict[str, Any]:
        return self._outputs

    @property
    def method_name(self) -> str:
        return PREDICT_METHOD_NAME

    def signature_outputs(self) -> dict[str, Any]:
        return dict(self._outputs)

    def __repr__(self) -> str:
        return f'PredictOutput(outputs={self._outputs!r})'


__all__ = ['ExportOutput', 'ClassificationOutput', 'RegressionOutput', 'PredictOutput',
           'CLASSIFY_METHOD_NAME', 'REGRESS_METHOD_NAME', 'PREDICT_METHOD_NAME']
