"""SessionRunHook vocabulary, plus the hook that carries a TPU ``host_call``.

The hook classes are TensorFlow's own ``tf.compat.v1.train`` ones, re-exported:
users already subclass them, and a spec must accept exactly those instances.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

_train = tf.compat.v1.train

SessionRunHook = _train.SessionRunHook
SessionRunArgs = _train.SessionRunArgs
SessionRunContext = _train.SessionRunContext
SessionRunValues = _train.SessionRunValues
LoggingTensorHook = _train.LoggingTensorHook
StopAtStepHook = _train.StopAtStepHook
NanTensorHook = _train.NanTensorHook
StepCounterHook = _train.StepCounterHook
CheckpointSaverHook = _train.CheckpointSaverHook
SummarySaverHook = _train.SummarySaverHook
Scaffold = _train.Scaffold


class HostCallHook(SessionRunHook):
    """Runs what a ``TPUEstimatorSpec.host_call`` function returned, every step.

    TPUEstimator's CPU path called ``host_call``'s function once while building
    the graph and fetched its results with each training/evaluation step through
    such a hook; ``TPUEstimatorSpec.as_estimator_spec()`` does the same.
    """

    def __init__(self, fetches: Any):
        self.fetches = fetches

    def before_run(self, run_context: Any) -> Any:
        return SessionRunArgs(self.fetches)

    def __repr__(self) -> str:
        return f'HostCallHook(fetches={self.fetches!r})'


__all__ = [
    'SessionRunHook', 'SessionRunArgs', 'SessionRunContext', 'SessionRunValues',
    'LoggingTensorHook', 'StopAtStepHook', 'NanTensorHook', 'StepCounterHook',
    'CheckpointSaverHook', 'SummarySaverHook', 'Scaffold', 'HostCallHook',
]
