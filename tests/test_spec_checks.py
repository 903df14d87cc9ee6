"""Tensors of every origin a model_fn may return, judged by keras_spec's checks."""

import numpy as np
import pytest
import tensorflow as tf
import keras

import keras_spec as ks
from keras_spec import _checks

TRAIN, EVAL, PREDICT = ks.ModeKeys.TRAIN, ks.ModeKeys.EVAL, ks.ModeKeys.PREDICT


def test_eager_tensors_are_accepted_and_kept():
    loss = tf.constant(2.5)
    probs = tf.constant([[0.1, 0.9]])
    spec = ks.EstimatorSpec(EVAL, loss=loss, predictions={'probs': probs})
    assert spec.loss is loss
    assert spec.predictions['probs'] is probs


def test_spec_built_inside_tf_function_trace():
    seen = {}

    @tf.function
    def step(x):
        loss = tf.reduce_mean(x)
        spec = ks.EstimatorSpec(TRAIN, loss=tf.reshape(loss, [1]), train_op=tf.identity(x),
                                predictions={'double': x * 2.0})
        # Asserted during the trace: graph tensors of this FuncGraph.
        assert isinstance(spec.loss, tf.Tensor) and not hasattr(spec.loss, 'numpy')
        assert spec.loss.shape.rank == 0
        assert spec.loss.graph is tf.compat.v1.get_default_graph()
        seen['traced'] = True
        return spec.loss, spec.predictions['double']

    loss, double = step(tf.constant([1.0, 3.0]))
    assert seen['traced']
    assert float(loss) == pytest.approx(2.0)
    np.testing.assert_allclose(double.numpy(), [2.0, 6.0])


def test_spec_built_in_wrap_function_graph_with_v1_ops():
    def model_fn():
        x = tf.constant([[1.0, 2.0]])
        w = tf.compat.v1.get_variable(
            'w', shape=[2, 1], initializer=tf.compat.v1.constant_initializer([[0.5], [0.25]]))
        loss = tf.reduce_sum(tf.matmul(x, w))
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        spec = ks.EstimatorSpec(TRAIN, loss=loss, train_op=train_op)
        assert isinstance(spec.train_op, tf.Operation)
        assert spec.train_op is train_op
        return spec.loss

    fn = tf.compat.v1.wrap_function(model_fn, [])
    assert float(fn()) == pytest.approx(1.0)


def test_spec_built_in_tf_graph_as_default():
    with tf.Graph().as_default() as g:
        labels = tf.compat.v1.placeholder(tf.int64, [None])
        preds = tf.compat.v1.placeholder(tf.int64, [None])
        acc = tf.compat.v1.metrics.accuracy(labels, preds)
        loss = tf.constant([0.3])
        spec = ks.EstimatorSpec(EVAL, loss=loss, eval_metric_ops={'acc': acc})
        assert spec.loss.graph is g and spec.loss.shape.rank == 0
        assert spec.eval_metric_ops['acc'][0] is acc[0]
        assert spec.eval_metric_ops['acc'][1] is acc[1]
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.local_variables_initializer())
            sess.run(spec.eval_metric_ops['acc'][1], {labels: [1, 2, 3, 4], preds: [1, 2, 0, 4]})
            assert sess.run(spec.eval_metric_ops['acc'][0]) == pytest.approx(0.75)
            assert sess.run(spec.loss) == pytest.approx(0.3)


def test_tf_variable_is_accepted_as_loss_train_op_and_prediction():
    v = tf.Variable(1.5)
    step = tf.Variable(0, dtype=tf.int64)
    table = tf.Variable([1.0, 2.0])
    spec = ks.EstimatorSpec(TRAIN, loss=v, train_op=step, predictions=table)
    assert spec.loss is v
    assert spec.train_op is step
    assert spec.predictions is table


def test_keras_variable_becomes_its_tf_variable():
    kv = keras.Variable(0.25)
    kstep = keras.Variable(3, dtype='int64')
    spec = ks.EstimatorSpec(TRAIN, loss=kv, train_op=kstep, predictions={'p': kv})
    assert isinstance(spec.loss, tf.Variable)
    assert spec.loss is kv.value
    assert spec.train_op is kstep.value
    assert spec.predictions['p'] is kv.value
    kv.assign(0.75)  # still the live variable, not a snapshot
    assert float(spec.loss) == pytest.approx(0.75)


def test_keras_variable_of_shape_1_loss_is_reshaped():
    spec = ks.EstimatorSpec(EVAL, loss=keras.Variable([4.0]))
    assert spec.loss.shape == ()
    assert float(spec.loss) == pytest.approx(4.0)


def test_distributed_variables_are_accepted():
    strategy = tf.distribute.MirroredStrategy(['/cpu:0'])
    with strategy.scope():
        mirrored = tf.Variable(2.0)
        on_read = tf.Variable([1.0], synchronization=tf.VariableSynchronization.ON_READ,
                              aggregation=tf.VariableAggregation.SUM)
    assert isinstance(mirrored, tf.distribute.DistributedValues)
    spec = ks.EstimatorSpec(TRAIN, loss=mirrored, train_op=mirrored)
    assert spec.loss is mirrored and spec.train_op is mirrored
    spec = ks.EstimatorSpec(EVAL, loss=on_read)
    assert float(spec.loss) == pytest.approx(1.0)


@pytest.mark.parametrize('field', ['loss', 'train_op', 'predictions', 'eval_metric_ops'])
def test_keras_symbolic_tensor_is_rejected_with_explanation(field):
    kt = keras.Input(shape=(3,))
    kwargs = {'loss': tf.constant(1.0), 'train_op': tf.constant(0)}
    if field == 'eval_metric_ops':
        kwargs[field] = {'acc': (kt, tf.constant(0))}
        named = "eval_metric_ops['acc'][0]"
    elif field == 'predictions':
        kwargs[field] = {'probs': kt}
        named = "predictions['probs']"
    else:
        kwargs[field] = kt
        named = field
    with pytest.raises(TypeError) as info:
        ks.EstimatorSpec(TRAIN, **kwargs)
    msg = str(info.value)
    assert msg.startswith(named + ' must be')
    assert 'KerasTensor' in msg and 'features' in msg


@pytest.mark.parametrize('bad, type_name', [
    (1.0, 'float'), (np.array(1.0, np.float32), 'ndarray'), ([1.0], 'list'), ('loss', 'str')])
def test_non_tensors_are_rejected_naming_field_type_and_value(bad, type_name):
    with pytest.raises(TypeError) as info:
        ks.EstimatorSpec(EVAL, loss=bad)
    msg = str(info.value)
    assert msg.startswith('loss must be a scalar tensor')
    assert type_name in msg and repr(bad)[:3] in msg


def test_describe_shortens_long_reprs():
    text = _checks.describe(list(range(1000)))
    assert text.startswith('builtins.list [0, 1, 2')
    assert text.endswith('...') and len(text) < 200


def test_graph_tensor_from_another_graph_is_rejected():
    with tf.Graph().as_default():
        foreign = tf.constant(1.0)
    with tf.Graph().as_default():
        with pytest.raises(ValueError) as info:
            ks.EstimatorSpec(EVAL, loss=foreign)
        assert str(info.value).startswith('loss (')
        assert 'not to the graph being built' in str(info.value)
        ks.EstimatorSpec(EVAL, loss=tf.constant(1.0))  # same-graph tensor is fine


def test_tensor_leaked_from_an_earlier_trace_is_rejected():
    leaked = []

    @tf.function
    def first():
        leaked.append(tf.constant([1.0, 2.0]))
        return 0

    first()

    @tf.function
    def second():
        ks.EstimatorSpec(PREDICT, predictions={'p': leaked[0]})
        return 0

    with pytest.raises(ValueError, match=r"predictions\['p'\] .*earlier call"):
        second()


def test_outer_graph_tensor_is_accepted_in_nested_function():
    @tf.function
    def outer():
        x = tf.constant(3.0) * 2.0

        @tf.function
        def inner():
            spec = ks.EstimatorSpec(EVAL, loss=x)
            return spec.loss + 1.0

        return inner()

    assert float(outer()) == pytest.approx(7.0)


def test_operation_accepted_only_where_ops_are():
    with tf.Graph().as_default():
        op = tf.no_op()
        assert ks.EstimatorSpec(TRAIN, loss=tf.constant(1.0), train_op=op).train_op is op
        with pytest.raises(TypeError, match=r'^loss must be a scalar tensor'):
            ks.EstimatorSpec(EVAL, loss=op)
        with pytest.raises(TypeError, match=r"^predictions\['x'\] must be a tensor"):
            ks.EstimatorSpec(PREDICT, predictions={'x': op})
