"""CheckpointSaverHook and ProfilerHook, done natively and run by the hook runner.

TF's own versions build TF1-only machinery in begin() (a graph Saver, run options with
FULL_TRACE); here they become `NativeHook`s: SessionRunHooks whose lifecycle the hook runner
drives like any other (so they work from `fit(hooks=...)`, the Estimator facade and the spec's
training hooks alike), backed by:

- `CheckpointSaving`: TF1-named checkpoints when the session starts, every N steps or S seconds
  and at the end, told to the hook's CheckpointSaverListeners. The hook's `saver=` (or
  `scaffold=`'s saver) decides the variables and how many are kept, then the model's Saver
  (Scaffold / Estimator), then Saver's defaults; `checkpoint_basename` names the files.
- `Profiling`: on the steps where ProfilerHook traced (not the first; then every N steps or S
  seconds) the TF 2 profiler records the step. TF 2 has no per-run FULL_TRACE / timeline JSON:
  each trace is written for TensorBoard's profile plugin as
  `output_dir/plugins/profile/timeline-<global_step>/<host>.xplane.pb` instead of
  `output_dir/timeline-<global_step>.json` (show_dataflow / show_memory do not apply).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
import time
from typing import Any

import tensorflow as tf

from adapters.tf1 import scaffold as scaffold_lib
from adapters.tf1 import checkpoint as tf1_checkpoint
from adapters.tf1.saver import SaverSettings

_train = tf.compat.v1.train
_log = logging.getLogger("keras_spec")


def hook_settings(hook: Any, *names: str) -> list:
    """Private attributes of TF's standard hooks that say what the hook was configured to do.

    TF exposes no public accessors for them; read here only (checked on TF 2.21.0).
    """
    return [getattr(hook, name) for name in names]


def timer_every(timer: Any) -> tuple[int | None, float | None]:
    every_steps, every_secs = hook_settings(timer, "_every_steps", "_every_secs")
    return every_steps, every_secs


class Cadence:
    """Every N steps or every S seconds, like TF's SecondOrStepTimer."""

    def __init__(self, every_steps: int | None, every_secs: float | None):
        self.every_steps, self.every_secs = every_steps, every_secs
        self.last_step, self.last_time = None, None

    def due(self, step: int) -> bool:
        if self.last_step is None:
            return True
        if step == self.last_step:
            return False
        if self.every_steps is not None:
            return step >= self.last_step + self.every_steps
        return time.time() >= self.last_time + (self.every_secs or 0)

    def mark(self, step: int) -> None:
        self.last_step, self.last_time = step, time.time()


class NativeHook(_train.SessionRunHook):
    """A standard hook replaced by a native implementation (`replaced` is the user's hook)."""

    def __init__(self, replaced: Any, impl: Any):
        self.replaced = replaced
        self._impl = impl

    def after_create_session(self, session, coord):
        self._impl.start()

    def before_run(self, run_context):
        self._impl.before_step()
        return None

    def after_run(self, run_context, run_values):
        if self._impl.after_step():
            run_context.request_stop()

    def end(self, session):
        self._impl.end()


class CheckpointSaving:
    """What CheckpointSaverHook did: save at start, on a cadence and at the end."""

    def __init__(self, spec_model: Any, checkpoint_dir: str, every_steps: int | None,
                 every_secs: float | None, listeners: list, saver: SaverSettings | None = None,
                 basename: str = "model.ckpt"):
        self._spec_model = spec_model
        self._dir = checkpoint_dir
        self._cadence = Cadence(every_steps, every_secs)
        self._listeners = list(listeners)
        self._saver = saver
        self._basename = basename

    @classmethod
    def from_hook(cls, spec_model: Any, hook: Any, extra_listeners: list = ()) -> "CheckpointSaving":
        checkpoint_dir, timer, listeners, saver, scaffold, save_path = hook_settings(
            hook, "_checkpoint_dir", "_timer", "_listeners", "_saver", "_scaffold", "_save_path")
        if saver is None and scaffold is not None:
            saver = scaffold.saver
        settings = SaverSettings.of(saver) if saver is not None else None
        return cls(spec_model, checkpoint_dir, *timer_every(timer),
                   list(listeners) + list(extra_listeners), saver=settings,
                   basename=os.path.basename(save_path) or "model.ckpt")

    def _step(self) -> int:
        return int(self._spec_model.global_step.numpy())

    def _save(self, step: int) -> bool:
        for listener in self._listeners:
            listener.before_save(None, step)
        path = tf1_checkpoint.save_checkpoint(scaffold_lib.world_of(self._spec_model), self._dir,
                                              saver=self._saver, basename=self._basename)
        _log.info("Saving checkpoints for %d into %s.", step, path)
        self._cadence.mark(step)
        stop = False
        for listener in self._listeners:
            stop = bool(listener.after_save(None, step)) or stop
        return stop

    def start(self) -> bool:
        for listener in self._listeners:
            listener.begin()
        if self._cadence.last_step is None:  # tf.estimator saved right after session creation
            return self._save(self._step())
        return False

    def before_step(self) -> None:
        pass

    def after_step(self) -> bool:
        step = self._step()
        return self._save(step) if self._cadence.due(step) else False

    def end(self) -> None:
        step = self._step()
        if step != self._cadence.last_step:
            self._save(step)
        for listener in self._listeners:
            listener.end(None, step)


# The profiler is one per process: a trace left running by a run that died is stopped first.
_running_trace: list = []


def _stop_profiler() -> None:
    try:
        tf.profiler.experimental.stop()
    except (tf.errors.UnavailableError, tf.errors.FailedPreconditionError):
        pass


class Profiling:
    """What ProfilerHook did, with the TF 2 profiler (see module docstring)."""

    def __init__(self, spec_model: Any, output_dir: str, every_steps: int | None,
                 every_secs: float | None):
        self._spec_model = spec_model
        self._output_dir = output_dir or os.getcwd()
        self._every = (every_steps, every_secs)
        self._timer = None
        self._next_step = None
        self._step_before = 0
        self._trace_dir: str | None = None

    def _step(self) -> int:
        return int(self._spec_model.global_step.numpy())

    def start(self) -> None:
        every_steps, every_secs = self._every
        self._timer = _train.SecondOrStepTimer(every_secs=every_secs, every_steps=every_steps)
        self._next_step = None
        self._discard_stale_trace()

    def before_step(self) -> None:
        self._step_before = self._step()
        if self._next_step is not None and self._timer.should_trigger_for_step(self._next_step):
            self._begin_trace()

    def after_step(self) -> bool:
        step = self._step()
        if self._next_step is None:  # the first run is not traced; the cadence starts there
            self._timer.update_last_triggered_step(self._step_before)
        if self._trace_dir is not None:
            self._timer.update_last_triggered_step(step)
            self._end_trace(step)
        self._next_step = step + 1
        return False

    def end(self) -> None:
        self._discard_stale_trace()

    # -- the TF 2 profiler ------------------------------------------------------------------
    def _begin_trace(self) -> None:
        self._discard_stale_trace()
        os.makedirs(self._output_dir, exist_ok=True)
        trace_dir = tempfile.mkdtemp(prefix=".keras_spec_profile-", dir=self._output_dir)
        try:
            tf.profiler.experimental.start(trace_dir)
        except (tf.errors.AlreadyExistsError, tf.errors.UnavailableError) as e:
            shutil.rmtree(trace_dir, ignore_errors=True)
            _log.warning("ProfilerHook: not tracing this step, the profiler is busy (%s).", e)
            return
        self._trace_dir = trace_dir
        _running_trace.append(trace_dir)

    def _end_trace(self, step: int) -> None:
        trace_dir, self._trace_dir = self._trace_dir, None
        _stop_profiler()
        _running_trace.remove(trace_dir)
        try:
            runs = sorted(glob.glob(os.path.join(trace_dir, "plugins", "profile", "*")))
            if not runs:
                _log.warning("ProfilerHook: the profiler wrote nothing for step %d.", step)
                return
            final = os.path.join(self._output_dir, "plugins", "profile", f"timeline-{step}")
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.replace(runs[-1], final)  # complete traces only: written, then moved in place
            _log.info("ProfilerHook: trace of global step %d written to %s.", step, final)
        finally:
            shutil.rmtree(trace_dir, ignore_errors=True)

    def _discard_stale_trace(self) -> None:
        while _running_trace:
            _stop_profiler()
            shutil.rmtree(_running_trace.pop(), ignore_errors=True)
        self._trace_dir = None


def native_hook(spec_model: Any, hook: Any, extra_listeners: list = ()) -> NativeHook | None:
    """The NativeHook standing in for a CheckpointSaverHook or ProfilerHook, else None."""
    if isinstance(hook, _train.CheckpointSaverHook):
        return NativeHook(hook, CheckpointSaving.from_hook(spec_model, hook, extra_listeners))
    if isinstance(hook, _train.ProfilerHook):
        output_dir, timer = hook_settings(hook, "_output_file", "_timer")
        return NativeHook(hook, Profiling(spec_model, os.path.dirname(output_dir),
                                          *timer_every(timer)))
    return None
