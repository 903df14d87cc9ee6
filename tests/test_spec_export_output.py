"""Export outputs: validation and the signature each one stands for."""

import pytest
import tensorflow as tf
import keras

import keras_spec as ks
from keras_spec import export_output as eo

SCORES = tf.constant([[0.1, 0.9]])
CLASSES = tf.constant([['no', 'yes']])
EXAMPLES = tf.constant(['serialized'])


def test_export_output_is_abstract():
    with pytest.raises(TypeError):
        eo.ExportOutput()


# --- ClassificationOutput ------------------------------------------------------

@pytest.mark.parametrize('kwargs, outputs', [
    ({'scores': SCORES}, {'scores': SCORES}),
    ({'classes': CLASSES}, {'classes': CLASSES}),
    ({'scores': SCORES, 'classes': CLASSES}, {'classes': CLASSES, 'scores': SCORES}),
])
def test_classification_output_valid(kwargs, outputs):
    out = eo.ClassificationOutput(**kwargs)
    assert out.method_name == 'tensorflow/serving/classify'
    assert out.signature_outputs() == outputs
    assert out.scores is kwargs.get('scores') and out.classes is kwargs.get('classes')


@pytest.mark.parametrize('kwargs, start', [
    ({'scores': tf.constant([[1, 2]])}, 'ClassificationOutput scores must be a float tensor'),
    ({'scores': [[0.1, 0.9]]}, 'ClassificationOutput scores must be a float tensor'),
    ({'classes': tf.constant([[0, 1]])}, 'ClassificationOutput classes must be a string tensor'),
    ({'classes': 'yes'}, 'ClassificationOutput classes must be a string tensor'),
    ({}, 'Cannot create a ClassificationOutput with empty arguments'),
])
def test_classification_output_invalid(kwargs, start):
    with pytest.raises(ValueError) as info:
        eo.ClassificationOutput(**kwargs)
    assert str(info.value).startswith(start)


def test_classify_signature_inputs_need_one_string_tensor():
    out = eo.ClassificationOutput(scores=SCORES)
    assert out.signature_inputs({'examples': EXAMPLES}) == {'inputs': EXAMPLES}
    assert out.signature_inputs(EXAMPLES) == {'inputs': EXAMPLES}
    for bad in ({'a': EXAMPLES, 'b': EXAMPLES}, {'x': tf.constant([1.0])}, {}):
        with pytest.raises(ValueError) as info:
            out.signature_inputs(bad)
        assert str(info.value).startswith(
            'Classification signatures can only accept a single tensor input of type tf.string')
        assert 'tf.io.parse_example()' in str(info.value)


# --- RegressionOutput ------------------------------------------------------------

def test_regression_output_valid_and_signature():
    value = tf.constant([1.5])
    out = eo.RegressionOutput(value)
    assert out.value is value
    assert out.method_name == 'tensorflow/serving/regress'
    assert out.signature_outputs() == {'outputs': value}
    assert out.signature_inputs({'examples': EXAMPLES}) == {'inputs': EXAMPLES}
    with pytest.raises(ValueError, match='^Regression signatures can only accept a single tensor '
                                         'input of type tf.string'):
        out.signature_inputs({'x': tf.constant([[1.0, 2.0]])})


def test_regression_output_accepts_variables():
    kv = keras.Variable([2.0])
    assert eo.RegressionOutput(kv).value is kv.value
    v = tf.Variable([1.0])
    assert eo.RegressionOutput(v).value is v


@pytest.mark.parametrize('value', [tf.constant([1]), 1.0, None, tf.constant(['a'])])
def test_regression_output_invalid(value):
    with pytest.raises(ValueError) as info:
        eo.RegressionOutput(value)
    assert str(info.value).startswith('RegressionOutput value must be a float tensor; got ')


# --- PredictOutput ---------------------------------------------------------------

def test_predict_output_wraps_single_tensor_and_keeps_dicts():
    out = eo.PredictOutput(SCORES)
    assert out.outputs == {'output': SCORES}
    assert out.method_name == 'tensorflow/serving/predict'
    ids = tf.constant([1])
    out = eo.PredictOutput({'scores': SCORES, ('head', 'ids'): ids})
    assert out.signature_outputs() == {'scores': SCORES, 'head/ids': ids}
    receivers = {'x': tf.constant([[1.0]]), 'y': tf.constant([2])}
    assert out.signature_inputs(receivers) == receivers
    assert out.signature_inputs(EXAMPLES) == {'input': EXAMPLES}


@pytest.mark.parametrize('outputs, start', [
    ({1: SCORES}, 'Prediction output key must be a string'),
    ({('a', 2): SCORES}, 'Prediction output key must be a string'),
    ({'s': [0.1]}, "Prediction output value 's' must be a tensor"),
    ('scores', "Prediction output value 'output' must be a tensor"),
])
def test_predict_output_invalid(outputs, start):
    with pytest.raises(ValueError) as info:
        eo.PredictOutput(outputs)
    assert str(info.value).startswith(start)
    assert 'got ' in str(info.value)


# --- as_signature_def ------------------------------------------------------------

def test_as_signature_def_in_a_graph():
    with tf.Graph().as_default():
        examples = tf.compat.v1.placeholder(tf.string, [None], name='input_example_tensor')
        scores = tf.identity(tf.zeros([2, 3]), name='scores')
        value = tf.identity(tf.zeros([2]), name='value')
        sig = eo.ClassificationOutput(scores=scores).as_signature_def({'examples': examples})
        assert sig.method_name == 'tensorflow/serving/classify'
        assert sig.inputs['inputs'].name == 'input_example_tensor:0'
        assert list(sig.outputs) == ['scores'] and sig.outputs['scores'].name == 'scores:0'
        sig = eo.RegressionOutput(value).as_signature_def({'examples': examples})
        assert sig.method_name == 'tensorflow/serving/regress'
        assert sig.outputs['outputs'].name == 'value:0'
        sig = eo.PredictOutput({'v': value}).as_signature_def({'examples': examples})
        assert sig.method_name == 'tensorflow/serving/predict'
        assert sig.inputs['examples'].name == 'input_example_tensor:0'
        assert sig.outputs['v'].name == 'value:0'


def test_as_signature_def_eagerly_explains():
    with pytest.raises(RuntimeError, match='only works while a graph is being built'):
        eo.PredictOutput(SCORES).as_signature_def({'x': SCORES})


def test_top_level_names_are_the_same_classes():
    assert ks.ClassificationOutput is eo.ClassificationOutput
    assert ks.RegressionOutput is eo.RegressionOutput
    assert ks.PredictOutput is eo.PredictOutput
    assert ks.ExportOutput is eo.ExportOutput
    assert ks.export_output.RegressionOutput is eo.RegressionOutput
