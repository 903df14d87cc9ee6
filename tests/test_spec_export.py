"""Serving input receivers and the receiver-fn builders."""

import numpy as np
import pytest
import tensorflow as tf
import keras

import keras_spec as ks
from keras_spec import export

X = tf.constant([[1.0, 2.0]])
RAW = tf.constant(['serialized'])


def _example(x, ids):
    feature = {'x': tf.train.Feature(float_list=tf.train.FloatList(value=x)),
               'ids': tf.train.Feature(int64_list=tf.train.Int64List(value=ids))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


# --- ServingInputReceiver ----------------------------------------------------------

def test_single_tensors_are_wrapped():
    receiver = export.ServingInputReceiver(X, RAW)
    assert receiver.features == {'feature': X}
    assert receiver.receiver_tensors == {'input': RAW}
    assert receiver.receiver_tensors_alternatives is None


def test_dicts_sparse_ragged_and_int_feature_keys():
    sparse = tf.SparseTensor([[0, 0]], [1], [1, 2])
    ragged = tf.ragged.constant([[1, 2], [3]])
    receiver = export.ServingInputReceiver({'x': X, 0: sparse, 'r': ragged}, {'examples': RAW})
    assert receiver.features == {'x': X, 0: sparse, 'r': ragged}
    assert receiver.receiver_tensors == {'examples': RAW}


def test_alternatives_become_dicts_of_tensors():
    given = {'raw': X, 'both': {'x': X, 'examples': RAW}}
    receiver = export.ServingInputReceiver({'x': X}, RAW, given)
    assert receiver.receiver_tensors_alternatives == {'raw': {'input': X},
                                                      'both': {'x': X, 'examples': RAW}}
    assert given['raw'] is X  # caller's dict untouched


@pytest.mark.parametrize('args, start', [
    ((None, RAW), 'features must be defined'),
    ((X, None), 'receiver_tensors must be defined'),
    (({'x': [1.0]}, RAW), "feature 'x' must be a Tensor, SparseTensor, or RaggedTensor; got"),
    (({1.5: X}, RAW), 'feature keys must be strings or ints'),
    ((X, {0: RAW}), 'receiver_tensor keys must be strings; got'),
    ((X, {'in': np.array(['a'])}), "receiver_tensor 'in' must be a Tensor"),
    ((X, RAW, [RAW]), 'receiver_tensors_alternatives must be a dict'),
    ((X, RAW, {'alt': {'a': 'b'}}), "receiver_tensors_alternative 'a' must be a Tensor"),
])
def test_invalid_receivers(args, start):
    with pytest.raises(ValueError) as info:
        export.ServingInputReceiver(*args)
    assert str(info.value).startswith(start)


def test_keras_tensor_receiver_is_explained():
    with pytest.raises(ValueError, match=r"^feature 'x' must be a Tensor.*KerasTensor.*placeholder"):
        export.ServingInputReceiver({'x': keras.Input((2,))}, RAW)


def test_tensor_serving_input_receiver_keeps_the_lone_feature():
    receiver = export.TensorServingInputReceiver(X, RAW)
    assert receiver.features is X
    assert receiver.receiver_tensors == {'input': RAW}
    with pytest.raises(ValueError, match='^features must be a Tensor'):
        export.TensorServingInputReceiver({'x': X}, RAW)
    with pytest.raises(ValueError, match='^features must be defined'):
        export.TensorServingInputReceiver(None, RAW)


# --- build_parsing_serving_input_receiver_fn -----------------------------------------

FEATURE_SPEC = {'x': tf.io.FixedLenFeature([2], tf.float32),
                'ids': tf.io.VarLenFeature(tf.int64)}


@pytest.mark.parametrize('batch', [None, 2])
def test_parsing_receiver_inside_wrap_function(batch):
    receiver_fn = export.build_parsing_serving_input_receiver_fn(FEATURE_SPEC, batch)
    seen = {}

    def serving():
        receiver = receiver_fn()
        seen['receiver'] = receiver
        return receiver.features['x']

    wrapped = tf.compat.v1.wrap_function(serving, [])
    receiver = seen['receiver']
    assert isinstance(receiver, ks.export.ServingInputReceiver)
    assert list(receiver.receiver_tensors) == ['examples']
    placeholder = receiver.receiver_tensors['examples']
    assert placeholder.op.type == 'Placeholder'
    assert placeholder.name == 'input_example_tensor:0'
    assert placeholder.dtype == tf.string
    assert placeholder.shape.as_list() == [batch]
    assert receiver.features['x'].dtype == tf.float32
    assert receiver.features['x'].shape.as_list() == [batch, 2]
    assert isinstance(receiver.features['ids'], tf.SparseTensor)
    parse = wrapped.prune(feeds=[placeholder],
                          fetches=[receiver.features['x'], receiver.features['ids'].values])
    x, ids = parse(tf.constant([_example([1.0, 2.0], [7]), _example([3.0, 4.0], [8, 9])]))
    np.testing.assert_allclose(x.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(ids.numpy(), [7, 8, 9])


def test_parsing_receiver_called_eagerly_raises_clearly():
    receiver_fn = export.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    with pytest.raises(RuntimeError) as info:
        receiver_fn()
    msg = str(info.value)
    assert 'build_parsing_serving_input_receiver_fn' in msg and 'placeholder' in msg
    assert 'called eagerly' in msg and 'wrap_function' in msg


@pytest.mark.parametrize('feature_spec, batch, start', [
    ([('x', tf.io.FixedLenFeature([1], tf.float32))], None, 'feature_spec must be a non-empty dict'),
    ({}, None, 'feature_spec must be a non-empty dict'),
    ({1: tf.io.FixedLenFeature([1], tf.float32)}, None, 'feature_spec keys must be strings'),
    ({'x': tf.TensorSpec([None, 1])}, None, "feature_spec['x'] must be a tf.io.FixedLenFeature"),
    (FEATURE_SPEC, 0, 'default_batch_size must be None'),
    (FEATURE_SPEC, -3, 'default_batch_size must be None'),
    (FEATURE_SPEC, '8', 'default_batch_size must be None'),
])
def test_parsing_receiver_arguments_are_checked(feature_spec, batch, start):
    with pytest.raises(ValueError) as info:
        export.build_parsing_serving_input_receiver_fn(feature_spec, batch)
    assert str(info.value).startswith(start)


# --- build_raw_serving_input_receiver_fn -------------------------------------------

def test_raw_receiver_inside_wrap_function():
    receiver_fn = export.build_raw_serving_input_receiver_fn(
        {'x': tf.TensorSpec([None, 3], tf.float32),
         'ids': tf.zeros([8, 2], tf.int64),          # example tensor: batch 8 is replaced
         'odd key': np.zeros([5], np.int32)},
        default_batch_size=4)
    seen = {}

    def serving():
        seen['receiver'] = receiver_fn()
        seen['doubled'] = seen['receiver'].features['x'] * 2.0
        return seen['doubled']

    wrapped = tf.compat.v1.wrap_function(serving, [])
    receiver = seen['receiver']
    x, ids, odd = (receiver.receiver_tensors[k] for k in ('x', 'ids', 'odd key'))
    assert (x.name, x.dtype, x.shape.as_list()) == ('x:0', tf.float32, [4, 3])
    assert (ids.name, ids.dtype, ids.shape.as_list()) == ('ids:0', tf.int64, [4, 2])
    assert (odd.name, odd.dtype, odd.shape.as_list()) == ('odd_key:0', tf.int32, [4])
    assert all(t.op.type == 'Placeholder' for t in (x, ids, odd))
    assert receiver.features == receiver.receiver_tensors
    assert receiver.features is not receiver.receiver_tensors
    doubled = wrapped.prune(feeds=[x], fetches=[seen['doubled']])
    np.testing.assert_allclose(doubled(tf.ones([4, 3]))[0].numpy(), np.full([4, 3], 2.0))


def test_raw_receiver_keeps_unknown_batch_and_rank():
    receiver_fn = export.build_raw_serving_input_receiver_fn(
        {'x': tf.TensorSpec([16, 3]), 'any': tf.TensorSpec(None, tf.string)})
    with tf.Graph().as_default():
        receiver = receiver_fn()
    assert receiver.receiver_tensors['x'].shape.as_list() == [None, 3]
    assert receiver.receiver_tensors['any'].shape.rank is None
    assert receiver.receiver_tensors['any'].dtype == tf.string


def test_raw_receiver_called_eagerly_raises_clearly():
    receiver_fn = export.build_raw_serving_input_receiver_fn({'x': tf.TensorSpec([None, 3])})
    with pytest.raises(RuntimeError, match='build_raw_serving_input_receiver_fn.*called eagerly'):
        receiver_fn()


@pytest.mark.parametrize('features, batch, start', [
    (tf.TensorSpec([None, 3]), None, 'features must be a non-empty dict'),
    ({}, None, 'features must be a non-empty dict'),
    ({0: tf.TensorSpec([None])}, None, 'features keys must be strings'),
    ({'x': [1.0, 2.0]}, None, "features['x'] must be a tf.TensorSpec or an example tensor"),
    ({'x': tf.io.FixedLenFeature([1], tf.float32)}, None, "features['x'] must be a tf.TensorSpec"),
    ({'x': tf.TensorSpec([None])}, 2.5, 'default_batch_size must be None'),
])
def test_raw_receiver_arguments_are_checked(features, batch, start):
    with pytest.raises(ValueError) as info:
        export.build_raw_serving_input_receiver_fn(features, batch)
    assert str(info.value).startswith(start)
