"""Public surface of keras_spec: names, ModeKeys, hook re-exports, HostCallHook."""

import pytest
import tensorflow as tf

import keras_spec as ks
from keras_spec.mode_keys import validate_mode


def test_mode_keys_values():
    assert (ks.ModeKeys.TRAIN, ks.ModeKeys.EVAL, ks.ModeKeys.PREDICT) == ('train', 'eval', 'infer')
    assert ks.ModeKeys.INFER == ks.ModeKeys.PREDICT


@pytest.mark.parametrize('mode', ['train', 'eval', 'infer'])
def test_validate_mode_accepts_valid(mode):
    assert validate_mode(mode) == mode


@pytest.mark.parametrize('mode', ['predict', 'Train', b'train', None])
def test_validate_mode_rejects_invalid(mode):
    with pytest.raises(ValueError, match=r"^ModelFnOps mode must be one of ModeKeys.TRAIN \('train'\)"):
        validate_mode(mode, 'ModelFnOps')


def test_top_level_names():
    for name in ['ModeKeys', 'EstimatorSpec', 'TPUEstimatorSpec', 'ModelFnOps', 'ProblemType',
                 'export_output', 'export', 'hooks', 'validation', 'Scaffold', 'SessionRunHook',
                 'SessionRunArgs', 'ExportOutput', 'ClassificationOutput', 'RegressionOutput',
                 'PredictOutput']:
        assert name in ks.__all__ and hasattr(ks, name), name
    assert ks.export.ServingInputReceiver.__name__ == 'ServingInputReceiver'
    assert callable(ks.export.build_parsing_serving_input_receiver_fn)
    assert callable(ks.export.build_raw_serving_input_receiver_fn)
    assert callable(ks.validation.train_op_optional)


@pytest.mark.parametrize('name', [
    'SessionRunHook', 'SessionRunArgs', 'SessionRunContext', 'SessionRunValues',
    'LoggingTensorHook', 'StopAtStepHook', 'NanTensorHook', 'StepCounterHook',
    'CheckpointSaverHook', 'SummarySaverHook', 'Scaffold'])
def test_hooks_are_tensorflow_classes(name):
    assert getattr(ks.hooks, name) is getattr(tf.compat.v1.train, name)


def test_common_hooks_are_accepted_by_specs():
    loss = tf.constant(1.0)
    hooks = [ks.hooks.LoggingTensorHook({'loss': loss}, every_n_iter=1),
             ks.hooks.StopAtStepHook(num_steps=5),
             ks.hooks.NanTensorHook(loss),
             ks.hooks.StepCounterHook(every_n_steps=1, output_dir=None, summary_writer=object()),
             ks.hooks.CheckpointSaverHook('/tmp/unused', save_steps=1),
             ks.hooks.SummarySaverHook(save_steps=1, output_dir='/tmp/unused', summary_op=loss)]
    spec = ks.EstimatorSpec(ks.ModeKeys.EVAL, loss=loss, evaluation_hooks=hooks)
    assert spec.evaluation_hooks == tuple(hooks)


def test_host_call_hook():
    fetches = {'step': tf.constant(3)}
    hook = ks.hooks.HostCallHook(fetches)
    assert isinstance(hook, ks.SessionRunHook)
    assert hook.fetches is fetches
    args = hook.before_run(None)
    assert isinstance(args, ks.SessionRunArgs) and args.fetches is fetches
    assert 'HostCallHook(fetches=' in repr(hook)
