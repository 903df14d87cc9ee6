"""contrib.learn ModelFnOps: contrib's rules and the estimator_spec() translation."""

import copy
import logging

import pytest
import tensorflow as tf

import keras_spec as ks
from keras_spec.validation import train_op_optional

TRAIN, EVAL, INFER = ks.ModeKeys.TRAIN, ks.ModeKeys.EVAL, ks.ModeKeys.INFER
PT = ks.ProblemType
SCORES = tf.constant([[0.2, 0.8]])
PROBS = tf.constant([[0.4, 0.6]])
STR_CLASSES = tf.constant([['a', 'b']])
INT_CLASSES = tf.constant([[0, 1]])


class _Hook(tf.compat.v1.train.SessionRunHook):
    pass


def _infer(output_alternatives, **kwargs):
    return ks.ModelFnOps(INFER, predictions={'scores': SCORES}, loss=None,
                         output_alternatives=output_alternatives, **kwargs)


def test_fields_problem_types_and_argument_order():
    assert ks.ModelFnOps._fields == (
        'predictions', 'loss', 'train_op', 'eval_metric_ops', 'output_alternatives',
        'training_chief_hooks', 'training_hooks', 'scaffold', 'mode')
    assert (PT.UNSPECIFIED, PT.CLASSIFICATION, PT.LINEAR_REGRESSION,
            PT.LOGISTIC_REGRESSION) == (0, 1, 2, 3)
    loss, train_op = tf.constant(1.0), tf.constant(0)
    ops = ks.ModelFnOps(TRAIN, None, loss, train_op)  # positional, contrib's order
    assert ops.mode == TRAIN and ops.loss is loss and ops.train_op is train_op
    assert ops.predictions is None and ops.eval_metric_ops == {}
    assert ops.training_hooks == [] and ops.training_chief_hooks == [] and ops.scaffold is None


def test_invalid_mode():
    with pytest.raises(ValueError, match="^ModelFnOps mode must be one of"):
        ks.ModelFnOps('predict', predictions=SCORES)


@pytest.mark.parametrize('mode, kwargs, missing', [
    (TRAIN, {'loss': tf.constant(1.0)}, 'train_op'),
    (TRAIN, {'train_op': tf.constant(0)}, 'loss'),
    (EVAL, {'predictions': SCORES}, 'loss'),
    (EVAL, {'loss': tf.constant(1.0)}, 'predictions'),  # contrib: EVAL needs predictions
    (INFER, {}, 'predictions'),
])
def test_missing_required_fields(mode, kwargs, missing):
    with pytest.raises(ValueError, match=f'^Missing {missing}: ModelFnOps'):
        ks.ModelFnOps(mode, **kwargs)


@pytest.mark.parametrize('mode, kwargs', [
    (TRAIN, {'loss': tf.constant(1.0), 'train_op': tf.constant(0)}),
    (EVAL, {'loss': tf.constant(1.0), 'predictions': SCORES}),
    (INFER, {'predictions': SCORES}),
])
def test_minimal_valid_ops_per_mode(mode, kwargs):
    ops = ks.ModelFnOps(mode, **kwargs)
    for name, value in kwargs.items():
        assert getattr(ops, name) is value


def test_train_op_optional_applies_and_carries_into_estimator_spec():
    with train_op_optional():
        ops = ks.ModelFnOps(TRAIN, loss=tf.constant(1.0))
    assert ops.train_op is None
    assert ops.estimator_spec().train_op is None


def test_loss_rules():
    ops = ks.ModelFnOps(EVAL, predictions=SCORES, loss=tf.constant([3.0]))
    assert ops.loss.shape == () and float(ops.loss) == 3.0
    with pytest.raises(ValueError, match=r'^loss must be a scalar'):
        ks.ModelFnOps(EVAL, predictions=SCORES, loss=tf.constant([3.0, 1.0]))
    with pytest.raises(TypeError, match=r'^loss must be a scalar tensor'):
        ks.ModelFnOps(EVAL, predictions=SCORES, loss=3.0)


def test_sparse_predictions_are_allowed():
    sparse = tf.SparseTensor([[0, 1]], [2.0], [1, 3])
    assert ks.ModelFnOps(INFER, predictions=sparse).predictions is sparse
    ops = ks.ModelFnOps(INFER, predictions={'s': sparse, 'd': SCORES})
    assert ops.predictions['s'] is sparse and ops.predictions['d'] is SCORES
    with pytest.raises(TypeError, match=r"^predictions\['d'\] must be a tensor"):
        ks.ModelFnOps(INFER, predictions={'s': sparse, 'd': [1.0]})


def test_eval_metric_ops_must_be_a_dict():
    value = (tf.constant(1.0), tf.constant(0))
    assert ks.ModelFnOps(EVAL, predictions=SCORES, loss=tf.constant(1.0),
                         eval_metric_ops={'m': value}).eval_metric_ops == {'m': value}
    with pytest.raises(ValueError, match=r'^eval_metric_ops must be a dict; got builtins.list'):
        ks.ModelFnOps(EVAL, predictions=SCORES, loss=tf.constant(1.0), eval_metric_ops=[value])


@pytest.mark.parametrize('field', ['training_hooks', 'training_chief_hooks'])
def test_hooks_are_lists_of_session_run_hooks(field):
    hook = _Hook()
    ops = ks.ModelFnOps(INFER, predictions=SCORES, **{field: (hook,)})
    assert getattr(ops, field) == [hook] and isinstance(getattr(ops, field), list)
    with pytest.raises(TypeError, match=rf'^{field}\[1\] must be a tf.compat.v1.train.SessionRunHook'):
        ks.ModelFnOps(INFER, predictions=SCORES, **{field: [hook, 5]})


def test_scaffold():
    scaffold = ks.Scaffold()
    assert ks.ModelFnOps(INFER, predictions=SCORES, scaffold=scaffold).scaffold is scaffold
    with pytest.raises(TypeError, match=r'^scaffold must be a tf.compat.v1.train.Scaffold'):
        ks.ModelFnOps(INFER, predictions=SCORES, scaffold='scaffold')


@pytest.mark.parametrize('alternatives, error, start', [
    ([('head', (PT.UNSPECIFIED, {}))], TypeError, 'output_alternatives must be a dict'),
    ({1: (PT.UNSPECIFIED, {'s': SCORES})}, TypeError, 'output_alternatives keys must be strings'),
    ({'head': PT.UNSPECIFIED}, ValueError, "output_alternatives['head'] must be a pair"),
    ({'head': (PT.UNSPECIFIED, {'s': SCORES}, 0)}, ValueError, "output_alternatives['head'] must"),
    ({'head': (PT.UNSPECIFIED, SCORES)}, TypeError, "output_alternatives['head'][1] must be a dict"),
    ({'head': (PT.UNSPECIFIED, {0: SCORES})}, TypeError, "output_alternatives['head'][1] keys"),
    ({'head': (PT.UNSPECIFIED, {'s': 0.5})}, TypeError, "output_alternatives['head'][1]['s'] must"),
])
def test_output_alternatives_structure(alternatives, error, start):
    with pytest.raises(error) as info:
        _infer(alternatives)
    assert str(info.value).startswith(start)


def test_copy_keeps_fields():
    ops = ks.ModelFnOps(EVAL, predictions=SCORES, loss=tf.constant(1.0))
    dup = copy.copy(ops)
    assert dup == ops and dup.mode == EVAL


# --- estimator_spec() ------------------------------------------------------------

def test_unspecified_becomes_predict_output():
    spec = _infer({'head': (PT.UNSPECIFIED, {'scores': SCORES, 'ids': INT_CLASSES})}).estimator_spec()
    assert isinstance(spec, ks.EstimatorSpec) and spec.mode == ks.ModeKeys.PREDICT
    out = spec.export_outputs['head']
    assert isinstance(out, ks.PredictOutput)
    assert out.outputs == {'scores': SCORES, 'ids': INT_CLASSES}
    assert spec.export_outputs['serving_default'] is out  # single alternative


@pytest.mark.parametrize('problem_type', [PT.CLASSIFICATION, PT.LOGISTIC_REGRESSION])
def test_classification_uses_scores_then_probabilities_and_string_classes(problem_type):
    out = _infer({'h': (problem_type, {'scores': SCORES, 'probabilities': PROBS,
                                       'classes': STR_CLASSES})}).estimator_spec().export_outputs['h']
    assert isinstance(out, ks.ClassificationOutput)
    assert out.scores is SCORES and out.classes is STR_CLASSES
    out = _infer({'h': (problem_type, {'probabilities': PROBS})}).estimator_spec().export_outputs['h']
    assert out.scores is PROBS and out.classes is None


def test_non_string_classes_are_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger='keras_spec.model_fn_ops'):
        out = _infer({'h': (PT.CLASSIFICATION, {'scores': SCORES, 'classes': INT_CLASSES})}
                     ).estimator_spec().export_outputs['h']
    assert out.classes is None and out.scores is SCORES
    assert out.signature_outputs() == {'scores': SCORES}
    assert any("output_alternatives['h']" in r.getMessage() and 'int32' in r.getMessage()
               for r in caplog.records)


def test_classification_without_scores_or_string_classes_is_an_error():
    with pytest.raises(ValueError) as info:
        _infer({'h': (PT.CLASSIFICATION, {'classes': INT_CLASSES})}).estimator_spec()
    assert str(info.value).startswith("output_alternatives['h']: Cannot create a ClassificationOutput")


def test_linear_regression_uses_scores_then_probabilities():
    out = _infer({'r': (PT.LINEAR_REGRESSION, {'scores': SCORES, 'probabilities': PROBS})}
                 ).estimator_spec().export_outputs['r']
    assert isinstance(out, ks.RegressionOutput) and out.value is SCORES
    out = _infer({'r': (PT.LINEAR_REGRESSION, {'probabilities': PROBS})}
                 ).estimator_spec().export_outputs['r']
    assert out.value is PROBS
    with pytest.raises(ValueError, match=r"^output_alternatives\['r'\]: a LINEAR_REGRESSION .*'other'"):
        _infer({'r': (PT.LINEAR_REGRESSION, {'other': PROBS})}).estimator_spec()


def test_unknown_problem_type():
    ops = _infer({'h': (7, {'scores': SCORES})})
    with pytest.raises(ValueError, match=r"^output_alternatives\['h'\]\[0\]: unknown problem_type 7"):
        ops.estimator_spec()


def test_several_alternatives_need_a_default_key():
    alternatives = {'cls': (PT.CLASSIFICATION, {'scores': SCORES}),
                    'reg': (PT.LINEAR_REGRESSION, {'scores': PROBS})}
    ops = _infer(alternatives)
    outputs = ops.estimator_spec('reg').export_outputs
    assert sorted(outputs) == ['cls', 'reg', 'serving_default']
    assert isinstance(outputs['serving_default'], ks.RegressionOutput)
    assert outputs['serving_default'].value is PROBS
    assert ops.output_alternatives == alternatives  # not edited
    for key in (None, 'missing'):
        with pytest.raises(ValueError) as info:
            ops.estimator_spec(key)
        msg = str(info.value)
        assert 'default_serving_output_alternative_key' in msg and repr(key) in msg
        assert "['cls', 'reg']" in msg
    named = _infer({'serving_default': alternatives['cls'], 'reg': alternatives['reg']})
    outputs = named.estimator_spec().export_outputs
    assert isinstance(outputs['serving_default'], ks.ClassificationOutput)


def test_no_alternatives_gives_default_predict_output():
    spec = ks.ModelFnOps(INFER, predictions={'scores': SCORES}).estimator_spec()
    assert spec.export_outputs['serving_default'].outputs == {'scores': SCORES}


@pytest.mark.parametrize('mode', [TRAIN, EVAL, INFER])
def test_estimator_spec_carries_fields_and_drops_loss_metric(mode):
    loss, train_op = tf.constant(1.0), tf.constant(0)
    metric = (tf.constant(0.5), tf.constant(1))
    hook, chief = _Hook(), _Hook()
    scaffold = ks.Scaffold()
    ops = ks.ModelFnOps(mode, predictions={'scores': SCORES}, loss=loss, train_op=train_op,
                        eval_metric_ops={'loss': (loss, train_op), 'acc': metric},
                        training_hooks=[hook], training_chief_hooks=[chief], scaffold=scaffold)
    spec = ops.estimator_spec()
    assert spec.mode == {TRAIN: 'train', EVAL: 'eval', INFER: 'infer'}[mode]
    assert spec.loss is loss and spec.train_op is train_op
    assert spec.predictions == {'scores': SCORES}
    assert list(spec.eval_metric_ops) == ['acc'] and spec.eval_metric_ops['acc'][0] is metric[0]
    assert spec.training_hooks == (hook,) and spec.training_chief_hooks == (chief,)
    assert spec.scaffold is scaffold
    assert ops.eval_metric_ops['loss'][0] is loss  # the ModelFnOps keeps it


def test_estimator_spec_validates_metrics_as_estimator_spec():
    ops = ks.ModelFnOps(EVAL, predictions=SCORES, loss=tf.constant(1.0),
                        eval_metric_ops={'m': tf.constant(1.0)})
    with pytest.raises(TypeError, match=r"^eval_metric_ops\['m'\] must be"):
        ops.estimator_spec()
