"""What tf.estimator's default training hooks did, as one Keras callback.

`Estimator.train` ran a MonitoredTrainingSession with a CheckpointSaverHook (a checkpoint when
the session starts, every `save_checkpoints_steps` steps or `save_checkpoints_secs` seconds, and
at the end, each one announced to the CheckpointSaverListeners), a NanTensorHook on the loss,
and, every `log_step_count_steps`, a LoggingTensorHook on loss/step and a StepCounterHook that
wrote `global_step/sec`. `TrainLoop` does the same around `SpecModel.fit`.

Cadences are decided from the steps Keras reports (start step + steps run), so no per-step read
of the global step is needed; the real global step names each checkpoint. With
`steps_per_execution > 1` the callback runs once per execution, so saves and logs happen at
execution boundaries, as TPUEstimator's did at the end of each `iterations_per_loop` loop.
A run that dies by an exception writes no final checkpoint (as with a killed session): the next
`train` resumes from the last one that was completely written.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import tensorflow as tf

from adapters.estimator import event_files
from adapters.tf1 import scaffold as scaffold_lib

_log = logging.getLogger("keras_spec")


class TrainLoop(keras.callbacks.Callback):
    """Checkpoints, saving listeners, NaN check, loss and steps/sec logging for one train()."""

    # tf.estimator's CheckpointSaverHook was a chief hook, run before the user's hooks: after a
    # step, its checkpoint (and train_and_evaluate's evaluation of it) came first, so a hook such
    # as stop_if_no_decrease_hook already saw that evaluation. SpecModel orders callbacks so.
    runs_before_hooks = True

    def __init__(self, *, start_step: int, save: Callable[[], str], global_step: Callable[[], int],
                 last_loss: Callable[[], float], config: Any, listeners: list, writer: Any,
                 latest_saved_step: int | None, saves_checkpoints: bool = True,
                 rate_every: int | None = -1, examples_per_step: int | None = None,
                 total_steps: int | None = None):
        super().__init__()
        self._start = start_step
        self._handled_step: int | None = None
        self._save_fn = save
        self._global_step = global_step
        self._last_loss = last_loss
        self._save_steps = config.save_checkpoints_steps or None
        self._save_secs = config.save_checkpoints_secs or None
        self._log_steps = config.log_step_count_steps or None
        # StepCounterHook's cadence (TPUEstimator: ceil(log_step_count_steps /
        # iterations_per_loop), plus examples/sec for its global batch size).
        self._rate_steps = self._log_steps if rate_every == -1 else (rate_every or None)
        self._examples_per_step = examples_per_step
        self._rate_started = False
        self._next_rate_step = 0
        # Keras reports a last, partial execution as a full one: the steps actually run are
        # capped by what train() asked for.
        self._total_steps = total_steps
        self._listeners = list(listeners)
        self._writer = writer
        self._latest_saved = latest_saved_step
        # False when a CheckpointSaverHook of the user or the spec replaces the default one.
        self._saving = saves_checkpoints and bool(self._save_steps or self._save_secs)
        self._last_save_step = start_step  # the step count the save cadence runs on
        self._last_saved: int | None = None  # the global step of the last checkpoint
        self._last_save_time = time.time()
        self._last_log_step = self._last_rate_step = start_step
        self._last_log_time = self._last_rate_time = time.time()
        self._steps_run = 0
        self.final_loss: float | None = None
        self.stop_requested = False

    # -- what CheckpointSaverHook.begin / after_create_session did --------------------------
    def begin(self) -> bool:
        """Announce the run to the listeners and checkpoint the starting state.

        tf.estimator saved at session creation (model.ckpt-0 on a fresh model_dir). When the
        latest checkpoint already holds this step it is not rewritten. Returns True when a
        listener asked to stop before the first step.
        """
        for listener in self._listeners:
            listener.begin()
        if self._saving:
            self._save(self._start, write=self._latest_saved != self._start)
        self._last_save_time = self._last_log_time = self._last_rate_time = time.time()
        return self.stop_requested

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.model is not None and self._saving and self._save_secs:
            # The engine asks between the steps of an execution (engine/fast_loop.py), so a
            # save_checkpoints_secs checkpoint is not delayed by long executions.
            self.model._time_cadence = self  # pylint: disable=protected-access

    def seconds_until_due(self) -> float:
        """Seconds until the next save_checkpoints_secs checkpoint is due."""
        return self._last_save_time + self._save_secs - time.time()

    def act(self) -> None:
        """The due time-based checkpoint, between two steps of an execution."""
        self._save(self._global_step())
        self._last_save_step = self._start + int(self.model._steps_run_in_fit)  # pylint: disable=protected-access

    def _save(self, step: int, write: bool = True) -> None:
        for listener in self._listeners:
            listener.before_save(None, step)
        if write:
            path = self._save_fn()
            if path:  # None on a non-chief worker, which writes no checkpoint
                _log.info("Saving checkpoints for %d into %s.", step, path)
        self._last_saved, self._last_save_time = step, time.time()
        stop = False
        for listener in self._listeners:
            stop = bool(listener.after_save(None, step)) or stop
        if stop:
            _log.info("A CheckpointSaverListener requested training to stop.")
            self.stop_requested = True
            if self.model is not None:
                self.model.stop_training = True

    # -- per execution ------------------------------------------------------------------------
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._steps_run = self._steps_so_far(batch)
        if self._total_steps is not None:
            self._steps_run = min(self._steps_run, self._total_steps)
        step = self._start + self._steps_run
        if step == self._handled_step:
            return  # a train function that drives the hooks already showed us this step
        self._handled_step = step
        loss = (logs or {}).get("loss")
        # Keras's loss is the mean since this train() began: NaN once any step's loss was NaN.
        if loss is not None and math.isnan(loss):
            raise tf.compat.v1.train.NanLossDuringTrainingError
        if self._log_steps:
            if self._steps_run == 1 or step >= self._last_log_step + self._log_steps:
                self._log_loss(step)
        if self._rate_steps:
            if not self._rate_started:  # the first step only starts the timer (no rate yet)
                self._rate_started = True
                self._last_rate_step, self._last_rate_time = step, time.time()
                self._next_rate_step = self._start + 1 + self._rate_steps
            elif step >= self._next_rate_step:
                self._log_rate(step)
                self._next_rate_step = step + self._rate_steps
        if self._saving and (
                (self._save_steps and step >= self._last_save_step + self._save_steps) or
                (self._save_secs and time.time() >= self._last_save_time + self._save_secs)):
            self._save(self._global_step())
            self._last_save_step = step

    def _steps_so_far(self, batch: int) -> int:
        """Steps this fit ran: Keras's count, or the engine's when the train function drives
        the hooks (a hook may stop training in the middle of an execution)."""
        model = self.model
        if getattr(getattr(model, "train_function", None), "drives_hooks", False):
            return int(model._steps_run_in_fit)  # pylint: disable=protected-access
        return batch + 1

    def _log_loss(self, step: int) -> None:
        """LoggingTensorHook({'loss', 'step'}): the first step, then every N steps."""
        now = time.time()
        _log.info("loss = %s, step = %d (%.3f sec)", self._last_loss(), step,
                  now - self._last_log_time)
        self._last_log_step, self._last_log_time = step, now

    def _log_rate(self, step: int) -> None:
        """StepCounterHook: global_step/sec over the last N steps, logged and summarized.

        As tf.estimator: the first step starts the timer, the rate is written at start+1+N,
        start+1+2N, ... (TPUEstimator's ExamplesPerSecondHook adds examples/sec).
        """
        now = time.time()
        rate = (step - self._last_rate_step) / max(now - self._last_rate_time, 1e-9)
        _log.info("global_step/sec: %g", rate)
        values = {"global_step/sec": rate}
        if self._examples_per_step:
            values["examples/sec"] = rate * self._examples_per_step
            _log.info("examples/sec: %g", values["examples/sec"])
        if self._writer is not None:
            event_files.write(self._writer, values, step)
        self._last_rate_step, self._last_rate_time = step, now

    # -- what CheckpointSaverHook.end did -----------------------------------------------------
    def on_train_end(self, logs: dict | None = None) -> None:
        step = self._global_step()
        if self._steps_run == 0:
            _log.warning("Training with estimator made no steps. Perhaps input is empty or "
                         "misspecified.")
        elif step == self._start:
            _log.warning("global_step did not increase during training: the train_op should "
                         "increment it (optimizer.minimize(loss, global_step="
                         "tf.compat.v1.train.get_global_step())).")
        if self._saving and step != self._last_saved:
            self._save(step)
        for listener in self._listeners:
            listener.end(None, step)
        if self.model is not None:
            self.model._time_cadence = None  # pylint: disable=protected-access
        self.final_loss = self._last_loss() if self._steps_run else None


@dataclass
class CheckpointPlan:
    """Who checkpoints a train() call, as tf.estimator decided it.

    tf.estimator added its own CheckpointSaverHook (RunConfig's cadence) only when neither the
    `hooks` nor the spec's training hooks had one, and gave `saving_listeners` to the first
    saver hook (an error when there was none).
    """

    default_saving: bool
    loop_listeners: list = field(default_factory=list)
    context: Any = field(default_factory=contextlib.nullcontext)


def checkpoint_plan(model: Any, config: Any, hooks: list, listeners: list) -> CheckpointPlan:
    """Decide after the TRAIN model_fn was traced (its spec's hooks are then known)."""
    user_savers = [h for h in hooks if isinstance(h, tf.compat.v1.train.CheckpointSaverHook)]
    spec_saver = scaffold_lib.train_spec_has_checkpoint_saver_hook(model)
    configured = bool(config.save_checkpoints_steps or config.save_checkpoints_secs)
    plan = CheckpointPlan(default_saving=configured and not user_savers and not spec_saver)
    if not listeners:
        return plan
    if user_savers:
        user_savers[0]._listeners.extend(listeners)  # pylint: disable=protected-access
    elif spec_saver:
        plan.context = scaffold_lib.listeners_for_spec_saver_hook(model, listeners)
    elif plan.default_saving:
        plan.loop_listeners = list(listeners)
    else:
        raise ValueError("There should be a CheckpointSaverHook to use saving_listeners. "
                         "Please set one of the RunConfig.save_checkpoints_steps or "
                         "RunConfig.save_checkpoints_secs.")
    return plan


def plan_hook_steps(model: Any, config: Any, hooks: list) -> int:
    """Steps per Keras execution for Estimator.train on one replica (TrainLoop's cadences).

    TrainLoop acts at execution boundaries, so executions are as long as the greatest common
    divisor of the cadences it acts on (summaries, loss/step-rate logs, checkpoint steps), at most
    100. SessionRunHooks do not shorten them: the engine calls them inside the execution at every
    step they act on (`model._exact_hook_steps`; adapters/hooks/schedule.py). A
    SummarySaverHook (a Keras callback deciding per execution whether the next step records)
    needs one step per execution; a StepCounterHook's cadence joins TrainLoop's. With
    `model.use_fast_loop = False` hooks run through Keras's loop, one step per execution.
    """
    train = tf.compat.v1.train
    cadences = [int(c) for c in (config.save_summary_steps, config.log_step_count_steps,
                                 config.save_checkpoints_steps) if c]
    for hook in hooks:
        if isinstance(hook, train.SummarySaverHook):
            cadences.append(1)
        elif isinstance(hook, train.StepCounterHook):
            every_steps = getattr(hook._timer, "_every_steps", None)  # pylint: disable=protected-access
            if every_steps:
                cadences.append(int(every_steps))
    runner = model._hook_runners.get("train")  # pylint: disable=protected-access
    if not getattr(model, "use_fast_loop", True) and (hooks or (runner and runner.hooks)):
        # Keras's own loop (for debugging or comparison): hooks around every step, one per call
        model._exact_hook_steps = False  # pylint: disable=protected-access
        return 1
    model._exact_hook_steps = True  # pylint: disable=protected-access
    return max(1, min(math.gcd(*cadences) if cadences else 100, 100))
