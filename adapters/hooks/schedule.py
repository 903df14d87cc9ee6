"""When does a hook need Python? Plans fused training executions around SessionRunHooks.

tf.estimator called every hook's before_run/after_run around every session.run. Most standard
hooks only act on a known schedule: LoggingTensorHook every N iterations (or S seconds),
StopAtStepHook at its last step, CheckpointSaverHook / ProfilerHook every N steps. Between
those steps their calls do nothing but advance a counter. `HookSchedule` says, for each hook,
how many steps may run before the hook must be called for real (`steps_until_needed`), and
advances the hook over steps run without it (`skip`), so the engine can run the steps in
between fused (one function call) and call the hooks only at the steps they act on: the hooks
log the same values at the same steps, save at the same steps and stop at the same step.

Hooks whose schedule is not known (a user's hook, a subclass overriding before_run/after_run,
NanTensorHook which looks at every loss) need every step: the plan is then one step per call,
as tf.estimator ran them. Time-based triggers (every_n_secs, save_checkpoints_secs) are checked
at call boundaries; `max_segment_secs` keeps the calls short enough that they fire late by at
most a small fraction of their period.

Reads private state of TF's standard hooks (their timers, counters); checked on TF 2.21.0.
"""

from __future__ import annotations

import time
from typing import Any

import tensorflow as tf

from adapters.hooks.native import CheckpointSaving, NativeHook, Profiling

_train = tf.compat.v1.train
_EVERY_STEP = 1


def _unchanged(hook: Any, cls: type, *methods: str) -> bool:
    """The hook is `cls` or a subclass that does not override its per-step methods."""
    return isinstance(hook, cls) and all(
        getattr(type(hook), m) is getattr(cls, m) for m in methods)


def _timer_steps_until(timer: Any, count: int) -> int | None:
    """Steps from now (1 = the next one) until SecondOrStepTimer triggers for counter `count`,
    the counter of the next step; None when only time can trigger it."""
    last = timer._last_triggered_step  # pylint: disable=protected-access
    if last is None:
        return 1
    if timer._every_steps is not None:  # pylint: disable=protected-access
        return max(1, last + timer._every_steps - count + 1)  # pylint: disable=protected-access
    return 1 if timer.should_trigger_for_step(count) else None


class _Logging:
    """LoggingTensorHook: fetches and logs when its timer triggers for its iteration count."""

    def __init__(self, hook: Any):
        self.hook = hook
        timer = hook._timer  # pylint: disable=protected-access
        # at_end only: a NeverTriggerTimer (no _every_* attributes); the hook logs in end()
        self.never = not hasattr(timer, "_every_steps")
        self.every_secs = getattr(timer, "_every_secs", None)

    def steps_until_needed(self, global_step: int) -> int | None:
        if self.never:
            return None
        return _timer_steps_until(self.hook._timer, self.hook._iter_count)  # pylint: disable=protected-access

    def skip(self, n: int) -> None:
        self.hook._iter_count += n  # pylint: disable=protected-access


class _StopAtStep:
    """StopAtStepHook: requests a stop after the step that reaches its last step."""

    every_secs = None

    def __init__(self, hook: Any):
        self.hook = hook

    def steps_until_needed(self, global_step: int) -> int | None:
        last = self.hook._last_step  # pylint: disable=protected-access
        return _EVERY_STEP if last is None else max(1, int(last) - global_step)

    def skip(self, n: int) -> None:
        pass


class _Saving:
    """CheckpointSaverHook (native): saves once its cadence is due after a step."""

    def __init__(self, impl: CheckpointSaving):
        self.impl = impl
        cadence = impl._cadence  # pylint: disable=protected-access
        self.every_secs = cadence.every_secs if cadence.every_steps is None else None

    def steps_until_needed(self, global_step: int) -> int | None:
        cadence = self.impl._cadence  # pylint: disable=protected-access
        if cadence.last_step is None:
            return 1
        if cadence.every_steps is not None:
            return max(1, cadence.last_step + cadence.every_steps - global_step)
        return 1 if time.time() >= cadence.last_time + (cadence.every_secs or 0) else None

    def skip(self, n: int) -> None:
        pass


class _Profiling:
    """ProfilerHook (native, every N steps): traces the steps its timer triggers for."""

    every_secs = None

    def __init__(self, impl: Profiling):
        self.impl = impl

    def steps_until_needed(self, global_step: int) -> int | None:
        impl = self.impl
        if impl._next_step is None:  # pylint: disable=protected-access
            return 1  # the first run starts the cadence
        return _timer_steps_until(impl._timer, impl._next_step)  # pylint: disable=protected-access

    def skip(self, n: int) -> None:
        if self.impl._next_step is not None:  # pylint: disable=protected-access
            self.impl._next_step += n  # pylint: disable=protected-access


def _scheduled(hook: Any) -> Any:
    """The schedule of a hook whose per-step behaviour is known, else None (every step)."""
    if type(hook) is NativeHook:  # pylint: disable=unidiomatic-typecheck
        impl = hook._impl  # pylint: disable=protected-access
        if type(impl) is CheckpointSaving:  # pylint: disable=unidiomatic-typecheck
            return _Saving(impl)
        if type(impl) is Profiling and impl._every[0] is not None:  # pylint: disable=protected-access,unidiomatic-typecheck
            return _Profiling(impl)
        return None
    if _unchanged(hook, _train.LoggingTensorHook, "before_run", "after_run", "_log_tensors"):
        return _Logging(hook)
    if _unchanged(hook, _train.StopAtStepHook, "before_run", "after_run"):
        return _StopAtStep(hook)
    if _unchanged(hook, _train.SessionRunHook, "before_run", "after_run"):
        return _Idle()
    return None


class _Idle:
    """A hook with only begin/after_create_session/end (the base class's no-op per-step calls)."""

    every_secs = None

    def steps_until_needed(self, global_step: int) -> int | None:
        return None

    def skip(self, n: int) -> None:
        pass


class HookSchedule:
    """The plan of one training run's hooks: how many steps the next call may fuse."""

    def __init__(self, hooks: list, max_steps: int = 1000):
        self._schedules = [_scheduled(h) for h in hooks]
        self.every_step = any(s is None for s in self._schedules)
        secs = [s.every_secs for s in self._schedules if s is not None and s.every_secs]
        # A timer is checked between calls: keep calls to ~5% of the shortest period.
        self.max_segment_secs = 0.05 * min(secs) if secs else None
        self._max_steps = max_steps

    def steps_until_needed(self, global_step: int, step_secs: float | None) -> int:
        """Steps the next call may run (>= 1): its last step is the first one a hook acts on."""
        if self.every_step:
            return 1
        limit = self._max_steps
        if self.max_segment_secs is not None and step_secs:
            limit = max(1, min(limit, int(self.max_segment_secs / step_secs)))
        for schedule in self._schedules:
            due = schedule.steps_until_needed(global_step)
            if due is not None:
                limit = min(limit, due)
        return max(1, limit)

    def skip(self, n: int) -> None:
        """Advance every hook over `n` steps that ran without calling it."""
        if n:
            for schedule in self._schedules:
                schedule.skip(n)
