"""Fresh spec hooks for a step that is not traced again (issue 14).

tf.estimator called the model_fn on every `train()`: the spec's hooks were new objects each time,
begun in a new graph. keras-spec keeps the traced step across `train()` calls (tracing and
compiling it again costs ~0.5 s per call, the whole gain of running hooks fused on short calls),
so it needs hook objects equal to the ones the model_fn would create again.

For TF's standard hooks that is knowable: their constructor arguments are their whole state
(begin() and after_create_session() set the rest), so a copy taken before their first begin()
is, used later, the same as a new one built with the same arguments (a StopAtStepHook(num_steps)
computes its last step again, a LoggingTensorHook counts from 0 again). A hook of any other class
(or a standard one whose instance was patched) may keep state its begin() does not reset, so the
model_fn is called again to get it (SpecModel._renew_hooks; the compiled step is still kept when
the new trace carries out the same tensors).

Reads nothing private: copies instance attributes of the classes below (checked on TF 2.21.0).
"""

from __future__ import annotations

import copy
from typing import Any

import tensorflow as tf

_train = tf.compat.v1.train

# Exact classes (not subclasses): all their state comes from __init__ or is reset by begin() and
# after_create_session().
RENEWABLE_CLASSES = (
    _train.LoggingTensorHook, _train.StopAtStepHook, _train.NanTensorHook,
    _train.CheckpointSaverHook, _train.StepCounterHook, _train.SummarySaverHook,
    _train.GlobalStepWaiterHook, _train.FinalOpsHook, _train.ProfilerHook,
)


def _renewable(hook: Any) -> bool:
    if type(hook) not in RENEWABLE_CLASSES:  # pylint: disable=unidiomatic-typecheck
        return False
    # An instance attribute shadowing a method (a patched before_run) may hold the object itself.
    return not any(callable(getattr(type(hook), name, None)) for name in vars(hook))


def _copy(hook: Any) -> Any:
    """A copy whose mutable attributes (lists, dicts, timers) are its own."""
    fresh = copy.copy(hook)
    for name, value in vars(hook).items():
        if isinstance(value, (list, dict, set, _train.SecondOrStepTimer)):
            setattr(fresh, name, copy.copy(value))
    return fresh


def templates(hooks: list) -> list | None:
    """Copies of `hooks` as constructed (call before their begin()), or None when one of them
    cannot be renewed from a copy."""
    if not all(_renewable(hook) for hook in hooks):
        return None
    return [_copy(hook) for hook in hooks]


def renewed(hook_templates: list) -> list:
    """New hooks equal to ones the model_fn would construct again."""
    return [_copy(template) for template in hook_templates]
