"""tf.estimator.experimental's early-stopping hooks, with tf.estimator 2.15's semantics.

What a user observes and what this keeps: the hook reads the evaluation event files under
`eval_dir` (`estimator.eval_dir()` by default: `simple_value` scalars per global step, which the
facade's evaluate writes as tf.estimator did), checks its predicate every `run_every_secs`
seconds or `run_every_steps` steps (SecondOrStepTimer: also at the first step), and then asks
training to stop; `train_and_evaluate` then evaluates and exports the final checkpoint. In its
`begin()` the hook creates the variable `signal_early_stopping/STOP` (bool; int32 under a
`train_distribute` strategy) with `get_variable`, so like tf.estimator's it is a global variable
found in every checkpoint - set to True (1) in the checkpoints written after the stop request.
"""

from __future__ import annotations

import collections
import glob
import logging
import operator
import os
from typing import Any, Callable

import tensorflow as tf

from adapters.estimator.estimator import Estimator

_log = logging.getLogger("keras_spec")
_EVENT_FILE_GLOB_PATTERN = "events.out.tfevents.*"
_train = tf.compat.v1.train


def read_eval_metrics(eval_dir: str) -> "collections.OrderedDict[int, dict[str, float]]":
    """{global step: {metric: value}} from the scalar summaries of `eval_dir`, by step."""
    by_step: dict[int, dict[str, float]] = collections.defaultdict(dict)
    for path in sorted(glob.glob(os.path.join(os.fsdecode(eval_dir), _EVENT_FILE_GLOB_PATTERN))):
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                if not event.HasField("summary"):
                    continue
                metrics = {v.tag: v.simple_value for v in event.summary.value
                           if v.HasField("simple_value")}
                if metrics:
                    by_step[event.step].update(metrics)
        except tf.errors.DataLossError as e:  # a file still being written: use what was read
            _log.warning("Skipping the rest of %s (data corruption while reading it): %s", path, e)
    return collections.OrderedDict(sorted(by_step.items()))


def _check_estimator(estimator: Any) -> None:
    if not isinstance(estimator, Estimator):
        raise TypeError("`estimator` must have type `tf.estimator.Estimator`. "
                        f"Got: {type(estimator)}")


def _metric(metrics: dict, metric_name: str, step: int, eval_dir: str) -> float:
    try:
        return metrics[metric_name]
    except KeyError:
        raise KeyError(f"Early stopping: metric {metric_name!r} is not among the evaluation "
                       f"results written at step {step} in {eval_dir}; found "
                       f"{sorted(metrics)}.") from None


def make_early_stopping_hook(estimator: Any, should_stop_fn: Callable[[], bool],
                             run_every_secs: float | None = 60,
                             run_every_steps: int | None = None) -> _train.SessionRunHook:
    """A hook that stops training once `should_stop_fn()` returns True (checked periodically)."""
    _check_estimator(estimator)
    if run_every_secs is not None and run_every_steps is not None:
        raise ValueError("Only one of `run_every_secs` and `run_every_steps` must be set.")
    if not callable(should_stop_fn):
        raise TypeError("`should_stop_fn` must be callable.")
    config = estimator.config
    if config.train_distribute is not None:
        # tf.estimator 2.15 took this branch for every train_distribute strategy (its check
        # for multi-worker strategies was always true): the same refusal and int32 variable.
        if run_every_secs:
            raise ValueError("run_every_secs should not be set when using "
                             "MultiWorkerMirroredStrategy.")
        return _StopOnPredicateHook(should_stop_fn, None, run_every_steps, distributed=True)
    if config.is_chief:
        return _StopOnPredicateHook(should_stop_fn, run_every_secs, run_every_steps)
    return _CheckForStoppingHook()


def _stop_variable(distributed: bool) -> tf.Variable:
    """`signal_early_stopping/STOP`, made where tf.estimator made it (a global variable)."""
    with tf.compat.v1.variable_scope("signal_early_stopping", values=[],
                                     reuse=tf.compat.v1.AUTO_REUSE):
        return tf.compat.v1.get_variable(
            "STOP", shape=[], dtype=tf.int32 if distributed else tf.bool,
            initializer=tf.compat.v1.constant_initializer(0 if distributed else False),
            collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES], trainable=False)


class _StopOnPredicateHook(_train.SessionRunHook):
    """Requests a stop (and sets STOP) when `should_stop_fn` returns True."""

    def __init__(self, should_stop_fn: Callable[[], bool], run_every_secs: float | None = 60,
                 run_every_steps: int | None = None, distributed: bool = False):
        self._should_stop_fn = should_stop_fn
        self._timer = _train.SecondOrStepTimer(every_secs=run_every_secs,
                                               every_steps=run_every_steps)
        self._distributed = distributed
        self._global_step_tensor = None
        self._stop_var = None

    def begin(self) -> None:
        self._global_step_tensor = _train.get_global_step()
        self._stop_var = _stop_variable(self._distributed)

    def after_run(self, run_context: Any, run_values: Any) -> None:
        # tf.estimator fetched the global step with the train op and got its value from before
        # the step (its checkpoint saver had already evaluated that step's checkpoint): the
        # same step number, hence the same timer triggers and stop step, is the variable - 1.
        global_step = int(self._global_step_tensor.numpy()) - 1
        if not self._timer.should_trigger_for_step(global_step):
            return
        self._timer.update_last_triggered_step(global_step)
        if self._should_stop_fn():
            _log.info("Requesting early stopping at global step %d", global_step)
            self._stop_var.assign(1 if self._distributed else True)  # eager, between steps
            run_context.request_stop()


class _CheckForStoppingHook(_train.SessionRunHook):
    """A non-chief worker's hook: stops once the chief has set STOP."""

    def __init__(self):
        self._stop_var = None

    def begin(self) -> None:
        self._stop_var = _stop_variable(False)

    def before_run(self, run_context: Any) -> Any:
        return _train.SessionRunArgs(self._stop_var)

    def after_run(self, run_context: Any, run_values: Any) -> None:
        if run_values.results:
            _log.info("Early stopping requested, suspending run.")
            run_context.request_stop()


def _threshold_hook(estimator, metric_name, threshold, higher_is_better, eval_dir, min_steps,
                    run_every_secs, run_every_steps):
    _check_estimator(estimator)
    eval_dir = eval_dir if eval_dir is not None else estimator.eval_dir()
    better = operator.gt if higher_is_better else operator.lt

    def crossed() -> bool:
        for step, metrics in read_eval_metrics(eval_dir).items():
            if step < min_steps:
                continue
            value = _metric(metrics, metric_name, step, eval_dir)
            if better(value, threshold):
                _log.info('At step %s, metric "%s" has value %s which is %s the configured '
                          "threshold (%s) for early stopping.", step, metric_name, value,
                          "greater than" if higher_is_better else "less than", threshold)
                return True
        return False

    return make_early_stopping_hook(estimator, crossed, run_every_secs, run_every_steps)


def _no_improvement_hook(estimator, metric_name, max_steps_without_improvement, higher_is_better,
                         eval_dir, min_steps, run_every_secs, run_every_steps):
    _check_estimator(estimator)
    eval_dir = eval_dir if eval_dir is not None else estimator.eval_dir()
    better = operator.gt if higher_is_better else operator.lt

    def stalled() -> bool:
        best, best_step = None, None
        for step, metrics in read_eval_metrics(eval_dir).items():
            if step < min_steps:
                continue
            value = _metric(metrics, metric_name, step, eval_dir)
            if best is None or better(value, best):
                best, best_step = value, step
            if step - best_step >= max_steps_without_improvement:
                _log.info('No %s in metric "%s" for %s steps, which is greater than or equal to '
                          "max steps (%s) configured for early stopping.",
                          "increase" if higher_is_better else "decrease", metric_name,
                          step - best_step, max_steps_without_improvement)
                return True
        return False

    return make_early_stopping_hook(estimator, stalled, run_every_secs, run_every_steps)


def stop_if_higher_hook(estimator: Any, metric_name: str, threshold: float,
                        eval_dir: str | None = None, min_steps: int = 0,
                        run_every_secs: float | None = 60,
                        run_every_steps: int | None = None) -> _train.SessionRunHook:
    """Stop once an evaluation at step >= min_steps has `metric_name` > threshold."""
    return _threshold_hook(estimator, metric_name, threshold, True, eval_dir, min_steps,
                           run_every_secs, run_every_steps)


def stop_if_lower_hook(estimator: Any, metric_name: str, threshold: float,
                       eval_dir: str | None = None, min_steps: int = 0,
                       run_every_secs: float | None = 60,
                       run_every_steps: int | None = None) -> _train.SessionRunHook:
    """Stop once an evaluation at step >= min_steps has `metric_name` < threshold."""
    return _threshold_hook(estimator, metric_name, threshold, False, eval_dir, min_steps,
                           run_every_secs, run_every_steps)


def stop_if_no_increase_hook(estimator: Any, metric_name: str, max_steps_without_increase: int,
                             eval_dir: str | None = None, min_steps: int = 0,
                             run_every_secs: float | None = 60,
                             run_every_steps: int | None = None) -> _train.SessionRunHook:
    """Stop once the best `metric_name` is `max_steps_without_increase` steps old."""
    return _no_improvement_hook(estimator, metric_name, max_steps_without_increase, True,
                                eval_dir, min_steps, run_every_secs, run_every_steps)


def stop_if_no_decrease_hook(estimator: Any, metric_name: str, max_steps_without_decrease: int,
                             eval_dir: str | None = None, min_steps: int = 0,
                             run_every_secs: float | None = 60,
                             run_every_steps: int | None = None) -> _train.SessionRunHook:
    """Stop once the lowest `metric_name` is `max_steps_without_decrease` steps old."""
    return _no_improvement_hook(estimator, metric_name, max_steps_without_decrease, False,
                                eval_dir, min_steps, run_every_secs, run_every_steps)
