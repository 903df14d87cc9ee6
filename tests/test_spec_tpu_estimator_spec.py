"""TPUEstimatorSpec: (fn, tensors) pairs, shared spec rules, as_estimator_spec, call_host_fn."""

import functools

import numpy as np
import pytest
import tensorflow as tf

import keras_spec as ks
from keras_spec.tpu_estimator_spec import call_host_fn
from keras_spec.validation import train_op_optional

TRAIN, EVAL, PREDICT = ks.ModeKeys.TRAIN, ks.ModeKeys.EVAL, ks.ModeKeys.PREDICT
LABELS = tf.constant([0, 1, 1, 2])
LOGITS = tf.constant([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _metric_fn(labels, logits):
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32),
                                               labels), tf.float32))
    return {'accuracy': (accuracy, tf.reduce_sum(labels)),
            'mean_logit': (tf.reduce_mean(logits), tf.constant(0))}


def _eval(**kwargs):
    return ks.TPUEstimatorSpec(EVAL, loss=tf.constant(1.0), **kwargs)


class _Hook(tf.compat.v1.train.SessionRunHook):
    pass


def test_fields_in_tpu_estimator_order():
    assert ks.TPUEstimatorSpec._fields == (
        'mode', 'predictions', 'loss', 'train_op', 'eval_metrics', 'export_outputs',
        'scaffold_fn', 'host_call', 'training_hooks', 'evaluation_hooks', 'prediction_hooks')


# --- (fn, tensors) structure, for eval_metrics and host_call -------------------

@pytest.mark.parametrize('name', ['eval_metrics', 'host_call'])
@pytest.mark.parametrize('value, error, start', [
    (_metric_fn, ValueError, '{name} must be a tuple or list of two elements'),
    ((_metric_fn, [LABELS, LOGITS], None), ValueError, '{name} must be a tuple or list of two'),
    (('metric_fn', [LABELS, LOGITS]), TypeError, '{name}[0] ('),
    ((_metric_fn, LABELS), ValueError, '{name}[1] must be a list or tuple'),
    ((_metric_fn, [LABELS, [[1.0]]]), TypeError, '{name}[1][1] must be a tensor'),
    ((_metric_fn, {'labels': LABELS, 'logits': 'x'}), TypeError, "{name}[1]['logits'] must be"),
    ((_metric_fn, {0: LABELS, 'logits': LOGITS}), ValueError, '{name}[1] keys must be strings'),
])
def test_invalid_fn_and_tensors(name, value, error, start):
    with pytest.raises(error) as info:
        _eval(**{name: value})
    assert str(info.value).startswith(start.format(name=name))
    assert 'got ' in str(info.value)


@pytest.mark.parametrize('name', ['eval_metrics', 'host_call'])
def test_valid_fn_and_tensors_are_kept(name):
    spec = _eval(**{name: (_metric_fn, [LABELS, LOGITS])})
    fn, tensors = getattr(spec, name)
    assert fn is _metric_fn and isinstance(tensors, list)
    assert tensors[0] is LABELS and tensors[1] is LOGITS
    spec = _eval(**{name: (_metric_fn, {'labels': LABELS, 'logits': LOGITS})})
    assert getattr(spec, name)[1] == {'labels': LABELS, 'logits': LOGITS}
    assert getattr(_eval(), name) is None


@pytest.mark.parametrize('name', ['eval_metrics', 'host_call'])
def test_scalar_tensors_are_rejected_as_not_batch_major(name):
    with pytest.raises(ValueError) as info:
        _eval(**{name: (_metric_fn, [LABELS, tf.constant(1.0)])})
    msg = str(info.value)
    assert msg.startswith(f'{name}[1][1] must have rank >= 1')
    assert 'batch-major' in msg and 'dimension 0' in msg
    _eval(**{name: (_metric_fn, [LABELS, tf.constant([1.0])])})  # rank 1 is fine


def test_tensors_of_unknown_rank_are_accepted():
    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def f(x):
        spec = _eval(eval_metrics=(lambda v: {'m': (tf.reduce_mean(v), v)}, [x]))
        return spec.eval_metrics[1][0]

    np.testing.assert_allclose(f(tf.constant([1.0, 2.0])).numpy(), [1.0, 2.0])


def _fn_2(a, b):
    return {}


def _fn_default(a, b, weights=None):
    return {}


def _fn_varargs(*tensors):
    return {}


def _fn_kwargs(a, **rest):
    return {}


class _MetricObject:
    def __call__(self, labels, logits):
        return {}


@pytest.mark.parametrize('fn, count, ok', [
    (_fn_2, 2, True), (_fn_2, 1, False), (_fn_2, 3, False),
    (_fn_default, 2, True), (_fn_default, 3, True), (_fn_default, 4, False),
    (_fn_varargs, 5, True), (_fn_varargs, 0, True),
    (functools.partial(_fn_2, 1), 1, True), (functools.partial(_fn_2, 1), 2, False),
    (_MetricObject(), 2, True), (_MetricObject(), 3, False),
    (tf.function(_fn_2), 2, True), (tf.function(_fn_2), 1, False),
])
def test_list_form_must_match_positional_arguments(fn, count, ok):
    pair = (fn, [LOGITS] * count)
    if ok:
        assert _eval(eval_metrics=pair).eval_metrics[0] is fn
    else:
        with pytest.raises(ValueError) as info:
            _eval(eval_metrics=pair)
        msg = str(info.value)
        assert msg.startswith('In TPUEstimatorSpec.eval_metrics')
        assert f'the {count} tensors' in msg and 'metric_fn' in msg


@pytest.mark.parametrize('fn, keys, ok', [
    (_fn_2, ['a', 'b'], True), (_fn_2, ['b', 'a'], True),
    (_fn_2, ['a'], False), (_fn_2, ['a', 'b', 'c'], False), (_fn_2, ['a', 'x'], False),
    (_fn_default, ['a', 'b'], True), (_fn_default, ['a', 'b', 'weights'], True),
    (_fn_kwargs, ['a', 'anything', 'else'], True), (_fn_kwargs, ['anything'], False),
])
def test_dict_form_must_match_argument_names(fn, keys, ok):
    pair = (fn, {k: LOGITS for k in keys})
    if ok:
        _eval(host_call=pair)
    else:
        with pytest.raises(ValueError) as info:
            _eval(host_call=pair)
        msg = str(info.value)
        assert msg.startswith('In TPUEstimatorSpec.host_call, the keys of host_call[1]')
        assert 'unknown' in msg and 'missing' in msg


# --- rules shared with EstimatorSpec -------------------------------------------

@pytest.mark.parametrize('mode, kwargs, missing', [
    (TRAIN, {'train_op': tf.constant(0)}, 'loss'),
    (TRAIN, {'loss': tf.constant(1.0)}, 'train_op'),
    (EVAL, {}, 'loss'),
    (PREDICT, {}, 'predictions'),
])
def test_missing_required_fields(mode, kwargs, missing):
    with pytest.raises(ValueError, match=f'^Missing {missing}: TPUEstimatorSpec'):
        ks.TPUEstimatorSpec(mode, **kwargs)


def test_invalid_mode():
    with pytest.raises(ValueError, match="^TPUEstimatorSpec mode must be one of"):
        ks.TPUEstimatorSpec('predict', predictions=LOGITS)


def test_loss_train_op_predictions_rules():
    spec = ks.TPUEstimatorSpec(TRAIN, loss=tf.constant([2.0]), train_op=tf.constant(0))
    assert spec.loss.shape == () and float(spec.loss) == 2.0
    assert spec.predictions == {}
    with pytest.raises(ValueError, match='^loss must be a scalar'):
        ks.TPUEstimatorSpec(EVAL, loss=tf.constant([1.0, 2.0]))
    with pytest.raises(TypeError, match='^train_op must be'):
        ks.TPUEstimatorSpec(TRAIN, loss=tf.constant(1.0), train_op='minimize')
    with pytest.raises(TypeError, match=r"^predictions\['p'\] must be a tensor"):
        ks.TPUEstimatorSpec(PREDICT, predictions={'p': np.ones(2)})


def test_predict_export_outputs_like_estimator_spec():
    spec = ks.TPUEstimatorSpec(PREDICT, predictions={'logits': LOGITS})
    assert spec.export_outputs['serving_default'].outputs == {'logits': LOGITS}
    cls = ks.ClassificationOutput(scores=LOGITS)
    spec = ks.TPUEstimatorSpec(PREDICT, predictions=LOGITS, export_outputs={'classify': cls})
    assert spec.export_outputs == {'classify': cls, 'serving_default': cls}
    with pytest.raises(ValueError, match='Multiple export_outputs'):
        ks.TPUEstimatorSpec(PREDICT, predictions=LOGITS,
                            export_outputs={'a': cls, 'b': ks.PredictOutput(LOGITS)})


@pytest.mark.parametrize('field', ['training_hooks', 'evaluation_hooks', 'prediction_hooks'])
def test_hooks(field):
    hook = _Hook()
    assert getattr(_eval(**{field: [hook]}), field) == (hook,)
    assert getattr(_eval(), field) == ()
    with pytest.raises(TypeError, match=rf'^{field}\[0\] must be a tf.compat.v1.train.SessionRunHook'):
        _eval(**{field: [object()]})


def test_scaffold_fn_must_be_callable():
    with pytest.raises(TypeError, match=r'^scaffold_fn must be a callable'):
        _eval(scaffold_fn=ks.Scaffold())


def test_replace_keeps_mode_and_revalidates():
    spec = _eval()
    with pytest.raises(ValueError, match='mode of TPUEstimatorSpec cannot be changed'):
        spec._replace(mode=PREDICT)
    with pytest.raises(ValueError, match=r'^eval_metrics\[1\]\[0\] must have rank >= 1'):
        spec._replace(eval_metrics=(_fn_varargs, [tf.constant(1.0)]))


# --- as_estimator_spec ---------------------------------------------------------

def test_as_estimator_spec_calls_metric_fn_positionally_for_a_list():
    calls = []

    def metric_fn(labels, logits):
        calls.append(('positional', labels, logits))
        return _metric_fn(labels, logits)

    spec = _eval(eval_metrics=(metric_fn, [LABELS, LOGITS])).as_estimator_spec()
    assert isinstance(spec, ks.EstimatorSpec) and spec.mode == EVAL
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0][1].numpy(), LABELS.numpy())
    np.testing.assert_array_equal(calls[0][2].numpy(), LOGITS.numpy())
    assert sorted(spec.eval_metric_ops) == ['accuracy', 'mean_logit']
    assert float(spec.eval_metric_ops['accuracy'][0]) == pytest.approx(0.75)
    assert int(spec.eval_metric_ops['accuracy'][1]) == 4


def test_as_estimator_spec_calls_metric_fn_with_keywords_for_a_dict():
    received = {}

    def metric_fn(logits, labels):  # order differs from the dict: keywords must be used
        received.update(logits=logits, labels=labels)
        return _metric_fn(labels, logits)

    spec = _eval(eval_metrics=(metric_fn, {'labels': LABELS, 'logits': LOGITS}))
    est = spec.as_estimator_spec()
    np.testing.assert_array_equal(received['labels'].numpy(), [0, 1, 1, 2])
    assert received['logits'].shape == (4, 3)
    assert float(est.eval_metric_ops['accuracy'][0]) == pytest.approx(0.75)
    assert float(est.eval_metric_ops['mean_logit'][0]) == pytest.approx(7.0 / 12)


def test_as_estimator_spec_metric_fn_must_return_a_dict():
    spec = _eval(eval_metrics=(lambda x: (tf.reduce_mean(x), x), [LOGITS]))
    with pytest.raises(TypeError, match='^eval_metrics: metric_fn must return a dict'):
        spec.as_estimator_spec()


def test_as_estimator_spec_calls_scaffold_fn_exactly_once():
    made = []

    def scaffold_fn():
        made.append(ks.Scaffold())
        return made[-1]

    est = _eval(scaffold_fn=scaffold_fn).as_estimator_spec()
    assert len(made) == 1 and est.scaffold is made[0]
    assert isinstance(_eval().as_estimator_spec().scaffold, tf.compat.v1.train.Scaffold)
    with pytest.raises(TypeError, match='^scaffold_fn must return a tf.compat.v1.train.Scaffold'):
        _eval(scaffold_fn=lambda: 'scaffold').as_estimator_spec()


def test_as_estimator_spec_host_call_rides_on_a_hook_in_every_hook_list():
    def host_fn(global_step, loss):
        return [global_step * 10, tf.reduce_mean(loss)]

    user_hook = _Hook()
    spec = ks.TPUEstimatorSpec(
        TRAIN, loss=tf.constant(1.0), train_op=tf.constant(0),
        host_call=(host_fn, [tf.constant([7]), tf.constant([1.0, 3.0])]),
        training_hooks=[user_hook])
    est = spec.as_estimator_spec()
    assert est.training_hooks[0] is user_hook and len(est.training_hooks) == 2
    host_hook = est.training_hooks[1]
    assert isinstance(host_hook, ks.hooks.HostCallHook)
    assert isinstance(host_hook, tf.compat.v1.train.SessionRunHook)
    assert est.evaluation_hooks == (host_hook,) and est.prediction_hooks == (host_hook,)
    np.testing.assert_array_equal(host_hook.fetches[0].numpy(), [70])
    assert float(host_hook.fetches[1]) == pytest.approx(2.0)
    args = host_hook.before_run(None)
    assert isinstance(args, tf.compat.v1.train.SessionRunArgs)
    assert args.fetches is host_hook.fetches
    # Without host_call no hook is added.
    assert _eval().as_estimator_spec().training_hooks == ()


def test_as_estimator_spec_keeps_the_other_fields():
    train_op = tf.constant(3)
    loss = tf.constant(0.5)
    spec = ks.TPUEstimatorSpec(TRAIN, loss=loss, train_op=train_op,
                               predictions={'logits': LOGITS})
    est = spec.as_estimator_spec()
    assert est.loss is loss and est.train_op is train_op
    assert est.predictions['logits'] is LOGITS
    assert est.eval_metric_ops == {}
    out = ks.RegressionOutput(tf.constant([1.0]))
    pred = ks.TPUEstimatorSpec(PREDICT, predictions={'logits': LOGITS},
                               export_outputs={'serving_default': out, 'p': ks.PredictOutput(LOGITS)})
    est = pred.as_estimator_spec()
    assert est.mode == PREDICT
    assert est.export_outputs['serving_default'] is out
    assert est.export_outputs['p'] is pred.export_outputs['p']


def test_as_estimator_spec_of_train_spec_without_train_op():
    with train_op_optional():
        spec = ks.TPUEstimatorSpec(TRAIN, loss=tf.constant(1.0))
    est = spec.as_estimator_spec()  # accepted spec, accepted translation
    assert est.train_op is None and est.mode == TRAIN


def test_as_estimator_spec_inside_tf_function():
    @tf.function
    def step(labels, logits):
        spec = ks.TPUEstimatorSpec(EVAL, loss=tf.reduce_mean(logits),
                                   eval_metrics=(_metric_fn, [labels, logits]))
        est = spec.as_estimator_spec()
        assert not hasattr(est.eval_metric_ops['accuracy'][0], 'numpy')  # graph tensor
        return est.eval_metric_ops['accuracy'][0]

    assert float(step(LABELS, LOGITS)) == pytest.approx(0.75)


# --- call_host_fn ----------------------------------------------------------------

def test_call_host_fn_with_replacement_tensors():
    replica_a = tf.constant([[1.0, 0.0]])
    replica_b = tf.constant([[0.0, 1.0]])
    pair = (lambda labels, logits: (labels, logits), [tf.constant([0]), replica_a])
    concatenated = [tf.constant([0, 1]), tf.concat([replica_a, replica_b], 0)]
    labels, logits = call_host_fn(pair, concatenated)
    np.testing.assert_array_equal(labels.numpy(), [0, 1])
    np.testing.assert_array_equal(logits.numpy(), [[1.0, 0.0], [0.0, 1.0]])
    labels, logits = call_host_fn(pair)
    assert logits is replica_a

    kw_pair = (lambda **kw: sorted(kw), {'x': replica_a, 'y': replica_b})
    assert call_host_fn(kw_pair, {'y': replica_a, 'x': replica_b}) == ['x', 'y']
    with pytest.raises(ValueError, match='^call_host_fn: the replacement tensors'):
        call_host_fn(kw_pair, [replica_a, replica_b])
    with pytest.raises(ValueError, match='^call_host_fn: the replacement tensors'):
        call_host_fn(pair, [replica_a])
