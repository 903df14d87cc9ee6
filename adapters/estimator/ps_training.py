"""Estimator.train on the chief of a cluster with `ps` tasks: parameter-server training.

tf.estimator 2.15 ran asynchronous between-graph replication: every worker (chief included)
ran its own session loop against variables on the ps tasks. TF 2.21 has no sessions; its
parameter-server engine is `ParameterServerStrategy` + `ClusterCoordinator`: the chief
(coordinator) schedules steps, each step runs on whichever worker is free, and the variables
live on the ps tasks. Steps are still asynchronous across workers (each reads the variables,
computes its gradient and updates them without waiting for the others).

The chief schedules exactly `max_steps - global_step` steps, in rounds aligned with the
checkpoint / summary / logging cadences; after each round it waits for the scheduled steps
(`coordinator.join()`), then checkpoints, logs and calls the saving listeners on the real
global step (read from its ps). A step that a dying worker had already applied may run again
on another worker, so the final step can exceed max_steps by at most the number of worker
failures (tf.estimator's async mode overshot by 1-2 steps routinely).
SessionRunHooks are not run: steps execute on remote workers without a Python loop around
each one (a warning names them).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

import tensorflow as tf

from keras_spec import ModeKeys

from adapters.engine import coordinated_steps
from adapters.estimator import event_files
from adapters.estimator.train_loop import TrainLoop

_log = logging.getLogger("keras_spec")


def _round_steps(config: Any) -> int:
    cadences = [int(c) for c in (config.save_summary_steps, config.log_step_count_steps,
                                 config.save_checkpoints_steps) if c]
    return max(1, min(math.gcd(*cadences) if cadences else 100, 100))


def train(estimator: Any, input_fn: Callable, max_steps: int, hooks: list,
          listeners: list) -> None:
    """Train to `max_steps` on the cluster's workers (the caller is the chief)."""
    # pylint: disable=protected-access
    strategy, config = estimator._strategy, estimator._config
    if hooks:
        _log.warning("SessionRunHooks %s are not run under parameter-server training (steps "
                     "run on remote workers).", [type(h).__name__ for h in hooks])
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    model = estimator._spec_model()
    # The input_fn's element structure, from one call on the chief (it is not iterated here).
    element_spec = estimator._input(input_fn, ModeKeys.TRAIN).element_spec
    coordinated_steps.build_variables(model, strategy, element_spec)
    latest = estimator.latest_checkpoint()
    estimator._load(model, latest)
    start = int(model.global_step.numpy())
    if start >= max_steps:
        _log.info("Skipping training since max_steps has already saved.")
        return

    def dataset_fn(input_context):
        return estimator._input(input_fn, ModeKeys.TRAIN, input_context=input_context)

    per_worker = coordinator.create_per_worker_dataset(
        lambda: strategy.distribute_datasets_from_function(dataset_fn))
    iterator = iter(per_worker)
    step_fn = coordinated_steps.worker_train_function(model, strategy)
    if estimator._train_writer is None:
        estimator._train_writer = event_files.writer_for(estimator.model_dir)
    writer = estimator._train_writer
    losses: list = [float("nan")]
    loop = TrainLoop(
        start_step=start, config=config, listeners=listeners, writer=writer,
        save=lambda: model.save_checkpoint(estimator.model_dir, config.keep_checkpoint_max),
        global_step=lambda: int(model.global_step.numpy()), last_loss=lambda: losses[-1],
        latest_saved_step=start if latest else None)
    if loop.begin():
        loop.on_train_end()
        return
    every = _round_steps(config)
    step = start
    while step < max_steps and not loop.stop_requested:
        n = min(every - step % every, max_steps - step)
        results = [coordinator.schedule(step_fn, args=(iterator,)) for _ in range(n)]
        coordinator.join()
        losses.append(float(results[-1].fetch()))
        step = int(model.global_step.numpy())
        if config.save_summary_steps and step % config.save_summary_steps == 0:
            event_files.write(writer, {"loss": losses[-1]}, step)
        loop.on_train_batch_end(step - start - 1, {"loss": losses[-1]})
    loop.on_train_end()
    writer.flush()
    _log.info("Loss for final step: %s.", loop.final_loss)
