"""EstimatorSpec rules, valid and invalid side by side."""

import threading

import numpy as np
import pytest
import tensorflow as tf
import keras

import keras_spec as ks
from keras_spec.validation import train_op_optional, is_train_op_optional

TRAIN, EVAL, PREDICT = ks.ModeKeys.TRAIN, ks.ModeKeys.EVAL, ks.ModeKeys.PREDICT


def _loss(value=1.0):
    return tf.constant(value)


class _MyHook(tf.compat.v1.train.SessionRunHook):
    pass


def test_fields_in_tf_estimator_order():
    assert ks.EstimatorSpec._fields == (
        'mode', 'predictions', 'loss', 'train_op', 'eval_metric_ops', 'export_outputs',
        'training_chief_hooks', 'training_hooks', 'scaffold', 'evaluation_hooks',
        'prediction_hooks')


@pytest.mark.parametrize('mode', ['training', 'TRAIN', 'predict', None, 1])
def test_invalid_mode_lists_the_valid_ones(mode):
    with pytest.raises(ValueError) as info:
        ks.EstimatorSpec(mode, loss=_loss(), train_op=_loss(), predictions=_loss())
    msg = str(info.value)
    assert 'mode must be one of' in msg
    assert "'train'" in msg and "'eval'" in msg and "'infer'" in msg and repr(mode) in msg


@pytest.mark.parametrize('mode', [TRAIN, EVAL, PREDICT])
def test_valid_modes(mode):
    spec = ks.EstimatorSpec(mode, loss=_loss(), train_op=_loss(), predictions=_loss())
    assert spec.mode == mode


# --- required fields per mode ------------------------------------------------

@pytest.mark.parametrize('mode, kwargs, missing', [
    (TRAIN, {'train_op': _loss()}, 'loss'),
    (TRAIN, {'loss': _loss()}, 'train_op'),
    (EVAL, {'train_op': _loss(), 'predictions': _loss()}, 'loss'),
    (PREDICT, {'loss': _loss()}, 'predictions'),
])
def test_missing_required_field(mode, kwargs, missing):
    with pytest.raises(ValueError, match=f'^Missing {missing}'):
        ks.EstimatorSpec(mode, **kwargs)


@pytest.mark.parametrize('mode, kwargs', [
    (TRAIN, {'loss': _loss(), 'train_op': _loss()}),
    (EVAL, {'loss': _loss()}),
    (PREDICT, {'predictions': _loss()}),
])
def test_minimal_valid_spec_per_mode(mode, kwargs):
    spec = ks.EstimatorSpec(mode, **kwargs)
    for name, value in kwargs.items():
        assert getattr(spec, name) is value


def test_missing_train_op_message_explains_both_remedies():
    with pytest.raises(ValueError) as info:
        ks.EstimatorSpec(TRAIN, loss=_loss())
    msg = str(info.value)
    assert 'train_op' in msg and 'TRAIN' in msg
    assert 'optimizer.minimize(loss, global_step=' in msg
    assert 'adapters.SpecModel' in msg and 'optimizer' in msg


# --- train_op_optional -------------------------------------------------------

def test_train_op_optional_allows_missing_train_op_and_is_reentrant():
    assert not is_train_op_optional()
    with train_op_optional():
        with train_op_optional():
            assert ks.EstimatorSpec(TRAIN, loss=_loss()).train_op is None
        # Still inside the outer context.
        assert ks.EstimatorSpec(TRAIN, loss=_loss()).train_op is None
        with pytest.raises(ValueError, match='^Missing loss'):
            ks.EstimatorSpec(TRAIN)  # loss stays required
    assert not is_train_op_optional()
    with pytest.raises(ValueError, match='^Missing train_op'):
        ks.EstimatorSpec(TRAIN, loss=_loss())


def test_train_op_optional_is_left_on_exception():
    with pytest.raises(RuntimeError):
        with train_op_optional():
            raise RuntimeError('boom')
    assert not is_train_op_optional()


def test_train_op_optional_is_seen_from_other_threads():
    results = []

    def replica():
        try:
            results.append(ks.EstimatorSpec(TRAIN, loss=_loss()).train_op)
        except ValueError as e:  # pragma: no cover - reported through results
            results.append(e)

    with train_op_optional():
        threads = [threading.Thread(target=replica) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [None] * 4


def test_train_op_optional_counter_survives_concurrent_use():
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        for _ in range(200):
            with train_op_optional():
                assert is_train_op_optional()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not is_train_op_optional()


# --- loss --------------------------------------------------------------------

def test_scalar_loss_is_kept_as_is():
    loss = _loss(3.0)
    assert ks.EstimatorSpec(EVAL, loss=loss).loss is loss


@pytest.mark.parametrize('shape', [[1], [1, 1]])
def test_one_element_loss_is_reshaped_to_scalar(shape):
    spec = ks.EstimatorSpec(EVAL, loss=tf.fill(shape, 2.5))
    assert spec.loss.shape == ()
    assert float(spec.loss) == pytest.approx(2.5)


@pytest.mark.parametrize('shape', [[2], [1, 3], [0]])
def test_loss_with_several_elements_is_rejected(shape):
    with pytest.raises(ValueError) as info:
        ks.EstimatorSpec(EVAL, loss=tf.zeros(shape))
    assert str(info.value).startswith('loss must be a scalar')
    assert str(tf.TensorShape(shape)) in str(info.value)


def test_loss_of_unknown_shape_is_accepted_and_reshaped():
    @tf.function(input_signature=[tf.TensorSpec([None])])
    def f(x):
        spec = ks.EstimatorSpec(EVAL, loss=x)
        assert spec.loss.shape.rank == 0
        return spec.loss

    assert float(f(tf.constant([5.0]))) == pytest.approx(5.0)


# --- predictions -------------------------------------------------------------

@pytest.mark.parametrize('mode', [TRAIN, EVAL])
def test_missing_predictions_become_empty_dict_outside_predict(mode):
    spec = ks.EstimatorSpec(mode, loss=_loss(), train_op=_loss())
    assert spec.predictions == {}


def test_predictions_dict_values_are_checked_by_key():
    good = tf.constant([0.2])
    spec = ks.EstimatorSpec(PREDICT, predictions={'probs': good, 'ids': tf.constant([1])})
    assert spec.predictions['probs'] is good and set(spec.predictions) == {'probs', 'ids'}
    with pytest.raises(TypeError) as info:
        ks.EstimatorSpec(PREDICT, predictions={'probs': [0.2], 'ids': tf.constant([1])})
    assert str(info.value).startswith("predictions['probs'] must be a tensor")
    assert 'builtins.list [0.2]' in str(info.value)


def test_predictions_must_be_tensor_or_dict():
    with pytest.raises(TypeError, match=r'^predictions must be a tensor or a dict of tensors; '
                                        r'got builtins.tuple'):
        ks.EstimatorSpec(PREDICT, predictions=(tf.constant(1.0),))


def test_sparse_predictions_are_rejected_in_estimator_spec():
    sparse = tf.SparseTensor([[0, 0]], [1.0], [1, 1])
    with pytest.raises(TypeError) as info:
        ks.EstimatorSpec(PREDICT, predictions={'s': sparse})
    assert str(info.value).startswith("predictions['s']")
    assert 'only in ModelFnOps' in str(info.value)


# --- eval_metric_ops ---------------------------------------------------------

def test_eval_metric_ops_default_and_valid_forms():
    assert ks.EstimatorSpec(EVAL, loss=_loss()).eval_metric_ops == {}
    metric = keras.metrics.Mean(name='m')
    metric.update_state([1.0, 3.0])
    value, update = tf.constant(0.5), tf.constant(1)
    nested = ((tf.constant(1.0), tf.constant(2.0)), tf.constant(0))
    given = {'mean': metric, 'acc': (value, update), 'nested': nested}
    spec = ks.EstimatorSpec(EVAL, loss=_loss(), eval_metric_ops=given)
    assert spec.eval_metric_ops['mean'] is metric
    assert spec.eval_metric_ops['acc'][0] is value and spec.eval_metric_ops['acc'][1] is update
    assert spec.eval_metric_ops['nested'][0][1] is nested[0][1]
    assert spec.eval_metric_ops is not given


def test_tf_keras_metric_is_accepted():
    tf_keras = pytest.importorskip('tf_keras')
    metric = tf_keras.metrics.Mean()
    spec = ks.EstimatorSpec(EVAL, loss=_loss(), eval_metric_ops={'m': metric})
    assert spec.eval_metric_ops['m'] is metric


@pytest.mark.parametrize('value, error, named', [
    ([tf.constant(1.0), tf.constant(0)], TypeError, "eval_metric_ops['acc'] must be"),
    ((tf.constant(1.0), tf.constant(0), tf.constant(0)), TypeError,
     "eval_metric_ops['acc'] must be"),
    (tf.constant(1.0), TypeError, "eval_metric_ops['acc'] must be"),
    ((tf.constant(1.0), None), TypeError, "eval_metric_ops['acc'][1] (update_op) must be"),
    ((0.5, tf.constant(0)), TypeError, "eval_metric_ops['acc'][0] must be"),
])
def test_invalid_eval_metric_values_name_the_key(value, error, named):
    with pytest.raises(error) as info:
        ks.EstimatorSpec(EVAL, loss=_loss(), eval_metric_ops={'acc': value})
    assert str(info.value).startswith(named)
    assert 'got ' in str(info.value)


def test_eval_metric_ops_must_be_a_dict_with_string_keys():
    with pytest.raises(TypeError, match=r'^eval_metric_ops must be a dict'):
        ks.EstimatorSpec(EVAL, loss=_loss(), eval_metric_ops=[(tf.constant(1.0), tf.constant(0))])
    with pytest.raises(TypeError, match=r'^eval_metric_ops keys must be strings'):
        ks.EstimatorSpec(EVAL, loss=_loss(), eval_metric_ops={1: (tf.constant(1.0), tf.constant(0))})


# --- hooks -------------------------------------------------------------------

HOOK_FIELDS = ['training_chief_hooks', 'training_hooks', 'evaluation_hooks', 'prediction_hooks']


@pytest.mark.parametrize('field', HOOK_FIELDS)
def test_hooks_default_to_empty_tuple(field):
    assert getattr(ks.EstimatorSpec(EVAL, loss=_loss()), field) == ()


@pytest.mark.parametrize('field', HOOK_FIELDS)
def test_hooks_become_tuples_and_accept_subclasses(field):
    hooks = [_MyHook(), ks.hooks.StopAtStepHook(last_step=10)]
    spec = ks.EstimatorSpec(EVAL, loss=_loss(), **{field: hooks})
    assert getattr(spec, field) == tuple(hooks)
    assert isinstance(getattr(spec, field), tuple)


@pytest.mark.parametrize('field', HOOK_FIELDS)
def test_non_hook_item_is_named_by_index(field):
    with pytest.raises(TypeError) as info:
        ks.EstimatorSpec(EVAL, loss=_loss(), **{field: [_MyHook(), 'not a hook']})
    assert str(info.value).startswith(f'{field}[1] must be a tf.compat.v1.train.SessionRunHook')
    assert "builtins.str 'not a hook'" in str(info.value)


def test_single_hook_not_in_a_list_is_explained():
    with pytest.raises(TypeError, match=r'^training_hooks must be a list .*wrap it in a list'):
        ks.EstimatorSpec(EVAL, loss=_loss(), training_hooks=_MyHook())
    with pytest.raises(TypeError, match=r'^evaluation_hooks must be a list'):
        ks.EstimatorSpec(EVAL, loss=_loss(), evaluation_hooks=3)


# --- scaffold ----------------------------------------------------------------

def test_scaffold_default_given_and_invalid():
    assert isinstance(ks.EstimatorSpec(EVAL, loss=_loss()).scaffold, tf.compat.v1.train.Scaffold)
    scaffold = ks.Scaffold()
    assert ks.EstimatorSpec(EVAL, loss=_loss(), scaffold=scaffold).scaffold is scaffold
    with pytest.raises(TypeError, match=r'^scaffold must be a tf.compat.v1.train.Scaffold; got '
                                        r'builtins.dict'):
        ks.EstimatorSpec(EVAL, loss=_loss(), scaffold={'init_op': None})


# --- export_outputs ----------------------------------------------------------

@pytest.mark.parametrize('mode', [TRAIN, EVAL])
def test_export_outputs_are_not_processed_outside_predict(mode):
    raw = {'head': 'not an ExportOutput'}
    spec = ks.EstimatorSpec(mode, loss=_loss(), train_op=_loss(), export_outputs=raw)
    assert spec.export_outputs is raw
    assert ks.EstimatorSpec(mode, loss=_loss(), train_op=_loss()).export_outputs is None


def test_default_export_output_predicts_the_predictions():
    probs, ids = tf.constant([[0.3, 0.7]]), tf.constant([1])
    spec = ks.EstimatorSpec(PREDICT, predictions={'probs': probs, 'ids': ids})
    assert list(spec.export_outputs) == ['serving_default']
    default = spec.export_outputs['serving_default']
    assert isinstance(default, ks.PredictOutput)
    assert default.outputs == {'probs': probs, 'ids': ids}
    single = ks.EstimatorSpec(PREDICT, predictions=probs).export_outputs['serving_default']
    assert single.outputs == {'output': probs}


def test_default_export_output_failure_names_the_field():
    with pytest.raises(ValueError) as info:
        ks.EstimatorSpec(PREDICT, predictions={1: tf.constant([1.0])})
    assert str(info.value).startswith("export_outputs['serving_default']")
    assert 'output key must be a string' in str(info.value)


def test_single_named_export_output_also_becomes_serving_default():
    out = ks.RegressionOutput(tf.constant([1.0]))
    given = {'regression': out}
    spec = ks.EstimatorSpec(PREDICT, predictions=tf.constant([1.0]), export_outputs=given)
    assert spec.export_outputs == {'regression': out, 'serving_default': out}
    assert given == {'regression': out}  # caller's dict untouched


def test_several_export_outputs_need_a_serving_default():
    a = ks.RegressionOutput(tf.constant([1.0]))
    b = ks.PredictOutput(tf.constant([1.0]))
    with pytest.raises(ValueError) as info:
        ks.EstimatorSpec(PREDICT, predictions=tf.constant([1.0]), export_outputs={'a': a, 'b': b})
    assert 'Multiple export_outputs' in str(info.value) and "['a', 'b']" in str(info.value)
    spec = ks.EstimatorSpec(PREDICT, predictions=tf.constant([1.0]),
                            export_outputs={'serving_default': a, 'b': b})
    assert spec.export_outputs == {'serving_default': a, 'b': b}


@pytest.mark.parametrize('export_outputs, error, start', [
    ([ks.PredictOutput(tf.constant([1.0]))], TypeError, 'export_outputs must be a dict'),
    ({'head': tf.constant([1.0])}, TypeError, "export_outputs['head'] must be an ExportOutput"),
    ({('a', 'b'): ks.PredictOutput(tf.constant([1.0]))}, TypeError,
     'export_outputs keys must be strings'),
])
def test_invalid_export_outputs(export_outputs, error, start):
    with pytest.raises(error) as info:
        ks.EstimatorSpec(PREDICT, predictions=tf.constant([1.0]), export_outputs=export_outputs)
    assert str(info.value).startswith(start)


# --- _replace ----------------------------------------------------------------

def test_replace_cannot_change_mode():
    spec = ks.EstimatorSpec(EVAL, loss=_loss())
    with pytest.raises(ValueError, match="mode of EstimatorSpec cannot be changed"):
        spec._replace(mode=TRAIN)
    assert spec._replace(mode=EVAL).mode == EVAL


def test_replace_revalidates():
    spec = ks.EstimatorSpec(EVAL, loss=_loss())
    new = spec._replace(loss=tf.constant([7.0]))
    assert isinstance(new, ks.EstimatorSpec)
    assert new.loss.shape == () and float(new.loss) == pytest.approx(7.0)
    with pytest.raises(TypeError, match='^loss must be'):
        spec._replace(loss='bad')
    with pytest.raises(ValueError, match='^Missing loss'):
        spec._replace(loss=None)
    with pytest.raises(ValueError, match='unexpected field names'):
        spec._replace(los=_loss())


def test_replace_predict_spec_keeps_default_export_output():
    spec = ks.EstimatorSpec(PREDICT, predictions={'a': tf.constant([1.0])})
    new = spec._replace(training_hooks=[_MyHook()])
    assert new.export_outputs['serving_default'] is spec.export_outputs['serving_default']
    np.testing.assert_allclose(new.predictions['a'].numpy(), [1.0])
