"""TrainSpec, EvalSpec and train_and_evaluate (local mode), with tf.estimator's semantics.

Local `train_and_evaluate` is one `Estimator.train(max_steps=...)` call with a
CheckpointSaverListener: after each checkpoint (except the one written when training starts)
it evaluates that checkpoint, at most once every `throttle_secs`, and runs the exporters; when
training ends it evaluates the final checkpoint if that was not done yet. Training's input
pipeline is never restarted for evaluation. Returns `(eval_result, export_results)` of the last
evaluation, as TF 2.x did.

Under a TF_CONFIG cluster every task runs the same call and does its role's work (cluster.py):
the chief and workers train (the chief alone checkpoints), an `evaluator` task evaluates and
exports each new checkpoint (evaluator.py), `ps` tasks serve; nothing is evaluated in the
training tasks, and every task returns None, as in tf.estimator.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any, Callable

import tensorflow as tf

from adapters.estimator import cluster
from adapters.estimator.eager import run_eagerly
from adapters.estimator.estimator import Estimator, check_hooks, check_listeners
from adapters.estimator.evaluator import evaluate_and_export, run_evaluator

_log = logging.getLogger("keras_spec")


def _validate_input_fn(input_fn: Any) -> None:
    if not callable(input_fn):
        raise TypeError(f"`input_fn` must be callable, given: {input_fn}")


def _validate_hooks(hooks: Any) -> tuple:
    return tuple(check_hooks(hooks))


def _validate_saving_listeners(listeners: Any) -> tuple:
    return tuple(check_listeners(listeners))


def _validate_exporters(exporters: Any) -> tuple:
    """Objects with a unique, non-empty string `name` and an `export` method."""
    if not exporters:
        return ()
    if hasattr(exporters, "export") and hasattr(exporters, "name"):
        exporters = [exporters]
    try:
        exporters = list(exporters)
    except TypeError:
        exporters = [None]
    names: list[str] = []
    for exporter in exporters:
        if not (hasattr(exporter, "export") and hasattr(exporter, "name")):
            raise TypeError("`exporters` must be an Exporter, an iterable of Exporter, or `None`, "
                            f"found {exporters}.")
        if not exporter.name:
            raise ValueError("An Exporter cannot have a name that is `None` or empty. All exporter "
                             f"names: {[e.name for e in exporters]}")
        if not isinstance(exporter.name, str):
            raise ValueError(f"An Exporter must have a string name. Given: {type(exporter.name)}")
        if exporter.name in names:
            raise ValueError("`exporters` must have unique names. Such a name cannot be `None`. "
                             f"All exporter names: {[e.name for e in exporters]}")
        names.append(exporter.name)
    return tuple(exporters)


class TrainSpec(collections.namedtuple("TrainSpec", ["input_fn", "max_steps", "hooks",
                                                     "saving_listeners"])):
    """What train_and_evaluate trains on, and until which global step."""

    def __new__(cls, input_fn: Callable, max_steps: int | None = None, hooks: Any = None,
                saving_listeners: Any = None):
        _validate_input_fn(input_fn)
        if max_steps is not None and max_steps <= 0:
            raise ValueError(f"Must specify max_steps > 0, given: {max_steps}")
        return super().__new__(cls, input_fn, max_steps, _validate_hooks(hooks),
                               _validate_saving_listeners(saving_listeners))


class EvalSpec(collections.namedtuple("EvalSpec", ["input_fn", "steps", "name", "hooks",
                                                   "exporters", "start_delay_secs",
                                                   "throttle_secs"])):
    """What train_and_evaluate evaluates on, how often, and which exporters run after."""

    def __new__(cls, input_fn: Callable, steps: int | None = 100, name: str | None = None,
                hooks: Any = None, exporters: Any = None, start_delay_secs: int = 120,
                throttle_secs: int = 600):
        _validate_input_fn(input_fn)
        if steps is not None and steps <= 0:
            raise ValueError(f"Must specify steps > 0, given: {steps}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"`name` must be string, given: {name}")
        if start_delay_secs < 0:
            raise ValueError(f"Must specify start_delay_secs >= 0, given: {start_delay_secs}")
        if throttle_secs < 0:
            raise ValueError(f"Must specify throttle_secs >= 0, given: {throttle_secs}")
        return super().__new__(cls, input_fn, steps, name, _validate_hooks(hooks),
                               _validate_exporters(exporters), start_delay_secs, throttle_secs)


class _EvaluateAfterSave(tf.compat.v1.train.CheckpointSaverListener):
    """Evaluates (and exports) new checkpoints while training runs (throttled)."""

    def __init__(self, estimator: Estimator, eval_spec: EvalSpec, max_steps: int | None):
        self._estimator = estimator
        self._eval_spec = eval_spec
        self._max_steps = max_steps
        self.eval_result: dict | None = None
        self.export_results: list | None = None
        self._last_step: int | None = None
        self._last_time = 0.0
        self._first = True
        self._previous_checkpoint: str | None = None

    def after_save(self, session: Any, global_step_value: int) -> None:
        del session
        if self._first:  # the checkpoint written when training starts: nothing new trained
            self._first = False
            return
        if self._last_step is None or (
                self._last_step != global_step_value
                and time.time() >= self._last_time + self._eval_spec.throttle_secs):
            self._evaluate(global_step_value)
        else:
            _log.info("Skip the current checkpoint eval due to throttle secs (%s secs).",
                      self._eval_spec.throttle_secs)

    def end(self, session: Any, global_step_value: int) -> None:
        del session
        if global_step_value != self._last_step:
            self._evaluate(global_step_value)

    def _evaluate(self, global_step_value: int) -> None:
        self._last_step, self._last_time = global_step_value, time.time()
        checkpoint = self._estimator.latest_checkpoint()
        if not checkpoint or checkpoint == self._previous_checkpoint:
            raise RuntimeError("There was no new checkpoint after the training. Eval status: "
                               f"{'missing checkpoint' if not checkpoint else 'no new checkpoint'}")
        self.eval_result, self.export_results = evaluate_and_export(
            self._estimator, self._eval_spec, checkpoint, self._max_steps)
        self._previous_checkpoint = checkpoint


@run_eagerly
def train_and_evaluate(estimator: Estimator, train_spec: TrainSpec,
                       eval_spec: EvalSpec) -> tuple[dict | None, list | None]:
    """Train to `train_spec.max_steps`, evaluating checkpoints along the way (local mode)."""
    if not isinstance(eval_spec, EvalSpec):
        raise TypeError(f"`eval_spec` must have type `EvalSpec`. Got: {type(eval_spec)}")
    if not isinstance(estimator, Estimator):
        raise TypeError(f"`estimator` must have type `adapters.Estimator`. Got: {type(estimator)}")
    if not isinstance(train_spec, TrainSpec):
        raise TypeError(f"`train_spec` must have type `TrainSpec`. Got: {type(train_spec)}")
    config = estimator.config
    role = cluster.role_of(config)
    if role != cluster.LOCAL:
        _train_and_evaluate_in_cluster(role, estimator, train_spec, eval_spec)
        return None
    _log.info("Start train and evaluate loop. The evaluate will happen after every checkpoint. "
              "Checkpoint frequency is determined based on RunConfig arguments: "
              "save_checkpoints_steps %s or save_checkpoints_secs %s.",
              config.save_checkpoints_steps, config.save_checkpoints_secs)
    listener = _EvaluateAfterSave(estimator, eval_spec, train_spec.max_steps)
    estimator.train(train_spec.input_fn, hooks=list(train_spec.hooks),
                    max_steps=train_spec.max_steps,
                    saving_listeners=list(train_spec.saving_listeners) + [listener])
    return listener.eval_result, listener.export_results


def _train_and_evaluate_in_cluster(role: str, estimator: Estimator, train_spec: TrainSpec,
                                   eval_spec: EvalSpec) -> None:
    """One task's share of distributed train_and_evaluate (see cluster.py)."""
    config = estimator._config  # pylint: disable=protected-access  (no deep copy of a strategy)
    _log.info("Running train_and_evaluate as %s:%d of a TF_CONFIG cluster.", config.task_type,
              config.task_id)
    if role == cluster.EVALUATOR:
        run_evaluator(estimator, eval_spec, train_spec.max_steps)
        return
    parameter_servers = cluster.has_parameter_servers(config)
    if parameter_servers and train_spec.max_steps is None:
        raise ValueError("Parameter-server training (a TF_CONFIG cluster with 'ps' tasks) needs "
                         "TrainSpec(max_steps=...): the chief schedules that many steps and the "
                         "other tasks serve until the checkpoint of that step exists.")
    if role == cluster.PS or (parameter_servers and role == cluster.WORKER):
        def training_done() -> bool:
            step = cluster.training_done_step(estimator.model_dir)
            return step is not None and step >= train_spec.max_steps
        cluster.serve_until_done(config, training_done)
        return
    if parameter_servers:  # the chief coordinates parameter-server training
        cluster.wait_for_tasks(config, ("worker", "ps"))
        strategy = estimator._strategy  # pylint: disable=protected-access
        if not cluster.is_parameter_server_strategy(strategy):
            if strategy is not None:
                raise ValueError(
                    "A TF_CONFIG cluster with 'ps' tasks runs parameter-server training, but "
                    f"RunConfig.train_distribute is {type(strategy).__name__}. Leave "
                    "train_distribute unset (or pass a ParameterServerStrategy built on the "
                    "chief), or remove the 'ps' tasks for synchronous training.")
            estimator._strategy = cluster.parameter_server_strategy(config)  # pylint: disable=protected-access
    else:
        cluster.wait_for_tasks(config, ("chief", "worker"))
        if config.train_distribute is None:
            _log.warning("A TF_CONFIG cluster without 'ps' tasks and without "
                         "RunConfig(train_distribute=...): each training task trains on its own "
                         "and only the chief's model is saved. Set train_distribute="
                         "tf.distribute.MultiWorkerMirroredStrategy() to train together.")
    estimator.train(train_spec.input_fn, hooks=list(train_spec.hooks),
                    max_steps=train_spec.max_steps,
                    saving_listeners=list(train_spec.saving_listeners))
    if parameter_servers:  # now the worker and ps tasks may stop serving
        latest = estimator.latest_checkpoint()
        cluster.mark_training_done(estimator.model_dir,
                                   _checkpoint_step(latest) if latest else 0)


def _checkpoint_step(checkpoint: str) -> int:
    try:
        return int(tf.train.load_variable(checkpoint, "global_step"))
    except (tf.errors.NotFoundError, ValueError):
        return int(checkpoint.rsplit("-", 1)[-1]) if checkpoint.rsplit("-", 1)[-1].isdigit() else 0
