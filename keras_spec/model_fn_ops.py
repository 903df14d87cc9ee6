"""contrib.learn's ``ModelFnOps`` and ``ProblemType``, and their translation to EstimatorSpec.

Old contrib.learn model_fns return ``ModelFnOps``; the engine runs
``EstimatorSpec``s. ``ModelFnOps.estimator_spec()`` is contrib's own bridge:
``output_alternatives`` become export outputs by problem type.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from typing import Any

import tensorflow as tf

from keras_spec import _checks
from keras_spec import export_output as export_output_lib
from keras_spec import validation
from keras_spec.estimator_spec import EstimatorSpec
from keras_spec.mode_keys import ModeKeys, validate_mode

_logger = logging.getLogger(__name__)

_FIELDS = ('predictions', 'loss', 'train_op', 'eval_metric_ops', 'output_alternatives',
           'training_chief_hooks', 'training_hooks', 'scaffold', 'mode')
_LOSS_METRIC_KEY = 'loss'
# contrib PredictionKey names read from an output alternative's tensors.
_SCORES, _PROBABILITIES, _CLASSES = 'scores', 'probabilities', 'classes'


class ProblemType:
    """Problem type of an output alternative (contrib.learn ``constants.ProblemType``)."""

    UNSPECIFIED = 0
    CLASSIFICATION = 1
    LINEAR_REGRESSION = 2
    LOGISTIC_REGRESSION = 3


_PROBLEM_TYPES = 'ProblemType.UNSPECIFIED (0), CLASSIFICATION (1), LINEAR_REGRESSION (2), ' \
                 'LOGISTIC_REGRESSION (3)'


def _validate_output_alternatives(output_alternatives: Any) -> dict | None:
    if output_alternatives is None:
        return None
    shape = '{name: (problem_type, {tensor_name: tensor})}'
    if not isinstance(output_alternatives, dict):
        raise TypeError(f'output_alternatives must be a dict {shape}; got '
                        f'{_checks.describe(output_alternatives)}.')
    result = {}
    for name, alternative in output_alternatives.items():
        field = f'output_alternatives[{name!r}]'
        if not isinstance(name, str):
            raise TypeError(f'output_alternatives keys must be strings; got {_checks.describe(name)}.')
        if not (isinstance(alternative, (tuple, list)) and len(alternative) == 2):
            raise ValueError(f'{field} must be a pair (problem_type, {{tensor_name: tensor}}); '
                             f'got {_checks.describe(alternative)}.')
        problem_type, tensors = alternative
        if not isinstance(tensors, dict):
            raise TypeError(f'{field}[1] must be a dict {{tensor_name: tensor}}; got '
                            f'{_checks.describe(tensors)}.')
        checked = {}
        for key, tensor in tensors.items():
            if not isinstance(key, str):
                raise TypeError(f'{field}[1] keys must be strings; got {_checks.describe(key)}.')
            checked[key] = _checks.check_tensor(tensor, f'{field}[1][{key!r}]')
        result[name] = (problem_type, checked)
    return result


def _scores(tensors: dict) -> Any:
    scores = tensors.get(_SCORES)
    return tensors.get(_PROBABILITIES) if scores is None else scores


def _classes(tensors: dict, field: str) -> Any:
    classes = tensors.get(_CLASSES)
    if classes is None:
        _logger.warning('%s: no classes tensor; served classifications will not have class '
                        'labels.', field)
        return None
    if tf.as_dtype(classes.dtype) != tf.string:
        # TF Serving's classify API only serves string labels, as contrib noted.
        _logger.warning('%s: classes has dtype %s, not string; it is left out of the '
                        'classification signature.', field, tf.as_dtype(classes.dtype).name)
        return None
    return classes


def _export_output(name: str, problem_type: Any, tensors: dict) -> export_output_lib.ExportOutput:
    field = f'output_alternatives[{name!r}]'
    try:
        if problem_type == ProblemType.LINEAR_REGRESSION:
            scores = _scores(tensors)
            if scores is None:
                raise ValueError(f"a LINEAR_REGRESSION alternative needs a '{_SCORES}' (or "
                                 f"'{_PROBABILITIES}') tensor; it has {sorted(tensors)}")
            return export_output_lib.RegressionOutput(scores)
        if problem_type in (ProblemType.CLASSIFICATION, ProblemType.LOGISTIC_REGRESSION):
            return export_output_lib.ClassificationOutput(
                scores=_scores(tensors), classes=_classes(tensors, field))
        if problem_type == ProblemType.UNSPECIFIED:
            return export_output_lib.PredictOutput(tensors)
    except ValueError as e:
        raise ValueError(f'{field}: {e}') from None
    raise ValueError(f'{field}[0]: unknown problem_type {problem_type!r}; expected one of '
                     f'{_PROBLEM_TYPES}.')


class ModelFnOps(validation.ReplaceKeepsMode, collections.namedtuple('ModelFnOps', _FIELDS)):
    """Ops returned from a contrib.learn model_fn (deprecated; translate with ``estimator_spec()``).

    contrib's rules: TRAIN needs ``train_op``; TRAIN and EVAL need ``loss`` (one
    element, ``[1]`` becomes a scalar); EVAL and INFER need ``predictions``
    (tensors or SparseTensors, or a dict of them); ``eval_metric_ops`` is a dict;
    hooks are SessionRunHooks (kept as lists, as contrib did).
    """

    __slots__ = ()

    def __new__(cls,
                mode: str,
                predictions: Any = None,
                loss: Any = None,
                train_op: Any = None,
                eval_metric_ops: Any = None,
                output_alternatives: Any = None,
                training_chief_hooks: Any = None,
                training_hooks: Any = None,
                scaffold: Any = None) -> 'ModelFnOps':
        owner = cls.__name__
        mode = validate_mode(mode, owner)
        train_op = validation.validate_train_op(train_op, mode, owner)
        loss = validation.validate_loss(loss, mode, owner)
        predictions = validation.validate_predictions(
            predictions, mode, owner, required_modes=(ModeKeys.INFER, ModeKeys.EVAL),
            allow_sparse=True)
        if eval_metric_ops is None:
            eval_metric_ops = {}
        elif not isinstance(eval_metric_ops, dict):
            raise ValueError(f'eval_metric_ops must be a dict; got {_checks.describe(eval_metric_ops)}.')
        return super().__new__(
            cls,
            predictions=predictions,
            loss=loss,
            train_op=train_op,
            eval_metric_ops=dict(eval_metric_ops),
            output_alternatives=_validate_output_alternatives(output_alternatives),
            training_chief_hooks=list(validation.validate_hooks(
                training_chief_hooks, 'training_chief_hooks')),
            training_hooks=list(validation.validate_hooks(training_hooks, 'training_hooks')),
            scaffold=validation.validate_scaffold(scaffold, default_new=False),
            mode=mode)

    def __getnewargs__(self) -> tuple:
        # Fields are not in __new__'s argument order (mode is last); copy/pickle need this.
        return (self.mode, self.predictions, self.loss, self.train_op, self.eval_metric_ops,
                self.output_alternatives, self.training_chief_hooks, self.training_hooks,
                self.scaffold)

    def estimator_spec(self, default_serving_output_alternative_key: str | None = None
                       ) -> EstimatorSpec:
        """The equivalent EstimatorSpec.

        Each output alternative becomes an export output: UNSPECIFIED ->
        PredictOutput, CLASSIFICATION/LOGISTIC_REGRESSION -> ClassificationOutput
        (scores = 'scores' or else 'probabilities'; 'classes' only if strings),
        LINEAR_REGRESSION -> RegressionOutput. With several alternatives and none
        named 'serving_default', ``default_serving_output_alternative_key`` names
        the one copied there. The 'loss' metric is dropped (EstimatorSpec users get
        loss anyway).
        """
        export_outputs = None
        if self.output_alternatives:
            alternatives = dict(self.output_alternatives)
            default_key = validation.DEFAULT_SERVING_KEY
            if len(alternatives) > 1 and default_key not in alternatives:
                key = default_serving_output_alternative_key
                if key is None or key not in alternatives:
                    raise ValueError(
                        f'ModelFnOps has several output_alternatives ({sorted(alternatives)}) '
                        f'and none is named {default_key!r}: pass '
                        'default_serving_output_alternative_key=<one of them> to '
                        f'estimator_spec(); got {key!r}.')
                alternatives[default_key] = alternatives[key]
            export_outputs = {name: _export_output(name, *alternative)
                              for name, alternative in alternatives.items()}
        eval_metric_ops = {k: v for k, v in self.eval_metric_ops.items() if k != _LOSS_METRIC_KEY}
        # ModeKeys.INFER and the core ModeKeys.PREDICT are the same string.
        allow = self.mode == ModeKeys.TRAIN and self.train_op is None
        with validation.train_op_optional() if allow else contextlib.nullcontext():
            return EstimatorSpec(
                mode=self.mode,
                predictions=self.predictions,
                loss=self.loss,
                train_op=self.train_op,
                eval_metric_ops=eval_metric_ops,
                export_outputs=export_outputs,
                training_chief_hooks=self.training_chief_hooks,
                training_hooks=self.training_hooks,
                scaffold=self.scaffold)
