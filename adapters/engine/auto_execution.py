"""How many steps one Keras execution of `SpecModel.fit` runs when the user never chose
(issue 14, item 3).

Keras's compile default, steps_per_execution=1, makes every step a Python round trip (Keras's
callbacks, tf.function dispatch): slower than tf.estimator's session loop on small models. When
nothing in the fit needs Python between two steps, running several steps per call gives the
same steps in the same order, hence the same losses, variables, summaries and History: the
only visible difference is that Keras's progress bar advances once per execution.

Safe means: one replica, the fast loop on, a tf.data.Dataset input, no validation during fit
(Keras's evaluate inside fit would also use the execution size), and every callback either acts
only per epoch (overrides no per-batch method) or is one of Keras's own whose per-batch work is
off: ProgbarLogger (cosmetic), TensorBoard(update_freq='epoch', no profiling, no
steps-per-second), ModelCheckpoint / BackupAndRestore saving per epoch. SessionRunHooks do not
prevent it: fast_loop.hook_train_function calls them at every step (`_exact_hook_steps`).
The size never makes an epoch longer: it divides steps_per_epoch (or the dataset's known number
of batches) and is at most AUTO_STEPS.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from adapters.hooks import bridge as hooks_bridge

AUTO_STEPS = 32  # per-call overhead (~0.3 ms) spread over 32 steps: < 10 us per step

_BATCH_METHODS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin",
                  "on_train_batch_end")


def _per_batch_work(callback: Any) -> bool:
    """Whether the callback does something between two training steps."""
    cb = keras.callbacks
    if isinstance(callback, (cb.ProgbarLogger, cb.History)):
        return False  # the progress bar is drawn per execution: cosmetic
    if isinstance(callback, cb.TensorBoard):
        return (callback.update_freq != "epoch" or callback.write_steps_per_second
                or bool(getattr(callback, "_should_trace", False)))
    if isinstance(callback, (cb.ModelCheckpoint, cb.BackupAndRestore)):
        return getattr(callback, "save_freq", "epoch") != "epoch"
    if isinstance(callback, hooks_bridge.HookCallback):
        return False  # its hooks are called from inside the train function, at every step
    for name in _BATCH_METHODS:
        if name in vars(callback):  # set on the instance
            return True
        if getattr(type(callback), name, None) is not getattr(cb.Callback, name):
            return True
    return False


def _largest_divisor(steps: int, cap: int) -> int:
    return next(d for d in range(min(cap, steps), 0, -1) if steps % d == 0)


def execution_size(model: Any, x: Any, callbacks: list, fit_kwargs: dict) -> int:
    """Steps per execution for this fit: > 1 only where results equal one step per call."""
    if not getattr(model, "_auto_execution", False) or model.steps_per_execution != 1:
        return 1  # the user chose (compile(steps_per_execution=...)), or the facade did
    if not getattr(model, "use_fast_loop", True) or model.distribute_strategy.num_replicas_in_sync != 1:
        return 1
    if not isinstance(x, tf.data.Dataset) or isinstance(x, tf.distribute.DistributedDataset):
        return 1
    if fit_kwargs.get("validation_data") is not None or fit_kwargs.get("validation_split"):
        return 1
    if isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = callbacks.callbacks
    if any(_per_batch_work(c) for c in callbacks or []):
        return 1
    steps = fit_kwargs.get("steps_per_epoch")
    if not steps:
        cardinality = int(x.cardinality())
        if cardinality == int(tf.data.INFINITE_CARDINALITY) or cardinality == 0:
            return 1  # Keras asks for steps_per_epoch (or there is nothing to run)
        if cardinality < 0:  # unknown: executions end early where the data ends
            return AUTO_STEPS
        steps = cardinality
    return _largest_divisor(int(steps), AUTO_STEPS)
